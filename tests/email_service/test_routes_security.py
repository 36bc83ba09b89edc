"""The stored password goes nowhere it was not typed for; every connection from the web is
audited and budgeted."""

import pytest

from webapp.email_service.hints import stored_wording
from webapp.email_service.models import EmailSettings
from webapp.extensions import db

from ..helpers import audit_rows, configure_service, post_form, run_worker, settings_values
from ..smtp_servers import LOGIN

JSON = {"Accept": "application/json"}


def values(server, security, **overrides):
    return settings_values(server, security=security, **overrides)


@pytest.mark.parametrize("path", ["/admin/settings/email/test", "/admin/settings/email"])
def test_downgrade_to_none_needs_the_password_again(smtp_app, admin_on_smtp, plain_server, path):
    # Saved for TLS (unverified: nothing listens with TLS there), then tried over plain TCP
    # with the plaintext box ticked and the password left blank.
    saved = post_form(
        admin_on_smtp,
        "/admin/settings/email",
        values(plain_server, "tls", save_unverified="y"),
    )
    assert saved.status_code == 302
    downgrade = values(plain_server, "none", password="", allow_plaintext_password="y", version="1")
    response = post_form(admin_on_smtp, path, downgrade)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "enter the password again" in page
    assert plain_server.auth_attempts == [] and plain_server.commands == []
    with smtp_app.app_context():
        assert db.session.get(EmailSettings, 1).security == "tls"


def test_the_worker_never_sends_a_password_saved_for_other_settings(smtp_app, plain_server, caplog):
    from webapp.notifier.outbox import enqueue

    configure_service(smtp_app, plain_server)  # sealed for plain_server with security none
    with smtp_app.app_context():
        row = db.session.get(EmailSettings, 1)
        row.smtp_port = plain_server.port + 1  # changed behind the form's back
        db.session.commit()
        enqueue(created_by="token:test", kind="alert", to=["a@example.com"], subject="s", text="t")
        db.session.commit()
    counts = run_worker(smtp_app)
    assert counts["held"] == 1 and counts["sent"] == 0
    assert plain_server.commands == []
    with smtp_app.app_context():
        held = db.session.get(EmailSettings, 1).hold_reason
        assert "saved for other connection settings" in stored_wording(held)


def test_same_password_retyped_for_a_new_server_is_sealed_for_it(
    smtp_app, admin_on_smtp, smtp_servers
):
    first, second = smtp_servers("plain", auth=True), smtp_servers("starttls", auth=True)
    post_form(
        admin_on_smtp, "/admin/settings/email", values(first, "none", allow_plaintext_password="y")
    )
    moved = post_form(admin_on_smtp, "/admin/settings/email", values(second, "tls", version="1"))
    assert moved.status_code == 302
    kept = post_form(
        admin_on_smtp,
        "/admin/settings/email/test",
        values(second, "tls", password="", version="2"),
        headers=JSON,
    ).get_json()
    assert kept["ok"] is True and second.auth_attempts == [LOGIN, LOGIN]


def test_a_failed_save_check_is_audited(smtp_app, admin_on_smtp, closed_port, plain_server):
    data = values(plain_server, "ssl", smtp_port=str(closed_port))
    response = post_form(admin_on_smtp, "/admin/settings/email", data)
    assert response.status_code == 200 and "Nothing was saved" in response.get_data(as_text=True)
    tested = audit_rows(smtp_app, action="email_settings.tested")
    assert len(tested) == 1
    changes = tested[0]["changes"]
    assert changes["trigger"] == [None, "save"] and changes["outcome"] == [None, "failed"]
    assert changes["failed_step"] == [None, "connect"]
    assert tested[0]["actor"] == "ada.admin@example.com"


def test_test_and_save_share_one_budget_of_ten_a_minute(
    smtp_app, admin_on_smtp, closed_port, plain_server
):
    data = values(plain_server, "ssl", smtp_port=str(closed_port))
    codes = []
    for index in range(11):
        path = "/admin/settings/email" if index % 2 else "/admin/settings/email/test"
        codes.append(post_form(admin_on_smtp, path, data, headers=JSON).status_code)
    assert codes[:10] == [200] * 10 and codes[10] == 429
    triggers = [
        row["changes"]["trigger"][1] for row in audit_rows(smtp_app, action="email_settings.tested")
    ]
    assert triggers.count("save") == 5 and triggers.count("test") == 5
    # A save that makes no connection (service disabled) is not held back by the budget.
    disabled = post_form(
        admin_on_smtp, "/admin/settings/email", values(plain_server, "ssl", enabled=None)
    )
    assert disabled.status_code == 302
