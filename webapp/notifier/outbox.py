"""Queueing: a notification and one delivery per recipient, written in one transaction."""

import secrets
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import String, cast, func, insert, literal, or_, select
from sqlalchemy.sql.expression import ClauseElement

from ..auth.models import User
from ..extensions import db
from ..timeutil import utcnow
from .models import SYSTEM_TOPICS, Attachment, Delivery, Notification, Subscription
from .topics import audience_condition
from .wakeup import announce

# Kinds that also reach a system topic, whatever topic the sender named.
KIND_TOPICS = {"task_failure": "task-failures", "resource_alert": "resource-alerts"}


def _message_domain():
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


def subscriber_condition(topic):
    """SQL condition selecting the users who receive ``topic``: active users in its
    audience who subscribed, and for a system topic every admin who has not opted out."""
    chosen = select(Subscription.user_id).where(
        Subscription.topic == topic, Subscription.subscribed.is_(True)
    )
    receives = User.id.in_(chosen)
    if topic in SYSTEM_TOPICS:
        opted_out = select(Subscription.user_id).where(
            Subscription.topic == topic, Subscription.subscribed.is_(False)
        )
        receives = or_(receives, (User.role == "admin") & User.id.not_in(opted_out))
    # A user demoted or taken off the audience after subscribing no longer receives it.
    return User.active.is_(True) & audience_condition(topic) & receives


def find_by_key(idempotency_key):
    """The notification already queued under ``idempotency_key``, or None."""
    return db.session.scalar(
        select(Notification).where(Notification.idempotency_key == idempotency_key)
    )


def recipient_count(notification_id):
    """How many deliveries a notification has."""
    query = select(func.count(Delivery.id)).where(Delivery.notification_id == notification_id)
    return db.session.scalar(query)


def delivery_row(notification_id, recipient, message_id, now, **columns):
    """The column values of one new delivery, queued and due ``now``.

    The values may be SQL expressions: the topic fan-out selects them per subscriber.
    """
    return {
        "notification_id": notification_id,
        "recipient": recipient,
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "message_id": message_id,
        "created_at": now,
        "updated_at": now,
        **columns,
    }


def _sql(value):
    """``value`` as a SQL expression: columns and expressions as they are, the rest literal."""
    return (
        value
        if isinstance(value, ClauseElement) or hasattr(value, "__clause_element__")
        else literal(value)
    )


def _insert_subscribers(nid, topic, now, domain):
    """One INSERT … SELECT of a delivery per subscriber (a topic may have 10,000 of them),
    skipping users an earlier topic of the same notification already reached."""
    message_id = literal(f"<{nid}.u") + cast(User.id, String) + literal(f"@{domain}>")
    row = delivery_row(nid, User.email, message_id, now, user_id=User.id, topic=topic)
    values = [_sql(value) for value in row.values()]
    reached = select(Delivery.user_id).where(
        Delivery.notification_id == nid, Delivery.user_id.is_not(None)
    )
    subscribers = select(*values).where(subscriber_condition(topic), User.id.not_in(reached))
    db.session.execute(insert(Delivery).from_select(list(row), subscribers))


def _insert_named(nid, addresses, now, domain):
    """One executemany of a delivery per named address not already reached by a topic."""
    named = list(dict.fromkeys(address.lower() for address in addresses))
    if not named:
        return
    present = set(
        db.session.scalars(
            select(Delivery.recipient).where(
                Delivery.notification_id == nid, Delivery.recipient.in_(named)
            )
        )
    )
    rows = [
        delivery_row(nid, address, f"<{nid}.a{index}@{domain}>", now)
        for index, address in enumerate(named)
        if address not in present
    ]
    if rows:
        db.session.execute(insert(Delivery), rows)


def enqueue(*, kind, subject, text, created_by, topic=None, to=(), attachments=(), **optional):
    """Queue a notification in the caller's transaction; return ``(notification, recipients)``.

    ``optional``: ``html``, ``data``, ``idempotency_key``. ``attachments``: dicts with
    ``filename``, ``content_type``, ``content`` (bytes), ``inline`` and ``content_id``,
    stored once for every recipient. Subscribers of the topic (and of the kind's system
    topic) come first, then the named addresses they do not cover.
    """
    notification = Notification(
        id=secrets.token_hex(16),
        kind=kind,
        topic=topic,
        subject=subject,
        text=text,
        created_by=created_by,
        **optional,
    )
    for position, attachment in enumerate(attachments):
        content = attachment["content"]
        notification.attachments.append(
            Attachment(position=position, size=len(content), **attachment)
        )
    db.session.add(notification)
    db.session.flush()
    now, domain = utcnow(), _message_domain()
    for reached_by in dict.fromkeys(t for t in (topic, KIND_TOPICS.get(kind)) if t):
        _insert_subscribers(notification.id, reached_by, now, domain)
    _insert_named(notification.id, to, now, domain)
    announce()  # idle workers wake when this transaction commits
    return notification, recipient_count(notification.id)
