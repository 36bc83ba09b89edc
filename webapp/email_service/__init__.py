"""Enterprise Settings → Email Service: settings, encrypted password, transport, Test Connection."""

from ..auth import add_settings_section
from ..health import add_health_check
from . import cli, routes
from .models import load_settings


def _health():
    row = load_settings()
    return {"configured": row.configured, "enabled": bool(row.enabled)}


def add_status_line(app, line):
    """Show ``line()`` (a short sentence) on the Email Service page, e.g. delivery health."""
    app.extensions.setdefault("email_status_lines", []).append(line)


def register(app):
    """Add the Email Service page, its CLI and its health line."""
    app.register_blueprint(routes.bp)
    app.cli.add_command(cli.rotate_key_command)
    add_settings_section(
        app,
        "Email Service",
        "email_service.settings_page",
        "The outgoing mail server: connection, sender, password, Test Connection.",
    )
    add_health_check(app, "email_service", _health)
