"""Forms of the notifier's admin pages: filters, API tokens, resource alert thresholds."""

from flask_wtf import FlaskForm
from wtforms import FloatField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..listing import DateRangeFilterForm
from ..validators import PlainText, WholeNumberField, strip_filter
from .models import KINDS, STATUSES
from .tokens import check_name


def lower_filter(value):
    """Trim and lower-case a submitted string (topics and addresses are stored lower-case)."""
    return value.strip().lower() if isinstance(value, str) else value


class ButtonForm(FlaskForm):
    """A form that is only a button (resend, revoke, remove): its CSRF token is checked."""


def _choices(anything, values):
    return [SelectChoice("", anything)] + [SelectChoice(v, v) for v in values]


class DeliveryFilterForm(DateRangeFilterForm):
    """Status, kind, recipient and a date range for the delivery log."""

    status = SelectField("Status", choices=_choices("Any status", STATUSES), default="")
    kind = SelectField("Kind", choices=_choices("Any kind", KINDS), default="")
    recipient = StringField(
        "Recipient", [Optional(), Length(max=254), PlainText()], filters=[lower_filter]
    )


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


class NumberField(FloatField):
    """A float shown without a needless ".0" (90, not 90.0)."""

    def _value(self):
        if self.raw_data or self.data is None:
            return super()._value()
        return f"{self.data:g}"


def _limit(label, low, high, description, field=NumberField):
    return field(
        label,
        [InputRequired(message="Enter a number."), NumberRange(low, high)],
        description=description,
    )


class ThresholdsForm(FlaskForm):
    """The resource monitor's limits."""

    disk_percent = _limit(
        "Disk usage (%)", 1, 100, "Alert when the disk is this full: 1 to 100 percent."
    )
    memory_percent = _limit(
        "Memory usage (%)", 1, 100, "Alert when this much memory is in use: 1 to 100 percent."
    )
    load_per_core = _limit(
        "Load per CPU core",
        0.1,
        100,
        "The 1-minute load average divided by the number of cores: 0.1 to 100.",
    )
    cooldown_minutes = _limit(
        "Cooldown (minutes)",
        1,
        1440,
        "1 to 1440. A metric that alerted stays quiet this long, even if it crosses again.",
        field=WholeNumberField,
    )
    submit = SubmitField("Save thresholds")

    def values(self):
        """The submitted limits as a dict of column values."""
        return {name: self[name].data for name in THRESHOLD_FIELDS}


THRESHOLD_FIELDS = ("disk_percent", "memory_percent", "load_per_core", "cooldown_minutes")
