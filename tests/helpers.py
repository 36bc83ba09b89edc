"""Helpers that drive the app the way a browser does: real forms, real CSRF tokens."""

import re

from webapp.email_service.diagnosis import diagnose_connection
from webapp.email_service.transport import SmtpParams

from .smtp_servers import LOGIN, PASSWORD

SENDER = LOGIN
SENDER_NAME = "数据平台 通知"
TEST_EMAIL = "ops@example.com"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token(client, path="/login"):
    """A valid CSRF token for this client's session, read from a rendered form."""
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(client, path, data, **kwargs):
    """POST ``data`` with a fresh CSRF token, as the page's form would."""
    return client.post(path, data={"csrf_token": csrf_token(client), **data}, **kwargs)


class AuthActions:
    """Log in and out through the real forms."""

    def __init__(self, client):
        self.client = client

    def login(self, email, password, next_path=None):
        path = "/login" + (f"?next={next_path}" if next_path else "")
        return post_form(self.client, path, {"email": email, "password": password})

    def logout(self):
        return post_form(self.client, "/logout", {})


def diagnose(app, server_or_host, port=None, security="none", *, password=PASSWORD, **kwargs):
    """Run Test Connection as the settings page does, with the test address filled in."""
    if hasattr(server_or_host, "port"):
        host, port = server_or_host.host, server_or_host.port
    else:
        host = server_or_host
    params = SmtpParams(host=host, port=port, security=security, login=LOGIN, password=password)
    kwargs = {
        "test_email": TEST_EMAIL,
        "sender_email": SENDER,
        "sender_name": SENDER_NAME,
        **kwargs,
    }
    with app.app_context():  # no request: as the notifier worker and the CLI run it
        return diagnose_connection(params, **kwargs)


def step_names(result):
    return [step.name for step in result.steps]


def failed(result, step, kind):
    """Assert the outcome failed at ``step`` for ``kind``, with the last step marked failed."""
    assert not result.ok and not result.sent
    assert (result.failed_step, result.kind) == (step, kind), result.as_dict()
    assert result.steps[-1].name == step and not result.steps[-1].ok
    assert all(s.ok for s in result.steps[:-1])
    assert result.hint
    return result.hint


SECURITY_OF_MODE = {"plain": "none", "ssl": "ssl", "starttls": "tls"}


def settings_values(server, **overrides):
    """A complete Email Service submission for ``server`` (security from its mode unless given).

    A value of None leaves that field out; security None comes with the plaintext box ticked.
    """
    data = {
        "smtp_host": server.host,
        "smtp_port": str(server.port),
        "security": SECURITY_OF_MODE.get(getattr(server, "mode", ""), "none"),
        "sender_email": LOGIN,
        "password": PASSWORD,
        "sender_name": SENDER_NAME,
        "test_email": TEST_EMAIL,
        "enabled": "y",
        "version": "0",
    }
    data.update(overrides)
    if data["security"] == "none":
        data.setdefault("allow_plaintext_password", "y")
    return {k: v for k, v in data.items() if v is not None}
