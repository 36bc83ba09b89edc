"""The administrators' topic form: title, link, kind and audience."""

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..auth.models import ROLES
from ..validators import PlainText, normalized_address
from .forms import lower_filter
from .models import TOPIC_KINDS
from .topics import find_topic, kind_problem, topic_name_problem, web_address_problem

MAX_USERS = 1000


class TopicEditForm(FlaskForm):
    """A topic's details; ``name`` only when registering a new one."""

    name = StringField("Name", [Optional(), Length(max=100)], filters=[lower_filter])
    title = StringField("Title", [DataRequired(message="Give the topic a title."),
                                  Length(max=200), PlainText()])  # fmt: skip
    url = StringField("Link", [Optional(), Length(max=500), PlainText()],
                      description="Where the card or page opens in the BI platform.")  # fmt: skip
    kind = SelectField("Kind", choices=[SelectChoice(k, k.title()) for k in TOPIC_KINDS])
    roles = SelectMultipleField(
        "Roles in the audience",
        choices=[SelectChoice(role, role.title()) for role in ROLES],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    users = TextAreaField(
        "Users in the audience",
        [Length(max=MAX_USERS * 255)],
        description="One email address a line. No role and no user: every user sees it.",
    )
    submit = SubmitField("Save topic")

    def __init__(self, existing=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.existing, self.clean_users = existing, []

    def validate_name(self, field):
        if self.existing is not None:
            return
        problem = topic_name_problem(field.data or "")
        if problem:
            raise ValidationError(problem)
        if find_topic(field.data) is not None:
            raise ValidationError(f"{field.data} is registered already: edit it in the list.")

    def validate_url(self, field):
        problem = web_address_problem(field.data)
        if problem:
            raise ValidationError(problem)

    def validate_kind(self, field):
        problem = kind_problem(self.existing.name if self.existing else self.name.data, field.data)
        if problem:
            raise ValidationError(problem)

    def validate_users(self, field):
        lines = [line.strip() for line in (field.data or "").splitlines() if line.strip()]
        if len(lines) > MAX_USERS:
            raise ValidationError(f"At most {MAX_USERS} users.")
        clean = []
        for line in lines:
            try:
                clean.append(normalized_address(line))
            except ValueError:
                raise ValidationError(f"{line[:100]!r} is not one valid email address.") from None
        self.clean_users = sorted(set(clean))
