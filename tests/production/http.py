"""A small cookie-keeping HTTP client for tests against real servers (no redirects followed)."""

import http.cookiejar
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from ..helpers import CSRF_RE


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


class Browser:
    """Keeps cookies like a browser; can be pointed at any of several servers."""

    def __init__(self, base_url, forwarded_for=None):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.forwarded_for = forwarded_for
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(self, method, path, data=None, headers=None, base_url=None, json_body=None):
        url = (base_url or self.base_url) + path
        body = None
        headers = dict(headers or {})
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def csrf(self, path="/login", base_url=None):
        page = self.get(path, base_url=base_url)
        if page.status in (301, 302):
            page = self.get(page.headers["Location"], base_url=base_url)
        match = CSRF_RE.search(page.text)
        assert match, f"no CSRF token at {path}: {page.status}"
        return match.group(1)

    def post_form(self, path, data, base_url=None, headers=None):
        token = self.csrf(base_url=base_url)
        return self.request("POST", path, {"csrf_token": token, **data}, headers, base_url)

    def login(self, email, password, base_url=None, tries=4):
        """Log in; a 503 (every password check busy) is tried again when the server says,
        as a person pressing the button again would."""
        data = {"email": email, "password": password}
        response = self.post_form("/login", data, base_url=base_url)
        for _ in range(tries - 1):
            if response.status != 503:
                break
            time.sleep(float(response.headers.get("Retry-After") or 1))
            response = self.post_form("/login", data, base_url=base_url)
        return response
