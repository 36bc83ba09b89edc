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
