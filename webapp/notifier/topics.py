"""The topic catalogue: what the platform sends mail about, and who may see each topic."""

import re

from flask_babel import gettext
from sqlalchemy import exists, not_, or_, select

from ..audit.record import diff, record_event
from ..auth.models import User
from ..extensions import db
from ..timeutil import utcnow
from .labels import SYSTEM_TOPIC_TITLES
from .models import SYSTEM_TOPICS, Topic, TopicAudience

TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9:._-]{0,99}")


def topic_name_problem(name):
    """Why ``name`` cannot be a topic's name, or None."""
    if not TOPIC_NAME.fullmatch(name):  # fullmatch: "card:42\n" is not a name
        return gettext(
            "Lower-case letters, digits and : . _ - (at most 100), "
            "e.g. card:42, page:sales-overview or task:nightly-etl."
        )
    return None


def web_address_problem(url):
    """Why ``url`` cannot be a topic's link, or None: only http(s) links go into mail."""
    if url and not url.lower().startswith(("https://", "http://")):
        return gettext("Give an address starting with https:// or http://.")
    return None


def kind_problem(name, kind):
    """Why ``name`` cannot be of ``kind``, or None: the system topics are fixed."""
    if (kind == "system") != (name in SYSTEM_TOPICS):
        return gettext("Only task-failures and resource-alerts are system topics.")
    return None


def find_topic(name):
    """The registered topic called ``name``, or None."""
    return db.session.get(Topic, name) if name else None


def _audience_includes(topic, role, email):
    # An empty audience means every user; otherwise a listed role or a listed email.
    entries = select(TopicAudience.id).where(TopicAudience.topic == topic)
    matching = entries.where(or_(TopicAudience.role == role, TopicAudience.email == email))
    return or_(not_(exists(entries)), exists(matching))


def audience_condition(topic_name):
    """SQL condition on ``User``: the user is in the audience of ``topic_name``."""
    return _audience_includes(topic_name, User.role, User.email)


def in_audience(user, topic):
    """True when ``user`` may see, subscribe to and receive ``topic``."""
    if not topic.audience:
        return True
    return user.role in topic.roles or user.email in topic.users


def visible_topics(user, search=""):
    """The topics ``user`` may see, optionally those whose name or title contain ``search``."""
    query = select(Topic).where(Topic.kind != "system").order_by(Topic.title, Topic.name)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(Topic.name.ilike(pattern, escape="\\"), Topic.title.ilike(pattern, escape="\\"))
        )
    query = query.where(_audience_includes(Topic.name, user.role, user.email))
    return db.session.scalars(query).all()


def all_topics():
    """Every registered topic, system topics first, then by name."""
    return db.session.scalars(select(Topic).order_by(Topic.kind != "system", Topic.name)).all()


def titles(names):
    """``{name: title}`` for the registered topics among ``names``."""
    if not names:
        return {}
    rows = db.session.execute(select(Topic.name, Topic.title).where(Topic.name.in_(names)))
    return dict(rows.all())


def _described(topic):
    if topic is None:
        return {}
    return {
        "title": topic.title,
        "url": topic.url,
        "kind": topic.kind,
        "roles": sorted(topic.roles),
        "users": sorted(topic.users),
    }


# The stored (English) titles, as migration 0008 registers them.
SYSTEM_TITLES = dict(SYSTEM_TOPIC_TITLES.keys())


def ensure_system_topics():
    """Put back the system topics as migration 0008 registers them, if they are missing
    (a database emptied table by table); the caller commits."""
    for name, title in SYSTEM_TITLES.items():
        if find_topic(name) is None:
            audience = [TopicAudience(role="admin")]
            db.session.add(Topic(name=name, title=title, kind="system", audience=audience))


def save_topic(name, *, title, url, kind, roles, users, actor):
    """Register ``name`` or update it, recording ``topic.registered`` or ``topic.updated``.

    The caller has validated the values and commits. Returns ``(topic, created)``.
    """
    topic = find_topic(name)
    before = _described(topic)
    created = topic is None
    if created:
        topic = Topic(name=name, created_at=utcnow())
        db.session.add(topic)
    topic.title, topic.url, topic.kind, topic.updated_at = title, url or None, kind, utcnow()
    wanted = {(role, None) for role in roles} | {(None, email) for email in users}
    present = {(entry.role, entry.email): entry for entry in topic.audience}
    for key, entry in present.items():
        if key not in wanted:
            topic.audience.remove(entry)
    for role, email in sorted(wanted - set(present), key=str):
        topic.audience.append(TopicAudience(role=role, email=email))
    db.session.flush()
    changes = diff(before, _described(topic))
    if created or changes:
        action = "topic.registered" if created else "topic.updated"
        record_event(action, target=name, changes=changes, actor=actor)
    return topic, created
