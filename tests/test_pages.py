"""Site-wide behaviour: headers, error pages, the health check."""

import re

import pytest
from flask import Blueprint

from webapp.database import write_transaction
from webapp.extensions import db
from webapp.notifier.models import ApiToken
from webapp.notifier.tokens import revoke_token

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def test_security_headers_on_every_page(client):
    for path in ("/login", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_scripts_or_cdn(admin_client, admin):
    for path in ("/", "/admin/users", "/admin/settings", "/admin/settings/email", "/admin/audit"):
        response = admin_client.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and admin.email in page, path  # the page itself
        scripts = SCRIPT.findall(page)
        assert scripts and len(scripts) == len(re.findall(r"<script\b", page, re.I)), path
        for attributes, body in scripts:
            assert re.search(r'\ssrc="/', attributes) and not body.strip(), (path, attributes)
        assert not EVENT_HANDLER.search(page), path
        assert "style=" not in page and "<style" not in page.lower(), path
        assert "cdn" not in page.lower()


def test_bootstrap_is_served_locally(client):
    page = client.get("/login").get_data(as_text=True)
    assert "/bootstrap/static/css/bootstrap.min.css" in page
    assert client.get("/bootstrap/static/css/bootstrap.min.css").status_code == 200


def test_404_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


@pytest.fixture
def broken_app(make_app):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False
    bp = Blueprint("broken", __name__)

    @bp.route("/boom")
    def boom():
        raise RuntimeError("secret-internal-detail")

    app.register_blueprint(bp)
    return app


def test_500_page_shows_reference_not_trace(broken_app, caplog):
    response = broken_app.test_client().get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Error reference" in page
    assert "secret-internal-detail" not in page and "Traceback" not in page
    reference = page.split('id="error-reference">')[1].split("<")[0]
    assert reference in caplog.text


def test_healthz_tells_anyone_else_only_ok(app, member_client):
    anonymous = app.test_client()
    for caller in (anonymous, member_client):
        response = caller.get("/healthz")
        assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    for header in ("Bearer bin_not-a-real-token", "Basic YWRtaW46YWRtaW4=", "Bearer "):
        response = anonymous.get("/healthz", headers={"Authorization": header})
        assert response.get_json() == {"status": "ok"}, header


def test_healthz_details_go_to_admins(admin_client):
    response = admin_client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"]["ok"] is True
    assert {"email_service", "worker"} <= set(body)


def test_healthz_details_go_to_a_live_api_token(app, client, runner):
    token = runner.invoke(args=["token", "create", "monitor"]).output.strip().splitlines()[-1]
    body = client.get("/healthz", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["database"]["ok"] is True and "email_service" in body
    with app.app_context(), write_transaction():
        revoke_token(db.session.scalar(db.select(ApiToken)), "system")
    body = client.get("/healthz", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body == {"status": "ok"}  # a revoked token is anyone
