"""Forms of the subscription pages; every rule about who may follow which topic lives here."""

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..auth.models import User
from ..extensions import db
from ..listing import FilterForm
from ..validators import PlainText
from .forms import lower_filter
from .models import SYSTEM_TOPICS, Subscription
from .subscriptions import receives
from .topics import find_topic, in_audience


def members_refused(topic):
    """The message telling a member that ``topic`` is for administrators."""
    return gettext(
        "%(topic)s is a system topic for administrators; members cannot subscribe to it.",
        topic=topic,
    )


class SubscriptionFilterForm(FilterForm):
    """Topic and user for the everyone's-subscriptions page."""

    topic = StringField(
        _l("Topic"), [Optional(), Length(max=100), PlainText()], filters=[lower_filter]
    )
    user = StringField(
        _l("User email"), [Optional(), Length(max=254), PlainText()], filters=[lower_filter]
    )


def check_topic(user, topic, for_self=True):
    """The error for subscribing ``user`` to ``topic``, or None.

    A topic outside the user's audience looks, to that user, like no topic at all.
    """
    row = find_topic(topic)
    if topic in SYSTEM_TOPICS and not user.is_admin:
        return members_refused(topic)
    if row is None and not for_self:
        return f"No topic {topic!r} is registered. Register it under Topics first."
    if row is None or (for_self and not in_audience(user, row)):
        return gettext(
            "There is no topic %(topic)s you can subscribe to. Pick one from the list.",
            topic=repr(topic),
        )
    if not in_audience(user, row):
        return gettext(
            "%(email)s is not in the audience of %(topic)s: edit the topic first.",
            email=user.email,
            topic=topic,
        )
    if receives(user, topic):
        if topic in SYSTEM_TOPICS:
            return gettext(
                "%(email)s already receives %(topic)s: administrators get it by default.",
                email=user.email,
                topic=topic,
            )
        return gettext(
            "%(email)s is already subscribed to %(topic)s.", email=user.email, topic=topic
        )
    return None


class TopicForm(FlaskForm):
    """A topic from the catalogue that the logged-in user subscribes to."""

    topic = HiddenField(_l("Topic"), [DataRequired(message=_l("Pick a topic from the list."))])
    submit = SubmitField(_l("Subscribe"))

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_topic(self, field):
        problem = check_topic(self.user, field.data)
        if problem:
            raise ValidationError(problem)


class AdminSubscriptionForm(FlaskForm):
    """A subscription an administrator adds for an active user."""

    user = SelectField(_l("User"), coerce=int, validate_choice=False)
    topic = StringField(
        _l("Topic"),
        [DataRequired(message=_l("Enter a registered topic, such as card:42."))],
        filters=[lower_filter],
        description=_l("A topic of the catalogue whose audience includes the user."),
    )
    submit = SubmitField(_l("Add subscription"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = db.session.scalars(
            db.select(User).where(User.active.is_(True)).order_by(User.email)
        ).all()
        self.active_users = {u.id: u for u in users}
        self.user.choices = [SelectChoice(0, gettext("Choose a user…"))] + [
            SelectChoice(u.id, u.label) for u in users
        ]

    def validate_user(self, field):
        if field.data not in self.active_users:
            raise ValidationError(gettext("Choose an active user."))

    def validate_topic(self, field):
        user = self.active_users.get(self.user.data)
        problem = check_topic(user, field.data, for_self=False) if user else None
        if problem:
            raise ValidationError(problem)

    @property
    def chosen_user(self):
        """The user picked in the select."""
        return self.active_users[self.user.data]


class RemoveSubscriptionForm(FlaskForm):
    """Which subscription or opt-out to delete; with ``owner``, only that user's own topics."""

    subscription_id = HiddenField()

    def __init__(self, owner=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner, self.row = owner, None

    def _owns(self, row):
        return row.user_id == self.owner.id and row.topic not in SYSTEM_TOPICS

    def validate_subscription_id(self, field):
        value = field.data or ""
        sane = value.isascii() and value.isdigit() and len(value) < 10
        row = db.session.get(Subscription, int(value)) if sane else None
        if row is not None and self.owner is not None and not self._owns(row):
            row = None  # someone else's row looks the same as a missing one
        if row is None:
            raise ValidationError(
                gettext("That subscription no longer exists; nothing was removed.")
            )
        self.row = row


class SystemTopicForm(FlaskForm):
    """Opt out of a system topic (``choice`` "out") or back in ("in"); administrators only."""

    topic = SelectField(choices=[SelectChoice(t, t) for t in SYSTEM_TOPICS])
    choice = SelectField(choices=[SelectChoice("in", "in"), SelectChoice("out", "out")])

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_topic(self, field):
        if not self.user.is_admin:
            raise ValidationError(members_refused(field.data))
