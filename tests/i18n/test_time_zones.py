"""Times in the user's zone: shown with the zone named, and date filters meaning its dates."""

from datetime import datetime

from webapp.audit.record import record_event
from webapp.database import write_transaction
from webapp.extensions import db
from webapp.notifier.models import Delivery
from webapp.notifier.outbox import enqueue

from ..helpers import ManualClock, add_user, post_form, set_preferences

PASSWORD = "shanghai-password-1"
# 17:30 UTC on 27 November is 01:30 on 28 November in Shanghai (UTC+8).
LATE_EVENING_UTC = datetime(2026, 11, 27, 17, 30)


def _logged_in(app, email):
    client = app.test_client()
    post_form(client, "/login", {"email": email, "password": PASSWORD})
    return client


def _record_at(app, clock, when):
    clock.now = when
    with app.app_context(), write_transaction():
        record_event("key.rotated", target="late-evening", actor="system")


def test_a_shanghai_user_sees_shanghai_times_and_filters_by_shanghai_dates(make_app):
    clock = ManualClock(datetime(2026, 11, 27, 12, 0))
    app = make_app(CLOCK=clock)  # the login below happens at the event's time
    add_user(app, "sh@example.com", PASSWORD, "admin")
    add_user(app, "utc@example.com", PASSWORD, "admin")
    set_preferences(app, "sh@example.com", "zh_CN", "Asia/Shanghai")
    _record_at(app, clock, LATE_EVENING_UTC)
    shanghai, utc = _logged_in(app, "sh@example.com"), _logged_in(app, "utc@example.com")

    page = shanghai.get("/admin/audit?action=key.rotated").get_data(as_text=True)
    assert "时间 (Asia/Shanghai)" in page and "2026-11-28 01:30:00" in page
    assert "开始日期 (Asia/Shanghai)" in page
    page = utc.get("/admin/audit?action=key.rotated").get_data(as_text=True)
    assert "Time (UTC)" in page and "2026-11-27 17:30:00" in page

    # The same date means a different day in each zone.
    on_28th = "/admin/audit?action=key.rotated&since=2026-11-28&until=2026-11-28"
    on_27th = "/admin/audit?action=key.rotated&since=2026-11-27&until=2026-11-27"
    assert "late-evening" in shanghai.get(on_28th).get_data(as_text=True)
    assert "late-evening" not in shanghai.get(on_27th).get_data(as_text=True)
    assert "late-evening" in utc.get(on_27th).get_data(as_text=True)
    assert "late-evening" not in utc.get(on_28th).get_data(as_text=True)

    # The CSV export keeps UTC ISO 8601 whoever downloads it; its filter is the page's.
    body = shanghai.get(on_28th.replace("/admin/audit?", "/admin/audit.csv?")).get_data(
        as_text=True
    )
    assert "2026-11-27T17:30:00Z" in body


def test_delivery_log_and_user_list_use_the_zone(make_app):
    clock = ManualClock(LATE_EVENING_UTC)
    app = make_app(CLOCK=clock)
    add_user(app, "sh@example.com", PASSWORD, "admin")
    set_preferences(app, "sh@example.com", None, "Asia/Shanghai")
    with app.app_context():
        enqueue(kind="alert", subject="夜间", text="-", to=["x@example.com"], created_by="t")
        db.session.commit()
        assert db.session.scalar(db.select(Delivery.created_at)) == LATE_EVENING_UTC
    client = _logged_in(app, "sh@example.com")
    log = client.get("/admin/notifications").get_data(as_text=True)
    assert "Created (Asia/Shanghai)" in log and "2026-11-28 01:30:00" in log
    assert "From (Asia/Shanghai)" in log
    assert "x@example.com" in client.get("/admin/notifications?since=2026-11-28").get_data(
        as_text=True
    )
    assert "x@example.com" not in client.get("/admin/notifications?until=2026-11-27").get_data(
        as_text=True
    )
    users = client.get("/admin/users").get_data(as_text=True)
    assert "Created (Asia/Shanghai)" in users and "2026-11-28 01:30" in users


def test_default_timezone_applies_to_users_who_chose_none(make_app):
    clock = ManualClock(LATE_EVENING_UTC)
    app = make_app(CLOCK=clock, DEFAULT_TIMEZONE="Asia/Shanghai")
    add_user(app, "someone@example.com", PASSWORD, "admin")
    page = _logged_in(app, "someone@example.com").get("/admin/users").get_data(as_text=True)
    assert "Created (Asia/Shanghai)" in page and "2026-11-28 01:30" in page
