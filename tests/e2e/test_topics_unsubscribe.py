"""In the browser: a member picks a topic from the catalogue and leaves it by the mailed link."""

import email
import email.policy
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.notifier.outbox import enqueue
from webapp.notifier.subscriptions import find_subscription

from ..helpers import (
    audit_rows,
    configure_service,
    csp_violations,
    log_in,
    register_topic,
    run_worker,
    screenshot,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def app(make_smtp_app):
    """The live server's app, and the worker's: one database (no resource checks)."""
    return make_smtp_app(RESOURCE_CHECK_SECONDS=0)


def catalogue_item(page, topic):
    """The catalogue's entry for ``topic`` (its id holds a colon, which CSS would need escaped)."""
    return page.locator(f'[id="catalogue-{topic}"]')


def deliver_daily_sales(app, server):
    """Queue a card:42 notification to its subscribers, run the worker; the parsed messages."""
    configure_service(app, server)
    with app.app_context():
        _, recipients = enqueue(
            kind="subscription", topic="card:42", subject="Daily sales",
            text="Sales rose 4 % today.", created_by="token:scheduler",
        )  # fmt: skip
        db.session.commit()
    assert recipients == 1
    assert run_worker(app)["sent"] == 1
    return [
        email.message_from_bytes(m.original_content, policy=email.policy.default)
        for m in server.messages
    ]


def on_live_server(link, live_server):
    """``link`` with the live server's scheme and address (BASE_URL names the real host)."""
    live = urlsplit(live_server)
    return urlsplit(link)._replace(scheme=live.scheme, netloc=live.netloc).geturl()


def test_member_picks_a_topic_and_unsubscribes_through_the_mailed_link(
    app, browser, page, console_errors, member, plain_server, live_server
):
    register_topic(app, "card:42", "Daily sales")
    register_topic(app, "card:7", "Headcount")
    register_topic(app, "page:finance-salaries", "Salaries", kind="page", roles=["admin"])

    log_in(page, member.email, member.password)
    page.goto("/account/subscriptions")
    expect(page.locator("#catalogue li")).to_have_count(2)
    expect(catalogue_item(page, "page:finance-salaries")).to_have_count(0)  # admins only
    page.locator("#q").fill("salar")
    page.locator("#topic-search").get_by_role("button", name="Search").click()
    expect(page.locator("#catalogue")).to_have_count(0)
    expect(page.locator("#catalogue-empty")).to_be_visible()

    page.locator("#q").fill("daily")
    page.locator("#topic-search").get_by_role("button", name="Search").click()
    expect(page.locator("#catalogue li")).to_have_count(1)
    item = catalogue_item(page, "card:42")
    expect(item).to_contain_text("Daily sales")
    screenshot(page, "catalogue-search")
    item.get_by_role("button", name="Subscribe card:42").click()
    expect(page.get_by_role("alert")).to_have_text("You are subscribed to card:42.")
    expect(page.locator("#my-topics li")).to_contain_text("Daily sales")

    [message] = deliver_daily_sales(app, plain_server)
    assert message["To"].addresses[0].addr_spec == member.email
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.fullmatch(r"<(\S+)>", message["List-Unsubscribe"]).group(1)
    assert link.startswith(app.config["BASE_URL"] + "/unsubscribe/")
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert link in text and link in html  # the footer goes to the same page

    # Whoever holds the mail may use the link: no login, no cookie.
    stranger = browser.new_context(base_url=live_server)
    try:
        anonymous = stranger.new_page()
        anonymous_errors = []
        anonymous.on("console", lambda m: m.type == "error" and anonymous_errors.append(m.text))
        anonymous.goto(on_live_server(link, live_server))
        expect(anonymous.get_by_role("heading", name="Unsubscribe")).to_be_visible()
        expect(anonymous.locator("#unsubscribe")).to_contain_text(member.email)
        expect(anonymous.locator("#unsubscribe")).to_contain_text("Daily sales")
        screenshot(anonymous, "unsubscribe-confirm")
        anonymous.locator("#confirm-unsubscribe").click()
        expect(anonymous.locator("#unsubscribed")).to_contain_text(
            f"{member.email} no longer receives email about Daily sales"
        )
        screenshot(anonymous, "unsubscribe-done")
        assert not csp_violations(anonymous_errors)
        anonymous.goto("/account/subscriptions")  # this browser was never logged in
        expect(anonymous).to_have_url(re.compile(r"/login\?next="))
    finally:
        stranger.close()

    with app.app_context():
        assert find_subscription(member.id, "card:42") is None
    [event] = audit_rows(app, action="subscription.unsubscribed")
    assert (event["actor"], event["target"]) == (member.email, "card:42")

    page.goto("/account/subscriptions")
    expect(page.locator("#my-topics-empty")).to_be_visible()
    expect(catalogue_item(page, "card:42")).to_be_visible()
    assert not csp_violations(console_errors)
