"""Notifier: topics and subscriptions, API tokens, the outbox, the worker, resource alerts."""

from ..email_service import add_status_line
from ..health import add_health_check
from . import api, cli
from .status import delivery_status_line, worker_health


def register(app):
    """Add the notifier's pages, API, CLI and health line."""
    app.register_blueprint(api.bp)
    app.cli.add_command(cli.notifier_group)
    app.cli.add_command(cli.token_group)
    add_health_check(app, "worker", worker_health)
    add_status_line(app, delivery_status_line)
