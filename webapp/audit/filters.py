"""The filter form shared by the review page and the CSV export, and the actions it accepts."""

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import Length, Optional, ValidationError

from ..extensions import db
from ..listing import DateRangeFilterForm, within_dates
from ..validators import PlainText, strip_filter
from .models import AuditEvent


def register_actions(app, actions):
    """Name the audit actions a package records: the review page offers and accepts these."""
    app.extensions.setdefault("audit_actions", set()).update(actions)


def known_actions():
    """Every registered action, sorted, for the filter's list of suggestions."""
    return sorted(current_app.extensions.get("audit_actions", ()))


class AuditFilterForm(DateRangeFilterForm):
    """Actor, action and a date range, read from the query string."""

    actor = StringField(
        _l("Actor"), [Optional(), Length(max=254), PlainText()], filters=[strip_filter]
    )
    action = StringField(
        _l("Action"), [Optional(), Length(max=64), PlainText()], filters=[strip_filter]
    )

    def validate_action(self, field):
        # Only a well-formed name gets this check: one message per problem is enough.
        registered = current_app.extensions.get("audit_actions", ())
        if not field.errors and field.data not in registered:
            raise ValidationError(
                gettext("Unknown action: choose one from the list, such as user.updated.")
            )


def filtered_select(form):
    """Newest-first SELECT of the events matching the form's filters."""
    query = db.select(AuditEvent).order_by(AuditEvent.id.desc())
    if form.actor.data:
        query = query.where(AuditEvent.actor.in_({form.actor.data, form.actor.data.lower()}))
    if form.action.data:
        query = query.where(AuditEvent.action == form.action.data)
    return within_dates(query, AuditEvent.created_at, form.since.data, form.until.data)
