"""Mail in the recipient's language: one task failure, a Chinese and an English recipient."""

import email
import email.policy

import pytest

from webapp.extensions import db
from webapp.notifier.outbox import enqueue

from ..helpers import add_user, configure_service, run_worker, set_preferences


@pytest.fixture
def notifier_app(make_smtp_app):
    """An app whose worker skips the resource monitor (as the notifier tests' own)."""
    return make_smtp_app(RESOURCE_CHECK_SECONDS=0)


def _received(server):
    messages = [
        email.message_from_bytes(m.original_content, policy=email.policy.default)
        for m in server.messages
    ]
    return {m["To"].addresses[0].addr_spec: m for m in messages}


def test_a_chinese_recipient_gets_a_chinese_task_failure_mail(notifier_app, plain_server, admin):
    configure_service(notifier_app, plain_server)
    add_user(notifier_app, "zhang@example.com", "password-long-1", "admin", "张三")
    set_preferences(notifier_app, "zhang@example.com", "zh_CN")
    with notifier_app.app_context():
        enqueue(kind="task_failure", topic="task:nightly-etl", subject="nightly-etl",
                text="详见日志。", data={"task": "nightly-etl", "error": "timeout"},
                to=["named@example.com"], created_by="token:test")  # fmt: skip
        db.session.commit()
    assert run_worker(notifier_app)["sent"] == 3
    mails = _received(plain_server)

    chinese = mails["zhang@example.com"]
    assert chinese["Subject"] == "[任务失败] nightly-etl"
    text = chinese.get_body(("plain",)).get_content()
    html = chinese.get_body(("html",)).get_content()
    assert "计划任务执行失败。" in text and "任务：" in text and "错误：" in text
    assert "此邮件由 BI 平台自动发送" in text and "管理邮件订阅" in html
    assert '<html lang="zh-CN">' in html and "A scheduled task failed" not in text

    # The admin who chose nothing, and an address without an account: DEFAULT_LOCALE.
    for address in (admin.email, "named@example.com"):
        english = mails[address]
        assert english["Subject"] == "[Task failed] nightly-etl"
        assert "A scheduled task failed." in english.get_body(("plain",)).get_content()


def test_resource_alerts_are_worded_in_each_recipients_language(notifier_app, plain_server, admin):
    from webapp.notifier.monitor import check_resources

    configure_service(notifier_app, plain_server)
    set_preferences(notifier_app, admin.email, "zh_CN")
    with notifier_app.app_context():
        check_resources({"disk": 95.0})
        db.session.commit()
    run_worker(notifier_app)
    mail = _received(plain_server)[admin.email]
    assert mail["Subject"].startswith("[服务器] ") and "磁盘使用率" in mail["Subject"]
    assert "阈值：" in mail.get_body(("plain",)).get_content()


def test_the_test_email_is_in_its_recipients_language(smtp_app, plain_server, admin):
    from ..helpers import post_form, settings_values

    add_user(smtp_app, "zhang@example.com", "password-long-1", "member", "张三")
    set_preferences(smtp_app, "zhang@example.com", "zh_CN")
    client = smtp_app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    for address in ("zhang@example.com", "named@example.com"):
        page = post_form(client, "/admin/settings/email/test",
                         settings_values(plain_server, test_email=address))  # fmt: skip
        assert "Connection works: the test email was sent." in page.get_data(as_text=True)
    mails = _received(plain_server)
    chinese = mails["zhang@example.com"]
    assert chinese["Subject"].startswith("BI 平台测试邮件（T-")
    assert "这是" in chinese.get_body(("plain",)).get_content()
    english = mails["named@example.com"]  # no account: DEFAULT_LOCALE
    assert english["Subject"].startswith("Test email from the BI platform (T-")
