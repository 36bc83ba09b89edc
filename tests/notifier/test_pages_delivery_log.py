"""The delivery log page: filters, pages of fifty, the 24-hour counts, and Resend."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.notifier.models import Delivery
from webapp.notifier.outbox import enqueue
from webapp.timeutil import utcnow

from ..helpers import audit_summary, post_form

ROW = re.compile(r'<tr id="delivery-(\d+)">')


@pytest.fixture
def queue(app):
    """Queue one notification to ``recipients`` and give its deliveries ``values``."""

    def add(*recipients, kind="alert", subject="Sales dropped", **values):
        with app.app_context():
            notification, _ = enqueue(
                kind=kind, subject=subject, text="text", created_by="test", to=list(recipients)
            )
            query = update(Delivery).where(Delivery.notification_id == notification.id)
            if values:
                db.session.execute(query.values(**values))
            db.session.commit()
            ids = select(Delivery.id).where(Delivery.notification_id == notification.id)
            return list(db.session.scalars(ids.order_by(Delivery.id)))

    return add


def delivery(app, delivery_id):
    with app.app_context():
        row = db.session.get(Delivery, delivery_id)
        db.session.expunge(row)
        return row


def page_of(client, query=""):
    response = client.get("/admin/notifications" + query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_empty_log_says_so(admin_client):
    page = page_of(admin_client)
    assert 'id="deliveries-empty"' in page and "No notifications have been sent yet." in page
    assert 'id="count-sent">0<' in page and 'id="count-dead">0<' in page


def test_newest_first_and_pages_of_fifty(admin_client, queue):
    queue(*[f"r{i}@example.com" for i in range(120)])
    first = page_of(admin_client)
    assert len(ROW.findall(first)) == 50
    assert first.index("r119@example.com") < first.index("r118@example.com")
    assert "120 deliveries; page 1 of 3." in first
    third = page_of(admin_client, "?page=3")
    assert len(ROW.findall(third)) == 20
    assert "r0@example.com" in third and "r119@example.com" not in third
    for nonsense in ("abc", "-1", "0", "²", "9" * 30):
        assert len(ROW.findall(page_of(admin_client, f"?page={nonsense}"))) == 50
    beyond = page_of(admin_client, "?page=9")
    assert "Nothing on this page." in beyond


def test_filters_combine_and_stay_in_the_links(admin_client, queue):
    queue(*[f"dead{i}@example.com" for i in range(60)], kind="alert", status="dead")
    queue(*[f"sent{i}@example.com" for i in range(5)], kind="alert", status="sent")
    queue(*[f"sub{i}@example.com" for i in range(7)], kind="subscription", status="dead")
    page = page_of(admin_client, "?status=dead&kind=alert")
    assert "60 deliveries match; page 1 of 2." in page
    assert "sent0@example.com" not in page and "sub0@example.com" not in page
    assert "page=2&amp;status=dead&amp;kind=alert" in page
    assert '<option selected value="dead">' in page
    assert "7 deliveries match" in page_of(admin_client, "?status=dead&kind=subscription")
    assert "5 deliveries match" in page_of(admin_client, "?kind=alert&status=sent")


def test_recipient_filter_is_exact_and_lower_cased(admin_client, queue):
    queue("bob@example.com", "bobby@example.com")
    page = page_of(admin_client, "?recipient=+Bob@Example.COM+")
    assert "1 delivery match" in page
    assert "bobby@example.com" not in page
    assert 'value="bob@example.com"' in page  # the filter shows what it searched for
    assert 'id="deliveries-no-match"' in page_of(admin_client, "?recipient=bo")


def test_date_filters(admin_client, queue):
    today = utcnow().date()
    queue("old@example.com", created_at=utcnow() - timedelta(days=3))
    queue("new@example.com")
    since_yesterday = page_of(admin_client, f"?since={today - timedelta(days=1)}")
    assert "1 delivery match" in since_yesterday and "new@example.com" in since_yesterday
    until = page_of(admin_client, f"?until={today - timedelta(days=2)}")
    assert "1 delivery match" in until and "old@example.com" in until
    tomorrow = page_of(admin_client, f"?since={today + timedelta(days=1)}")
    assert "No deliveries match these filters." in tomorrow


def test_bad_filters_get_a_clear_message(admin_client):
    page = page_of(admin_client, "?status=lost&since=yesterday")
    assert "Not a valid choice." in page and "Not a valid date value." in page
    assert "Fix the filters above" in page
    page = page_of(admin_client, "?since=2024-02-02&until=2024-02-01")
    assert "The end date is before the start date." in page
    page = page_of(admin_client, "?recipient=a%00b@example.com")
    assert "Line breaks and control characters are not allowed." in page
    page = page_of(admin_client, "?until=9999-12-31")
    assert "Enter a date between 2000-01-01 and 9998-12-31." in page


def test_rows_show_attempts_retry_time_and_escaped_server_reply(admin_client, queue):
    later = utcnow() + timedelta(minutes=7)
    queue(
        "kim@example.com",
        subject="Card <b>42</b>",
        status="retrying",
        attempts=3,
        next_attempt_at=later,
        last_error="timeout",
        last_reply="451 <script>alert(1)</script>",
    )
    page = page_of(admin_client)
    assert "<script>alert(1)</script>" not in page and "<b>42</b>" not in page
    assert "451 &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Card &lt;b&gt;42&lt;/b&gt;" in page
    assert "<code>timeout</code>" in page
    assert later.strftime("%Y-%m-%d %H:%M:%S") in page
    assert '<td class="small">3</td>' in page
    assert ">Resend</button>" not in page  # only dead deliveries can be resent


def test_counts_cover_the_last_24_hours(admin_client, queue):
    queue("a@example.com", "b@example.com", status="sent")
    queue("c@example.com", status="dead")
    queue("d@example.com", "e@example.com", "f@example.com")
    queue("old@example.com", status="sent", created_at=utcnow() - timedelta(hours=25))
    page = page_of(admin_client)
    assert 'id="count-sent">2<' in page
    assert 'id="count-dead">1<' in page
    assert 'id="count-queued">3<' in page
    assert 'id="count-retrying">0<' in page


def test_resend_queues_a_dead_delivery_and_is_audited(app, admin_client, admin, queue):
    before = utcnow()
    (delivery_id,) = queue(
        "lee@example.com",
        status="dead",
        attempts=12,
        last_error="recipient_refused",
        last_reply="550 no such user",
        lease_owner="w1",
        lease_expires_at=before,
        next_attempt_at=before - timedelta(days=1),
    )
    page = page_of(admin_client, "?status=dead")
    assert f'action="/admin/notifications/{delivery_id}/resend?page=1&amp;status=dead"' in page

    response = post_form(
        admin_client, f"/admin/notifications/{delivery_id}/resend?page=1&status=dead", {}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/notifications?status=dead&page=1"
    row = delivery(app, delivery_id)
    assert row.status == "queued" and before <= row.next_attempt_at <= utcnow()
    assert row.lease_owner is None and row.lease_expires_at is None
    assert (row.attempts, row.last_error, row.last_reply) == (
        12,
        "recipient_refused",
        "550 no such user",
    )
    events = audit_summary(app, "delivery.resent")
    assert events == [(admin.email, "lee@example.com", {"status": ["dead", "queued"]})]
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The delivery to lee@example.com is queued again." in page


def test_resend_refuses_a_delivery_that_is_not_dead(app, admin_client, queue):
    (delivery_id,) = queue("sam@example.com", status="sent", attempts=1)
    response = post_form(
        admin_client, f"/admin/notifications/{delivery_id}/resend", {}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "Only dead deliveries can be resent; the one to sam@example.com is sent." in page
    assert "Nothing changed." in page
    assert delivery(app, delivery_id).status == "sent"
    assert audit_summary(app, "delivery.resent") == []


def test_resend_of_an_unknown_delivery_is_404(admin_client):
    for delivery_id in ("999", "9" * 30):
        path = f"/admin/notifications/{delivery_id}/resend"
        assert post_form(admin_client, path, {}).status_code == 404
