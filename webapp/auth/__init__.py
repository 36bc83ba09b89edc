"""Users, roles, login/logout, first-run setup and ``admin_required``."""

from . import (
    access,  # noqa: F401  (registers the Flask-Login user loader)
    cli,
    routes,
    throttle,
    users,
)
from .access import admin_required, admin_view
from .users import add_member_link, add_settings_section

__all__ = [
    "AUDIT_ACTIONS",
    "admin_required",
    "admin_view",
    "add_member_link",
    "add_settings_section",
    "register",
]
# The audit actions this package announces on ``signals.account_event``.
AUDIT_ACTIONS = (
    "access.denied",
    "auth.login",
    "auth.login_failed",
    "auth.login_throttled",
    "auth.logout",
    "auth.setup",
    "user.created",
    "user.updated",
)


def register(app):
    """Add the auth blueprints and the ``create-user`` command."""
    throttle.register_password_checks(app)
    app.register_blueprint(routes.bp)
    app.register_blueprint(users.bp)
    app.context_processor(users.navigation)
    app.cli.add_command(cli.create_user_command)
    add_settings_section(
        app, "Users", "users.user_list", "Accounts, roles and access.", match="users.user_"
    )
