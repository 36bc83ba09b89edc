"""Email Service fixtures: an administrator logged in to an app that trusts the test servers."""

import pytest

from ..helpers import post_form


@pytest.fixture
def admin_on_smtp(smtp_app, admin):
    """A client logged in as the administrator, on the app configured for the test servers."""
    client = smtp_app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    return client
