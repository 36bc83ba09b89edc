"""The notifier's page forms; every check of what a user typed lives here."""

from flask_wtf import FlaskForm
from wtforms import DateField, FloatField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..auth.models import User
from ..extensions import db
from ..validators import strip_filter
from .api_schema import TOPIC_RE
from .models import KINDS, STATUSES, SYSTEM_TOPICS
from .subscriptions import receives
from .tokens import check_name

TOPIC_HELP = "Lower-case letters, digits and : . _ - such as card:42, page:sales-overview or task:nightly-etl."


def lower_filter(value):
    """Trim and lower-case a submitted string (topics and addresses are stored lower-case)."""
    return value.strip().lower() if isinstance(value, str) else value


class ButtonForm(FlaskForm):
    """A form that is only a button (resend, revoke, remove): its CSRF token is checked."""


class FilterForm(FlaskForm):
    """A GET form that only reads: no CSRF, values kept in the page links."""

    class Meta:
        csrf = False

    def active_filters(self):
        """The filters that were given, as query-string values, for links that keep them."""
        return {
            name: value.isoformat() if hasattr(value, "isoformat") else value
            for name, value in self.data.items()
            if value
        }


class DateRangeMixin:
    """``since`` and ``until`` dates, in order."""

    since = DateField("From (UTC)", [Optional()])
    until = DateField("To (UTC)", [Optional()])

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end date is before the start date.")


class DeliveryFilterForm(DateRangeMixin, FilterForm):
    """Status, kind, recipient and a date range for the delivery log."""

    status = SelectField("Status", choices=[("", "Any status")] + [(s, s) for s in STATUSES])
    kind = SelectField("Kind", choices=[("", "Any kind")] + [(k, k) for k in KINDS])
    recipient = StringField(
        "Recipient", [Optional(), Length(max=254)], filters=[lower_filter]
    )


class SubscriptionFilterForm(FilterForm):
    """Topic and user for the everyone's-subscriptions page."""

    topic = StringField("Topic", [Optional(), Length(max=100)], filters=[lower_filter])
    user = StringField("User email", [Optional(), Length(max=254)], filters=[lower_filter])


class TokenCreateForm(FlaskForm):
    """The name of a new API token."""

    name = StringField(
        "Name",
        [DataRequired(message="Give the token a name.")],
        filters=[strip_filter],
        description="Who uses it, such as task-scheduler or report-renderer. "
        "Letters, digits, spaces, dots, dashes and underscores.",
    )
    submit = SubmitField("Create token")

    def validate_name(self, field):
        problem = check_name(field.data)
        if problem:
            raise ValidationError(problem)


def check_topic(user, topic):
    """The error for subscribing ``user`` to ``topic``, or None."""
    if not TOPIC_RE.match(topic):
        return f"Not a valid topic. Use {TOPIC_HELP}"
    if topic in SYSTEM_TOPICS and not user.is_admin:
        return f"{topic} is a system topic for administrators; members cannot subscribe to it."
    if receives(user, topic):
        if topic in SYSTEM_TOPICS:
            return f"{user.email} already receives {topic}: administrators get it by default."
        return f"{user.email} is already subscribed to {topic}."
    return None


class TopicForm(FlaskForm):
    """A topic the logged-in user subscribes to."""

    topic = StringField(
        "Topic",
        [DataRequired(message="Enter a topic, such as card:42.")],
        filters=[lower_filter],
        description=TOPIC_HELP,
    )
    submit = SubmitField("Subscribe")

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_topic(self, field):
        problem = check_topic(self.user, field.data)
        if problem:
            raise ValidationError(problem)


class AdminSubscriptionForm(FlaskForm):
    """A subscription an administrator adds for an active user."""

    user = SelectField("User", coerce=int, validate_choice=False)
    topic = StringField(
        "Topic",
        [DataRequired(message="Enter a topic, such as card:42.")],
        filters=[lower_filter],
        description=TOPIC_HELP,
    )
    submit = SubmitField("Add subscription")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = db.session.scalars(
            db.select(User).where(User.active.is_(True)).order_by(User.email)
        ).all()
        self.active_users = {u.id: u for u in users}
        self.user.choices = [(0, "Choose a user…")] + [(u.id, u.label) for u in users]

    def validate_user(self, field):
        if field.data not in self.active_users:
            raise ValidationError("Choose an active user.")

    def validate_topic(self, field):
        user = self.active_users.get(self.user.data)
        problem = check_topic(user, field.data) if user else None
        if problem:
            raise ValidationError(problem)

    @property
    def chosen_user(self):
        """The user picked in the select."""
        return self.active_users[self.user.data]


def _limit(label, low, high, field=FloatField, unit=""):
    return field(
        label,
        [InputRequired(message="Enter a number."), NumberRange(low, high)],
        description=f"Between {low} and {high}{unit}.",
    )


class ThresholdsForm(FlaskForm):
    """The resource monitor's limits."""

    disk_percent = _limit("Disk usage (%)", 1, 100, unit=" percent of the disk")
    memory_percent = _limit("Memory usage (%)", 1, 100, unit=" percent of the memory")
    load_per_core = _limit("Load per CPU core", 0.1, 100, unit=" (1-minute load average ÷ cores)")
    cooldown_minutes = _limit(
        "Cooldown (minutes)", 1, 1440, field=IntegerField, unit=" minutes between alerts"
    )
    submit = SubmitField("Save thresholds")

    def values(self):
        """The submitted limits as a dict of column values."""
        return {name: self[name].data for name in THRESHOLD_FIELDS}


THRESHOLD_FIELDS = ("disk_percent", "memory_percent", "load_per_core", "cooldown_minutes")
