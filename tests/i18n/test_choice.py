"""Which language a request gets: the user's own setting, the browser's, the default; the
switcher in the navigation bar and the /account page."""

import pytest

from ..helpers import audit_summary, csrf_token, post_form, set_preferences


@pytest.mark.parametrize(
    ("header", "chinese"),
    [
        ("zh", True),
        ("zh-CN", True),
        ("zh-Hans", True),
        ("zh-Hans-CN,en;q=0.5", True),
        ("fr-FR,zh-CN;q=0.8,en;q=0.5", True),
        ("en-GB,zh;q=0.5", False),
        ("zh-TW", False),  # traditional script: not zh_CN, so the default
        ("de", False),
        ("", False),
    ],
)
def test_the_browser_language_picks_the_best_match(client, header, chinese):
    page = client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert ("登录" in page) is chinese and ("Log in" in page) is not chinese


def test_default_locale_applies_when_the_browser_says_nothing(make_app):
    client = make_app(DEFAULT_LOCALE="zh_CN").test_client()
    assert '<html lang="zh-CN">' in client.get("/login").get_data(as_text=True)
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in english


def test_the_users_own_language_wins_over_the_browser(app, admin_client, admin):
    set_preferences(app, admin.email, "zh_CN")
    page = admin_client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "欢迎" in page
    set_preferences(app, admin.email, "en")
    page = admin_client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Welcome" in page


def test_the_switcher_saves_a_users_choice_and_audits_it(app, admin_client, admin):
    response = post_form(admin_client, "/language", {"locale": "zh_CN", "next": "/admin/users"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    assert "用户" in admin_client.get("/admin/users").get_data(as_text=True)
    assert audit_summary(app, "account.updated") == [
        (admin.email, admin.email, {"locale": [None, "zh_CN"]})
    ]


def test_the_switcher_keeps_a_visitors_choice_in_a_cookie(client):
    response = post_form(client, "/language", {"locale": "zh_CN", "next": "//evil.example"})
    assert response.headers["Location"] == "/"  # no open redirect
    assert "bi_locale=zh_CN" in response.headers["Set-Cookie"]
    assert "登录" in client.get("/login").get_data(as_text=True)


def test_the_switcher_needs_a_csrf_token(client):
    assert client.post("/language", data={"locale": "zh_CN"}).status_code == 400


def test_account_page_saves_language_and_zone(app, member_client, member):
    page = member_client.get("/account").get_data(as_text=True)
    assert 'name="timezone"' in page and "Asia/Shanghai" in page
    response = post_form(
        member_client, "/account", {"locale": "zh_CN", "timezone": "Asia/Shanghai"}
    )
    assert response.status_code == 302
    page = member_client.get("/account").get_data(as_text=True)
    assert "已保存" in page and "(Asia/Shanghai)" in page
    assert audit_summary(app, "account.updated") == [
        (member.email, member.email,
         {"locale": [None, "zh_CN"], "timezone": [None, "Asia/Shanghai"]})
    ]  # fmt: skip
    assert "account.updated" in member_client.application.extensions["audit_actions"]


def test_account_page_refuses_an_unknown_zone_or_language(member_client):
    for data in ({"timezone": "Mars/Base"}, {"locale": "xx"}, {"timezone": "../../etc"}):
        response = post_form(member_client, "/account", data)
        assert response.status_code == 400, data
        assert "Please correct the highlighted fields." in response.get_data(as_text=True)


def test_account_page_needs_a_login_and_a_csrf_token(client, member_client):
    anonymous = client.application.test_client()
    assert anonymous.get("/account").headers["Location"].startswith("/login?next=")
    token = csrf_token(member_client)
    assert member_client.post("/account", data={"timezone": "UTC"}).status_code == 400
    ok = member_client.post("/account", data={"csrf_token": token, "timezone": "UTC"})
    assert ok.status_code == 302


def test_api_answers_stay_english(app, client):
    response = client.post("/api/v1/notifications", json={}, headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "Send a valid API token: Authorization: Bearer <token>."
    page_error = client.get("/no-such-page", headers={"Accept": "application/json",
                                                       "Accept-Language": "zh-CN"})  # fmt: skip
    assert page_error.get_json()["error"] == "Page not found"
