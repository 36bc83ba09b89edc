"""The audit event row: append-only, each one chained to the one before by its hash."""

import hashlib
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

    def compute_hash(self):
        """SHA-256 of this event's canonical content and the previous event's hash."""
        content = [
            self.id,
            self.created_at.isoformat(timespec="microseconds"),
            self.actor_id,
            self.actor,
            self.action,
            self.target,
            self.changes,
            self.ip,
            self.user_agent,
            self.prev_hash,
        ]
        canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
