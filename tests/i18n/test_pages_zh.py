"""Every page in Simplified Chinese, as an administrator, a member and a visitor: no English
word of the interface is left (product names, addresses and codes aside)."""

import re

import pytest

from webapp.auth.first_run import setup_link
from webapp.extensions import db
from webapp.notifier.models import Delivery, ResourceAlertState
from webapp.notifier.outbox import enqueue
from webapp.notifier.unsubscribe import link_maker
from webapp.timeutil import utcnow

from ..helpers import add_user, csrf_token, post_form, set_preferences

# Pages not translated yet (none: every page is). A path ending in "/" excludes what starts
# with it.
EXCLUDED = ()
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
PASSWORD = "密码-password-123"


def excluded(path):
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in EXCLUDED)


def _sample_arguments(app, admin_id, topic):
    with app.app_context():
        token = link_maker()(admin_id, topic)
    return {"user_id": admin_id, "name": topic, "token": token}


def page_paths(app, arguments):
    """Every page a browser GETs: the URL map's GET routes, arguments filled in."""
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", "bootstrap.static"):
            continue
        if rule.rule.startswith("/api/") or rule.endpoint in ("health.healthz", "audit.export_csv"):
            continue  # answers for programs (JSON, CSV), not pages
        if rule.arguments - set(arguments):
            raise AssertionError(f"give a sample value for {rule.rule}")
        path = rule.build({k: arguments[k] for k in rule.arguments})[1]
        if not excluded(path):
            yield path


@pytest.fixture
def chinese_site(app):
    """An administrator and a member who chose zh_CN, with something on every list."""
    admin = add_user(app, "wang.admin@example.com", PASSWORD, "admin", "王管理")
    member = add_user(app, "li.member@example.com", PASSWORD, "member", "李成员")
    for email in ("wang.admin@example.com", "li.member@example.com"):
        set_preferences(app, email, "zh_CN", "Asia/Shanghai")
    admin_client = app.test_client()
    post_form(admin_client, "/login", {"email": "wang.admin@example.com", "password": PASSWORD})
    # Lists with rows, made through the pages (so the audit log names the admin).
    post_form(admin_client, "/admin/topics", {"name": "card:42", "title": "销售日报",
                                              "kind": "card", "users": ""})  # fmt: skip
    post_form(admin_client, "/admin/tokens", {"name": "etl-01"})
    post_form(admin_client, "/admin/subscriptions", {"user": str(member), "topic": "card:42"})
    with app.app_context():
        enqueue(kind="alert", subject="销售额下降", text="下降 20%", to=["ops@example.com"],
                created_by="token:etl-01")  # fmt: skip
        enqueue(kind="task_failure", subject="夜间任务失败", text="超时", to=["a@example.com"],
                created_by="token:etl-01")  # fmt: skip
        db.session.flush()
        db.session.execute(db.update(Delivery).where(Delivery.recipient == "a@example.com")
                           .values(status="dead", last_error="rejected", attempts=3))  # fmt: skip
        db.session.add(ResourceAlertState(metric="disk", alerting=True, last_value=95.0,
                                          checked_at=utcnow(), last_alert_at=utcnow()))  # fmt: skip
        db.session.commit()
    member_client = app.test_client()
    post_form(member_client, "/login", {"email": "li.member@example.com", "password": PASSWORD})
    return admin_client, member_client, _sample_arguments(app, admin, "card:42")


def english_left(responses, english_words, marker='<html lang="zh-CN">'):
    """``{name: English words}`` of the pages that still show some (each must be a page)."""
    left = {}
    for name, response in responses.items():
        page = response.get_data(as_text=True)
        assert marker in page, name
        if words := english_words(page):
            left[name] = sorted(set(words))
    return left


def test_every_page_is_chinese_for_an_administrator_and_a_member(app, chinese_site, english_words):
    admin_client, member_client, arguments = chinese_site
    paths = sorted(page_paths(app, arguments))
    assert "/admin/audit" in paths and "/account" in paths and "/" in paths
    left = {}
    for who, client in (("admin", admin_client), ("member", member_client)):
        for path in paths:
            response = client.get(path)
            if response.status_code == 302:  # /login, for someone logged in already
                continue
            assert response.status_code in (200, 403, 404), (who, path, response.status_code)
            page = response.get_data(as_text=True)
            assert '<html lang="zh-CN">' in page, (who, path)
            if words := english_words(page):
                left[f"{who} {path}"] = sorted(set(words))
    assert left == {}


def test_refused_forms_flashes_and_errors_are_chinese(
    app, chinese_site, english_words, closed_port
):
    admin_client, _, _ = chinese_site
    answers = {
        "new user, empty": post_form(admin_client, "/admin/users/new", {}),
        "new user, bad": post_form(admin_client, "/admin/users/new", {
            "email": "a@b", "password": "short", "confirm": "other", "name": "x\u202e"}),
        "token, bad name": post_form(admin_client, "/admin/tokens", {"name": "名字"}),
        "topic, bad": post_form(admin_client, "/admin/topics", {"name": "Bad Name", "title": "",
                                                                "url": "ftp://x", "users": "x"}),
        "thresholds": post_form(admin_client, "/admin/settings/email/resource-alerts",
                                {"disk_percent": "200", "memory_percent": "",
                                 "load_per_core": "x", "cooldown_minutes": "9" * 20}),
        "email, save with errors": post_form(admin_client, "/admin/settings/email", {
            "smtp_host": "smtp://mail.example.com:25", "smtp_port": "70000", "security": "ssl",
            "sender_email": "not-an-address", "auth_method": "password", "enabled": "y"}),
        "email, failed test": post_form(admin_client, "/admin/settings/email/test", {
            "smtp_host": "127.0.0.1", "smtp_port": str(closed_port), "security": "ssl",
            "sender_email": "bi@example.com", "test_email": "wang.admin@example.com",
            "auth_method": "password", "password": "wrong-password-1"}),
        "account, bad zone": post_form(admin_client, "/account", {"timezone": "Mars/Base"}),
        "audit, bad dates": admin_client.get("/admin/audit?since=2026-02-02&until=2026-02-01"),
        "audit, old date": admin_client.get("/admin/audit?since=1999-01-01&action=no.such"),
        "deliveries, bad": admin_client.get("/admin/notifications?since=x&status=nope"),
        "saved": post_form(admin_client, "/admin/settings/email/resource-alerts", {
            "disk_percent": "80", "memory_percent": "80", "load_per_core": "2",
            "cooldown_minutes": "30"}, follow_redirects=True),
        "no csrf": admin_client.post("/account", data={"timezone": "UTC"}),
        "not found": admin_client.get("/no-such-page"),
        "wrong method": admin_client.put("/account"),
    }  # fmt: skip
    assert english_left(answers, english_words, "<html") == {}
    errors = answers["new user, bad"].get_data(as_text=True)
    assert "请修正标出的字段" in errors and "两次输入的密码不一致" in errors
    email = answers["email, save with errors"].get_data(as_text=True)
    assert "没有保存任何内容" in email and "只填写服务器名称" in email
    failed = answers["email, failed test"].get_data(as_text=True)
    assert "连接在“建立连接”步骤失败" in failed and "拒绝连接" in failed


def test_the_json_test_connection_result_stays_english(chinese_site, closed_port):
    admin_client, _, _ = chinese_site
    json_answer = {"Accept": "application/json"}
    form = {"csrf_token": csrf_token(admin_client), "smtp_host": "127.0.0.1",
            "smtp_port": str(closed_port), "security": "ssl", "sender_email": "bi@example.com",
            "auth_method": "password", "test_email": "ops@example.com"}  # fmt: skip
    answer = admin_client.post("/admin/settings/email/test", headers=json_answer, data=form)
    result = answer.get_json()
    assert result["ok"] is False and result["failed_step"] == "connect"
    assert result["hint"].startswith("Nothing accepts connections on 127.0.0.1 port")
    assert [step["name"] for step in result["steps"]] == ["resolve", "connect"]
    refused = admin_client.post("/admin/settings/email/test", headers=json_answer,
                                data={**form, "smtp_host": ""})  # fmt: skip
    assert refused.status_code == 400
    assert refused.get_json()["errors"]["smtp_host"] == "Enter the mail server's name."


def test_visitors_pages_follow_the_browser(app, chinese_site, english_words):
    _, _, arguments = chinese_site
    visitor = app.test_client()
    pages = {
        "login": visitor.get("/login", headers=ZH),
        "failed login": visitor.post("/login", headers=ZH, data={
            "csrf_token": csrf_token(visitor), "email": "x@example.com", "password": "wrong"}),
        "unsubscribe": visitor.get(f"/unsubscribe/{arguments['token']}", headers=ZH),
        "bad unsubscribe link": visitor.get("/unsubscribe/not-a-token", headers=ZH),
        "one click": visitor.post(f"/unsubscribe/{arguments['token']}", headers=ZH,
                                  data={"List-Unsubscribe": "One-Click"}),
        "403 page": visitor.get("/admin/users", headers=ZH, follow_redirects=True),
    }  # fmt: skip
    assert english_left(pages, english_words) == {}
    assert "邮箱或密码不正确" in pages["failed login"].get_data(as_text=True)


def test_first_run_setup_page_is_chinese(app, english_words):
    with app.app_context():
        link = setup_link()
    path = re.sub(r"^https?://[^/]+", "", link)
    page = app.test_client().get(path, headers=ZH).get_data(as_text=True)
    assert "创建第一个管理员" in page and english_words(page) == []
