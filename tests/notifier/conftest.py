"""Notifier fixtures: an app with the production backoff, an API token."""

import pytest

from webapp.extensions import db
from webapp.notifier.tokens import create_token


@pytest.fixture
def notifier_app(make_smtp_app):
    """An app with the production backoff; tests call ``make_due`` instead of waiting."""
    return make_smtp_app(RESOURCE_CHECK_SECONDS=0)


@pytest.fixture
def api_token(notifier_app):
    """A fresh API token's plaintext."""
    with notifier_app.app_context():
        _, plaintext = create_token("test-platform", "system")
        db.session.commit()
    return plaintext
