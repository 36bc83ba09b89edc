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
    """ "Last delivery …, N failures in the last hour, M waiting." (or that none happened yet)."""
    last = db.session.scalar(db.select(db.func.max(Delivery.sent_at)))
    hour_ago = utcnow() - timedelta(hours=1)
    failures = db.session.scalar(
        db.select(db.func.count(Delivery.id)).where(
            Delivery.status.in_(("retrying", "dead")), Delivery.updated_at >= hour_ago
        )
    )
    waiting = db.session.scalar(
        db.select(db.func.count(Delivery.id)).where(
            Delivery.status.in_(("queued", "sending", "retrying", "held"))
        )
    )
    sent = f"Last delivery {last:%Y-%m-%d %H:%M} UTC" if last else "No mail delivered yet"
    failed = f"{failures} failure{'' if failures == 1 else 's'} in the last hour"
    worker = ""
    if waiting and not worker_health()["ok"]:
        worker = " No delivery worker has reported in the last 2 minutes: is it running?"
    return f"{sent}, {failed}, {waiting} waiting.{worker}"
