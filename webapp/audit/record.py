"""The one way to record an audit event, in the caller's transaction."""

import json
import logging

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import select, text

from ..database import is_postgresql
from ..extensions import db
from ..timeutil import utcnow
from .anchor import anchor_after_commit, chain_key
from .models import GENESIS, AuditEvent

log = logging.getLogger("webapp.audit")

SECRET_MARKERS = ("set", "changed", "cleared")
_SECRET_WORDS = ("password", "secret", "token", "key")
# Any constant works; it only has to be the same for every writer of the chain.
_PG_CHAIN_LOCK = 0x5A0D17


def secret_change(old_present, new_present):
    """The only value a secret field may have in an audit event."""
    if not new_present:
        return "cleared"
    return "changed" if old_present else "set"


def diff(old, new):
    """``{field: [old, new]}`` for the fields whose values differ between two dicts."""
    fields = sorted(set(old) | set(new))
    return {f: [old.get(f), new.get(f)] for f in fields if old.get(f) != new.get(f)}


def _check_no_secrets(changes):
    for field, value in changes.items():
        if any(word in field.lower() for word in _SECRET_WORDS) and value not in SECRET_MARKERS:
            # Refuse loudly (without echoing the value): a secret must never reach the log.
            raise ValueError(
                f"audit field {field!r} looks secret; record it as set/changed/cleared"
            )


def _actor_fields(actor):
    if isinstance(actor, str):
        return None, actor
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    if actor is None:
        return None, "anonymous" if has_request_context() else "system"
    return actor.id, actor.email


def _client():
    if not has_request_context():
        return "", ""
    agent = request.headers.get("User-Agent", "")[:255]
    return (request.remote_addr or "")[:45], agent


def _lock_chain_head():
    # SQLite writers already hold the database write lock (BEGIN IMMEDIATE); PostgreSQL
    # needs a transaction-scoped lock so two writers never read the same head.
    if is_postgresql():
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})
    row = db.session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (row.id, row.hash) if row else (0, GENESIS)


def record_event(action, target="", changes=None, actor=None):
    """Add an audit event to the current transaction; the caller commits it with its change.

    ``actor`` is a user, a name such as ``"system"`` or ``"token:etl"``, or None for the
    logged-in user. ``changes`` maps field to ``[old, new]``; secrets only as markers.
    """
    changes = changes or {}
    _check_no_secrets(changes)
    actor_id, actor_name = _actor_fields(actor)
    ip, agent = _client()
    last_id, last_hash = _lock_chain_head()
    entry = AuditEvent(
        id=last_id + 1,
        created_at=utcnow(),
        actor_id=actor_id,
        actor=(actor_name or "")[:254],
        action=action,
        target=str(target or "")[:255],
        changes=json.dumps(changes, ensure_ascii=False, sort_keys=True, default=str),
        ip=ip,
        user_agent=agent,
        prev_hash=last_hash,
    )
    entry.hash = entry.compute_hash(chain_key())
    db.session.add(entry)
    db.session.flush()
    anchor_after_commit(db.session(), entry.id, entry.hash)
    # %r escapes CR/LF, so user-supplied text cannot forge a log line.
    log.info("audit %s actor=%r target=%r ip=%s", action, entry.actor, entry.target, ip)
    return entry
