"""Audit chain under HMAC-SHA256: existing events re-chained with ``AUDIT_HMAC_KEY``.

Until now each event's ``hash`` was a plain SHA-256 of its content and the previous hash,
so anyone who could write the database could edit an event and recompute every hash
after it. From here on the chain is an HMAC-SHA256 under ``AUDIT_HMAC_KEY``, a key kept
outside the database (the app's configuration; the migration reads it from there).

Existing events are re-chained rather than left under the old scheme with a marker
column: a per-row "scheme" column would itself live in the database, and an attacker
could mark every row as plain SHA-256 and forge them all again. With one scheme for the
whole table there is nothing to downgrade. Re-chaining is only safe for a chain that is
intact, so the old SHA-256 chain is checked first and only its intact prefix is
re-chained: events from the first break on keep their old hashes, and ``audit verify``
keeps reporting that break instead of this migration sealing it.

The content and order hashed are frozen here as they were when this ran (the model may
change later); the triggers that keep the table append-only are lifted only inside this
transaction. Downgrade re-chains the same way back to plain SHA-256. Set the key shared by
every machine (``AUDIT_HMAC_KEY``) before upgrading, or the one generated into this
machine's instance folder is used. The anchor file outside the database starts with the
next event recorded.

Revision ID: 0009_audit_hmac
Revises: 0008_topics_attachments
Create Date: 2026-11-28
"""

import hashlib
import hmac
import json
import logging

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = "0009_audit_hmac"
down_revision = "0008_topics_attachments"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
GENESIS = "0" * 64
BATCH = 2000
HASHED = ("id", "created_at", "actor_id", "actor", "action", "target", "changes", "ip",
          "user_agent", "prev_hash")  # fmt: skip
events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("actor_id", sa.Integer),
    *(sa.column(name, sa.Text) for name in HASHED[3:]),
    sa.column("hash", sa.Text),
)
SQLITE_TRIGGERS = {
    "audit_events_no_update": """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON
        audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    "audit_events_no_delete": """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON
        audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
}


def _content(row, prev_hash):
    values = {**row, "prev_hash": prev_hash}
    values["created_at"] = values["created_at"].isoformat(timespec="microseconds")
    content = [values[name] for name in HASHED]
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _sha256(_key, content):
    return hashlib.sha256(content).hexdigest()


def _hmac(key, content):
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _rows(bind):
    """Every event in id order, read a batch at a time."""
    last = 0
    while True:
        query = sa.select(events).where(events.c.id > last).order_by(events.c.id).limit(BATCH)
        batch = [dict(row) for row in bind.execute(query).mappings()]
        if not batch:
            return
        yield from batch
        last = batch[-1]["id"]


def _new_links(bind, key, old, new):
    """``(id, prev_hash, hash)`` under ``new`` for the prefix of the chain intact under ``old``."""
    expected_id, old_prev, new_prev = 1, GENESIS, GENESIS
    for row in _rows(bind):
        intact = (
            row["id"] == expected_id
            and row["prev_hash"] == old_prev
            and old(key, _content(row, row["prev_hash"])) == row["hash"]
        )
        if not intact:
            log.warning(
                "audit chain already broken at event #%d: it and later events keep their "
                "old hashes, so audit verify goes on reporting the break",
                row["id"],
            )
            return
        new_hash = new(key, _content(row, new_prev))
        yield row["id"], new_prev, new_hash
        expected_id, old_prev, new_prev = row["id"] + 1, row["hash"], new_hash


def _lift_triggers(postgresql):
    if postgresql:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")


def _restore_triggers(postgresql):
    if postgresql:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change")
    else:
        for statement in SQLITE_TRIGGERS.values():
            op.execute(statement)


def _write(bind, links):
    update = (
        sa.update(events)
        .where(events.c.id == sa.bindparam("row_id"))
        .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash"))
    )
    if links:
        bind.execute(update, [{"row_id": i, "new_prev": p, "new_hash": h} for i, p, h in links])


def _rechain(old, new):
    bind = op.get_bind()
    key = current_app.config["AUDIT_HMAC_KEY"].encode("utf-8")
    postgresql = bind.dialect.name == "postgresql"
    _lift_triggers(postgresql)
    batch, count = [], 0
    # Each batch is read (ids above the last one read) before any of it is rewritten.
    for link in _new_links(bind, key, old, new):
        batch.append(link)
        if len(batch) == BATCH:
            _write(bind, batch)
            count, batch = count + len(batch), []
    _write(bind, batch)
    _restore_triggers(postgresql)
    log.info("audit chain: %d events re-chained", count + len(batch))


def upgrade():
    _rechain(_sha256, _hmac)


def downgrade():
    _rechain(_hmac, _sha256)
