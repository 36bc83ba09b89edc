"""The Email Service's hold banner in each reader's language: the worker stores why it held
mail as a code and values, and the page words it for whoever reads it."""

from webapp.email_service.models import load_settings
from webapp.extensions import db
from webapp.notifier.outbox import enqueue

from ..helpers import (
    add_user,
    audit_rows,
    configure_service,
    post_form,
    run_worker,
    set_preferences,
)

PASSWORD = "密码-password-123"


def _banner(app, email):
    client = app.test_client()
    post_form(client, "/login", {"email": email, "password": PASSWORD})
    page = client.get("/admin/settings/email").get_data(as_text=True)
    assert 'id="hold-banner"' in page
    return page


def test_a_refused_login_holds_mail_and_each_admin_reads_why_in_their_language(
    smtp_app, plain_server
):
    add_user(smtp_app, "wang@example.com", PASSWORD, "admin")
    add_user(smtp_app, "ada@example.com", PASSWORD, "admin")
    set_preferences(smtp_app, "wang@example.com", "zh_CN", "Asia/Shanghai")
    configure_service(smtp_app, plain_server, password="wrong-password")
    with smtp_app.app_context():
        enqueue(created_by="token:test", kind="alert", to=["a@example.com"], subject="s", text="t")
        db.session.commit()
    assert run_worker(smtp_app)["held"] == 1

    chinese = _banner(smtp_app, "wang@example.com")
    assert "邮件发送已暂停" in chinese and "服务器拒绝了登录" in chinese
    assert "(Asia/Shanghai)" in chinese and "The server refused" not in chinese
    english = _banner(smtp_app, "ada@example.com")
    assert "Outgoing mail is on hold" in english and "The server refused the login" in english
    # The audit log records the reason in words (English), not the stored code.
    (held,) = audit_rows(smtp_app, action="email_settings.held")
    assert held["changes"]["hold"][1].startswith("The server refused the login (")


def test_a_hold_stored_as_text_before_is_shown_as_it_is(smtp_app, plain_server):
    add_user(smtp_app, "wang@example.com", PASSWORD, "admin")
    set_preferences(smtp_app, "wang@example.com", "zh_CN")
    configure_service(smtp_app, plain_server)
    with smtp_app.app_context():
        row = load_settings()
        row.hold_reason = "The server refused the login (535 5.7.8 old row)."
        db.session.commit()
    assert "535 5.7.8 old row" in _banner(smtp_app, "wang@example.com")
