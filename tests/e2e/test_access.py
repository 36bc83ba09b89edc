"""In the browser: admins reach Enterprise Settings, members are refused, logout ends access."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from ..helpers import csp_violations, log_in, screenshot

pytestmark = pytest.mark.browser


def test_admin_finds_the_users_table_through_the_nav(page, console_errors, admin, member):
    log_in(page, admin.email, admin.password)

    page.locator("#nav-admin-settings").click()
    expect(page).to_have_url(re.compile(r"/admin/settings$"))
    expect(page.locator("#nav-admin-settings")).to_have_text(
        "Administrator Settings › Enterprise Settings"
    )
    expect(page.get_by_role("heading", name="Enterprise Settings")).to_be_visible()
    screenshot(page, "admin-settings")

    page.locator("section").get_by_role("link", name="Users").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    table = page.locator("#users-table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr", has_text=admin.email)).to_contain_text("admin")
    expect(table.locator("tbody tr", has_text=member.email)).to_contain_text("Max Member")
    expect(page.locator("#settings-sections .active")).to_have_text("Users")
    screenshot(page, "admin-users")
    assert not csp_violations(console_errors)


def test_member_sees_access_denied_with_their_email(page, console_errors, member):
    log_in(page, member.email, member.password)
    expect(page.locator("#nav-admin-settings")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text(
        "Administrator Settings"
    )

    response = page.goto("/admin/users")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Access denied")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"You are logged in as {member.email}, a member.")
    expect(page.locator("#users-table")).to_have_count(0)
    expect(page.locator("#nav-admin-settings")).to_have_count(0)
    screenshot(page, "access-denied")
    assert not csp_violations(console_errors)


def test_logout_returns_to_login_and_closes_the_admin_pages(page, console_errors, admin):
    log_in(page, admin.email, admin.password)
    page.goto("/admin/users")
    expect(page.locator("#users-table")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("alert")).to_have_text("You are logged out.")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    screenshot(page, "logged-out")

    page.goto("/admin/users")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    assert parse_qs(urlsplit(page.url).query)["next"] == ["/admin/users"]
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.locator("#users-table")).to_have_count(0)
    assert not csp_violations(console_errors)
