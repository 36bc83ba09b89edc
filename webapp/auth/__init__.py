"""Users, roles, login/logout, first-run setup and ``admin_required``."""

from flask_babel import lazy_gettext as _l

from . import (
    access,  # noqa: F401  (registers the Flask-Login user loader)
    account,
    cli,
    routes,
    throttle,
    users,
)
from .access import admin_required, admin_view
from .forms import ROLE_NAMES
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
    "account.updated",
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
    app.register_blueprint(account.bp)
    app.context_processor(users.navigation)
    app.jinja_env.globals["role_name"] = lambda role: ROLE_NAMES.get(role, role)
    app.cli.add_command(cli.create_user_command)
    add_settings_section(
        app, _l("Users"), "users.user_list", _l("Accounts, roles and access."), match="users.user_"
    )
    add_member_link(
        app,
        _l("Language and time zone"),
        "account.settings",
        _l("The language of the pages and your email, and the time zone of every time shown."),
    )
