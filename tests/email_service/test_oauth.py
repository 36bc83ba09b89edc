"""Microsoft 365 and Google without passwords: OAuth 2.0 tokens from a real local
authorization server, AUTH XOAUTH2 against a real SMTP server, holds and plain-language
hints."""

import email
import email.policy
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from webapp.email_service.models import load_settings
from webapp.email_service.oauth import TOKENS
from webapp.extensions import db
from webapp.notifier.models import Delivery
from webapp.notifier.outbox import enqueue

from ..helpers import audit_rows, post_form, run_worker, settings_values
from ..smtp_servers import LOGIN, XOAUTH2_REFUSED

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "CANARY-oauth-secret-Zx8Q~"
BASE_URL = "http://127.0.0.1:5000"


@pytest.fixture(autouse=True)
def fresh_token_cache():
    """The token cache lives as long as the process: each test starts and ends without it."""
    TOKENS.clear()
    yield
    TOKENS.clear()


@pytest.fixture
def oauth_app(make_smtp_app, oauth_server, oauth_ca_bundle, monkeypatch):
    """An app whose OAuth endpoints are the local authorization server (trusted by its CA)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", oauth_ca_bundle)
    return make_smtp_app(
        OAUTH_MICROSOFT_AUTHORITY=oauth_server.base_url,
        OAUTH_GOOGLE_AUTH_URL=oauth_server.google_auth_url,
        OAUTH_GOOGLE_TOKEN_URL=oauth_server.google_token_url,
        BASE_URL=BASE_URL,
        RESOURCE_CHECK_SECONDS=0,
    )


@pytest.fixture
def admin_client(oauth_app, admin):
    client = oauth_app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    return client


@pytest.fixture
def mail_server(smtp_servers, oauth_server):
    """Implicit TLS, offering XOAUTH2 and accepting the local server's tokens."""
    return smtp_servers("ssl", oauth=oauth_server)


def oauth_values(server, **overrides):
    values = settings_values(
        server,
        password=None,
        auth_method="microsoft",
        oauth_tenant=TENANT,
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=SECRET,
        oauth_flow="application",
    )
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def version(app):
    with app.app_context():
        return str(load_settings().version or 0)


def save(client, app, server, **overrides):
    return post_form(client, "/admin/settings/email",
                     oauth_values(server, version=version(app), **overrides))  # fmt: skip


def run_test(client, app, server, **overrides):
    values = oauth_values(server, version=version(app), **overrides)
    return post_form(client, "/admin/settings/email/test", values,
                     headers={"Accept": "application/json"}).get_json()  # fmt: skip


def queue(app, subject="Nightly ETL failed"):
    with app.app_context():
        enqueue(kind="alert", subject=subject, text="t", created_by="test", to=["ops@example.com"])
        db.session.commit()


def statuses(app):
    with app.app_context():
        return [d.status for d in db.session.scalars(db.select(Delivery).order_by(Delivery.id))]


def sign_in(client, oauth_server):
    """Press "Sign in as the sender mailbox" and follow the provider's redirect back."""
    start = post_form(client, "/admin/settings/email/oauth/start", {})
    assert start.status_code == 302
    authorize = start.headers["Location"]
    assert authorize.startswith(oauth_server.base_url)
    answer = requests.get(authorize, allow_redirects=False, timeout=10)
    back = answer.headers["Location"]
    assert back.startswith(f"{BASE_URL}/admin/settings/email/oauth/callback?")
    path = back.removeprefix(BASE_URL)
    return client.get(path, follow_redirects=True)


# -- the flows, end to end -----------------------------------------------------------------


def test_application_sign_in_sends_with_xoauth2(oauth_app, admin_client, oauth_server,
                                                 mail_server):  # fmt: skip
    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN)
    response = save(admin_client, oauth_app, mail_server)
    assert response.status_code == 302, response.get_data(as_text=True)

    result = run_test(admin_client, oauth_app, mail_server, oauth_client_secret="")
    assert result["ok"] is True, result
    assert [s["name"] for s in result["steps"]][:2] == ["token", "resolve"]
    assert "XOAUTH2" in next(s["detail"] for s in result["steps"] if s["name"] == "auth")
    assert oauth_server.grant_count("client_credentials", CLIENT_ID) >= 2  # Save, then Test

    queue(oauth_app)
    assert run_worker(oauth_app)["sent"] == 1
    message = email.message_from_bytes(mail_server.messages[-1].original_content,
                                       policy=email.policy.default)  # fmt: skip
    assert message["Subject"] == "[Alert] Nightly ETL failed"
    assert mail_server.messages[-1].login == LOGIN  # logged in as the mailbox, by token
    changes = audit_rows(oauth_app, action="email_settings.updated")[-1]["changes"]
    assert changes["oauth_client_secret"] == "set" and changes["auth_method"][1] == "microsoft"


def test_delegated_sign_in_with_pkce_then_delivery(oauth_app, admin_client, oauth_server,
                                                    mail_server):  # fmt: skip
    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", enabled=None)
    result = run_test(admin_client, oauth_app, mail_server, oauth_flow="delegated",
                             oauth_client_secret="")  # fmt: skip
    assert result["failed_step"] == "token" and "sign in once" in result["hint"]

    page = sign_in(admin_client, oauth_server).get_data(as_text=True)
    assert f"Signed in as {LOGIN}" in page and 'id="oauth-signed-in"' in page
    (authorize,) = oauth_server.authorize_requests
    assert authorize["code_challenge_method"] == "S256" and authorize["code_challenge"]
    assert "offline_access" in authorize["scope"]
    event = audit_rows(oauth_app, action="email_settings.signed_in")[0]
    assert event["changes"] == {"oauth_refresh_token": "set", "account": [None, LOGIN]}

    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", oauth_client_secret="")
    queue(oauth_app)
    assert run_worker(oauth_app)["sent"] == 1
    assert oauth_server.grant_count("refresh_token", CLIENT_ID) >= 1


def test_device_code_sign_in(oauth_app, admin_client, oauth_server, mail_server):
    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", enabled=None)
    page = post_form(admin_client, "/admin/settings/email/oauth/device", {}).get_data(as_text=True)
    user_code = page.split('id="device-code">')[1].split("<")[0]
    pending = post_form(admin_client, "/admin/settings/email/oauth/device/check", {},
                        follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "Microsoft has not seen the sign-in yet" in pending
    oauth_server.approve_device(user_code)
    done = post_form(admin_client, "/admin/settings/email/oauth/device/check", {},
                     follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert f"Signed in as {LOGIN}" in done


def test_a_forged_callback_is_refused(oauth_app, admin_client, oauth_server, mail_server):
    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", enabled=None)
    start = post_form(admin_client, "/admin/settings/email/oauth/start", {})
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    page = admin_client.get(f"/admin/settings/email/oauth/callback?code=x&state={state}x",
                            follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "could not be matched to one started here" in page
    with oauth_app.app_context():
        assert load_settings().oauth_refresh_encrypted is None


# -- tokens over time ------------------------------------------------------------------------


@pytest.mark.parametrize(("lifetime", "refreshes"), [(3600, 1), (120, 2)])
def test_tokens_are_cached_and_refreshed_before_they_expire(
    oauth_app, admin_client, oauth_server, mail_server, lifetime, refreshes
):
    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", enabled=None)
    sign_in(admin_client, oauth_server)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", oauth_client_secret="")
    oauth_server.access_token_lifetime = lifetime
    TOKENS.clear()
    before = oauth_server.grant_count("refresh_token", CLIENT_ID)
    for n in range(2):
        queue(oauth_app, subject=f"report {n}")
        assert run_worker(oauth_app)["sent"] == 1
    # A token valid for an hour serves both batches; one within five minutes of expiry is
    # refreshed before each. Microsoft rotates the refresh token: each new one was kept.
    assert oauth_server.grant_count("refresh_token", CLIENT_ID) - before == refreshes


def test_a_revoked_sign_in_holds_delivery_until_signing_in_again(
    oauth_app, admin_client, oauth_server, mail_server
):
    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", enabled=None)
    sign_in(admin_client, oauth_server)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", oauth_client_secret="")
    oauth_server.revoke_refresh_tokens()
    TOKENS.clear()

    queue(oauth_app)
    run_worker(oauth_app)
    assert statuses(oauth_app) == ["held"]
    page = admin_client.get("/admin/settings/email").get_data(as_text=True)
    assert 'id="hold-banner"' in page and "Sign in as the sender mailbox" in page

    sign_in(admin_client, oauth_server)
    with oauth_app.app_context():
        assert load_settings().hold_reason is None
    assert run_worker(oauth_app)["sent"] == 1 and statuses(oauth_app) == ["sent"]
    assert audit_rows(oauth_app, action="email_settings.released")


# -- what went wrong, in plain words ---------------------------------------------------------


def _wrong_secret(server):
    server.add_client(TENANT, CLIENT_ID, "another-secret", mailbox=LOGIN)


def _no_consent(server):
    server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN, consent=False)


def _other_tenant(server):
    server.add_client("fabrikam.onmicrosoft.com", CLIENT_ID, SECRET, mailbox=LOGIN)


def _other_app(server):
    server.add_client(TENANT, "00000000-0000-0000-0000-000000000001", SECRET, mailbox=LOGIN)


def _other_mailbox(server):
    server.add_client(TENANT, CLIENT_ID, SECRET, mailbox="someone-else@example.com")


@pytest.mark.parametrize(
    ("setup", "step", "kind_words", "hint_words"),
    [
        (_wrong_secret, "token", "AADSTS7000215", "copy the secret's Value (not its Secret ID)"),
        (_other_app, "token", "AADSTS700016", f"No app with client ID {CLIENT_ID}"),
        (_other_tenant, "token", "AADSTS90002", f"The tenant {TENANT} does not exist"),
        (_no_consent, "token", "AADSTS65001", "“Grant admin consent”"),
        (_other_mailbox, "auth", "status=401", "Set-CASMailbox -Identity " + LOGIN),
    ],
)
def test_each_failure_gets_its_hint(oauth_app, admin_client, oauth_server, mail_server, setup,
                                    step, kind_words, hint_words):  # fmt: skip
    setup(oauth_server)
    result = run_test(admin_client, oauth_app, mail_server)
    assert result["ok"] is False and result["failed_step"] == step
    failed = result["steps"][-1]
    assert kind_words in failed["detail"], failed
    assert hint_words in result["hint"]
    if step == "auth":  # the server's base64 JSON challenge is decoded into the diagnosis
        assert failed["reply"] == XOAUTH2_REFUSED
        assert "New-ServicePrincipal -AppId " + CLIENT_ID in result["hint"]


def test_google_revoked_sign_in_explains_the_seven_day_test_mode(
    oauth_app, admin_client, oauth_server, mail_server
):
    google_id = "1234-abc.apps.googleusercontent.com"
    oauth_server.add_client(None, google_id, SECRET, mailbox=LOGIN, kind="google")
    values = {"auth_method": "google", "oauth_client_id": google_id, "oauth_tenant": ""}
    save(admin_client, oauth_app, mail_server, enabled=None, **values)
    sign_in(admin_client, oauth_server)
    oauth_server.revoke_refresh_tokens()
    result = run_test(admin_client, oauth_app, mail_server, oauth_client_secret="", **values)
    assert result["failed_step"] == "token" and "invalid_grant" in result["steps"][-1]["detail"]
    assert "gets sign-ins that expire after 7 days" in result["hint"]


# -- secrets stay secret --------------------------------------------------------------------


def test_the_secret_and_tokens_are_nowhere(oauth_app, admin_client, oauth_server, mail_server,
                                           caplog, tmp_path):  # fmt: skip
    caplog.set_level("DEBUG")
    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", enabled=None)
    sign_in(admin_client, oauth_server)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", oauth_client_secret="")
    run_test(admin_client, oauth_app, mail_server, oauth_flow="delegated")
    queue(oauth_app)
    run_worker(oauth_app)
    secrets = [SECRET, *oauth_server.access_tokens, *oauth_server.refresh_tokens]
    assert len(secrets) > 3  # the secret, access tokens and refresh tokens
    seen = [
        admin_client.get("/admin/settings/email").get_data(as_text=True),
        admin_client.get("/admin/audit").get_data(as_text=True),
        admin_client.get("/admin/audit.csv").get_data(as_text=True),
        str(audit_rows(oauth_app)),
        caplog.text,
    ]
    with oauth_app.app_context(), db.engine.connect() as conn:
        seen.append(str(conn.execute(db.text("SELECT * FROM email_settings")).all()))
    for secret in secrets:
        assert not any(secret in text for text in seen), "a secret leaked"


def test_a_secret_no_key_decrypts_asks_for_it_again(
    oauth_app, admin_client, oauth_server, mail_server, make_smtp_app, admin
):
    from cryptography.fernet import Fernet

    oauth_server.add_client(TENANT, CLIENT_ID, SECRET, mailbox=LOGIN)
    save(admin_client, oauth_app, mail_server, oauth_flow="delegated", enabled=None)
    rekeyed = make_smtp_app(SETTINGS_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
                            OAUTH_MICROSOFT_AUTHORITY=oauth_server.base_url)  # fmt: skip
    client = rekeyed.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    page = post_form(client, "/admin/settings/email/oauth/start", {}, follow_redirects=True)
    assert page.status_code == 200
    assert "Save the settings with Microsoft 365 or Google" in page.get_data(as_text=True)
    assert oauth_server.authorize_requests == []
