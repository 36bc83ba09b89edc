"""Append-only audit events, their hash chain, the review page, CSV export and ``audit verify``."""

from flask_babel import lazy_gettext as _l

from ..auth import AUDIT_ACTIONS as ACCOUNT_ACTIONS
from ..auth import add_settings_section
from ..auth.signals import account_event
from . import cli, routes
from .filters import register_actions
from .record import record_event

__all__ = ["record_event", "register", "register_actions"]


def _record_account_event(action, target, changes, actor):
    record_event(action, target=target, changes=changes, actor=actor)


def register(app):
    """Add the review pages, the CLI, and record every account event."""
    # weak=False: the receiver must live as long as the process, not as long as a reference.
    account_event.connect(_record_account_event, weak=False)
    # auth sits above audit and cannot call register_actions: its events arrive through the
    # signal above, so the actions it names are registered here with them.
    register_actions(app, (*ACCOUNT_ACTIONS, "audit.exported"))
    app.register_blueprint(routes.bp)
    app.cli.add_command(cli.audit_group)
    add_settings_section(
        app, _l("Audit log"), "audit.review", _l("Every change and security event.")
    )
