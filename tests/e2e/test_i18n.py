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


def test_an_admin_reads_the_email_service_and_a_failed_test_in_chinese(
    page, console_errors, admin, closed_port
):
    log_in(page, admin.email, admin.password)
    page.locator("#language-switch").get_by_role("button", name="简体中文").click()
    page.locator("#nav-admin-settings").click()
    page.locator("#settings-sections").get_by_role("link", name="邮件服务").click()
    expect(page.get_by_role("heading", name="邮件服务", exact=True)).to_be_visible()
    form = page.locator("#email-settings-form")
    form.get_by_label("邮箱服务商").select_option(label="QQ 邮箱")
    expect(page.locator("#preset-note")).to_contain_text("客户端授权码")
    expect(form.get_by_label("SMTP 服务器", exact=True)).to_have_value("smtp.qq.com")
    screenshot(page, "zh-CN-email-service")

    form.get_by_label("SMTP 服务器", exact=True).fill("127.0.0.1")
    form.get_by_label("端口", exact=True).fill(str(closed_port))
    form.get_by_label("发件人邮箱", exact=True).fill("bi@example.com")
    form.get_by_label("授权码", exact=True).fill("wrong-code-1")
    form.get_by_label("测试邮箱", exact=True).fill("ops@example.com")
    page.get_by_role("button", name="测试连接").click()
    diagnosis = page.locator("#diagnosis")
    expect(diagnosis).to_contain_text("连接在“建立连接”步骤失败。")
    expect(page.locator("#diagnosis-hint")).to_contain_text(
        f"127.0.0.1 的端口 {closed_port} 上没有服务接受连接"
    )
    expect(page.locator("#diagnosis-steps thead th")).to_have_text(
        ["步骤", "结果", "时间", "详细信息"]
    )
    screenshot(page, "zh-CN-email-service-test-failed")
    assert not csp_violations(console_errors)
