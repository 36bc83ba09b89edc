"""Deliveries through a real SMTP server: each kind, fan-out, retries, holds, outages."""

import email
import email.policy
from collections import Counter
from datetime import timedelta

import pytest

from webapp.email_service.models import load_settings
from webapp.extensions import db
from webapp.notifier.models import Delivery, Notification, Subscription
from webapp.notifier.monitor import check_resources
from webapp.notifier.outbox import enqueue

from ..helpers import (
    ManualClock,
    add_user,
    configure_service,
    make_due,
    post_form,
    run_worker,
    settings_values,
)


def queue(app, **kwargs):
    """Queue a notification as the API would; returns (id, recipients)."""
    fields = {"kind": "alert", "subject": "Sales dropped", "text": "Sales fell 20 %.", **kwargs}
    with app.app_context():
        notification, count = enqueue(created_by="token:test", **fields)
        db.session.commit()
        return notification.id, count


def statuses(app):
    with app.app_context():
        rows = db.session.execute(db.select(Delivery.recipient, Delivery.status)).all()
        return dict(rows)


def parsed(server):
    return [
        email.message_from_bytes(m.original_content, policy=email.policy.default)
        for m in server.messages
    ]


def subscribe(app, user_id, topic, subscribed=True):
    with app.app_context():
        db.session.add(Subscription(user_id=user_id, topic=topic, subscribed=subscribed))
        db.session.commit()


def test_each_kind_arrives_with_headers_and_both_parts(notifier_app, plain_server):
    configure_service(notifier_app, plain_server)
    queue(
        notifier_app,
        kind="subscription",
        to=["a@example.com"],
        subject="Weekly sales",
        html="<p>Chart</p>",
    )
    queue(
        notifier_app,
        kind="alert",
        to=["b@example.com"],
        data={"url": "http://127.0.0.1:5000/card/42"},
    )
    queue(
        notifier_app,
        kind="task_failure",
        to=["c@example.com"],
        subject="nightly-etl failed",
        data={
            "task": "nightly-etl",
            "error": "timeout after 3600 s",
            "time": "2026-11-27 03:00 UTC",
        },
    )
    queue(
        notifier_app,
        kind="resource_alert",
        to=["d@example.com"],
        subject="Disk 95 %",
        data={"metric": "disk", "value": 95, "threshold": 90, "host": "bi-1"},
    )
    counts = run_worker(notifier_app)
    assert counts["sent"] == 4
    messages = {m["To"].addresses[0].addr_spec: m for m in parsed(plain_server)}
    assert set(messages) == {"a@example.com", "b@example.com", "c@example.com", "d@example.com"}
    for message in messages.values():
        assert message["From"].addresses[0].display_name == "数据平台"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Message-ID"].startswith("<") and message["Date"]
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert (
            "http://127.0.0.1:5000/account/subscriptions" in text
            and "/account/subscriptions" in html
        )
    assert messages["a@example.com"]["Subject"] == "Weekly sales"
    assert "<p>Chart</p>" in messages["a@example.com"].get_body(("html",)).get_content()
    assert messages["b@example.com"]["Subject"] == "[Alert] Sales dropped"
    task = messages["c@example.com"].get_body(("plain",)).get_content()
    assert (
        "nightly-etl" in task and "timeout after 3600 s" in task and "2026-11-27 03:00 UTC" in task
    )
    assert "Threshold: 90" in messages["d@example.com"].get_body(("plain",)).get_content()
    assert set(statuses(notifier_app).values()) == {"sent"}


def test_topic_fans_out_to_active_subscribers_only(notifier_app, plain_server):
    configure_service(notifier_app, plain_server)
    ids = [add_user(notifier_app, f"u{n}@example.com", "password-long-1") for n in range(3)]
    gone = add_user(notifier_app, "gone@example.com", "password-long-1", active=False)
    for user_id in [*ids, gone]:
        subscribe(notifier_app, user_id, "card:42")
    _, count = queue(
        notifier_app, kind="subscription", topic="card:42", to=["u0@example.com", "x@example.com"]
    )
    assert count == 4  # three subscribers + one extra address; u0 only once, gone skipped
    run_worker(notifier_app)
    received = sorted(m.rcpt_tos[0] for m in plain_server.messages)
    assert received == ["u0@example.com", "u1@example.com", "u2@example.com", "x@example.com"]


def test_task_failure_reaches_admins_by_default_unless_opted_out(
    notifier_app, plain_server, admin, member
):
    configure_service(notifier_app, plain_server)
    other_admin = add_user(notifier_app, "ops@example.com", "password-long-1", role="admin")
    subscribe(notifier_app, other_admin, "task-failures", subscribed=False)
    subscribe(notifier_app, member.id, "task:nightly-etl")
    _, count = queue(
        notifier_app, kind="task_failure", topic="task:nightly-etl", subject="ETL failed"
    )
    assert count == 2
    run_worker(notifier_app)
    assert sorted(m.rcpt_tos[0] for m in plain_server.messages) == [admin.email, member.email]


def test_outage_then_recovery_delivers_each_message_exactly_once(notifier_app, plain_server):
    configure_service(notifier_app, plain_server)
    for n in range(5):
        queue(notifier_app, to=[f"r{n}@example.com"], subject=f"Alert {n}")
    plain_server.stop()
    run_worker(notifier_app)
    assert set(statuses(notifier_app).values()) == {"retrying"}
    plain_server.start()
    make_due(notifier_app)
    run_worker(notifier_app)
    ids = Counter(m["Message-ID"] for m in parsed(plain_server))
    assert len(ids) == 5 and set(ids.values()) == {1}
    with notifier_app.app_context():
        stored = set(db.session.scalars(db.select(Delivery.message_id)))
    assert stored == set(ids)  # the Message-ID survived the retry


def test_451_is_retried_and_550_is_dead_at_once(notifier_app, plain_server):
    configure_service(notifier_app, plain_server)
    queue(notifier_app, to=["later@example.com"])
    plain_server.rcpt_reply = "451 4.3.0 try again later"
    run_worker(notifier_app)  # one attempt; the retry is due only after its backoff
    assert statuses(notifier_app) == {"later@example.com": "retrying"}
    plain_server.rcpt_reply = None
    make_due(notifier_app)
    run_worker(notifier_app)
    assert statuses(notifier_app) == {"later@example.com": "sent"}
    queue(notifier_app, to=["nobody@example.com"], subject="Second")
    plain_server.rcpt_reply = "550 5.1.1 no such user"
    run_worker(notifier_app)
    assert statuses(notifier_app)["nobody@example.com"] == "dead"
    with notifier_app.app_context():
        dead = db.session.scalar(
            db.select(Delivery).where(Delivery.recipient == "nobody@example.com")
        )
        assert dead.attempts == 1 and dead.last_reply.startswith("550 5.1.1")


def test_a_failing_delivery_is_retried_for_its_window_then_dead(make_smtp_app, plain_server):
    clock = ManualClock()
    app = make_smtp_app(NOTIFIER_MAX_AGE=6 * 3600, CLOCK=clock, RESOURCE_CHECK_SECONDS=0)
    configure_service(app, plain_server)
    queue(app, to=["flaky@example.com"])
    plain_server.data_reply = "451 4.3.0 mailbox busy"  # temporary, and not "slow down"
    for _ in range(40):  # 40 × 31 minutes: well past the 6-hour window
        run_worker(app)
        clock.advance(minutes=31)  # past the 30-minute cap: the retry is due
    with app.app_context():
        row = db.session.scalar(db.select(Delivery))
        assert row.status == "dead" and row.last_error == "message_refused"
        # Counted by time, not by tries: dead only once the window was over.
        assert row.updated_at >= row.created_at + timedelta(hours=6)
        assert row.attempts >= 12


def test_wrong_password_holds_everything_until_a_test_passes(notifier_app, plain_server, admin):
    configure_service(notifier_app, plain_server, password="wrong-password")
    for n in range(3):
        queue(notifier_app, to=[f"h{n}@example.com"])
    run_worker(notifier_app)
    assert set(statuses(notifier_app).values()) == {"held"}
    assert plain_server.messages == []
    client = notifier_app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    page = client.get("/admin/settings/email").get_data(as_text=True)
    assert "Outgoing mail is on hold" in page and "authorization code" in page
    # The admin fixes the password, saves (verified), and the held mail goes out.
    with notifier_app.app_context():
        version = load_settings().version
    form = settings_values(plain_server, version=str(version), sender_name="数据平台")
    assert post_form(client, "/admin/settings/email", form).status_code == 302
    assert "Outgoing mail is on hold" not in client.get("/admin/settings/email").get_data(
        as_text=True
    )
    run_worker(notifier_app)
    assert set(statuses(notifier_app).values()) == {"sent"}
    assert len(plain_server.messages) == 3


def test_disabled_service_holds_and_enabling_delivers(notifier_app, plain_server):
    configure_service(notifier_app, plain_server, enabled=False)
    queue(notifier_app, to=["wait@example.com"])
    run_worker(notifier_app)
    assert statuses(notifier_app) == {"wait@example.com": "held"}
    configure_service(notifier_app, plain_server, enabled=True)
    run_worker(notifier_app)
    assert statuses(notifier_app) == {"wait@example.com": "sent"}
    assert len(plain_server.messages) == 1


@pytest.mark.parametrize("sessions", [1, 4])
def test_many_messages_share_few_sessions(notifier_app, plain_server, sessions):
    configure_service(notifier_app, plain_server)
    with notifier_app.app_context():
        load_settings().max_connections = sessions
        db.session.commit()
    for n in range(20):
        queue(notifier_app, to=[f"bulk{n}@example.com"])
    run_worker(notifier_app)
    assert sorted(m.rcpt_tos[0] for m in plain_server.messages) == sorted(
        f"bulk{n}@example.com" for n in range(20)
    )
    # One login per session, never one per message.
    assert 1 <= plain_server.commands.count("EHLO") <= sessions
    assert plain_server.commands.count("AUTH") == plain_server.commands.count("EHLO")


def test_resource_monitor_alerts_once_per_crossing_and_on_recovery(notifier_app, admin):
    with notifier_app.app_context():
        assert check_resources({"disk": 95.0}) == [("disk", "alert")]
        assert check_resources({"disk": 97.0}) == []  # still above: no repeat
        assert check_resources({"disk": 50.0}) == [("disk", "recovered")]
        assert check_resources({"disk": 96.0}) == []  # within the cooldown: silent
        assert check_resources({"disk": 40.0}) == []  # its recovery is silent too
        assert check_resources({"memory": 91.0, "load": 0.5}) == [("memory", "alert")]
        db.session.commit()
        rows = db.session.execute(
            db.select(Delivery.recipient, Notification.subject).join(Notification)
        ).all()
    assert {recipient for recipient, _ in rows} == {admin.email}
    subjects = sorted(subject for _, subject in rows)
    assert len(subjects) == 3
    assert subjects[0].startswith("Disk usage on") and "(threshold 90.0%)" in subjects[0]
    assert subjects[2].startswith("Recovered: Disk usage")


def test_email_page_and_healthz_report_delivery_health(notifier_app, plain_server, admin):
    configure_service(notifier_app, plain_server)
    queue(notifier_app, to=["ok@example.com"])
    run_worker(notifier_app)
    client = notifier_app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    health = client.get("/healthz").get_json()  # the details are for administrators
    assert health["worker"]["ok"] is True and health["email_service"] == {
        "configured": True,
        "enabled": True,
    }
    page = client.get("/admin/settings/email").get_data(as_text=True)
    assert "Last delivery " in page and "0 failures in the last hour, 0 waiting." in page


def test_a_passing_test_of_the_stored_settings_releases_the_hold(notifier_app, plain_server, admin):
    plain_server.password = "rotated-on-the-server"  # the mailbox password changed elsewhere
    configure_service(notifier_app, plain_server)
    queue(notifier_app, to=["held@example.com"])
    run_worker(notifier_app)
    assert statuses(notifier_app) == {"held@example.com": "held"}
    plain_server.password = "right-password-1"  # … and was changed back
    client = notifier_app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    with notifier_app.app_context():
        version = load_settings().version
    # Password left blank: the test uses the stored one.
    stored = settings_values(
        plain_server,
        password=None,
        allow_plaintext_password=None,
        version=str(version),
        sender_name="数据平台",
    )
    result = post_form(
        client, "/admin/settings/email/test", stored, headers={"Accept": "application/json"}
    ).get_json()
    assert result["ok"] is True
    run_worker(notifier_app)
    assert statuses(notifier_app) == {"held@example.com": "sent"}


def test_a_5xx_greeting_is_retried_not_dead(notifier_app, smtp_servers):
    import socket
    import threading

    server = smtp_servers("plain")
    configure_service(notifier_app, server, password=None)
    queue(notifier_app, to=["later@example.com"])
    server.stop()
    # A server that answers every connection with "554 no service" and hangs up.
    listener = socket.create_server((server.host, server.port))

    def refuse():
        conn, _ = listener.accept()
        conn.sendall(b"554 5.7.1 no SMTP service here\r\n")
        conn.close()

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    run_worker(notifier_app)
    thread.join(5)
    listener.close()
    assert statuses(notifier_app) == {"later@example.com": "retrying"}
