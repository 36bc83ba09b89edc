"""Audit fixtures: events recorded through the one real function."""

import pytest

from webapp.audit.record import record_event
from webapp.database import write_transaction


@pytest.fixture
def record(app):
    """Record one event as the app would, outside any request."""

    def write(action, target="", changes=None, actor="system"):
        with app.app_context(), write_transaction():
            return record_event(action, target=target, changes=changes, actor=actor).id

    return write


def audit_rows(app, **where):
    """The stored events as dicts, oldest first, optionally filtered by column values."""
    from webapp.audit.models import AuditEvent
    from webapp.extensions import db

    with app.app_context():
        query = db.select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
        return [
            {
                "id": e.id,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "changes": e.changes_dict,
                "ip": e.ip,
                "user_agent": e.user_agent,
            }
            for e in db.session.scalars(query)
        ]
