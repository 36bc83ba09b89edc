"""Notifier fixtures: real SMTP servers, a configured Email Service, API tokens, workers."""

import pytest

from webapp.email_service.models import load_settings
from webapp.extensions import db
from webapp.notifier.tokens import create_token
from webapp.notifier.worker import Worker

from ..smtp_servers import LOGIN, PASSWORD

SENDER = LOGIN


def configure_service(app, server, *, enabled=True, password=PASSWORD, sender_name="数据平台"):
    """Store Email Service settings pointing at ``server`` (as a verified save would)."""
    security = {"plain": "none", "ssl": "ssl", "starttls": "tls"}[server.mode]
    with app.app_context():
        row = load_settings()
        row.smtp_host, row.smtp_port, row.security = server.host, server.port, security
        row.sender_email, row.sender_name, row.login_name = SENDER, sender_name, ""
        row.test_email, row.enabled = "ops@example.com", enabled
        row.version = (row.version or 0) + 1
        row.set_password(password, "test")
        db.session.add(row)
        db.session.commit()


@pytest.fixture
def notifier_app(make_smtp_app):
    """An app with the production backoff; tests call ``make_due`` instead of waiting."""
    return make_smtp_app(RESOURCE_CHECK_SECONDS=0)


def make_due(app):
    """Bring every scheduled retry forward to now (as if its backoff had passed)."""
    from webapp.notifier.models import Delivery
    from webapp.timeutil import utcnow

    with app.app_context():
        db.session.execute(
            db.update(Delivery)
            .where(Delivery.status == "retrying")
            .values(next_attempt_at=utcnow())
        )
        db.session.commit()


@pytest.fixture
def api_token(notifier_app):
    """A fresh API token's plaintext."""
    with notifier_app.app_context():
        _, plaintext = create_token("test-platform", "system")
        db.session.commit()
    return plaintext


def run_worker(app, **kwargs):
    """One ``notifier run --once`` in this process; returns its counts."""
    return Worker(app, poll_interval=0, **kwargs).run(once=True)
