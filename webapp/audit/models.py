"""The audit event row: append-only, each one chained to the one before by its HMAC."""

import hashlib
import hmac
import json

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db

GENESIS = "0" * 64


class AuditEvent(db.Model):
    """One recorded change or security event; never updated, never deleted."""

    __tablename__ = "audit_events"

    # Assigned by the writer (last id + 1) under the chain lock, so it is part of the hash.
    id = db.Column(db.Integer, primary_key=True, autoincrement=False)
    created_at = db.Column(db.DateTime, nullable=False, index=True)
    actor_id = db.Column(db.Integer)  # no foreign key: deleting a user must not touch history
    actor = db.Column(db.String(254), nullable=False)
    action = db.Column(db.String(64), nullable=False)
    target = db.Column(db.String(255), nullable=False, default="")
    changes = db.Column(db.Text, nullable=False, default="{}")  # canonical JSON
    ip = db.Column(db.String(45), nullable=False, default="")
    user_agent = db.Column(db.String(255), nullable=False, default="")
    # Unique: two writers that read the same head cannot both append after it.
    # Both hold hex HMAC-SHA256 values under AUDIT_HMAC_KEY (migration 0009).
    prev_hash = db.Column(db.String(64), nullable=False, unique=True)
    hash = db.Column(db.String(64), nullable=False, unique=True)

    # Filtered pages read "newest first where actor/action = x": these serve them directly.
    __table_args__ = (
        db.Index("ix_audit_events_action_id", "action", "id"),
        db.Index("ix_audit_events_actor_id", "actor", "id"),
        # An actor or action combined with a date range reads only the range's rows.
        db.Index("ix_audit_events_action_created", "action", "created_at"),
        db.Index("ix_audit_events_actor_created", "actor", "created_at"),
    )

    def __repr__(self):
        return f"<AuditEvent {self.id} {self.action}>"

    @property
    def changes_dict(self):
        """The changes as ``{field: [old, new]}``."""
        return json.loads(self.changes or "{}")

    def compute_hash(self, key):
        """HMAC-SHA256 under ``key`` of this event's content and the previous event's hash."""
        return hmac.new(key, canonical_content(self), hashlib.sha256).hexdigest()


def canonical_content(row):
    """The bytes an event's hash covers: every column but the hash, in a fixed order."""
    content = [
        row.id,
        row.created_at.isoformat(timespec="microseconds"),
        row.actor_id,
        row.actor,
        row.action,
        row.target,
        row.changes,
        row.ip,
        row.user_agent,
        row.prev_hash,
    ]
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def plain_digest(row):
    """The keyless SHA-256 of the chain before HMAC: only to name a forgery as such."""
    return hashlib.sha256(canonical_content(row)).hexdigest()


class AuditImmutableError(RuntimeError):
    """Raised when code tries to change or remove an audit event."""


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_change(_mapper, _connection, target):
    raise AuditImmutableError(f"audit event {target.id} is append-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_change(state):
    if state.is_update or state.is_delete:
        mapper = state.bind_arguments.get("mapper")
        if mapper is not None and mapper.class_ is AuditEvent:
            raise AuditImmutableError("audit events are append-only")
