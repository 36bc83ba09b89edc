"""In the browser, in Simplified Chinese: switch language from the navigation bar, choose a
time zone on /account, and read the audit log in Chinese with Shanghai times."""

import re

import pytest
from playwright.sync_api import expect

from ..helpers import compile_catalogues, csp_violations, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def catalogues():
    compile_catalogues()  # as `make test` does, for a plain pytest run


def test_an_admin_switches_to_chinese_and_shanghai_time(page, console_errors, admin):
    log_in(page, admin.email, admin.password)
    page.locator("#language-switch").get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("heading", name=re.compile("^欢迎"))).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.locator("#signed-in-as").click()
    expect(page.get_by_role("heading", name="语言和时区")).to_be_visible()
    page.get_by_label("时区").select_option("Asia/Shanghai")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("alert")).to_have_text("已保存。")
    expect(page.locator("#time-now")).to_contain_text("(Asia/Shanghai)")
    screenshot(page, "zh-CN-account")

    page.locator("#nav-admin-settings").click()
    page.locator("#settings-sections").get_by_role("link", name="审计日志").click()
    expect(page).to_have_url(re.compile(r"/admin/audit$"))
    headings = page.locator("#audit-table thead th")
    expect(headings).to_have_text(
        ["#", "时间 (Asia/Shanghai)", "操作人", "操作", "对象", "变更", "IP"]
    )
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("account.updated")
    expect(page.locator("#audit-filters")).to_contain_text("开始日期 (Asia/Shanghai)")
    screenshot(page, "zh-CN-audit-log")

    filters = page.locator("#audit-filters")
    filters.get_by_label("操作", exact=True).fill("account.updated")
    filters.get_by_role("button", name="筛选").click()
    expect(page.locator("main")).to_contain_text("2 条事件符合条件")
    screenshot(page, "zh-CN-audit-log-filtered")
    assert not csp_violations(console_errors)
