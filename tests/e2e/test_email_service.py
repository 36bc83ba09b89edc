"""In the browser: an admin sets up the Email Service against real SMTP servers."""

import email
import email.policy
import re

import pytest
from playwright.sync_api import expect

from ..helpers import (
    SENDER_NAME,
    TEST_EMAIL,
    audit_cell,
    audit_row,
    csp_violations,
    log_in,
    screenshot,
)
from ..smtp_servers import LOGIN, PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app(make_smtp_app):
    """The live server's app: trusts the test CA and gives up after 3 s (loopback allowed)."""
    return make_smtp_app()


def open_email_service(page):
    """From the top navigation to Enterprise Settings → Email Service."""
    page.locator("#nav-admin-settings").click()
    expect(page.get_by_role("heading", name="Enterprise Settings")).to_be_visible()
    page.locator("#settings-sections").get_by_role("link", name="Email Service").click()
    expect(page).to_have_url(re.compile(r"/admin/settings/email$"))
    expect(page.get_by_role("heading", name="Email Service", exact=True)).to_be_visible()


def security(page, value):
    """The Security protocol radio button: ``none``, ``ssl`` or ``tls``."""
    return page.locator(f"#email-settings-form input[name=security][value={value}]")


def field(page, label):
    """A form control by its exact label."""
    return page.locator("#email-settings-form").get_by_label(label, exact=True)


def received_message(server):
    """The one message the SMTP server got, parsed as a mailbox would."""
    assert len(server.messages) == 1
    return email.message_from_bytes(
        server.messages[0].original_content, policy=email.policy.default
    )


def test_admin_picks_a_preset_tests_the_connection_saves_and_finds_it_audited(
    page, console_errors, admin, smtp_servers
):
    server = smtp_servers("plain", auth=True)
    log_in(page, admin.email, admin.password)
    open_email_service(page)
    expect(page.locator("#service-state")).to_have_text("Not configured")
    expect(page.locator("#apply-preset")).to_be_hidden()  # the script fills fields itself

    preset = field(page, "Provider preset")
    preset.select_option(label="QQ Mail")
    expect(field(page, "Email server (SMTP)")).to_have_value("smtp.qq.com")
    expect(field(page, "Port")).to_have_value("465")
    expect(security(page, "ssl")).to_be_checked()
    expect(page.locator("#preset-note")).to_be_visible()
    expect(page.locator("#preset-note")).to_contain_text("client authorization code")
    expect(page.locator("#plaintext-confirmation")).to_be_hidden()
    screenshot(page, "email-service-preset-qq")

    preset.select_option(label="Local development server (127.0.0.1:1025)")
    expect(field(page, "Email server (SMTP)")).to_have_value("127.0.0.1")
    expect(field(page, "Port")).to_have_value("1025")
    expect(security(page, "none")).to_be_checked()
    confirmation = page.locator("#plaintext-confirmation")
    expect(confirmation).to_be_visible()

    field(page, "Port").fill(str(server.port))
    field(page, "Sender email").fill(LOGIN)
    field(page, "Password / authorization code").fill(PASSWORD)
    confirmation.get_by_role("checkbox").check()
    field(page, "Sender name").fill(SENDER_NAME)
    field(page, "Test email").fill(TEST_EMAIL)
    page.get_by_role("button", name="Test Connection").click()

    diagnosis = page.locator("#diagnosis")
    expect(diagnosis).to_be_visible()
    expect(diagnosis.locator(".card-header")).to_contain_text(
        "Connection works: the test email was sent."
    )
    # 3 s is the override's SMTP_TIMEOUT (the default is 10): the live server runs this app.
    expect(diagnosis).to_contain_text("(limit 3 s)")
    steps = page.locator("#diagnosis-steps tbody tr")
    expect(steps).to_have_count(8)
    expect(page.locator("#diagnosis-steps tbody tr[data-ok=true]")).to_have_count(8)
    assert [steps.nth(i).get_attribute("data-step") for i in range(8)] == [
        "resolve", "connect", "greeting", "ehlo", "auth", "mail_from", "rcpt_to", "data",
    ]  # fmt: skip
    reference = page.locator("#diagnosis-reference")
    expect(reference).to_have_text(re.compile(r"^T-[0-9A-F]{8}$"))
    reference = reference.inner_text()
    expect(diagnosis).to_contain_text(f"reference {reference} in the inbox of {TEST_EMAIL}")
    screenshot(page, "email-service-test-passed")

    message = received_message(server)
    assert reference in message["Subject"]
    assert message["From"].addresses[0].display_name == SENDER_NAME
    assert message["From"].addresses[0].addr_spec == LOGIN
    assert server.messages[0].rcpt_tos == [TEST_EMAIL]
    assert server.messages[0].login == LOGIN

    # The page never sends the password back: it must be typed again before saving.
    expect(field(page, "Password / authorization code")).to_have_value("")
    field(page, "Password / authorization code").fill(PASSWORD)
    page.get_by_label("Enable the Email Service").check()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(re.compile(r"/admin/settings/email$"))
    expect(page.locator("main > .alert-success")).to_have_text(
        "Email settings saved. The connection check passed."
    )
    expect(page.locator("#service-state")).to_have_text("Enabled")
    expect(field(page, "Password / authorization code")).to_have_value("")
    expect(page.locator("#password-status")).to_have_text(
        re.compile(
            rf"^A password is stored \(last changed by {re.escape(admin.email)} "
            r"on \d{4}-\d{2}-\d{2}\); leave blank to keep it\.$"
        )
    )
    expect(field(page, "Email server (SMTP)")).to_have_value("127.0.0.1")
    expect(field(page, "Port")).to_have_value(str(server.port))
    expect(field(page, "Sender name")).to_have_value(SENDER_NAME)
    assert PASSWORD not in page.content()
    assert len(server.messages) == 1  # Save checks the login but sends nothing
    screenshot(page, "email-service-saved")

    page.locator("#settings-sections").get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(re.compile(r"/admin/audit$"))
    # Two connections were made from the web: Test Connection, then Save's check.
    expect(audit_row(page, "email_settings.tested", "127.0.0.1")).to_have_count(2)
    on_save = audit_row(page, "email_settings.tested", "127.0.0.1").filter(
        has_text="trigger: — → save"
    )
    expect(on_save).to_have_count(1)
    expect(audit_cell(on_save, "Changes")).to_contain_text("outcome: — → passed")
    tested = audit_row(page, "email_settings.tested", "127.0.0.1").filter(
        has_text="trigger: — → test"
    )
    expect(tested).to_have_count(1)
    expect(audit_cell(tested, "Actor")).to_have_text(admin.email)
    expect(audit_cell(tested, "Changes")).to_contain_text("outcome: — → passed")
    expect(audit_cell(tested, "Changes")).to_contain_text(f"reference: — → {reference}")
    updated = audit_row(page, "email_settings.updated", "email-service")
    expect(updated).to_have_count(1)
    expect(audit_cell(updated, "Actor")).to_have_text(admin.email)
    changes = audit_cell(updated, "Changes")
    expect(changes.locator("li", has_text=re.compile(r"^password:"))).to_have_text("password: set")
    expect(changes).to_contain_text("verification: — → passed")
    expect(changes).to_contain_text(f"sender_name: — → {SENDER_NAME}")
    assert PASSWORD not in page.content()
    screenshot(page, "email-service-audit")
    assert not csp_violations(console_errors)


def test_a_failing_test_names_the_step_and_says_the_server_expects_ssl(
    page, console_errors, admin, smtp_servers
):
    server = smtp_servers("ssl", auth=True)
    log_in(page, admin.email, admin.password)
    open_email_service(page)
    field(page, "Email server (SMTP)").fill("127.0.0.1")
    field(page, "Port").fill(str(server.port))
    security(page, "tls").check()
    field(page, "Sender email").fill(LOGIN)
    field(page, "Password / authorization code").fill(PASSWORD)
    field(page, "Test email").fill(TEST_EMAIL)
    page.get_by_role("button", name="Test Connection").click()

    diagnosis = page.locator("#diagnosis")
    expect(diagnosis).to_be_visible()
    expect(diagnosis).to_have_class(re.compile(r"\bborder-danger\b"))
    expect(diagnosis.locator(".card-header")).to_have_class(re.compile(r"\btext-bg-danger\b"))
    expect(diagnosis.locator(".card-header")).to_contain_text(
        "Connection failed at step “Server greeting”."
    )
    failed = page.locator("#diagnosis-steps tbody tr[data-ok=false]")
    expect(failed).to_have_count(1)
    expect(failed).to_have_attribute("data-step", "greeting")
    expect(failed).to_contain_text("✗ failed")
    expect(page.locator("#diagnosis-hint")).to_contain_text(
        f"You chose TLS, but the server on port {server.port} expects SSL"
    )
    expect(page.locator("#diagnosis-hint")).to_contain_text("Choose SSL")
    assert server.messages == []
    screenshot(page, "email-service-test-failed")
    assert not csp_violations(console_errors)


def test_without_javascript_apply_fills_the_preset_on_the_server(browser, live_server, admin):
    context = browser.new_context(
        base_url=live_server, java_script_enabled=False, viewport={"width": 1280, "height": 800}
    )
    try:
        page = context.new_page()
        console_errors = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        log_in(page, admin.email, admin.password)
        open_email_service(page)
        expect(field(page, "Email server (SMTP)")).to_have_value("")

        field(page, "Provider preset").select_option(label="Gmail")
        page.get_by_role("button", name="Apply").click()

        expect(field(page, "Email server (SMTP)")).to_have_value("smtp.gmail.com")
        expect(field(page, "Port")).to_have_value("465")
        expect(security(page, "ssl")).to_be_checked()
        expect(field(page, "Provider preset")).to_have_value("gmail")
        expect(page.locator("#preset-note")).to_contain_text("app password")
        expect(page.locator("#service-state")).to_have_text("Not configured")  # nothing saved
        expect(page.locator("main .alert-danger")).to_have_count(0)
        screenshot(page, "email-service-no-js-apply")
        assert not csp_violations(console_errors)
    finally:
        context.close()
