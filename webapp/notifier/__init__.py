"""Notifier: topics and subscriptions, API tokens, the outbox, the worker, resource alerts."""

from flask_babel import lazy_gettext as _l

from ..audit import register_actions
from ..auth import add_member_link, add_settings_section
from ..email_service import add_status_line
from ..health import add_health_check, add_health_token_check
from . import (
    api,
    api_topics,
    cli,
    routes_admin,
    routes_subscriptions,
    routes_topics,
    routes_unsubscribe,
    tokens,
)
from .embedded import start_embedded_worker
from .labels import register_labels
from .login_alerts import connect_login_alerts
from .status import delivery_status_line, worker_health


def register(app):
    """Add the notifier's pages, API, CLI and health line."""
    connect_login_alerts()
    assert api_topics.bp is api.bp  # the topic routes are part of the API blueprint
    app.register_blueprint(api.bp)
    app.cli.add_command(cli.notifier_group)
    app.cli.add_command(cli.token_group)
    app.register_blueprint(routes_admin.bp)
    app.register_blueprint(routes_subscriptions.bp)
    app.register_blueprint(routes_topics.bp)
    app.register_blueprint(routes_unsubscribe.bp)
    register_labels(app)
    sections = (
        (_l("Delivery log"), "notifier_admin.delivery_log", "notifier_admin.delivery_",
         _l("Every notification sent, retried or given up on; resend dead ones.")),
        (_l("API tokens"), "notifier_admin.token_list", "notifier_admin.token_",
         _l("Bearer tokens for the platform's notification API.")),
        (_l("Topics"), "topics_admin.topic_list", "topics_admin.",
         _l("The topic catalogue: what the platform emails about, and who may see each topic.")),
        (_l("Subscriptions"), "subscriptions.admin_list", "subscriptions.admin_",
         _l("Who receives which topic; add or remove subscriptions for any user.")),
        (_l("Resource alerts"), "notifier_admin.resource_alerts", "notifier_admin.resource_",
         _l("Disk, memory and load thresholds of the server resource monitor.")),
    )  # fmt: skip
    for title, endpoint, match, description in sections:
        add_settings_section(app, title, endpoint, description, match=match)
    add_member_link(
        app,
        _l("My subscriptions"),
        "subscriptions.mine",
        _l("Cards, pages and tasks you get email about."),
    )
    add_health_check(app, "worker", worker_health)
    add_health_token_check(app, tokens.live_token)  # an API token may read /healthz details
    if app.config["NOTIFIER_EMBEDDED"]:
        start_embedded_worker(app)
    add_status_line(app, delivery_status_line)
    register_actions(
        app,
        (
            "delivery.resent",
            "resource_thresholds.updated",
            "subscription.unsubscribed",
            "subscription.updated",
            "topic.registered",
            "topic.updated",
            "token.created",
            "token.revoked",
        ),
    )
