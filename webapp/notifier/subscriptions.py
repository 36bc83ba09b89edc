"""Who receives which topic: subscribing, removing and system-topic opt-outs, audited."""

from ..audit.record import record_event
from ..extensions import db
from .models import SYSTEM_TOPICS, Subscription


def find_subscription(user_id, topic):
    """The row holding ``user_id``'s choice about ``topic``, or None."""
    return db.session.scalar(
        db.select(Subscription).where(Subscription.user_id == user_id, Subscription.topic == topic)
    )


def receives(user, topic, row=None):
    """True when ``user`` gets mail for ``topic`` (admins get system topics unless opted out)."""
    row = row if row is not None else find_subscription(user.id, topic)
    if row is not None:
        return bool(row.subscribed)
    return topic in SYSTEM_TOPICS and user.is_admin


def own_topics(user):
    """The non-system topics ``user`` is subscribed to, alphabetically."""
    return db.session.scalars(
        db.select(Subscription)
        .where(
            Subscription.user_id == user.id,
            Subscription.subscribed.is_(True),
            Subscription.topic.not_in(SYSTEM_TOPICS),
        )
        .order_by(Subscription.topic)
    ).all()


def system_topics(user):
    """``[(topic, receives)]`` for the system topics, as they apply to an administrator."""
    return [(topic, receives(user, topic)) for topic in SYSTEM_TOPICS]


def set_subscription(user, topic, subscribed, actor=None):
    """Make ``user`` receive ``topic`` or not, recording ``subscription.updated``.

    The caller has validated the change and commits. Returns False when nothing changed.
    A system topic is "in" by default for admins: opting out stores ``subscribed=False``
    and opting back in deletes that row; for other topics a row means subscribed.
    """
    row = find_subscription(user.id, topic)
    before = receives(user, topic, row)
    if before == subscribed:
        return False
    default = topic in SYSTEM_TOPICS and user.is_admin
    if subscribed == default:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(Subscription(user_id=user.id, topic=topic, subscribed=subscribed))
    else:
        row.subscribed = subscribed
    db.session.flush()
    change = [None, user.email] if subscribed else [user.email, None]
    record_event("subscription.updated", target=topic, changes={"subscriber": change}, actor=actor)
    return True
