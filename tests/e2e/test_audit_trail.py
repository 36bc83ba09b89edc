"""In the browser: an admin's role change shows up in the audit log, and its filter holds."""

import re

import pytest
from playwright.sync_api import expect

from ..helpers import AUDIT_COLUMNS, audit_cell, audit_row, csp_violations, log_in, screenshot

pytestmark = pytest.mark.browser


def test_role_change_is_in_the_audit_log_and_survives_the_filter(
    page, console_errors, admin, member
):
    log_in(page, admin.email, admin.password)
    page.locator("#nav-admin-settings").click()
    page.locator("#settings-sections").get_by_role("link", name="Users").click()

    page.locator("#users-table tbody tr", has_text=member.email).get_by_role(
        "link", name="Edit"
    ).click()
    expect(page.get_by_role("heading", name=f"Edit {member.email}")).to_be_visible()
    page.get_by_label("Role").select_option(label="Admin")
    screenshot(page, "user-edit")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.get_by_role("alert")).to_have_text(f"Saved changes to {member.email}.")
    expect(page.locator("#users-table tbody tr", has_text=member.email)).to_contain_text("admin")

    page.locator("#settings-sections").get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(re.compile(r"/admin/audit$"))
    expect(page.locator("#audit-table thead th")).to_have_text(list(AUDIT_COLUMNS))
    row = audit_row(page, "user.updated", member.email)
    expect(row).to_have_count(1)
    expect(audit_cell(row, "Actor")).to_have_text(admin.email)
    expect(audit_cell(row, "Changes")).to_have_text("role: member → admin")
    expect(audit_row(page, "auth.login", admin.email)).to_have_count(1)

    filters = page.locator("#audit-filters")
    filters.get_by_label("Action").fill("user.updated")
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]action=user\.updated(&|$)"))
    expect(filters.get_by_label("Action")).to_have_value("user.updated")
    expect(page.locator("main")).to_contain_text("1 event match")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    row = audit_row(page, "user.updated", member.email)
    expect(row).to_have_count(1)
    expect(audit_cell(row, "Changes")).to_have_text("role: member → admin")
    expect(page.locator("#export-csv")).to_have_attribute(
        "href", re.compile(r"action=user\.updated")
    )
    screenshot(page, "audit-filtered")
    assert not csp_violations(console_errors)
