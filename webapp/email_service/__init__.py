"""Enterprise Settings → Email Service: settings, encrypted password, transport, Test Connection.

The notifier uses this package only through the names imported here.
"""

from flask_babel import lazy_gettext as _l

from ..audit import register_actions
from ..auth import add_settings_section
from ..health import add_health_check
from . import cli, routes, routes_oauth
from .diagnosis import conversation
from .encryption import UndecryptableSecret
from .hints import explain
from .message import build_message, message_without_recipient
from .models import PasswordNotBound, load_settings
from .oauth_settings import DeliveryBlocked
from .replies import StepFailed
from .service import hold_delivery, session_params, unusable_password

__all__ = [
    "DeliveryBlocked",
    "PasswordUnusable",
    "StepFailed",
    "add_status_line",
    "build_message",
    "message_without_recipient",
    "explain",
    "hold_delivery",
    "load_settings",
    "open_session",
    "session_params",
    "unusable_password",
]
# The stored password cannot be used: no key decrypts it, or it was saved for other settings.
PasswordUnusable = (UndecryptableSecret, PasswordNotBound)


def open_session(params):
    """An SMTP session reached and logged in with ``params``; StepFailed (closed) if not."""
    session = conversation(params)
    try:
        return session.open()
    except StepFailed:
        session.close()
        raise


def _health():
    row = load_settings()
    return {"configured": row.configured, "enabled": bool(row.enabled)}


def add_status_line(app, line):
    """Show ``line()`` (a short sentence) on the Email Service page, e.g. delivery health."""
    app.extensions.setdefault("email_status_lines", []).append(line)


def register(app):
    """Add the Email Service page, its CLI and its health line."""
    assert routes_oauth.bp is routes.bp  # the sign-in routes belong to the page's blueprint
    app.register_blueprint(routes.bp)
    app.cli.add_command(cli.rotate_key_command)
    add_settings_section(
        app,
        _l("Email Service"),
        "email_service.settings_page",
        _l("The outgoing mail server: connection, sender, password, Test Connection."),
    )
    add_health_check(app, "email_service", _health)
    register_actions(
        app,
        (
            "email_settings.updated",
            "email_settings.tested",
            "email_settings.held",
            "email_settings.released",
            "email_settings.signed_in",
            "email_settings.signed_out",
            "key.rotated",
        ),
    )
