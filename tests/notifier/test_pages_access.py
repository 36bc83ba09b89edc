"""Who may open the notifier's pages: admins, members (403 on admin pages), anonymous (login)."""

import re

import pytest

from ..helpers import csrf_token

ADMIN_GETS = (
    "/admin/notifications",
    "/admin/tokens",
    "/admin/subscriptions",
    "/admin/settings/email/resource-alerts",
)
ADMIN_POSTS = (
    "/admin/notifications/1/resend",
    "/admin/tokens",
    "/admin/tokens/1/revoke",
    "/admin/subscriptions",
    "/admin/subscriptions/remove",
    "/admin/settings/email/resource-alerts",
)
SECTIONS = ("Delivery log", "API tokens", "Subscriptions", "Resource alerts")


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_member_gets_access_denied_on_every_admin_page(member_client, path):
    response = member_client.get(path)
    assert response.status_code == 403
    assert "Access denied" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ADMIN_POSTS)
def test_member_gets_access_denied_on_every_admin_post(member_client, path):
    token = csrf_token(member_client, "/account/subscriptions")
    data = {"csrf_token": token, "name": "x", "topic": "a:1", "subscription_id": "1"}
    response = member_client.post(path, data=data)
    assert response.status_code == 403


@pytest.mark.parametrize("path", ADMIN_GETS + ("/account/subscriptions",))
def test_anonymous_is_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ADMIN_POSTS + ("/account/subscriptions",))
def test_anonymous_post_with_a_valid_token_is_sent_to_login(client, path):
    response = client.post(path, data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ADMIN_POSTS)
def test_admin_post_without_csrf_token_is_refused(admin_client, path):
    assert admin_client.post(path, data={"name": "x"}).status_code == 400


@pytest.mark.parametrize("path", ADMIN_GETS + ("/account/subscriptions",))
def test_admin_pages_open_without_inline_scripts_or_styles(admin_client, path):
    response = admin_client.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>" not in page and "onclick=" not in page and "style=" not in page
    assert response.headers["Cache-Control"] == "no-store"


def test_sections_are_listed_under_enterprise_settings(admin_client):
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    for title in SECTIONS:
        assert f">{title}</a>" in page  # the sidebar
        assert f">{title}</h2>" in page  # the index cards


ACTIVE_SECTION = re.compile(r'list-group-item-action active"\s+href="([^"]+)"')


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_open_section_alone_is_highlighted_in_the_sidebar(admin_client, path):
    page = admin_client.get(path).get_data(as_text=True)
    assert ACTIVE_SECTION.findall(page) == [path]


def test_member_finds_my_subscriptions_on_the_home_page(member_client):
    page = member_client.get("/").get_data(as_text=True)
    assert 'href="/account/subscriptions"' in page and "My subscriptions" in page
    assert "Delivery log" not in page


def test_admin_home_links_both_the_log_and_their_own_subscriptions(admin_client):
    page = admin_client.get("/").get_data(as_text=True)
    assert 'href="/admin/notifications"' in page and 'href="/account/subscriptions"' in page
