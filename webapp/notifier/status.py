"""Delivery health in one sentence, for the Email Service page and /healthz."""

from datetime import timedelta

from flask_babel import gettext, ngettext

from ..extensions import db
from ..i18n import local_time
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
    if last:
        sent = gettext("Last delivery %(time)s", time=local_time(last, zone=True))
    else:
        sent = gettext("No mail delivered yet")
    failed = ngettext(
        "%(num)d failure in the last hour", "%(num)d failures in the last hour", failures
    )
    line = gettext("%(sent)s, %(failed)s, %(waiting)d waiting.", sent=sent, failed=failed,
                   waiting=waiting)  # fmt: skip
    if throttled:
        line += " " + gettext("The server is throttling us: %(reply)s", reply=throttled)
    if waiting and not worker_health()["ok"]:
        line += " " + gettext(
            "No delivery worker has reported in the last 2 minutes: is it running?"
        )
    return line
