"""Delivery at scale: a retry window in hours, parallel sessions, throttling, a shared
per-minute budget, prompt pickup and the worker inside ``make run``."""

import threading
from collections import Counter

import pytest

from webapp.email_service.models import load_settings
from webapp.extensions import db
from webapp.notifier.models import Delivery
from webapp.notifier.outbox import enqueue
from webapp.notifier.tokens import create_token
from webapp.notifier.worker import Worker

from ..helpers import (
    ManualClock,
    configure_service,
    post_form,
    run_worker,
    wait_until,
)


def queue_alerts(app, count, prefix="r"):
    with app.app_context():
        for n in range(count):
            enqueue(
                created_by="token:test", kind="alert", to=[f"{prefix}{n}@example.com"],
                subject=f"Alert {n}", text="Disk full.",
            )  # fmt: skip
        db.session.commit()


def limits(app, sessions=4, per_minute=0):
    with app.app_context():
        row = load_settings()
        row.max_connections, row.max_per_minute = sessions, per_minute
        db.session.commit()


def statuses(app):
    with app.app_context():
        return Counter(db.session.scalars(db.select(Delivery.status)))


def delivered_once(server, count, prefix="r"):
    """Every recipient got exactly one message."""
    received = Counter(m.rcpt_tos[0] for m in server.messages)
    assert received == Counter(f"{prefix}{n}@example.com" for n in range(count)), received


def test_a_day_long_outage_loses_nothing(make_smtp_app, plain_server):
    clock = ManualClock()
    app = make_smtp_app(CLOCK=clock, RESOURCE_CHECK_SECONDS=0)  # window: the default 48 h
    configure_service(app, plain_server)
    queue_alerts(app, 5)
    plain_server.stop()
    for _ in range(24 * 2):  # 24 hours in steps of 30 minutes, the longest backoff
        run_worker(app)
        clock.advance(minutes=30, seconds=1)
    assert statuses(app) == {"retrying": 5}
    with app.app_context():
        attempts = db.session.scalars(db.select(Delivery.attempts)).all()
    assert min(attempts) >= 24  # tried all day long, and not given up
    plain_server.start()
    run_worker(app)
    with app.app_context():
        why = db.session.execute(db.select(Delivery.last_error, Delivery.last_reply)).all()
    assert statuses(app) == {"sent": 5}, why
    delivered_once(plain_server, 5)


def test_the_window_ends_in_dead_letters_not_in_endless_retries(make_smtp_app, plain_server):
    clock = ManualClock()
    app = make_smtp_app(CLOCK=clock, NOTIFIER_MAX_AGE=3 * 3600, RESOURCE_CHECK_SECONDS=0)
    configure_service(app, plain_server)
    queue_alerts(app, 2)
    plain_server.stop()
    for _ in range(8):
        run_worker(app)
        clock.advance(minutes=30, seconds=1)
    assert statuses(app) == {"dead": 2}


def test_sessions_never_exceed_max_connections(make_smtp_app, smtp_servers):
    server = smtp_servers("plain", auth=True)
    server.data_delay = 0.02  # slow enough that sessions overlap
    app = make_smtp_app(RESOURCE_CHECK_SECONDS=0)
    configure_service(app, server)
    limits(app, sessions=3)
    queue_alerts(app, 60)
    run_worker(app)
    delivered_once(server, 60)
    assert server.most_open_sessions == 3  # all three used, never a fourth
    assert server.commands.count("AUTH") <= 6  # sessions carry many messages each


def test_a_throttling_server_slows_the_pool_down_and_loses_nothing(make_smtp_app, smtp_servers):
    server = smtp_servers("plain", auth=True)
    server.data_delay = 0.02
    server.session_limit = 2  # the third concurrent session hears "421 … too many"
    server.throttle_after, server.throttle_times = 10, 3  # then "451 4.7.0" three times
    app = make_smtp_app(RESOURCE_CHECK_SECONDS=0, NOTIFIER_THROTTLE_PAUSE=0.0)
    configure_service(app, server)
    limits(app, sessions=4)
    queue_alerts(app, 40)
    worker = Worker(app, poll_interval=0)
    for _ in range(10):  # each run ends when nothing is due; a paused message is due again
        counts = worker.run(once=True)
        if statuses(app) == {"sent": 40}:
            break
    assert server.sessions_refused >= 1 and server.throttled == 3
    assert statuses(app) == {"sent": 40}  # nothing dead, nothing left behind
    delivered_once(server, 40)  # nothing sent twice
    assert counts["throttled"] >= 1 and counts["dead"] == 0
    # The pool backed off: fewer sessions than configured after the throttling.
    assert worker.sender.throttle.sessions(4) < 4
    with app.app_context():
        attempts = db.session.scalars(db.select(Delivery.attempts)).all()
    assert set(attempts) == {1}  # a "slow down" is not counted as a try


def test_max_per_minute_holds_across_two_workers(make_smtp_app, plain_server):
    clock = ManualClock()
    app = make_smtp_app(CLOCK=clock, RESOURCE_CHECK_SECONDS=0, NOTIFIER_BATCH_SIZE=4)
    configure_service(app, plain_server)
    limits(app, sessions=2, per_minute=5)
    queue_alerts(app, 12)
    workers = [Worker(app, poll_interval=0) for _ in range(2)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(plain_server.messages) == 5  # the minute's budget, for both together
    assert statuses(app) == {"sent": 5, "queued": 7}
    clock.advance(minutes=1)
    for worker in workers:
        worker.sender.paused_until = 0  # the next minute has come (on the app's clock)
        worker.run(once=True)
    assert len(plain_server.messages) == 10
    clock.advance(minutes=1)
    workers[0].sender.paused_until = 0
    workers[0].run(once=True)
    delivered_once(plain_server, 12)


@pytest.mark.postgres
def test_notify_wakes_an_idle_worker_at_once(make_smtp_app, plain_server):
    # A 60-second poll: only NOTIFY can bring the message within the wait below.
    app = make_smtp_app(NOTIFIER_POLL_SECONDS=60, RESOURCE_CHECK_SECONDS=0)
    configure_service(app, plain_server)
    worker = Worker(app)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: worker.waiter.conn is not None, 10), "the worker never listened"
        queue_alerts(app, 1)
        assert wait_until(lambda: plain_server.messages, 10), "not picked up within 10 s"
    finally:
        worker.stop()
        thread.join(timeout=10)


def test_the_embedded_worker_delivers_what_the_api_queued(make_smtp_app, plain_server):
    app = make_smtp_app(NOTIFIER_EMBEDDED=True, NOTIFIER_POLL_SECONDS=0.1)
    worker, stop = app.extensions["notifier_embedded"]
    try:
        configure_service(app, plain_server)
        with app.app_context():
            _, token = create_token("platform", "system")
            db.session.commit()
        body = {"kind": "task_failure", "to": ["ops@example.com"], "subject": "ETL", "text": "x"}
        response = app.test_client().post(
            "/api/v1/notifications", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 202
        assert wait_until(lambda: plain_server.messages, 20), "the embedded worker sent nothing"
        assert plain_server.messages[0].rcpt_tos == ["ops@example.com"]
    finally:
        stop()
    assert worker.stopping


def test_throttling_is_named_on_the_settings_page_and_in_the_delivery_log(
    make_smtp_app, smtp_servers, admin
):
    server = smtp_servers("plain", auth=True)
    server.throttle_after, server.throttle_times = 0, 1000  # every DATA: "451 4.7.0 …"
    app = make_smtp_app(RESOURCE_CHECK_SECONDS=0)
    configure_service(app, server)
    queue_alerts(app, 2)
    run_worker(app)
    assert statuses(app) == {"retrying": 2} and server.messages == []
    client = app.test_client()
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    settings_page = client.get("/admin/settings/email").get_data(as_text=True)
    assert "The server is throttling us: 451 4.7.0 Too many messages, slow down" in settings_page
    log_page = client.get("/admin/notifications").get_data(as_text=True)
    assert "The server is throttling us:" in log_page and "451 4.7.0 Too many messages" in log_page
