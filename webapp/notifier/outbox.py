"""Queueing: a notification and one delivery per recipient, written in one transaction."""

import secrets
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import String, cast, func, insert, literal, or_, select

from ..auth.models import User
from ..extensions import db
from ..timeutil import utcnow
from .models import SYSTEM_TOPICS, Delivery, Notification, Subscription

# Kinds that also reach a system topic, whatever topic the sender named.
KIND_TOPICS = {"task_failure": "task-failures", "resource_alert": "resource-alerts"}


def _message_domain():
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


def subscriber_condition(topics):
    """SQL condition selecting the users who receive ``topics``: subscribers, and for
    system topics every admin who has not opted out."""
    chosen = select(Subscription.user_id).where(
        Subscription.topic.in_(topics), Subscription.subscribed.is_(True)
    )
    conditions = [User.id.in_(chosen)]
    for topic in set(topics) & set(SYSTEM_TOPICS):
        opted_out = select(Subscription.user_id).where(
            Subscription.topic == topic, Subscription.subscribed.is_(False)
        )
        conditions.append((User.role == "admin") & User.id.not_in(opted_out))
    return User.active.is_(True) & or_(*conditions)


def find_by_key(idempotency_key):
    """The notification already queued under ``idempotency_key``, or None."""
    return db.session.scalar(
        select(Notification).where(Notification.idempotency_key == idempotency_key)
    )


def recipient_count(notification_id):
    """How many deliveries a notification has."""
    query = select(func.count(Delivery.id)).where(Delivery.notification_id == notification_id)
    return db.session.scalar(query)


def enqueue(
    *,
    kind,
    subject,
    text,
    created_by,
    html=None,
    topic=None,
    to=(),
    data=None,
    idempotency_key=None,
):
    """Queue a notification in the caller's transaction; return ``(notification, recipients)``.

    Topic subscribers are inserted with one INSERT … SELECT (a topic may have 10,000 of
    them); named addresses not already covered follow in one executemany.
    """
    notification = Notification(
        id=secrets.token_hex(16),
        kind=kind,
        topic=topic,
        subject=subject,
        text=text,
        html=html,
        data=data,
        idempotency_key=idempotency_key,
        created_by=created_by,
    )
    db.session.add(notification)
    db.session.flush()
    now, domain, nid = utcnow(), _message_domain(), notification.id
    topics = [t for t in (topic, KIND_TOPICS.get(kind)) if t]
    if topics:
        message_id = literal(f"<{nid}.u") + cast(User.id, String) + literal(f"@{domain}>")
        subscribers = select(
            literal(nid),
            User.email,
            User.id,
            literal("queued"),
            literal(0),
            literal(now),
            message_id,
            literal(now),
            literal(now),
        ).where(subscriber_condition(topics))
        columns = [
            "notification_id", "recipient", "user_id", "status", "attempts",
            "next_attempt_at", "message_id", "created_at", "updated_at",
        ]  # fmt: skip
        db.session.execute(insert(Delivery).from_select(columns, subscribers))
    named = list(dict.fromkeys(address.lower() for address in to))
    if named:
        present = set(
            db.session.scalars(
                select(Delivery.recipient).where(
                    Delivery.notification_id == nid, Delivery.recipient.in_(named)
                )
            )
        )
        rows = [
            {
                "notification_id": nid,
                "recipient": address,
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "message_id": f"<{nid}.a{index}@{domain}>",
                "created_at": now,
                "updated_at": now,
            }
            for index, address in enumerate(named)
            if address not in present
        ]
        if rows:
            db.session.execute(insert(Delivery), rows)
    return notification, recipient_count(nid)
