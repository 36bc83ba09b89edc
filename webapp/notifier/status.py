"""Delivery health in one sentence, for the Email Service page and /healthz."""

from datetime import timedelta

from ..extensions import db
from ..timeutil import utcnow
from .models import Delivery, WorkerHeartbeat

HEARTBEAT_FRESH = timedelta(minutes=2)


def worker_health():
    """Whether a worker reported in the last two minutes."""
    last = db.session.scalar(db.select(db.func.max(WorkerHeartbeat.seen_at)))
    alive = last is not None and utcnow() - last < HEARTBEAT_FRESH
    return {"ok": alive, "last_seen": last.isoformat() + "Z" if last else None}


def delivery_status_line():
    """ "Last delivery …, N failures in the last hour, M waiting." (or that none happened yet),
    and whether the server is throttling us. One round trip: the page shows it every time.
    """
    hour_ago = utcnow() - timedelta(hours=1)
    count = db.func.count(Delivery.id)
    last, failures, waiting, throttled = db.session.execute(
        db.select(
            db.select(db.func.max(Delivery.sent_at)).scalar_subquery(),
            db.select(count)
            .where(Delivery.status.in_(("retrying", "dead")), Delivery.updated_at >= hour_ago)
            .scalar_subquery(),
            db.select(count)
            .where(Delivery.status.in_(("queued", "sending", "retrying", "held")))
            .scalar_subquery(),
            db.select(Delivery.last_reply)
            .where(
                Delivery.status == "retrying",
                Delivery.last_error == "throttled",
                Delivery.updated_at >= hour_ago,
            )
            .order_by(Delivery.updated_at.desc())
            .limit(1)
            .scalar_subquery(),
        )
    ).one()
    sent = f"Last delivery {last:%Y-%m-%d %H:%M} UTC" if last else "No mail delivered yet"
    failed = f"{failures} failure{'' if failures == 1 else 's'} in the last hour"
    line = f"{sent}, {failed}, {waiting} waiting."
    if throttled:
        line += f" The server is throttling us: {throttled}"
    if waiting and not worker_health()["ok"]:
        line += " No delivery worker has reported in the last 2 minutes: is it running?"
    return line
