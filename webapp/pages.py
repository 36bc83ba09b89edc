"""Error pages, security headers and the session cookie's Secure flag."""

import logging
import secrets

from flask import jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .negotiation import wants_json

log = logging.getLogger("webapp.errors")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"  # one year
TITLES = {
    400: _l("Bad request"),
    401: _l("Not logged in"),
    403: _l("Access denied"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong"),
}
FORM_EXPIRED = _l("The form expired or was sent from elsewhere. Reload the page and try again.")
TOO_MANY = _l("Too many attempts in a short time. Wait a minute, then try again.")


class SessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app):
        return super().get_cookie_secure(app) or request.is_secure


def _render_error(code, message=None, reference=None):
    title = TITLES.get(code, _l("Error"))
    if wants_json():
        # JSON answers are read by programs: they stay English whatever the request's language.
        with force_locale("en"):
            body = {"error": str(title), "message": str(message or title)}
        if reference:
            body["reference"] = reference
        return jsonify(body), code
    template = "errors/403.html" if code == 403 else "errors/error.html"
    return render_template(
        template, code=code, title=title, message=message, reference=reference
    ), code


def handle_http_error(exc):
    """Render an HTTP error with the site's layout (or JSON for API clients)."""
    if isinstance(exc, CSRFError):
        return _render_error(400, FORM_EXPIRED)
    if exc.code == 429:
        return _render_error(429, TOO_MANY)
    if exc.code in (400, 403, 404, 405, 401):
        return _render_error(exc.code, None)
    return exc


def handle_unexpected(exc):
    """Log the exception with a reference and show only the reference."""
    if isinstance(exc, HTTPException):
        return handle_http_error(exc)
    reference = "E-" + secrets.token_hex(4).upper()
    log.exception("unhandled error %s on %s %s", reference, request.method, request.path)
    return _render_error(500, None, reference)


def set_security_headers(response):
    """Headers every response carries; admin pages are never cached."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    # HTTPS as the client sees it: directly, or through TRUSTED_PROXIES (ProxyFix sets it).
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.path.startswith(("/admin", "/login", "/setup", "/account")):
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app):
    """Install error handlers, headers and the session interface."""
    app.session_interface = SessionInterface()
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
    app.after_request(set_security_headers)
