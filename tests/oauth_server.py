"""A real OAuth 2.0 authorization server for tests: Entra ID- and Google-style, HTTPS on 127.0.0.1.

``tests/conftest.py`` loads this module as a plugin (fixture ``oauth_server``). It issues
codes, device codes, access and refresh tokens, and refuses with the bodies Entra ID and
Google send, so the app's hints are tested on real text. The SMTP test server asks it whether
a bearer token is good (``valid_access_token``).

Microsoft endpoints sit under ``base_url`` + ``/{tenant}`` (authority = ``base_url``, tenant
appended); Google's are ``base_url + "/google/auth"`` and ``base_url + "/google/token"``.
"""

import base64
import hashlib
import html
import json
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import pytest
import trustme

HOST = "127.0.0.1"
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
GOOGLE_SCOPE = "https://mail.google.com/"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Entra ID grants these alongside a resource scope but never lists them in a token's "scope".
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}

# Entra ID's refusals: AADSTS code -> (HTTP status, error, description template).
AADSTS = {
    90002: (
        400,
        "invalid_request",
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are"
        " signing into the correct cloud. Check with your subscription administrator, this may"
        " happen if there are no active subscriptions for the tenant.",
    ),
    700016: (
        400,
        "unauthorized_client",
        "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
        " This can happen if the application has not been installed by the administrator of the"
        " tenant or consented to by any user in the tenant. You may have sent your"
        " authentication request to the wrong tenant.",
    ),
    7000215: (
        401,
        "invalid_client",
        "Invalid client secret provided. Ensure the secret being sent in the request is the"
        " client secret value, not the client secret ID, for a secret added to app"
        " '{client_id}'.",
    ),
    7000218: (
        401,
        "invalid_client",
        "The request body must contain the following parameter: 'client_assertion' or"
        " 'client_secret'.",
    ),
    700025: (
        401,
        "invalid_client",
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    ),
    65001: (
        400,
        "invalid_grant",
        "The user or administrator has not consented to use the application with ID"
        " '{client_id}' named '{client_id}'. Send an interactive authorization request for this"
        " user and resource.",
    ),
    50173: (
        400,
        "invalid_grant",
        "The provided grant has expired due to it being revoked, a fresh auth token is needed."
        " The user might have changed or reset their password. The grant was issued on"
        " '{issued}' and the TokensValidFrom date (before which tokens are not valid) for this"
        " user is '{now}'.",
    ),
    700082: (
        400,
        "invalid_grant",
        "The refresh token has expired due to inactivity. The token was issued on {issued} and"
        " was inactive for 90.00:00:00.",
    ),
    900144: (
        400,
        "invalid_request",
        "The request body must contain the following parameter: '{name}'.",
    ),
    70003: (
        400,
        "unsupported_grant_type",
        "The app requested an unsupported grant type '{grant_type}'.",
    ),
    1002012: (
        400,
        "invalid_scope",
        "The provided value for scope {scope} is not valid. Client credential flows must have a"
        " scope value with /.default suffixed to the resource identifier (application ID URI).",
    ),
    500011: (
        400,
        "invalid_resource",
        "The resource principal named {resource} was not found in the tenant named {tenant}."
        " This can happen if the application has not been installed by the administrator of the"
        " tenant or consented to by any user in the tenant. You might have sent your"
        " authentication request to the wrong tenant.",
    ),
    50011: (
        400,
        "invalid_request",
        "The redirect URI '{redirect_uri}' specified in the request does not match the redirect"
        " URIs configured for the application '{client_id}'. Make sure the redirect URI sent in"
        " the request matches one added to your application in the Azure portal.",
    ),
    500112: (
        400,
        "invalid_grant",
        "The reply address '{redirect_uri}' does not match the reply address '{expected}'"
        " provided when requesting Authorization code.",
    ),
    501481: (
        400,
        "invalid_grant",
        "The Code_Verifier does not match the code_challenge supplied in the authorization"
        " request.",
    ),
    54005: (
        400,
        "invalid_grant",
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or"
        " use an existing refresh token.",
    ),
    70008: (
        400,
        "invalid_grant",
        "The provided authorization code or refresh token has expired due to inactivity. Send a"
        " new interactive authorization request for this user and resource.",
    ),
    9002313: (400, "invalid_grant", "Invalid request. Request is malformed or invalid."),
    70016: (
        400,
        "authorization_pending",
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    ),
    70020: (
        400,
        "expired_token",
        "The provided value for the input parameter 'device_code' is not valid. This device code"
        " has expired.",
    ),
    900561: (
        400,
        "unsupported_response_type",
        "The response_type '{response_type}' is not supported; use 'code'.",
    ),
}


class OAuthRefusal(Exception):
    """An error answer: JSON from the token endpoints, redirect parameters from authorize."""

    def __init__(self, status, body):
        super().__init__(body["error"])
        self.status, self.body = status, body


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _when(moment):
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def pkce_challenge(verifier):
    """The S256 code_challenge for ``verifier`` (RFC 7636)."""
    return _b64url(hashlib.sha256(verifier.encode()).digest())


def _google_refusal(status, error, description):
    return OAuthRefusal(status, {"error": error, "error_description": description})


@dataclass
class Client:
    """A registered application; change its fields in a test to change what the server does."""

    tenant: str
    client_id: str
    secret: str | None  # None: a public client (device code without a secret)
    mailbox: str  # who signs in, and the mailbox its tokens may send as
    consent: bool = True
    kind: str = "microsoft"
    redirect_uris: tuple | None = None  # None accepts any redirect URI
    # Entra ID's "Allow public client flows": device code and refresh without the secret.
    public_flows: bool = False

    def accepts(self, redirect_uri):
        """Whether ``redirect_uri`` is registered for this client."""
        return bool(redirect_uri) and (
            self.redirect_uris is None or redirect_uri in self.redirect_uris
        )


@dataclass
class Grant:
    """What an authorization code, device code or refresh token stands for."""

    client_id: str
    mailbox: str
    scope: str
    offline: bool  # whether a refresh token comes with the access token
    issued: datetime = field(default_factory=lambda: datetime.now(UTC))
    expires_at: float = 0.0  # codes and device codes only
    redirect_uri: str = ""
    challenge: str | None = None
    challenge_method: str = "plain"
    nonce: str | None = None
    user_code: str = ""
    approved: bool = False
    revoked: bool = False


@dataclass
class AccessToken:
    """An access token as the server issued it."""

    client_id: str
    mailbox: str
    scope: str
    expires_at: float
    kind: str


class _HTTPSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, oauth, context):
        self.oauth, self.context = oauth, context
        super().__init__((HOST, oauth.port), _Handler)

    def get_request(self):
        sock, address = super().get_request()
        # The handshake runs in the request's thread, so a client that hangs up mid-handshake
        # (it distrusts the certificate) cannot stall the accepting loop.
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return tls, address

    def finish_request(self, request, client_address):
        try:
            request.settimeout(10)
            request.do_handshake()
        except OSError:
            return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_version = "test-oauth"

    def do_GET(self):
        self._answer("GET", urlsplit(self.path).query)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self._answer("POST", self.rfile.read(length).decode("utf-8", "replace"))

    def _answer(self, method, encoded):
        params = {k: v[0] for k, v in parse_qs(encoded, keep_blank_values=True).items()}
        path = urlsplit(self.path).path
        status, headers, body = self.server.oauth.dispatch(method, path, params, self.headers)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # OAuthServer.requests keeps what came in; stderr would only add noise


class OAuthServer:
    """An OAuth 2.0 authorization server over HTTPS on 127.0.0.1 with a control API for tests.

    Every answer depends on the registered clients (``add_client``) and these knobs:
    ``access_token_lifetime`` (seconds), ``rotate_refresh_tokens`` (Microsoft: each refresh
    returns a new refresh token and retires the old one), ``device_interval`` (seconds the
    client is told to wait between polls).
    """

    def __init__(self, ca=None, ca_pem_path=None, port=0):
        self.ca = ca or trustme.CA()
        self._own_dir = None
        if ca_pem_path is None:
            self._own_dir = tempfile.mkdtemp(prefix="oauth-ca-")
            ca_pem_path = str(Path(self._own_dir) / "ca.pem")
            self.ca.cert_pem.write_to_path(ca_pem_path)
        self.ca_pem_path = ca_pem_path
        self.port = port
        self.access_token_lifetime = 3600
        self.rotate_refresh_tokens = True
        self.device_interval = 1  # Entra ID says 5; tests should not wait that long
        self.clients = {}  # client_id -> Client
        self.codes, self.devices, self.refresh_tokens, self.access_tokens = {}, {}, {}, {}
        self.redeemed_codes = set()
        self.grants = []  # (grant_type, client_id) for every token request, refused or not
        self.authorize_requests = []  # the query of every authorize request, as a dict
        self.requests = []  # (method, path) of every request; no query, so no secrets
        self._lock = threading.Lock()
        self._httpd = self._thread = None

    # -- life cycle ---------------------------------------------------------------------

    @property
    def base_url(self):
        return f"https://{HOST}:{self.port}"

    def start(self):
        """Listen on 127.0.0.1 (a free port unless one was given) in a thread."""
        if self._httpd is None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert(HOST, "localhost").configure_cert(context)
            self._httpd = _HTTPSServer(self, context)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self):
        """Stop listening (the port stays the same for a later ``start``)."""
        if self._httpd is not None:
            httpd, self._httpd = self._httpd, None
            httpd.shutdown()
            httpd.server_close()
            self._thread.join(timeout=5)

    def close(self):
        """Stop, and remove the CA file this server wrote itself."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def __repr__(self):
        return f"<OAuthServer {self.base_url} clients={len(self.clients)}>"

    # -- control API for tests ----------------------------------------------------------

    def microsoft_authority(self, tenant):
        """The authority URL for ``tenant`` (what MSAL's ``authority=`` takes)."""
        return f"{self.base_url}/{tenant}"

    @property
    def google_auth_url(self):
        return f"{self.base_url}/google/auth"

    @property
    def google_token_url(self):
        return f"{self.base_url}/google/token"

    def add_client(
        self,
        tenant,
        client_id,
        secret,
        mailbox="sender@corp.test",
        consent=True,
        kind="microsoft",
        redirect_uris=None,
        public_flows=False,
    ):
        """Register an application; returns its ``Client`` (edit it to change behaviour)."""
        if kind not in ("microsoft", "google"):
            raise ValueError("kind is 'microsoft' or 'google'")
        client = Client(
            tenant, client_id, secret, mailbox, consent, kind, redirect_uris, public_flows
        )
        with self._lock:
            self.clients[client_id] = client
        return client

    def revoke_refresh_tokens(self, client_id=None):
        """Revoke every refresh token (of ``client_id`` only, if given); returns how many."""
        with self._lock:
            held = [g for g in self.refresh_tokens.values() if client_id in (None, g.client_id)]
            for grant in held:
                grant.revoked = True
        return len(held)

    def expire_access_tokens(self):
        """Make every access token issued so far expired (SMTP then refuses it)."""
        with self._lock:
            for token in self.access_tokens.values():
                token.expires_at = 0.0

    def valid_access_token(self, token):
        """The mailbox ``token`` may send mail as, or None (unknown, expired, wrong scope)."""
        with self._lock:
            held = self.access_tokens.get(token)
        if held is None or held.expires_at <= time.time():
            return None
        scopes = held.scope.split()
        if held.kind == "google":
            usable = GOOGLE_SCOPE in scopes
        else:
            usable = MICROSOFT_APP_SCOPE in scopes or any(s.endswith("/SMTP.Send") for s in scopes)
        return held.mailbox if usable else None

    def approve_device(self, user_code, mailbox=None):
        """Sign in at the verification page with ``user_code`` (as the client's mailbox)."""
        with self._lock:
            for grant in self.devices.values():
                if grant.user_code == user_code:
                    grant.approved = True
                    grant.mailbox = mailbox or grant.mailbox
                    return
        raise KeyError(f"no device code waits for user code {user_code!r}")

    def grant_count(self, grant_type, client_id=None):
        """How many token requests of ``grant_type`` (from ``client_id``) came in."""
        return sum(1 for g, c in self.grants if g == grant_type and client_id in (None, c))

    # -- HTTP ---------------------------------------------------------------------------

    def dispatch(self, method, path, params, headers):
        """Answer one request: (status, headers, body bytes)."""
        parts = path.strip("/").split("/")
        with self._lock:
            self.requests.append((method, path))
            try:
                if parts[0] == "google" and len(parts) == 2:
                    route = {("GET", "auth"): self._google_authorize}
                    route[("POST", "token")] = self._google_token
                    answer = route.get((method, parts[1]))
                    return answer(params, headers) if answer else _not_found()
                tenant, rest = parts[0], parts[1:]
                if method == "GET" and rest == ["v2.0", ".well-known", "openid-configuration"]:
                    return self._microsoft_discovery(tenant)
                if len(rest) == 3 and rest[:2] == ["oauth2", "v2.0"]:
                    route = {
                        ("GET", "authorize"): self._microsoft_authorize,
                        ("POST", "token"): self._microsoft_token,
                        ("POST", "devicecode"): self._microsoft_devicecode,
                    }
                    answer = route.get((method, rest[2]))
                    return answer(tenant, params, headers) if answer else _not_found()
                return _not_found()
            except OAuthRefusal as refusal:
                return _json(refusal.status, refusal.body)

    # -- Microsoft ----------------------------------------------------------------------

    def _aad(self, code, **values):
        """An Entra ID error body for AADSTS ``code``, with its trace and correlation IDs."""
        status, error, template = AADSTS[code]
        now = _when(datetime.now(UTC))
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        description = (
            f"AADSTS{code}: {template.format(**values)} Trace ID: {trace}"
            f" Correlation ID: {correlation} Timestamp: {now}"
        )
        return OAuthRefusal(
            status,
            {
                "error": error,
                "error_description": description,
                "error_codes": [code],
                "timestamp": now,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"{self.base_url}/error?code={code}",
            },
        )

    def _check_tenant(self, tenant):
        if not any(c.tenant == tenant for c in self.clients.values() if c.kind == "microsoft"):
            raise self._aad(90002, tenant=tenant)

    def _microsoft_client(self, tenant, client_id):
        self._check_tenant(tenant)
        if not client_id:
            raise self._aad(900144, name="client_id")
        client = self.clients.get(client_id)
        if client is None or client.kind != "microsoft" or client.tenant != tenant:
            raise self._aad(700016, client_id=client_id, tenant=tenant)
        return client

    def _microsoft_discovery(self, tenant):
        # MSAL reads this before anything else; an unknown tenant fails here, not at /token.
        try:
            self._check_tenant(tenant)
        except OAuthRefusal as refusal:
            return _json(400, {**refusal.body, "error": "invalid_tenant"})
        base = f"{self.base_url}/{tenant}"
        return _json(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "code_challenge_methods_supported": ["plain", "S256"],
            },
        )

    def _microsoft_authorize(self, tenant, query, headers):
        self.authorize_requests.append(dict(query))
        redirect_uri = query.get("redirect_uri", "")
        try:
            client = self._microsoft_client(tenant, query.get("client_id"))
            if not client.accepts(redirect_uri):
                raise self._aad(50011, redirect_uri=redirect_uri, client_id=client.client_id)
        except OAuthRefusal as refusal:
            # Entra ID shows its own error page when it cannot trust the redirect URI.
            return _page(400, refusal.body["error_description"])
        try:
            if query.get("response_type") != "code":
                raise self._aad(900561, response_type=query.get("response_type", ""))
            if not query.get("scope"):
                raise self._aad(900144, name="scope")
            if not client.consent:
                # What Entra ID redirects with when the admin has not consented (prompt=none).
                refusal = self._aad(65001, client_id=client.client_id)
                refusal.body["error"] = "consent_required"
                raise refusal
            code = self._new_code(client, query)
        except OAuthRefusal as refusal:
            body = refusal.body
            return _redirect(
                redirect_uri,
                error=body["error"],
                error_description=body["error_description"],
                error_uri=body["error_uri"],
                state=query.get("state"),
            )
        return _redirect(
            redirect_uri, code=code, state=query.get("state"), session_state=str(uuid.uuid4())
        )

    def _microsoft_devicecode(self, tenant, form, headers):
        client = self._microsoft_client(tenant, form.get("client_id"))
        if not form.get("scope"):
            raise self._aad(900144, name="scope")
        device_code = secrets.token_urlsafe(48)
        user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
        self.devices[device_code] = Grant(
            client.client_id,
            client.mailbox,
            form["scope"],
            offline="offline_access" in form["scope"].split(),
            expires_at=time.time() + 900,
            user_code=user_code,
        )
        uri = f"{self.base_url}/devicelogin"
        return _json(
            200,
            {
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": uri,
                "expires_in": 900,
                "interval": self.device_interval,
                "message": f"To sign in, use a web browser to open the page {uri} and enter the"
                f" code {user_code} to authenticate.",
            },
        )

    def _microsoft_token(self, tenant, form, headers):
        grant_type = form.get("grant_type")
        client_id, secret = _client_auth(form, headers)
        self.grants.append((grant_type, client_id))
        client = self._microsoft_client(tenant, client_id)
        if not grant_type:
            raise self._aad(900144, name="grant_type")
        answer = {
            "authorization_code": self._microsoft_code_grant,
            "refresh_token": self._microsoft_refresh_grant,
            "client_credentials": self._microsoft_app_grant,
            DEVICE_GRANT: self._microsoft_device_grant,
        }.get(grant_type)
        if answer is None:
            raise self._aad(70003, grant_type=grant_type)
        # Without a secret: a public client (none registered), or public client flows allowed.
        public = client.secret is None or (
            client.public_flows and grant_type in (DEVICE_GRANT, "refresh_token")
        )
        if client.secret is None and secret:
            raise self._aad(700025)
        if grant_type == "client_credentials" or secret or not public:
            if not secret:
                raise self._aad(7000218)
            if secret != client.secret:
                raise self._aad(7000215, client_id=client.client_id)
        if not client.consent:
            raise self._aad(65001, client_id=client.client_id)
        return answer(client, form)

    def _microsoft_code_grant(self, client, form):
        code = _required(form, "code", self._aad)
        grant = self.codes.pop(code, None)
        if grant is None or grant.client_id != client.client_id:
            raise self._aad(54005 if code in self.redeemed_codes else 9002313)
        self.redeemed_codes.add(code)
        if grant.expires_at < time.time():
            raise self._aad(70008)
        if form.get("redirect_uri") != grant.redirect_uri:
            raise self._aad(
                500112, redirect_uri=form.get("redirect_uri", ""), expected=grant.redirect_uri
            )
        if not _pkce_ok(grant, form.get("code_verifier")):
            raise self._aad(501481)
        return self._tokens(client, grant, form)

    def _microsoft_refresh_grant(self, client, form):
        token = _required(form, "refresh_token", self._aad)
        grant = self.refresh_tokens.get(token)
        if grant is None or grant.client_id != client.client_id:
            raise self._aad(700082, issued=_when(datetime.now(UTC) - timedelta(days=91)))
        if grant.revoked:
            raise self._aad(50173, issued=_when(grant.issued), now=_when(datetime.now(UTC)))
        if self.rotate_refresh_tokens:
            del self.refresh_tokens[token]
            return self._tokens(client, grant, form)
        return self._tokens(client, grant, form, refresh_token=token)

    def _microsoft_app_grant(self, client, form):
        scope = _required(form, "scope", self._aad)
        if not scope.endswith("/.default") or " " in scope:
            raise self._aad(1002012, scope=scope)
        if scope != MICROSOFT_APP_SCOPE:
            resource = scope.removesuffix("/.default")
            raise self._aad(500011, resource=resource, tenant=client.tenant)
        # Entra ID answers client credentials without "scope" and without a refresh token.
        grant = Grant(client.client_id, client.mailbox, scope, offline=False)
        return self._tokens(client, grant, form, as_app=True)

    def _microsoft_device_grant(self, client, form):
        device_code = _required(form, "device_code", self._aad)
        grant = self.devices.get(device_code)
        if grant is None or grant.client_id != client.client_id:
            raise self._aad(9002313)
        if grant.expires_at < time.time():
            del self.devices[device_code]
            raise self._aad(70020)
        if not grant.approved:
            raise self._aad(70016)
        del self.devices[device_code]
        return self._tokens(client, grant, form)

    # -- Google -------------------------------------------------------------------------

    def _google_client(self, client_id):
        client = self.clients.get(client_id or "")
        if client is None or client.kind != "google":
            raise _google_refusal(401, "invalid_client", "The OAuth client was not found.")
        return client

    def _google_authorize(self, query, headers):
        self.authorize_requests.append(dict(query))
        redirect_uri = query.get("redirect_uri", "")
        try:
            client = self._google_client(query.get("client_id"))
        except OAuthRefusal:
            return _page(401, "Error 401: invalid_client. The OAuth client was not found.")
        if not client.accepts(redirect_uri):
            return _page(400, "Error 400: redirect_uri_mismatch")
        if query.get("response_type") != "code" or not query.get("scope"):
            error = "unsupported_response_type" if query.get("scope") else "invalid_request"
            return _redirect(redirect_uri, error=error, state=query.get("state"))
        if not client.consent:
            return _redirect(redirect_uri, error="access_denied", state=query.get("state"))
        code = self._new_code(client, query)
        return _redirect(redirect_uri, state=query.get("state"), code=code, scope=query["scope"])

    def _google_token(self, form, headers):
        grant_type = form.get("grant_type")
        client_id, secret = _client_auth(form, headers)
        self.grants.append((grant_type, client_id))
        client = self._google_client(client_id)
        if secret != client.secret:
            raise _google_refusal(401, "invalid_client", "Unauthorized")
        if grant_type == "authorization_code":
            code = form.get("code")
            if not code:
                raise _google_refusal(400, "invalid_request", "Missing required parameter: code")
            grant = self.codes.pop(code, None)
            if grant is None or grant.client_id != client.client_id:
                raise _google_refusal(400, "invalid_grant", "Malformed auth code.")
            if form.get("redirect_uri") != grant.redirect_uri:
                raise _google_refusal(400, "redirect_uri_mismatch", "Bad Request")
            if not _pkce_ok(grant, form.get("code_verifier")):
                raise _google_refusal(400, "invalid_grant", "Invalid code verifier.")
            return self._tokens(client, grant, form)
        if grant_type == "refresh_token":
            grant = self.refresh_tokens.get(form.get("refresh_token") or "")
            if grant is None or grant.revoked or grant.client_id != client.client_id:
                raise _google_refusal(400, "invalid_grant", "Token has been expired or revoked.")
            # Google keeps the refresh token: its answer to a refresh carries none.
            return self._tokens(client, grant, form, refresh_token="")
        raise _google_refusal(
            400, "unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}"
        )

    # -- both ---------------------------------------------------------------------------

    def _new_code(self, client, query):
        scope = query["scope"]
        if client.kind == "google":
            # Google gives a refresh token only to those who ask for offline access.
            offline = query.get("access_type") == "offline"
        else:
            offline = "offline_access" in scope.split()
        code = secrets.token_urlsafe(32)
        self.codes[code] = Grant(
            client.client_id,
            client.mailbox,
            scope,
            offline=offline,
            expires_at=time.time() + 600,
            redirect_uri=query["redirect_uri"],
            challenge=query.get("code_challenge"),
            challenge_method=query.get("code_challenge_method", "plain"),
            nonce=query.get("nonce"),
        )
        return code

    def _tokens(self, client, grant, form, refresh_token=None, as_app=False):
        """A successful token answer; ``refresh_token`` "" means none, None a new one.

        ``as_app``: a token for the application itself (client credentials), with no user.
        """
        scope = grant.scope
        if client.kind == "microsoft":
            scope = " ".join(s for s in scope.split() if s not in OIDC_SCOPES)
        access = secrets.token_urlsafe(32)
        lifetime = self.access_token_lifetime
        self.access_tokens[access] = AccessToken(
            client.client_id, grant.mailbox, scope, time.time() + lifetime, client.kind
        )
        body = {"token_type": "Bearer", "expires_in": lifetime, "access_token": access}
        if not as_app:
            body["scope"] = scope
        if client.kind == "microsoft":
            body["ext_expires_in"] = lifetime
        if refresh_token is None and grant.offline:
            refresh_token = secrets.token_urlsafe(48)
            self.refresh_tokens[refresh_token] = Grant(
                client.client_id, grant.mailbox, grant.scope, offline=True
            )
        if refresh_token:
            body["refresh_token"] = refresh_token
        if "openid" in grant.scope.split():
            body["id_token"] = self._id_token(client, grant)
        if client.kind == "microsoft" and form.get("client_info") == "1" and not as_app:
            # MSAL builds its account from this; with it an app token would miss MSAL's cache.
            info = {"uid": _uid(grant.mailbox), "utid": client.tenant}
            body["client_info"] = _b64url(json.dumps(info).encode())
        return _json(200, body)

    def _id_token(self, client, grant):
        # Unsigned: MSAL and the app only read the claims; the TLS connection vouches for us.
        now = int(time.time())
        issuer = f"{self.base_url}/{client.tenant}/v2.0"
        claims = {
            "iss": issuer if client.kind == "microsoft" else self.base_url,
            "aud": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": _uid(grant.mailbox),
            "oid": _uid(grant.mailbox),
            "tid": client.tenant,
            "preferred_username": grant.mailbox,
            "email": grant.mailbox,
            "name": grant.mailbox.split("@")[0],
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        header = {"alg": "none", "typ": "JWT"}
        return ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims)) + "."


def _uid(mailbox):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{mailbox}"))


def _required(form, name, aad):
    if not form.get(name):
        raise aad(900144, name=name)
    return form[name]


def _pkce_ok(grant, verifier):
    if grant.challenge is None:
        return True
    if not verifier:
        return False
    expected = pkce_challenge(verifier) if grant.challenge_method == "S256" else verifier
    return secrets.compare_digest(expected, grant.challenge)


def _client_auth(form, headers):
    """(client_id, secret) from HTTP Basic (RFC 6749 2.3.1) or the form body."""
    auth = headers.get("Authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            pair = base64.b64decode(auth[6:]).decode()
        except ValueError:
            return form.get("client_id"), None
        client_id, _, secret = pair.partition(":")
        # Basic credentials are form-encoded first, so a secret with ":" or "%" survives.
        return unquote_plus(client_id), unquote_plus(secret)
    return form.get("client_id"), form.get("client_secret")


def _json(status, body):
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }
    return status, headers, json.dumps(body).encode()


def _not_found():
    return _json(404, {"error": "not_found"})


def _redirect(redirect_uri, **params):
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return 302, {"Location": f"{redirect_uri}{separator}{query}"}, b""


def _page(status, text):
    body = f"<!doctype html><title>Sign in</title><p>{html.escape(text)}</p>"
    return status, {"Content-Type": "text/html; charset=utf-8"}, body.encode()


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oauth_ca():
    """The CA behind the authorization server's certificate (one per session)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def oauth_ca_bundle(oauth_ca, tmp_path_factory):
    """Path of a PEM file holding ``oauth_ca``: for REQUESTS_CA_BUNDLE and SSL_CERT_FILE."""
    path = tmp_path_factory.mktemp("oauth-ca") / "ca.pem"
    oauth_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def oauth_server(oauth_ca, oauth_ca_bundle):
    """A running authorization server with no clients; stopped at teardown."""
    server = OAuthServer(ca=oauth_ca, ca_pem_path=oauth_ca_bundle).start()
    yield server
    server.close()
