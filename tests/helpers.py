"""Helpers that drive the app the way a browser does: real forms, real CSRF tokens."""

import re

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
