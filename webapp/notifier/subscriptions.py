"""Who receives which topic: subscribing, removing and system-topic opt-outs, audited."""

from ..audit.record import diff, record_event
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


def _listed(row, email):
    """Which list a row puts its user on: subscribers, or (system topics) opted out."""
    if row is None:
        return {}
    return {"subscriber" if row.subscribed else "opted_out": email}


def _record(topic, before, after, actor, action="subscription.updated"):
    record_event(action, target=topic, changes=diff(before, after), actor=actor)


def set_subscription(user, topic, subscribed, actor=None, action="subscription.updated"):
    """Make ``user`` receive ``topic`` or not, recording ``action`` (``subscription.updated``).

    The caller has validated the change and commits. Returns False when nothing changed.
    A system topic is "in" by default for admins: opting out stores ``subscribed=False``
    and opting back in deletes that row; for other topics a row means subscribed.
    """
    row = find_subscription(user.id, topic)
    if receives(user, topic, row) == subscribed:
        return False
    before = _listed(row, user.email)
    default = topic in SYSTEM_TOPICS and user.is_admin
    if subscribed == default:
        if row is not None:
            db.session.delete(row)
        row = None
    elif row is None:
        row = Subscription(user_id=user.id, topic=topic, subscribed=subscribed)
        db.session.add(row)
    else:
        row.subscribed = subscribed
    db.session.flush()
    _record(topic, before, _listed(row, user.email), actor, action)
    return True


def delete_choice(row, user, actor=None):
    """Delete a subscription or an opt-out row, recording ``subscription.updated``."""
    before = _listed(row, user.email)
    db.session.delete(row)
    db.session.flush()
    _record(row.topic, before, {}, actor)
