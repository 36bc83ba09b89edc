"""OAuth 2.0 for SMTP (XOAUTH2): the provider's endpoints, the grants, their errors in
plain words, and a per-process cache of access tokens.

Authlib speaks OAuth; this module only decides which grant, which scope and what an error
means. Tokens and secrets never reach a log, a page, an audit row or an exception message.
"""

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask_babel import gettext

MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_DELEGATED_SCOPE = "https://outlook.office365.com/SMTP.Send offline_access"
GOOGLE_SCOPE = "https://mail.google.com/"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_MARGIN = 300  # seconds: a token this close to expiry is refreshed before use

# Azure AD error codes (AADSTS…) and OAuth error names → our failure kinds.
AADSTS_KINDS = {
    "7000215": "oauth_wrong_secret",
    "7000222": "oauth_wrong_secret",  # the secret expired
    "700016": "oauth_app_not_found",
    "90002": "oauth_tenant_not_found",
    "65001": "oauth_consent_missing",
}
ERROR_KINDS = {
    "invalid_grant": "oauth_revoked",
    "invalid_client": "oauth_wrong_secret",
    "unauthorized_client": "oauth_app_not_found",
}
AADSTS = re.compile(r"AADSTS(\d+)")


@dataclass(frozen=True)
class OAuthClient:
    """An app registration and, for delegated sign-in, the mailbox's refresh token."""

    provider: str  # microsoft | google
    flow: str  # application | delegated
    tenant: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    device_url: str | None = None
    refresh_token: str | None = field(default=None, repr=False)
    signed_in: str = ""  # when the mailbox signed in: a new sign-in is a new cache entry

    @property
    def scope(self):
        if self.provider == "google":
            return GOOGLE_SCOPE
        return MICROSOFT_APP_SCOPE if self.flow == "application" else MICROSOFT_DELEGATED_SCOPE

    def cache_key(self):
        """Tells cached tokens apart without keeping the secrets themselves as keys.

        Not the refresh token: Microsoft rotates it at each refresh, and the cache must
        survive that; a new sign-in changes ``signed_in`` instead.
        """
        parts = (self.provider, self.flow, self.tenant, self.client_id, self.client_secret,
                 self.signed_in)  # fmt: skip
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def make_client(config, provider, flow, tenant, client_id, client_secret, refresh_token=None,
                signed_in=""):  # fmt: skip
    """An ``OAuthClient`` with the endpoints configured for ``provider``."""
    if provider == "google":
        urls = {"authorize_url": config["OAUTH_GOOGLE_AUTH_URL"],
                "token_url": config["OAUTH_GOOGLE_TOKEN_URL"]}  # fmt: skip
        flow = "delegated"  # Google has no client-credentials grant for Gmail
    else:
        base = f"{config['OAUTH_MICROSOFT_AUTHORITY']}/{tenant}/oauth2/v2.0"
        urls = {"authorize_url": f"{base}/authorize", "token_url": f"{base}/token",
                "device_url": f"{base}/devicecode"}  # fmt: skip
    return OAuthClient(provider, flow, tenant, client_id, client_secret,
                       refresh_token=refresh_token, signed_in=signed_in, **urls)  # fmt: skip


@dataclass(frozen=True)
class Token:
    """An access token, when it expires (``time.time()``), and a rotated refresh token."""

    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)


class TokenFailed(Exception):
    """No access token: ``kind`` says why, ``detail`` quotes the provider (no secrets)."""

    def __init__(self, kind, detail=""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.detail = kind, detail


def _failure(exc):
    if isinstance(exc, OAuthError):
        description = exc.description or ""
        code = AADSTS.search(description)
        kind = AADSTS_KINDS.get(code.group(1)) if code else None
        kind = kind or ERROR_KINDS.get(exc.error, "oauth_error")
        # The provider's first sentence names the problem; the rest is trace ids.
        return TokenFailed(kind, f"{exc.error}: {description.split('. ')[0][:300]}")
    if isinstance(exc, requests.Timeout):
        return TokenFailed("oauth_timeout", gettext("the sign-in service did not answer in time"))
    if isinstance(exc, requests.RequestException):
        return TokenFailed("oauth_unreachable", type(exc).__name__)
    return None


def _session(client, **kwargs):
    return OAuth2Session(
        client.client_id,
        client.client_secret,
        scope=client.scope,
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method's name)
        **kwargs,
    )


def _token(answer):
    expires_in = float(answer.get("expires_in") or 3600)
    return Token(answer["access_token"], time.time() + expires_in, answer.get("refresh_token"))


def _guarded(call):
    try:
        return _token(call())
    except (OAuthError, requests.RequestException) as exc:
        raise _failure(exc) from None


def fetch_token(client, timeout):
    """A fresh access token: client credentials, or the stored refresh token."""
    with _session(client) as session:
        if client.flow == "application":
            return _guarded(lambda: session.fetch_token(
                client.token_url, grant_type="client_credentials", timeout=timeout))  # fmt: skip
        if not client.refresh_token:
            raise TokenFailed("oauth_not_signed_in")
        return _guarded(lambda: session.refresh_token(
            client.token_url, refresh_token=client.refresh_token, timeout=timeout))  # fmt: skip


def authorization_url(client, redirect_uri, state, code_verifier):
    """Where the administrator signs in as the sender mailbox (authorization code + PKCE)."""
    extra = {"access_type": "offline", "prompt": "consent"} if client.provider == "google" else {}
    with _session(client, redirect_uri=redirect_uri, code_challenge_method="S256") as session:
        url, _ = session.create_authorization_url(
            client.authorize_url, state=state, code_verifier=code_verifier, **extra
        )
    return url


def exchange_code(client, redirect_uri, code, code_verifier, timeout):
    """The tokens for the code the provider sent back to ``redirect_uri``."""
    with _session(client, redirect_uri=redirect_uri) as session:
        return _guarded(lambda: session.fetch_token(
            client.token_url, grant_type="authorization_code", code=code,
            code_verifier=code_verifier, timeout=timeout))  # fmt: skip


def start_device_flow(client, timeout):
    """``{user_code, verification_uri, device_code, interval, message}`` (Microsoft only)."""
    try:
        answer = requests.post(
            client.device_url,
            data={"client_id": client.client_id, "scope": client.scope},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise _failure(exc) from None
    body = (
        answer.json()
        if answer.headers.get("Content-Type", "").startswith("application/json")
        else {}
    )
    if answer.status_code != 200 or "device_code" not in body:
        raise _failure(OAuthError(body.get("error", "device_code_failed"),
                                  body.get("error_description", "")))  # fmt: skip
    return body


def poll_device_flow(client, device_code, timeout):
    """The tokens once the administrator has signed in on the other device; None meanwhile."""
    with _session(client) as session:
        try:
            return _token(session.fetch_token(
                client.token_url, grant_type=DEVICE_GRANT, device_code=device_code,
                timeout=timeout))  # fmt: skip
        except OAuthError as exc:
            if exc.error in ("authorization_pending", "slow_down"):
                return None
            raise _failure(exc) from None
        except requests.RequestException as exc:
            raise _failure(exc) from None


class TokenCache:
    """Access tokens of this process, refreshed ``REFRESH_MARGIN`` seconds before expiry."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens = {}

    def get(self, client, timeout):
        """A valid access token for ``client`` (a ``Token``; its refresh token may be new)."""
        key = client.cache_key()
        with self._lock:  # one refresh at a time: sessions starting together share it
            token = self._tokens.get(key)
            if token is None or token.expires_at - time.time() < REFRESH_MARGIN:
                token = fetch_token(client, timeout)
                self._tokens[key] = token
            return token

    def clear(self):
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()


def xoauth2(user, access_token):
    """The XOAUTH2 initial response (RFC 7628 style, as Google and Microsoft define it)."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"


def xoauth2_challenge(challenges):
    """What the server's XOAUTH2 error challenge said (RFC 7628: base64 JSON), for the
    diagnosis; smtplib has decoded the base64 already."""
    for challenge in challenges:
        try:
            body = json.loads(challenge)
        except ValueError:
            return challenge[:200].decode("ascii", "replace")
        if isinstance(body, dict):
            said = ", ".join(f"{k}={v}" for k, v in sorted(body.items()))
            return gettext("server said %(reply)s", reply=said)[:300]
    return ""
