"""The local authorization server and XOAUTH2 on the test SMTP server, driven as a client would."""

import base64
import json
import secrets
import smtplib
import ssl
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .oauth_server import (
    DEVICE_GRANT,
    GOOGLE_SCOPE,
    MICROSOFT_APP_SCOPE,
    MICROSOFT_SMTP_SCOPE,
    pkce_challenge,
)
from .smtp_servers import LOGIN, PASSWORD

TENANT = "corp-tenant-id"
CLIENT, SECRET = "app-client-id", "secret-value-1"
REDIRECT = "https://bi.corp.test/admin/settings/email/oauth/callback"
DELEGATED = f"{MICROSOFT_SMTP_SCOPE} offline_access openid profile"
MAILBOX = "sender@corp.test"


@pytest.fixture
def microsoft(oauth_server):
    """The server with one Microsoft app registered in ``TENANT``."""
    oauth_server.add_client(TENANT, CLIENT, SECRET)
    return oauth_server


def post(server, path, data, auth=None):
    return requests.post(
        server.base_url + path, data=data, auth=auth, verify=server.ca_pem_path, timeout=10
    )


def authorize(server, path, **query):
    """GET the authorize endpoint; the query parameters of the redirect it answers with."""
    response = requests.get(
        server.base_url + path,
        params=query,
        verify=server.ca_pem_path,
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(query["redirect_uri"] + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def microsoft_code(server, verifier, scope=DELEGATED, state="state-1"):
    answer = authorize(
        server,
        f"/{TENANT}/oauth2/v2.0/authorize",
        client_id=CLIENT,
        redirect_uri=REDIRECT,
        response_type="code",
        scope=scope,
        state=state,
        code_challenge=pkce_challenge(verifier),
        code_challenge_method="S256",
    )
    assert answer["state"] == state
    return answer["code"]


def redeem(server, code, verifier, **extra):
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT,
        "client_secret": SECRET,
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **extra,
    }
    return post(server, f"/{TENANT}/oauth2/v2.0/token", form)


def assert_aadsts(response, status, error, code, text):
    body = response.json()
    assert response.status_code == status, body
    assert body["error"] == error and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: {text}")
    for key in ("trace_id", "correlation_id", "timestamp"):
        assert body[key] and body[key] in body["error_description"]
    return body


# -- Microsoft --------------------------------------------------------------------------


def test_authorization_code_with_pkce_gives_tokens_for_the_mailbox(microsoft):
    verifier = secrets.token_urlsafe(48)
    code = microsoft_code(microsoft, verifier)
    response = redeem(microsoft, code, verifier)
    body = response.json()
    assert response.status_code == 200, body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == MICROSOFT_SMTP_SCOPE and body["refresh_token"]
    claims = json.loads(base64.urlsafe_b64decode(body["id_token"].split(".")[1] + "=="))
    assert claims["preferred_username"] == MAILBOX and claims["aud"] == CLIENT
    assert microsoft.valid_access_token(body["access_token"]) == MAILBOX
    assert microsoft.grants == [("authorization_code", CLIENT)]
    assert microsoft.authorize_requests[0]["code_challenge_method"] == "S256"
    # A code is good once.
    again = redeem(microsoft, code, verifier)
    assert_aadsts(again, 400, "invalid_grant", 54005, "OAuth2 Authorization code was already")


def test_a_wrong_code_verifier_or_redirect_uri_is_refused(microsoft):
    verifier = secrets.token_urlsafe(48)
    wrong = redeem(microsoft, microsoft_code(microsoft, verifier), "another-verifier-" * 3)
    assert_aadsts(wrong, 400, "invalid_grant", 501481, "The Code_Verifier does not match")
    missing = redeem(microsoft, microsoft_code(microsoft, verifier), "")
    assert_aadsts(missing, 400, "invalid_grant", 501481, "The Code_Verifier does not match")
    moved = redeem(
        microsoft, microsoft_code(microsoft, verifier), verifier, redirect_uri=REDIRECT + "x"
    )
    assert_aadsts(moved, 400, "invalid_grant", 500112, "The reply address")


def test_no_refresh_token_without_offline_access(microsoft):
    verifier = secrets.token_urlsafe(48)
    code = microsoft_code(microsoft, verifier, scope=MICROSOFT_SMTP_SCOPE)
    body = redeem(microsoft, code, verifier).json()
    assert body["access_token"] and "refresh_token" not in body and "id_token" not in body


def test_refresh_rotates_the_refresh_token_and_retires_the_old_one(microsoft):
    verifier = secrets.token_urlsafe(48)
    first = redeem(microsoft, microsoft_code(microsoft, verifier), verifier).json()
    form = {"grant_type": "refresh_token", "client_id": CLIENT, "scope": DELEGATED}
    path = f"/{TENANT}/oauth2/v2.0/token"
    # Client secret through HTTP Basic this time.
    second = post(
        microsoft, path, {**form, "refresh_token": first["refresh_token"]}, (CLIENT, SECRET)
    )
    body = second.json()
    assert second.status_code == 200, body
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert microsoft.valid_access_token(body["access_token"]) == MAILBOX
    reused = post(
        microsoft, path, {**form, "refresh_token": first["refresh_token"]}, (CLIENT, SECRET)
    )
    assert_aadsts(reused, 400, "invalid_grant", 700082, "The refresh token has expired")

    microsoft.rotate_refresh_tokens = False
    kept = post(microsoft, path, {**form, "refresh_token": body["refresh_token"]}, (CLIENT, SECRET))
    assert kept.json()["refresh_token"] == body["refresh_token"]
    assert microsoft.grant_count("refresh_token", CLIENT) == 3


def test_a_revoked_refresh_token_is_refused_with_aadsts50173(microsoft):
    verifier = secrets.token_urlsafe(48)
    tokens = redeem(microsoft, microsoft_code(microsoft, verifier), verifier).json()
    assert microsoft.revoke_refresh_tokens(CLIENT) == 1
    form = {
        "grant_type": "refresh_token",
        "client_id": CLIENT,
        "client_secret": SECRET,
        "refresh_token": tokens["refresh_token"],
    }
    refused = post(microsoft, f"/{TENANT}/oauth2/v2.0/token", form)
    assert_aadsts(refused, 400, "invalid_grant", 50173, "The provided grant has expired")


def test_client_credentials_for_exchange_online(microsoft):
    path = f"/{TENANT}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "scope": MICROSOFT_APP_SCOPE}
    response = post(microsoft, path, form, auth=(CLIENT, SECRET))
    body = response.json()
    assert response.status_code == 200, body
    assert body["token_type"] == "Bearer" and "refresh_token" not in body
    assert microsoft.valid_access_token(body["access_token"]) == MAILBOX

    graph = post(
        microsoft,
        path,
        {**form, "scope": "https://outlook.office365.com/SMTP.Send"},
        auth=(CLIENT, SECRET),
    )
    assert_aadsts(graph, 400, "invalid_scope", 1002012, "The provided value for scope")
    assert microsoft.grants == [("client_credentials", CLIENT)] * 2


def test_device_code_is_pending_until_approved(microsoft):
    started = post(
        microsoft,
        f"/{TENANT}/oauth2/v2.0/devicecode",
        {"client_id": CLIENT, "scope": DELEGATED},
    )
    flow = started.json()
    assert started.status_code == 200, flow
    assert flow["user_code"] in flow["message"] and flow["verification_uri"] in flow["message"]
    assert flow["interval"] == 1 and flow["expires_in"] == 900
    form = {
        "grant_type": DEVICE_GRANT,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "device_code": flow["device_code"],
    }
    path = f"/{TENANT}/oauth2/v2.0/token"
    pending = post(microsoft, path, form)
    assert_aadsts(pending, 400, "authorization_pending", 70016, "OAuth 2.0 device flow error")
    # Without the secret only when the app allows public client flows (MSAL's device flow).
    public = {k: v for k, v in form.items() if k != "client_secret"}
    assert_aadsts(post(microsoft, path, public), 401, "invalid_client", 7000218, "The request")
    microsoft.clients[CLIENT].public_flows = True
    assert post(microsoft, path, public).json()["error"] == "authorization_pending"

    microsoft.approve_device(flow["user_code"])
    approved = post(microsoft, path, form).json()
    assert approved["refresh_token"] and microsoft.valid_access_token(approved["access_token"])
    assert post(microsoft, path, form).status_code == 400  # a device code is good once
    with pytest.raises(KeyError):
        microsoft.approve_device("NOSUCHCODE")


def test_error_bodies_for_tenant_client_secret_and_consent(microsoft):
    form = {
        "grant_type": "client_credentials",
        "scope": MICROSOFT_APP_SCOPE,
        "client_id": CLIENT,
        "client_secret": SECRET,
    }
    unknown_tenant = post(microsoft, "/other-tenant/oauth2/v2.0/token", form)
    assert_aadsts(unknown_tenant, 400, "invalid_request", 90002, "Tenant 'other-tenant' not found.")
    unknown_client = post(microsoft, f"/{TENANT}/oauth2/v2.0/token", {**form, "client_id": "x-1"})
    assert_aadsts(
        unknown_client,
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier 'x-1' was not found in the directory '{TENANT}'.",
    )
    wrong_secret = post(microsoft, f"/{TENANT}/oauth2/v2.0/token", {**form, "client_secret": "no"})
    assert_aadsts(
        wrong_secret,
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the"
        " client secret value, not the client secret ID",
    )
    microsoft.clients[CLIENT].consent = False
    no_consent = post(microsoft, f"/{TENANT}/oauth2/v2.0/token", form)
    assert_aadsts(
        no_consent,
        400,
        "invalid_grant",
        65001,
        "The user or administrator has not consented to use the application",
    )
    assert ("client_credentials", "x-1") in microsoft.grants


def test_authorize_refusals_redirect_or_stop_on_an_error_page(microsoft):
    microsoft.clients[CLIENT].consent = False
    answer = authorize(
        microsoft,
        f"/{TENANT}/oauth2/v2.0/authorize",
        client_id=CLIENT,
        redirect_uri=REDIRECT,
        response_type="code",
        scope=DELEGATED,
        state="s-2",
    )
    assert answer["error"] == "consent_required" and answer["state"] == "s-2"
    assert answer["error_description"].startswith("AADSTS65001: ")
    # An unknown app: Entra ID never redirects to a URI it cannot trust.
    page = requests.get(
        f"{microsoft.base_url}/{TENANT}/oauth2/v2.0/authorize",
        params={"client_id": "x-1", "redirect_uri": REDIRECT, "response_type": "code"},
        verify=microsoft.ca_pem_path,
        allow_redirects=False,
        timeout=10,
    )
    assert page.status_code == 400 and "AADSTS700016" in page.text


def test_discovery_document_and_unknown_tenant(microsoft):
    url = f"{microsoft.microsoft_authority(TENANT)}/v2.0/.well-known/openid-configuration"
    config = requests.get(url, verify=microsoft.ca_pem_path, timeout=10).json()
    assert config["token_endpoint"] == f"{microsoft.base_url}/{TENANT}/oauth2/v2.0/token"
    assert config["device_authorization_endpoint"].endswith("/oauth2/v2.0/devicecode")
    unknown = requests.get(url.replace(TENANT, "nope"), verify=microsoft.ca_pem_path, timeout=10)
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_tenant"


def test_expired_access_tokens_and_lifetime(microsoft):
    microsoft.access_token_lifetime = 60
    form = {"grant_type": "client_credentials", "scope": MICROSOFT_APP_SCOPE}
    body = post(microsoft, f"/{TENANT}/oauth2/v2.0/token", form, (CLIENT, SECRET)).json()
    assert body["expires_in"] == 60
    assert microsoft.valid_access_token(body["access_token"]) == MAILBOX
    microsoft.expire_access_tokens()
    assert microsoft.valid_access_token(body["access_token"]) is None
    assert microsoft.valid_access_token("never-issued") is None


def test_the_certificate_is_only_trusted_through_the_test_ca(microsoft):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(microsoft.base_url + "/", timeout=10)


# -- Google -----------------------------------------------------------------------------


@pytest.fixture
def google(oauth_server):
    """The server with one Google OAuth client."""
    oauth_server.add_client(None, "g-client", "g-secret", mailbox=MAILBOX, kind="google")
    return oauth_server


def google_tokens(server, **extra_query):
    query = {
        "client_id": "g-client",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": GOOGLE_SCOPE,
        "state": "g-state",
        "access_type": "offline",
        **extra_query,
    }
    code = authorize(server, "/google/auth", **query)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    return post(server, "/google/token", form, auth=("g-client", "g-secret"))


def test_google_code_without_pkce_and_refresh(google):
    response = google_tokens(google)
    body = response.json()
    assert response.status_code == 200, body
    assert body["scope"] == GOOGLE_SCOPE and body["refresh_token"]
    assert google.valid_access_token(body["access_token"]) == MAILBOX
    form = {
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "client_id": "g-client",
        "client_secret": "g-secret",
    }
    refreshed = post(google, "/google/token", form).json()
    # Google keeps the refresh token: the answer to a refresh has none.
    assert refreshed["access_token"] != body["access_token"] and "refresh_token" not in refreshed
    assert google.grants == [("authorization_code", "g-client"), ("refresh_token", "g-client")]

    google.revoke_refresh_tokens()
    revoked = post(google, "/google/token", form)
    assert revoked.status_code == 400
    assert revoked.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }


def test_google_pkce_and_offline_access(google):
    verifier = secrets.token_urlsafe(48)
    challenged = {"code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}
    refused = google_tokens(google, **challenged)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    online = google_tokens(google, access_type="online").json()
    assert "refresh_token" not in online
    wrong = post(
        google,
        "/google/token",
        {"grant_type": "refresh_token", "refresh_token": "x"},
        auth=("g-client", "bad"),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


# -- XOAUTH2 on the SMTP server ---------------------------------------------------------


def xoauth2(user, token, challenges):
    """An smtplib auth object: the XOAUTH2 initial response, then an empty answer."""

    def answer(challenge=None):
        if challenge is None:
            return f"user={user}\x01auth=Bearer {token}\x01\x01"
        challenges.append(challenge)
        return ""

    return answer


def app_token(server):
    form = {"grant_type": "client_credentials", "scope": MICROSOFT_APP_SCOPE}
    return post(server, f"/{TENANT}/oauth2/v2.0/token", form, (CLIENT, SECRET)).json()[
        "access_token"
    ]


def smtp_session(server, smtp_ca_bundle):
    client = smtplib.SMTP(server.host, server.port, timeout=10)
    client.starttls(context=ssl.create_default_context(cafile=smtp_ca_bundle))
    client.ehlo()
    return client


def test_xoauth2_with_a_valid_token_sends_mail(microsoft, smtp_servers, smtp_ca_bundle):
    server = smtp_servers("starttls", oauth=microsoft)
    challenges = []
    with smtp_session(server, smtp_ca_bundle) as client:
        assert set(client.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN", "XOAUTH2"}
        code, _ = client.auth("XOAUTH2", xoauth2(MAILBOX, app_token(microsoft), challenges))
        assert code == 235
        client.sendmail(MAILBOX, ["ops@corp.test"], b"Subject: hi\r\n\r\nbody\r\n")
    assert challenges == [] and server.auth_attempts == [MAILBOX]
    assert server.messages[0].login == MAILBOX


@pytest.mark.parametrize("case", ["unknown", "expired", "other mailbox"])
def test_xoauth2_refusal_is_a_json_challenge_then_535(
    microsoft, smtp_servers, smtp_ca_bundle, case
):
    server = smtp_servers("starttls", oauth=microsoft)
    token, user = app_token(microsoft), MAILBOX
    if case == "unknown":
        token = "never-issued"
    elif case == "expired":
        microsoft.expire_access_tokens()
    else:
        user = "someone-else@corp.test"
    challenges = []
    client = smtp_session(server, smtp_ca_bundle)
    with client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.auth("XOAUTH2", xoauth2(user, token, challenges))
    assert refused.value.smtp_code == 535
    assert refused.value.smtp_error == b"5.7.3 Authentication unsuccessful"
    assert [json.loads(c) for c in challenges] == [
        {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
    ]
    assert server.auth_attempts == [user] and server.messages == []


def test_password_logins_still_work_beside_xoauth2(microsoft, smtp_servers, smtp_ca_bundle):
    server = smtp_servers("starttls", oauth=microsoft)
    with smtp_session(server, smtp_ca_bundle) as client:
        assert client.login(LOGIN, PASSWORD)[0] == 235
    plain = smtp_servers("starttls", auth=True)
    with smtp_session(plain, smtp_ca_bundle) as client:
        assert "XOAUTH2" not in client.esmtp_features["auth"]
