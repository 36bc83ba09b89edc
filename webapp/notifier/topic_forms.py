"""The administrators' topic form: title, link, kind and audience."""

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..auth.forms import ROLE_CHOICES
from ..validators import PlainText, normalized_address
from .forms import lower_filter
from .labels import TOPIC_KIND_LABELS
from .topics import find_topic, kind_problem, topic_name_problem, web_address_problem

MAX_USERS = 1000


class TopicEditForm(FlaskForm):
    """A topic's details; ``name`` only when registering a new one."""

    name = StringField(_l("Name"), [Optional(), Length(max=100)], filters=[lower_filter])
    title = StringField(_l("Title"), [DataRequired(message=_l("Give the topic a title.")),
                                      Length(max=200), PlainText()])  # fmt: skip
    url = StringField(
        _l("Link"),
        [Optional(), Length(max=500), PlainText()],
        description=_l("Where the card or page opens in the BI platform."),
    )
    kind = SelectField(
        _l("Kind"), choices=[SelectChoice(k, label) for k, label in TOPIC_KIND_LABELS.items()]
    )
    roles = SelectMultipleField(
        _l("Roles in the audience"),
        choices=[SelectChoice(c.value, c.label) for c in ROLE_CHOICES],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    users = TextAreaField(
        _l("Users in the audience"),
        [Length(max=MAX_USERS * 255)],
        description=_l("One email address a line. No role and no user: every user sees it."),
    )
    submit = SubmitField(_l("Save topic"))

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
            raise ValidationError(
                gettext("%(topic)s is registered already: edit it in the list.", topic=field.data)
            )

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
            raise ValidationError(gettext("At most %(count)d users.", count=MAX_USERS))
        clean = []
        for line in lines:
            try:
                clean.append(normalized_address(line))
            except ValueError:
                raise ValidationError(
                    gettext("%(line)s is not one valid email address.", line=repr(line[:100]))
                ) from None
        self.clean_users = sorted(set(clean))
