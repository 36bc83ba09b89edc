"""The Email Service form without a mail server: validation, storage, versions, access."""

import re
from pathlib import Path

import pytest

from webapp.email_service.models import EmailSettings
from webapp.extensions import db

from ..helpers import add_user, audit_rows, csrf_token, post_form, settings_values

CANARY = "CANARY-pw-7f3a9c"


def form_data(**overrides):
    """A complete, valid submission with the service disabled (so Save needs no server)."""
    offline = {
        "smtp_host": "smtp.example.com",
        "smtp_port": "465",
        "security": "ssl",
        "password": "",
        "enabled": None,
        "allow_plaintext_password": None,
    }
    return settings_values(**{**offline, **overrides})


def stored(app):
    with app.app_context():
        row = db.session.get(EmailSettings, 1)
        if row is None:
            return None
        db.session.expunge(row)
        return row


def save(client, **overrides):
    return post_form(client, "/admin/settings/email", form_data(**overrides))


def test_page_renders_for_admin_with_empty_password(admin_client):
    page = admin_client.get("/admin/settings/email").get_data(as_text=True)
    assert "No password stored." in page
    assert 'name="password"' in page and 'type="password" value=""' in page


def test_disabled_service_saves_without_a_check(app, admin_client):
    response = save(admin_client, password=CANARY)
    assert response.status_code == 302
    row = stored(app)
    assert row.smtp_host == "smtp.example.com" and row.security == "ssl" and row.version == 1
    assert row.sender_name == "数据平台 通知" and not row.enabled
    assert CANARY not in row.password_encrypted and row.password_encrypted.startswith("fernet1:")
    with app.app_context():
        assert (
            db.session.get(EmailSettings, 1).password_for(db.session.get(EmailSettings, 1).target)
            == CANARY
        )


def test_password_is_write_only_and_never_rendered(app, admin_client, admin):
    save(admin_client, password=CANARY)
    page = admin_client.get("/admin/settings/email").get_data(as_text=True)
    assert CANARY not in page
    assert "A password is stored (last changed by ada.admin@example.com on" in page
    assert "leave blank to keep it" in page


def test_blank_password_keeps_the_stored_one(app, admin_client):
    save(admin_client, password=CANARY)
    save(admin_client, version="1", sender_name="Reports")
    with app.app_context():
        row = db.session.get(EmailSettings, 1)
        assert row.password_for(row.target) == CANARY and row.sender_name == "Reports"


def test_remove_stored_password(app, admin_client):
    save(admin_client, password=CANARY)
    save(admin_client, version="1", remove_password="y")
    assert stored(app).password_encrypted is None
    assert audit_rows(app, action="email_settings.updated")[-1]["changes"]["password"] == "cleared"


@pytest.mark.parametrize(
    "changed",
    [
        {"smtp_host": "smtp.other.example"},
        {"smtp_port": "587", "security": "tls"},
        {"login_name": "someone@example.com"},
    ],
)
def test_blank_password_refused_when_the_target_changes(app, admin_client, changed):
    save(admin_client, password=CANARY)
    response = save(admin_client, version="1", **changed)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "enter the password again" in page
    assert stored(app).version == 1
    test = post_form(admin_client, "/admin/settings/email/test", form_data(version="1", **changed))
    assert "enter the password again" in test.get_data(as_text=True)


def test_audit_records_password_only_as_markers(app, admin_client):
    save(admin_client, password=CANARY)
    save(admin_client, version="1", password=CANARY + "-new")
    events = audit_rows(app, action="email_settings.updated")
    assert events[0]["changes"]["password"] == "set"
    assert events[1]["changes"]["password"] == "changed"
    assert events[0]["changes"]["smtp_host"] == [None, "smtp.example.com"]
    assert events[0]["changes"]["verification"] == [None, "not needed (service disabled)"]
    assert CANARY not in str(audit_rows(app))
    assert CANARY not in admin_client.get("/admin/audit").get_data(as_text=True)
    assert CANARY not in admin_client.get("/admin/audit.csv").get_data(as_text=True)


def test_canary_is_not_in_the_raw_database_file(app, admin_client):
    assert save(admin_client, password=CANARY).status_code == 302
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        main = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
        # The row is in the main file or still in the write-ahead log: read both.
        raw = b"".join(f.read_bytes() for f in (main, Path(f"{main}-wal")) if f.exists())
        assert b"smtp.example.com" in raw  # the bytes read hold the saved row
        assert CANARY.encode() not in raw
    with app.app_context():
        dump = str(db.session.execute(db.text("SELECT * FROM email_settings")).all())
        assert CANARY not in dump


def test_stale_version_is_refused(app, client, auth, admin):
    add_user(app, "bea@example.com", "bea-password-123", role="admin")
    auth.login(admin.email, admin.password)
    save(client)  # version 0 -> 1
    other = app.test_client()
    post_form(other, "/login", {"email": "bea@example.com", "password": "bea-password-123"})
    assert (
        post_form(
            other, "/admin/settings/email", form_data(version="1", sender_name="Bea")
        ).status_code
        == 302
    )
    response = save(client, version="1", sender_name="Ada")
    page = response.get_data(as_text=True)
    assert "changed by bea@example.com at" in page and "Reload the page" in page
    assert stored(app).sender_name == "Bea" and stored(app).version == 2


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("smtp_host", "", "Enter the mail server"),
        ("smtp_host", "smtp://mail.example.com", "without smtp://"),
        ("smtp_host", "mail.example.com:465", "Enter the port in the Port field"),
        ("smtp_host", "mail example.com", "cannot contain spaces"),
        ("smtp_host", "-bad-.example.com", "Enter a valid host name"),
        ("smtp_host", "a" * 254, "Field cannot be longer than 253 characters."),
        ("smtp_port", "0", "Number must be between 1 and 65535."),
        ("smtp_port", "65536", "Number must be between 1 and 65535."),
        ("smtp_port", "abc", "Not a valid integer value."),
        ("smtp_port", "9" * 400, "Not a valid integer value."),  # once an OverflowError
        ("security", "starttls", "Not a valid choice"),
        ("sender_email", "", "Enter the address mail is sent from."),
        ("sender_email", "not-an-address", "Enter a valid email address"),
        ("sender_email", "a@x.com, b@y.com", "exactly one email address"),
        ("password", "密码123", "Use only ASCII"),
        ("password", "x" * 257, "Field cannot be longer than 256 characters."),
        ("login_name", "bad\nname", "Line breaks and control characters are not allowed."),
        (
            "sender_name",
            "x\r\nBcc: evil@example.com",
            "Line breaks and control characters are not allowed.",
        ),
        ("sender_name", "=?UTF-8?Q?=0A?=Bcc: x@y.com", "can forge mail headers"),
        ("sender_name", "a\u2028b", "Line breaks and control characters are not allowed."),
        ("sender_name", "n" * 101, "Field cannot be longer than 100 characters."),
        ("sender_name", "IT \u202eecivres", "Invisible characters"),  # shows as "service TI"
        ("sender_name", "Pay\u200broll", "Invisible characters"),
        ("test_email", "two@x.com;three@y.com", "exactly one email address"),
    ],
)
def test_every_field_is_validated(app, admin_client, field, value, message):
    response = save(admin_client, **{field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert "Nothing was saved" in page
    assert stored(app) is None
    if field not in ("password", "smtp_port", "security", "preset"):
        # Entered values are kept (HTML-escaped) so the admin can correct them.
        from markupsafe import escape

        assert str(escape(value[:20])) in page or value == ""


def test_password_over_none_needs_explicit_confirmation(app, admin_client):
    response = save(admin_client, security="none", smtp_port="25", password=CANARY)
    assert "the password crosses the network unencrypted" in response.get_data(as_text=True)
    assert stored(app) is None
    assert (
        save(
            admin_client,
            security="none",
            smtp_port="25",
            password=CANARY,
            allow_plaintext_password="y",
        ).status_code
        == 302
    )


def test_unusual_port_and_protocol_warn_without_blocking(app, admin_client):
    unusual = {"smtp_port": "465", "security": "tls"}
    # Test Connection shows the warning and still runs the check: the link-local address is
    # refused at the first step, before any connection.
    tested = post_form(
        admin_client,
        "/admin/settings/email/test",
        form_data(smtp_host="169.254.169.254", **unusual),
    ).get_data(as_text=True)
    assert "Port 465 with TLS is unusual" in tested
    assert 'data-step="resolve" data-ok="false"' in tested and "is link-local" in tested
    # Save stores the same values: the warning does not block it.
    assert save(admin_client, **unusual).status_code == 302
    row = stored(app)
    assert (row.smtp_port, row.security, row.version) == (465, "tls", 1)


def test_login_differs_from_sender_is_noted(admin_client):
    page = save(admin_client, login_name="other@example.com", smtp_host="bad host").get_data(
        as_text=True
    )
    assert "QQ Mail and 163 refuse mail whose sender is not the logged-in account" in page


def test_apply_preset_without_javascript(admin_client):
    response = post_form(
        admin_client,
        "/admin/settings/email",
        form_data(preset="qq", apply_preset="Apply", smtp_host=""),
    )
    page = response.get_data(as_text=True)
    assert 'value="smtp.qq.com"' in page and 'value="465"' in page
    assert "client authorization code" in page
    ssl_radio = re.search(r'<input[^>]*value="ssl"[^>]*>', page).group(0)
    assert "checked" in ssl_radio


def test_apply_unknown_preset_says_so(admin_client):
    data = form_data(preset="yahoo", apply_preset="Apply")
    page = post_form(admin_client, "/admin/settings/email", data).get_data(as_text=True)
    assert "Choose one of the listed providers, or Other." in page


def test_test_connection_json_validation_errors(admin_client):
    response = post_form(
        admin_client,
        "/admin/settings/email/test",
        form_data(test_email="", smtp_port="99999"),
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["ok"] is False
    assert body["errors"]["test_email"] == "Enter the address the test email goes to."
    assert "smtp_port" in body["errors"]


def test_members_get_403_on_all_three_routes(member_client):
    token = csrf_token(member_client)
    assert member_client.get("/admin/settings/email").status_code == 403
    for path in ("/admin/settings/email", "/admin/settings/email/test"):
        assert member_client.post(path, data=form_data(csrf_token=token)).status_code == 403


def test_csrf_is_required_on_both_posts(app, admin_client):
    for path in ("/admin/settings/email", "/admin/settings/email/test"):
        response = admin_client.post(path, data=form_data())
        assert response.status_code == 400
    json_response = admin_client.post(
        "/admin/settings/email/test", data=form_data(), headers={"Accept": "application/json"}
    )
    assert (
        json_response.status_code == 400 and "form expired" in json_response.get_json()["message"]
    )
    assert stored(app) is None


def test_rotate_key_re_encrypts_under_the_newest_key(make_app, admin):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = make_app(SETTINGS_ENCRYPTION_KEYS=old)
    client = app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    save(client, password=CANARY)
    before = stored(app).password_encrypted
    rotated = make_app(SETTINGS_ENCRYPTION_KEYS=f"{new},{old}")
    result = rotated.test_cli_runner().invoke(args=["rotate-key"])
    assert result.exit_code == 0 and "Re-encrypted 1" in result.output
    after = stored(app).password_encrypted
    assert after != before
    only_new = make_app(SETTINGS_ENCRYPTION_KEYS=new)
    with only_new.app_context():
        assert (
            db.session.get(EmailSettings, 1).password_for(db.session.get(EmailSettings, 1).target)
            == CANARY
        )
    assert audit_rows(app, action="key.rotated")[0]["changes"] == {"reencrypted": [None, 1]}


def test_undecryptable_password_asks_to_re_enter(make_app, admin):
    from cryptography.fernet import Fernet

    app = make_app(SETTINGS_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    client = app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    save(client, password=CANARY)
    lost = make_app(SETTINGS_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    client = lost.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    page = client.get("/admin/settings/email").get_data(as_text=True)
    assert "can no longer be decrypted" in page
    response = save(client, version="1")
    assert "can no longer be decrypted (the encryption keys changed)" in response.get_data(
        as_text=True
    )
    assert lost.test_cli_runner().invoke(args=["rotate-key"]).exit_code == 1


def test_healthz_reports_the_email_service(client, admin_client):
    body = client.get("/healthz").get_json()
    assert body["email_service"] == {"configured": False, "enabled": False}


def test_delivery_limits_are_saved_and_audited(app, admin_client):
    assert save(admin_client, max_connections="3", max_per_minute="30").status_code == 302
    row = stored(app)
    assert (row.max_connections, row.max_per_minute) == (3, 30)
    changes = audit_rows(app, action="email_settings.updated")[-1]["changes"]
    assert changes["max_connections"] == [None, 3] and changes["max_per_minute"] == [None, 30]
    # Left out of a later submission, they keep their stored values.
    assert save(admin_client, version="1", sender_name="Reports").status_code == 302
    assert (stored(app).max_connections, stored(app).max_per_minute) == (3, 30)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_connections", "0", "from 1 to 20"),
        ("max_connections", "21", "from 1 to 20"),
        ("max_per_minute", "-1", "0 (no limit) to 100000"),
        ("max_per_minute", "9" * 40, "0 (no limit) to 100000"),
        ("max_connections", "four", "Not a valid integer value."),
    ],
)
def test_delivery_limits_are_validated(app, admin_client, field, value, message):
    response = save(admin_client, **{field: value})
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert stored(app) is None


def test_office365_preset_sets_its_documented_limits(admin_client):
    page = post_form(
        admin_client,
        "/admin/settings/email",
        form_data(preset="office365", apply_preset="Apply"),
    ).get_data(as_text=True)
    for name, value in (("max_connections", "3"), ("max_per_minute", "30")):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert f'value="{value}"' in field
