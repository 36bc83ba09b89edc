"""Reading the delivery log and sending a dead delivery again."""

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import contains_eager

from ..audit.record import record_event
from ..extensions import db
from ..listing import within_dates
from ..timeutil import utcnow
from .models import STATUSES, Delivery, Notification

RECENT = timedelta(hours=24)


def filtered_select(form):
    """Newest-first SELECT of the deliveries (with their notification) matching the filters."""
    query = (
        select(Delivery)
        .join(Delivery.notification)
        .options(contains_eager(Delivery.notification))
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
    )
    if form.status.data:
        query = query.where(Delivery.status == form.status.data)
    if form.kind.data:
        query = query.where(Notification.kind == form.kind.data)
    if form.recipient.data:
        query = query.where(Delivery.recipient == form.recipient.data)
    return within_dates(query, Delivery.created_at, form.since.data, form.until.data)


def recent_counts():
    """``{status: n}`` for every status, over the deliveries created in the last 24 hours."""
    rows = db.session.execute(
        select(Delivery.status, func.count(Delivery.id))
        .where(Delivery.created_at >= utcnow() - RECENT)
        .group_by(Delivery.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: count for status, count in rows})
    return counts


def resend(delivery, actor=None):
    """Queue a dead delivery again, keeping its attempts and last error; False if not dead.

    The UPDATE is conditional, so two admins pressing Resend at once queue it once.
    """
    now, recipient = utcnow(), delivery.recipient
    result = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == "dead")
        .values(
            status="queued",
            next_attempt_at=now,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.expire(delivery)
    record_event(
        "delivery.resent",
        target=recipient,
        changes={"status": ["dead", "queued"]},
        actor=actor,
    )
    return True
