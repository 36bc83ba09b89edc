"""Notifier fixtures: an app with the production backoff, an API token."""

import pytest

from ..helpers import new_api_token


@pytest.fixture
def notifier_app(make_smtp_app):
    """An app with the production backoff; tests call ``make_due`` instead of waiting."""
    return make_smtp_app(RESOURCE_CHECK_SECONDS=0)


@pytest.fixture
def api_token(notifier_app):
    """A fresh API token's plaintext."""
    return new_api_token(notifier_app)
