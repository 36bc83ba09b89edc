"""In the browser: the Office 365 preset turns to OAuth, and an administrator signs in as the
sender mailbox through the provider's redirect (a real local authorization server)."""

import re

import pytest
from playwright.sync_api import expect

from webapp.email_service.models import load_settings
from webapp.email_service.oauth import TOKENS
from webapp.extensions import db

from ..helpers import audit_rows, csp_violations, log_in, screenshot
from ..smtp_servers import LOGIN

pytestmark = pytest.mark.browser
TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "e2e-client-secret-value"


@pytest.fixture
def app(make_smtp_app, oauth_server, oauth_ca_bundle, monkeypatch):
    """The live server's app, with its OAuth endpoints on the local authorization server."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", oauth_ca_bundle)
    TOKENS.clear()
    return make_smtp_app(OAUTH_MICROSOFT_AUTHORITY=oauth_server.base_url)


@pytest.fixture
def browser_context_args(base_url):
    # The authorization server's certificate comes from the tests' own CA.
    return {"base_url": base_url, "viewport": {"width": 1280, "height": 900},
            "ignore_https_errors": True}  # fmt: skip


def store_delegated_settings(app, smtp_server):
    with app.app_context():
        row = load_settings()
        row.smtp_host, row.smtp_port, row.security = smtp_server.host, smtp_server.port, "ssl"
        row.sender_email, row.version = LOGIN, 1
        row.auth_method, row.oauth_flow = "microsoft", "delegated"
        row.oauth_tenant, row.oauth_client_id = TENANT, CLIENT_ID
        row.set_oauth_secret(SECRET)
        db.session.add(row)
        db.session.commit()


def test_the_office_365_preset_chooses_oauth(page, console_errors, admin):
    log_in(page, admin.email, admin.password)
    page.goto("/admin/settings/email")
    expect(page.locator("#oauth-fields")).to_be_hidden()
    page.get_by_label("Provider").select_option(label="Outlook / Office 365")
    expect(page.get_by_label("Microsoft 365 (OAuth 2.0)")).to_be_checked()
    expect(page.locator("#oauth-fields")).to_be_visible()
    expect(page.locator("#password-fields")).to_be_hidden()
    expect(page.locator("#microsoft-steps")).to_contain_text("SMTP.SendAsApp")
    screenshot(page, "email-service-office365-oauth")
    page.get_by_label("Password or authorization code").check()
    expect(page.locator("#password-fields")).to_be_visible()
    assert not csp_violations(console_errors)


def test_delegated_sign_in_through_the_providers_redirect(
    app, page, console_errors, admin, live_server, oauth_server, smtp_servers
):
    app.config["BASE_URL"] = live_server  # the redirect URI registered with the provider
    callback = f"{live_server}/admin/settings/email/oauth/callback"
    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN, redirect_uris=(callback,))
    store_delegated_settings(app, smtp_servers("ssl", oauth=oauth_server))
    log_in(page, admin.email, admin.password)
    page.goto("/admin/settings/email")
    expect(page.locator("#oauth-not-signed-in")).to_be_visible()
    page.locator("#oauth-start").click()
    expect(page).to_have_url(re.compile(r"/admin/settings/email$"))
    expect(page.get_by_role("alert").filter(has_text="Signed in as")).to_contain_text(LOGIN)
    expect(page.locator("#oauth-signed-in")).to_contain_text(LOGIN)
    screenshot(page, "email-service-oauth-signed-in")
    (authorize,) = oauth_server.authorize_requests
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["redirect_uri"] == callback
    assert audit_rows(app, action="email_settings.signed_in")[0]["changes"]["account"] == [
        None,
        LOGIN,
    ]
    assert not csp_violations(console_errors)
