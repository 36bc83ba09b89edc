"""Forms of the notifier's admin pages: filters, API tokens, resource alert thresholds."""

from flask_babel import lazy_gettext as _l
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
from .labels import KIND_LABELS, STATUS_LABELS
from .tokens import check_name


def lower_filter(value):
    """Trim and lower-case a submitted string (topics and addresses are stored lower-case)."""
    return value.strip().lower() if isinstance(value, str) else value


class ButtonForm(FlaskForm):
    """A form that is only a button (resend, revoke, remove): its CSRF token is checked."""


def _choices(anything, labels):
    return [SelectChoice("", anything)] + [SelectChoice(v, label) for v, label in labels.items()]


class DeliveryFilterForm(DateRangeFilterForm):
    """Status, kind, recipient and a date range for the delivery log."""

    status = SelectField(
        _l("Status"), choices=_choices(_l("Any status"), STATUS_LABELS), default=""
    )
    kind = SelectField(_l("Kind"), choices=_choices(_l("Any kind"), KIND_LABELS), default="")
    recipient = StringField(
        _l("Recipient"), [Optional(), Length(max=254), PlainText()], filters=[lower_filter]
    )


class TokenCreateForm(FlaskForm):
    """The name of a new API token."""

    name = StringField(
        _l("Name"),
        [DataRequired(message=_l("Give the token a name."))],
        filters=[strip_filter],
        description=_l(
            "Who uses it, such as task-scheduler or report-renderer. "
            "Letters, digits, spaces, dots, dashes and underscores."
        ),
    )
    submit = SubmitField(_l("Create token"))

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
        [InputRequired(message=_l("Enter a number.")), NumberRange(low, high)],
        description=description,
    )


class ThresholdsForm(FlaskForm):
    """The resource monitor's limits."""

    disk_percent = _limit(
        _l("Disk usage (%)"), 1, 100, _l("Alert when the disk is this full: 1 to 100 percent.")
    )
    memory_percent = _limit(
        _l("Memory usage (%)"),
        1,
        100,
        _l("Alert when this much memory is in use: 1 to 100 percent."),
    )
    load_per_core = _limit(
        _l("Load per CPU core"),
        0.1,
        100,
        _l("The 1-minute load average divided by the number of cores: 0.1 to 100."),
    )
    cooldown_minutes = _limit(
        _l("Cooldown (minutes)"),
        1,
        1440,
        _l("1 to 1440. A metric that alerted stays quiet this long, even if it crosses again."),
        field=WholeNumberField,
    )
    submit = SubmitField(_l("Save thresholds"))

    def values(self):
        """The submitted limits as a dict of column values."""
        return {name: self[name].data for name in THRESHOLD_FIELDS}


THRESHOLD_FIELDS = ("disk_percent", "memory_percent", "load_per_core", "cooldown_minutes")
