"""The filter form shared by the review page and the CSV export."""

from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional, ValidationError

from ..extensions import db
from ..listing import within_dates
from ..validators import PlainText, strip_filter
from .models import AuditEvent

KNOWN_ACTIONS = (
    "access.denied",
    "audit.exported",
    "delivery.resent",
    "auth.login",
    "auth.login_failed",
    "auth.logout",
    "auth.setup",
    "email_settings.tested",
    "email_settings.held",
    "email_settings.released",
    "email_settings.updated",
    "key.rotated",
    "resource_thresholds.updated",
    "subscription.updated",
    "token.created",
    "token.revoked",
    "user.created",
    "user.updated",
)


def _reasonable_date(form, field):
    if field.data and not 2000 <= field.data.year <= 9998:
        raise ValidationError("Enter a date between the years 2000 and 9998.")


class AuditFilterForm(FlaskForm):
    """Actor, action and a date range, read from the query string."""

    class Meta:
        csrf = False  # a GET form that only reads

    actor = StringField("Actor", [Optional(), Length(max=254), PlainText()], filters=[strip_filter])
    action = StringField(
        "Action", [Optional(), Length(max=64), PlainText()], filters=[strip_filter]
    )
    since = DateField("From (UTC)", [Optional(), _reasonable_date])
    until = DateField("To (UTC)", [Optional(), _reasonable_date])

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end date is before the start date.")

    def active_filters(self):
        """The filters that were given, for links that keep them."""
        return {name: self[name].raw_data[0] for name in self.data if self[name].data}


def filtered_select(form):
    """Newest-first SELECT of the events matching the form's filters."""
    query = db.select(AuditEvent).order_by(AuditEvent.id.desc())
    if form.actor.data:
        query = query.where(AuditEvent.actor.in_({form.actor.data, form.actor.data.lower()}))
    if form.action.data:
        query = query.where(AuditEvent.action == form.action.data)
    return within_dates(query, AuditEvent.created_at, form.since.data, form.until.data)
