"""Test Connection and Save through the real page, against real SMTP servers in each mode."""

import email
import email.policy
import logging
import re

import pytest

from webapp.email_service.models import EmailSettings
from webapp.extensions import db

from ..helpers import SECURITY_OF_MODE, audit_rows, post_form, settings_values
from ..smtp_servers import LOGIN, PASSWORD

SECURITY = SECURITY_OF_MODE


values = settings_values  # a complete submission for a test server


@pytest.mark.parametrize("mode", ["plain", "ssl", "starttls"])
def test_test_connection_then_save_in_each_mode(smtp_app, admin_on_smtp, smtp_servers, mode):
    server = smtp_servers(mode, auth=True)
    response = post_form(
        admin_on_smtp,
        "/admin/settings/email/test",
        values(server),
        headers={"Accept": "application/json"},
    )
    result = response.get_json()
    assert response.status_code == 200 and result["ok"] is True, result
    names = [step["name"] for step in result["steps"]]
    assert names[:2] == ["resolve", "connect"] and names[-3:] == ["mail_from", "rcpt_to", "data"]
    assert "auth" in names and ("starttls" in names) == (mode == "starttls")
    assert all(step["ok"] for step in result["steps"])
    message = email.message_from_bytes(
        server.messages[0].original_content, policy=email.policy.default
    )
    assert message["From"].addresses[0].display_name == "数据平台 通知"
    assert message["From"].addresses[0].addr_spec == LOGIN
    assert message["To"].addresses[0].addr_spec == "ops@example.com"
    assert result["reference"] in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    assert f"{server.host}:{server.port}" in body and result["reference"] in body
    if mode != "plain":
        assert "TLSv1.3" in body or "TLSv1.2" in body
    tested = audit_rows(smtp_app, action="email_settings.tested")[0]
    assert tested["target"] == server.host and tested["changes"]["outcome"] == [None, "passed"]

    saved = post_form(admin_on_smtp, "/admin/settings/email", values(server))
    assert saved.status_code == 302
    assert "The connection check passed." in admin_on_smtp.get("/admin/settings/email").get_data(
        as_text=True
    )
    with smtp_app.app_context():
        row = db.session.get(EmailSettings, 1)
        assert (
            row.enabled
            and row.security == SECURITY[mode]
            and row.password_for(row.target) == PASSWORD
        )
    assert len(server.messages) == 1  # Save checks the login but sends no mail
    updated = audit_rows(smtp_app, action="email_settings.updated")[0]
    assert updated["changes"]["verification"] == [None, "passed"]
    assert updated["changes"]["password"] == "set"


def test_html_result_shows_steps_and_reference(smtp_app, admin_on_smtp, smtp_servers):
    server = smtp_servers("ssl", auth=True)
    page = post_form(admin_on_smtp, "/admin/settings/email/test", values(server)).get_data(
        as_text=True
    )
    assert "Connection works: the test email was sent." in page
    rows = re.findall(r'<tr [^>]*data-step="([a-z_]+)" data-ok="(true|false)"', page)
    assert rows == [
        (step, "true")
        for step in ("resolve", "connect", "tls", "greeting", "ehlo")
        + ("auth", "mail_from", "rcpt_to", "data")
    ]
    assert 'id="diagnosis-reference">T-' in page
    assert PASSWORD not in page  # the typed password is not sent back, in any attribute


def test_failed_check_stores_nothing_and_offers_save_without_verifying(
    smtp_app, admin_on_smtp, smtp_servers
):
    server = smtp_servers("ssl", auth=True)
    response = post_form(
        admin_on_smtp, "/admin/settings/email", values(server, password="wrong-password")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Connection failed at step" in page and "authorization code" in page
    assert "Save without verifying" in page and "Nothing was saved" in page
    with smtp_app.app_context():
        assert db.session.get(EmailSettings, 1) is None
    saved = post_form(
        admin_on_smtp,
        "/admin/settings/email",
        values(server, password="wrong-password", save_unverified="y"),
    )
    assert saved.status_code == 302
    event = audit_rows(smtp_app, action="email_settings.updated")[0]
    assert event["changes"]["verification"] == [None, "skipped"]


def test_failure_json_names_the_step_and_hint(smtp_app, admin_on_smtp, smtp_servers):
    server = smtp_servers("ssl", auth=True)
    result = post_form(
        admin_on_smtp,
        "/admin/settings/email/test",
        values(server, password="wrong-password"),
        headers={"Accept": "application/json"},
    ).get_json()
    assert result["ok"] is False and result["failed_step"] == "auth"
    assert "535" in result["hint"] and "authorization code" in result["hint"]
    auth_step = next(step for step in result["steps"] if step["name"] == "auth")
    assert auth_step["ok"] is False and auth_step["reply"].startswith("535")
    tested = audit_rows(smtp_app, action="email_settings.tested")[0]
    assert tested["changes"]["failed_step"] == [None, "auth"]


def test_test_uses_the_stored_password_when_left_blank(smtp_app, admin_on_smtp, smtp_servers):
    server = smtp_servers("starttls", auth=True)
    post_form(admin_on_smtp, "/admin/settings/email", values(server))
    result = post_form(
        admin_on_smtp,
        "/admin/settings/email/test",
        values(server, password="", version="1"),
        headers={"Accept": "application/json"},
    ).get_json()
    assert result["ok"] is True
    assert server.auth_attempts[-1] == LOGIN


def test_test_connection_is_throttled_per_admin(smtp_app, admin_on_smtp, closed_port):
    data = settings_values(
        smtp_host="127.0.0.1", smtp_port=str(closed_port), security="ssl", password=None
    )
    codes = [
        post_form(
            admin_on_smtp,
            "/admin/settings/email/test",
            data,
            headers={"Accept": "application/json"},
        ).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [200] * 10 and codes[10] == 429


def test_password_canary_never_leaks(smtp_app, admin_on_smtp, smtp_servers, caplog, tmp_path):
    canary = "CANARY-smtp-4242"
    server = smtp_servers("ssl", auth=True, password=canary)
    caplog.set_level(logging.DEBUG)
    seen = []
    for path, data in [
        ("/admin/settings/email/test", values(server, password=canary)),
        ("/admin/settings/email/test", values(server, password=canary + "-wrong")),
        ("/admin/settings/email", values(server, password=canary)),
    ]:
        for accept in ("text/html", "application/json"):
            seen.append(
                post_form(admin_on_smtp, path, data, headers={"Accept": accept}).get_data(
                    as_text=True
                )
            )
    seen.append(admin_on_smtp.get("/admin/settings/email").get_data(as_text=True))
    seen.append(admin_on_smtp.get("/admin/audit").get_data(as_text=True))
    seen.append(admin_on_smtp.get("/admin/audit.csv").get_data(as_text=True))
    seen.append(str(audit_rows(smtp_app)))
    seen.append(caplog.text)
    with smtp_app.app_context():
        row = db.session.get(EmailSettings, 1)
        seen.append(repr(row))
        seen.append(str(db.session.execute(db.text("SELECT * FROM email_settings")).all()))
    for text in seen:
        assert canary not in text


def test_save_without_password_is_caught_when_the_server_needs_a_login(
    smtp_app, admin_on_smtp, plain_server
):
    # What happens when an admin tests with a typed password, then saves without retyping it.
    tested = post_form(admin_on_smtp, "/admin/settings/email/test", values(plain_server))
    assert "used for this test only" in tested.get_data(as_text=True)
    response = post_form(admin_on_smtp, "/admin/settings/email", values(plain_server, password=""))
    page = response.get_data(as_text=True)
    assert "requires a login before it accepts mail" in page and "Nothing was saved" in page
    with smtp_app.app_context():
        assert db.session.get(EmailSettings, 1) is None


def test_plaintext_confirmation_is_remembered_for_the_stored_password(
    smtp_app, admin_on_smtp, plain_server
):
    assert (
        post_form(admin_on_smtp, "/admin/settings/email", values(plain_server)).status_code == 302
    )
    page = admin_on_smtp.get("/admin/settings/email").get_data(as_text=True)
    checkbox = re.search(r'<input[^>]*name="allow_plaintext_password"[^>]*>', page).group(0)
    assert "checked" in checkbox
    again = values(
        plain_server,
        password="",
        allow_plaintext_password=None,
        version="1",
        sender_name="New name",
    )
    assert post_form(admin_on_smtp, "/admin/settings/email", again).status_code == 302
