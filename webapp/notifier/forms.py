"""Forms of the notifier's admin pages: filters, API tokens, resource alert thresholds."""

from datetime import date

from flask_wtf import FlaskForm
from wtforms import DateField, FloatField, IntegerField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..validators import PlainText, strip_filter
from .models import KINDS, STATUSES
from .tokens import check_name

EARLIEST, LATEST = date(2000, 1, 1), date(9998, 12, 31)


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


def _choices(anything, values):
    return [SelectChoice("", anything)] + [SelectChoice(v, v) for v in values]


def _plausible_date(form, field):
    # The end of the range is "until + 1 day": 9999-12-31 would overflow.
    if field.data is not None and not EARLIEST <= field.data <= LATEST:
        raise ValidationError(f"Enter a date between {EARLIEST} and {LATEST}.")


class DeliveryFilterForm(FilterForm):
    """Status, kind, recipient and a date range for the delivery log."""

    status = SelectField("Status", choices=_choices("Any status", STATUSES), default="")
    kind = SelectField("Kind", choices=_choices("Any kind", KINDS), default="")
    recipient = StringField(
        "Recipient", [Optional(), Length(max=254), PlainText()], filters=[lower_filter]
    )
    since = DateField("From (UTC)", [Optional(), _plausible_date])
    until = DateField("To (UTC)", [Optional(), _plausible_date])

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end date is before the start date.")


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
        field=IntegerField,
    )
    submit = SubmitField("Save thresholds")

    def values(self):
        """The submitted limits as a dict of column values."""
        return {name: self[name].data for name in THRESHOLD_FIELDS}


THRESHOLD_FIELDS = ("disk_percent", "memory_percent", "load_per_core", "cooldown_minutes")
