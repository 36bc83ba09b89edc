"""In the browser: an admin resends a dead delivery; a member picks a card and leaves it."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from webapp.extensions import db
from webapp.notifier.models import Delivery
from webapp.notifier.outbox import enqueue

from ..helpers import csp_violations, log_in, register_topic, screenshot

pytestmark = pytest.mark.browser


def queue(app, recipients, status, **values):
    """Queue an alert to ``recipients`` and set its deliveries' status."""
    with app.app_context():
        notification, _ = enqueue(
            kind="alert", subject="Sales dropped below target", text="t", created_by="test",
            to=recipients,
        )  # fmt: skip
        db.session.execute(
            update(Delivery)
            .where(Delivery.notification_id == notification.id)
            .values(status=status, **values)
        )
        db.session.commit()


def catalogue_item(page, topic):
    """The catalogue's entry for ``topic`` (its id holds a colon, which CSS would need escaped)."""
    return page.locator(f'[id="catalogue-{topic}"]')


def test_admin_resends_a_dead_delivery(app, page, console_errors, admin):
    queue(app, ["ok@example.com", "fine@example.com"], "sent", attempts=1, last_reply="250 OK")
    queue(
        app,
        ["gone@example.com"],
        "dead",
        attempts=1,
        last_error="recipient_refused",
        last_reply="550 5.1.1 <gone@example.com>: user unknown",
    )
    log_in(page, admin.email, admin.password)
    page.locator("#nav-admin-settings").click()
    page.locator("#settings-sections").get_by_role("link", name="Delivery log").click()
    expect(page).to_have_url(re.compile(r"/admin/notifications$"))
    expect(page.locator("#settings-sections .active")).to_have_text("Delivery log")
    expect(page.locator("#count-sent")).to_have_text("2")
    expect(page.locator("#count-dead")).to_have_text("1")
    expect(page.locator("#deliveries-table tbody tr")).to_have_count(3)

    filters = page.locator("#delivery-filters")
    filters.get_by_label("Status").select_option("dead")
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]status=dead(&|$)"))
    rows = page.locator("#deliveries-table tbody tr")
    expect(rows).to_have_count(1)
    row = rows.filter(has_text="gone@example.com")
    expect(row).to_contain_text("550 5.1.1 <gone@example.com>: user unknown")
    expect(row).to_contain_text("recipient_refused")
    screenshot(page, "delivery-log-dead")

    row.get_by_role("button", name="Resend").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The delivery to gone@example.com is queued again."
    )
    expect(page).to_have_url(re.compile(r"[?&]status=dead(&|$)"))
    expect(page.locator("#deliveries-no-match")).to_be_visible()  # no dead ones left

    filters.get_by_label("Recipient").fill("gone@example.com")
    filters.get_by_label("Status").select_option("")
    filters.get_by_role("button", name="Filter").click()
    row = page.locator("#deliveries-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("queued")
    expect(row.get_by_role("button", name="Resend")).to_have_count(0)
    expect(page.locator("#count-queued")).to_have_text("1")
    screenshot(page, "delivery-log-resent")
    assert not csp_violations(console_errors)


def test_member_picks_a_card_from_the_catalogue_and_removes_it(app, page, console_errors, member):
    register_topic(app, "card:42", "Daily sales")
    register_topic(app, "page:sales-overview", "Sales overview", kind="page")
    register_topic(app, "card:7", "Headcount")
    register_topic(app, "page:finance-salaries", "Salaries", kind="page", roles=["admin"])
    log_in(page, member.email, member.password)
    page.get_by_role("link", name="My subscriptions").click()
    expect(page).to_have_url(re.compile(r"/account/subscriptions$"))
    expect(page.get_by_role("heading", name="My subscriptions")).to_be_visible()
    expect(page.locator("#my-topics-empty")).to_be_visible()
    expect(page.locator("#system-topics")).to_have_count(0)
    catalogue = page.locator("#catalogue li")
    expect(catalogue).to_have_count(3)  # not the admins' page, nor the system topics
    expect(catalogue_item(page, "page:finance-salaries")).to_have_count(0)
    expect(catalogue_item(page, "task-failures")).to_have_count(0)

    page.locator("#q").fill("sales")
    page.locator("#topic-search").get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"[?&]q=sales(&|$)"))
    expect(catalogue).to_have_count(2)
    card = catalogue_item(page, "card:42")
    expect(card).to_contain_text("Daily sales")
    expect(catalogue_item(page, "card:7")).to_have_count(0)
    screenshot(page, "my-subscriptions-catalogue")

    card.get_by_role("button", name="Subscribe card:42").click()
    expect(page.get_by_role("alert")).to_have_text("You are subscribed to card:42.")
    topics = page.locator("#my-topics li")
    expect(topics).to_have_count(1)
    expect(topics).to_contain_text("Daily sales")
    expect(topics).to_contain_text("card:42")
    expect(catalogue_item(page, "card:42")).to_have_count(0)  # picked: off the list
    expect(catalogue).to_have_count(2)
    screenshot(page, "my-subscriptions")

    topics.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("alert")).to_have_text("You are no longer subscribed to card:42.")
    expect(page.locator("#my-topics")).to_have_count(0)
    expect(page.locator("#my-topics-empty")).to_be_visible()
    expect(catalogue_item(page, "card:42")).to_be_visible()
    assert not csp_violations(console_errors)


def test_admin_sees_a_new_api_token_once_and_opens_the_other_sections(
    app, page, console_errors, admin, member
):
    register_topic(app, "page:sales-overview", "Sales overview", kind="page")
    log_in(page, admin.email, admin.password)
    page.goto("/admin/tokens")
    expect(page.locator("#tokens-empty")).to_be_visible()
    page.get_by_label("Name").fill("task-scheduler")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token-value")
    expect(token).to_have_value(re.compile(r"^bin_\S{40,}$"))
    plaintext = token.input_value()
    row = page.locator("#tokens-table tbody tr", has_text="task-scheduler")
    expect(row).to_contain_text(plaintext[:10] + "…")
    expect(row.locator(".badge")).to_have_text("active")
    screenshot(page, "api-token-created")

    page.goto("/admin/tokens")
    expect(page.locator("#new-token")).to_have_count(0)
    assert plaintext not in page.content()
    page.get_by_role("button", name="Revoke task-scheduler").click()
    expect(page.get_by_role("alert")).to_contain_text("The token task-scheduler is revoked")
    expect(row.locator(".badge")).to_have_text("revoked")

    page.locator("#settings-sections").get_by_role("link", name="Subscriptions").click()
    form = page.locator("#add-subscription-form")
    form.get_by_label("User").select_option(label=f"Max Member <{member.email}>")
    form.get_by_label("Topic").fill("page:not-registered")
    form.get_by_role("button", name="Add subscription").click()
    expect(form.locator(".invalid-feedback")).to_contain_text(
        "is registered. Register it under Topics first."
    )
    expect(page.locator("#subscriptions-table")).to_have_count(0)
    form.get_by_label("User").select_option(label=f"Max Member <{member.email}>")
    form.get_by_label("Topic").fill("page:sales-overview")
    form.get_by_role("button", name="Add subscription").click()
    expect(page.get_by_role("alert")).to_have_text(
        f"{member.email} is subscribed to page:sales-overview."
    )
    expect(page.locator("#subscriptions-table tbody tr")).to_have_count(1)
    screenshot(page, "subscriptions-admin")

    page.locator("#settings-sections").get_by_role("link", name="Resource alerts").click()
    page.get_by_label("Disk usage (%)").fill("150")
    page.get_by_role("button", name="Save thresholds").click()
    expect(page.locator(".invalid-feedback")).to_have_text("Number must be between 1 and 100.")
    page.get_by_label("Disk usage (%)").fill("80")
    page.get_by_role("button", name="Save thresholds").click()
    expect(page.get_by_role("alert")).to_have_text("Resource alert thresholds saved.")
    expect(page.get_by_label("Disk usage (%)")).to_have_value("80")
    screenshot(page, "resource-alerts")
    assert not csp_violations(console_errors)
