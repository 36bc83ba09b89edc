"""Someone who can write the database cannot rewrite, cut or trim the audit chain unseen."""

import hashlib
import json
import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from flask_migrate import downgrade, upgrade

from webapp.audit.models import AuditEvent
from webapp.audit.record import record_event
from webapp.database import write_transaction
from webapp.extensions import db

from ..helpers import audit_rows, tamper_audit

PROJECT = Path(__file__).resolve().parents[2]
BEFORE_HMAC = "0008_topics_attachments"
GENESIS = "0" * 64


def _plain_sha256(row, prev_hash):
    """The keyless hash the chain used before HMAC: anyone can compute it."""
    content = [
        row["id"],
        row["created_at"].isoformat(timespec="microseconds"),
        row["actor_id"],
        row["actor"],
        row["action"],
        row["target"],
        row["changes"],
        row["ip"],
        row["user_agent"],
        prev_hash,
    ]
    return hashlib.sha256(
        json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ).hexdigest()


def _stored(app):
    with app.app_context(), db.engine.connect() as conn:
        query = db.select(AuditEvent.__table__).order_by(AuditEvent.id)
        return [dict(row) for row in conn.execute(query).mappings()]


def _verify(app):
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def _anchor_lines(app):
    return Path(app.config["AUDIT_ANCHOR_FILE"]).read_text().splitlines()


def _record_many(record, count):
    return [record("user.updated", target=f"user{n}@example.com") for n in range(count)]


def test_an_edit_with_plain_hashes_recomputed_is_caught(app, record):
    _record_many(record, 5)
    rows = _stored(app)
    rows[2]["changes"] = '{"role": ["member", "admin"]}'
    prev, updates = rows[1]["hash"], []
    for row in rows[2:]:  # the attacker re-links and re-hashes everything after the edit
        row["prev_hash"], row["hash"] = prev, _plain_sha256(row, prev)
        prev = row["hash"]
        updates.append({k: row[k] for k in ("id", "changes", "prev_hash", "hash")})
    tamper_audit(
        app,
        (
            "UPDATE audit_events SET changes = :changes, prev_hash = :prev_hash, hash = :hash "
            "WHERE id = :id",
            updates,
        ),
    )
    code, output = _verify(app)
    assert code == 1
    assert "after 2 good events" in output and "event #3" in output
    assert "plain SHA-256 recomputed without AUDIT_HMAC_KEY (the event was rewritten)" in output


def test_deleting_the_newest_events_is_caught(app, record):
    _record_many(record, 5)
    tamper_audit(app, "DELETE FROM audit_events WHERE id >= 4")
    code, output = _verify(app)
    assert code == 1
    assert "events #4..#5 are missing" in output
    assert "the log ends at #3 (the newest events were deleted)" in output


def test_deleting_every_event_is_caught(app, record):
    _record_many(record, 3)
    tamper_audit(app, "DELETE FROM audit_events")
    code, output = _verify(app)
    assert code == 1 and "events #1..#3 are missing" in output


def test_deleting_the_newest_events_then_writing_on_is_caught(app, record):
    _record_many(record, 5)
    tamper_audit(app, "DELETE FROM audit_events WHERE id >= 4")
    _record_many(record, 3)  # the app goes on: new, validly chained #4, #5 and #6
    code, output = _verify(app)
    assert code == 1
    assert "the anchor file names two different events #4: events were deleted" in output


def test_events_replaced_on_another_machine_are_caught(make_app, app, record, tmp_path):
    _record_many(record, 5)
    tamper_audit(app, "DELETE FROM audit_events WHERE id >= 4")
    elsewhere = make_app(AUDIT_ANCHOR_FILE=str(tmp_path / "other_machine_anchor"))
    for n in range(2):  # a second app machine, with its own anchor file, writes #4 and #5
        with elsewhere.app_context(), write_transaction():
            record_event("user.updated", target=f"other{n}", actor="system")
    code, output = _verify(app)
    assert code == 1
    assert "event #4: it is not the event the anchor file recorded under this number" in output


def test_deleting_from_the_middle_is_caught(app, record):
    _record_many(record, 5)
    tamper_audit(app, "DELETE FROM audit_events WHERE id IN (2, 3)")
    code, output = _verify(app)
    assert code == 1 and "event #4: events #2..#3 were removed" in output


def test_a_damaged_anchor_file_is_reported(app, record):
    _record_many(record, 2)
    with open(app.config["AUDIT_ANCHOR_FILE"], "a") as anchor:
        anchor.write("3 not-a-digest\n")
    code, output = _verify(app)
    assert code == 1 and "the anchor file is damaged at line 3" in output


def test_verify_with_another_key_names_the_key(make_app, app, record):
    _record_many(record, 2)
    other = make_app(AUDIT_HMAC_KEY="another-key-that-is-long-enough-0123456789")
    code, output = _verify(other)
    assert code == 1
    assert "event #1" in output and "AUDIT_HMAC_KEY is not the key" in output


def test_each_committed_event_is_anchored_in_a_file_and_the_log(app, record, caplog):
    caplog.set_level(logging.INFO, logger="webapp.audit")
    _record_many(record, 3)
    rows = _stored(app)
    assert _anchor_lines(app) == [f"{row['id']} {row['hash']}" for row in rows]
    assert os.stat(app.config["AUDIT_ANCHOR_FILE"]).st_mode & 0o777 == 0o600
    assert f"audit anchor #3 {rows[2]['hash']}" in caplog.text
    code, output = _verify(app)
    assert code == 0 and "3 events checked, 3 of them anchored" in output


def test_a_rolled_back_event_is_not_anchored(app, record):
    with app.app_context():
        record_event("user.updated", target="rolled back", actor="system")
        db.session.rollback()
        savepoint = db.session.begin_nested()
        record_event("user.updated", target="savepoint rolled back", actor="system")
        savepoint.rollback()
        record_event("user.updated", target="kept", actor="system")
        db.session.commit()
    rows = _stored(app)
    assert [row["target"] for row in rows] == ["kept"]
    assert _anchor_lines(app) == [f"1 {rows[0]['hash']}"]
    assert _verify(app)[0] == 0


def test_an_unwritable_anchor_file_is_logged_and_the_change_still_made(make_app, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="webapp.audit")
    app = make_app(AUDIT_ANCHOR_FILE=str(tmp_path / "no-such-folder" / "audit_anchor"))
    with app.app_context(), write_transaction():
        record_event("user.updated", target="kept", actor="system")
    assert [row["target"] for row in _stored(app)] == ["kept"]
    assert "audit anchor file not written" in caplog.text
    assert f"audit anchor #1 {_stored(app)[0]['hash']}" in caplog.text


def test_processes_writing_at_once_keep_the_anchor_whole(app, record):
    record("user.updated", target="first")  # the schema is in place before the writers start
    script = (
        "import sys\n"
        "from webapp import create_app\n"
        "from webapp.audit.record import record_event\n"
        "from webapp.database import write_transaction\n"
        "app = create_app()\n"
        "for i in range(10):\n"
        "    with app.app_context(), write_transaction():\n"
        "        record_event('user.updated', target=f'{sys.argv[1]}-{i}', actor='system')\n"
    )
    env = {**os.environ, "INSTANCE_PATH": app.instance_path}
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(n)], cwd=PROJECT, env=env)
        for n in range(4)
    ]
    assert [w.wait(120) for w in writers] == [0, 0, 0, 0]
    lines = _anchor_lines(app)
    assert len(lines) == 41 and len(set(lines)) == 41
    assert sorted(int(line.split()[0]) for line in lines) == list(range(1, 42))
    code, output = _verify(app)
    assert code == 0 and "41 events checked, 41 of them anchored" in output


# -- the migration to HMAC -------------------------------------------------------------------


def _at_revision(app, revision):
    with app.app_context():
        directory = app.extensions["migrate"].directory
        if revision == "head":
            upgrade(directory=directory)
        else:
            downgrade(directory=directory, revision=revision)
        db.session.remove()


def _insert_plain_chain(app, count, edit_after_hashing=None):
    rows, prev = [], GENESIS
    for n in range(1, count + 1):
        row = {
            "id": n,
            "created_at": datetime(2026, 11, 1, 9, n, 0, 123456),
            "actor_id": None,
            "actor": "system",
            "action": "user.updated",
            "target": f"legacy{n}",
            "changes": "{}",
            "ip": "",
            "user_agent": "",
        }
        row["prev_hash"], row["hash"] = prev, _plain_sha256(row, prev)
        prev = row["hash"]
        rows.append(row)
    if edit_after_hashing:
        rows[edit_after_hashing - 1]["target"] = "edited before the upgrade"
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(db.insert(AuditEvent.__table__), rows)


def test_events_recorded_before_the_upgrade_stay_verifiable(app, record):
    try:
        _at_revision(app, BEFORE_HMAC)
        _insert_plain_chain(app, 4)
    finally:
        _at_revision(app, "head")
    code, output = _verify(app)
    assert code == 0 and "4 events checked" in output, output
    record("user.updated", target="after the upgrade")  # the chain goes on from there
    code, output = _verify(app)
    assert code == 0 and "5 events checked, 1 of them anchored" in output


def test_a_break_before_the_upgrade_is_still_reported_after_it(app):
    try:
        _at_revision(app, BEFORE_HMAC)
        _insert_plain_chain(app, 4, edit_after_hashing=3)
    finally:
        _at_revision(app, "head")
    code, output = _verify(app)
    assert code == 1 and "after 2 good events: event #3" in output


def test_downgrade_and_upgrade_keep_the_chain_and_its_anchors(app, record):
    _record_many(record, 3)
    hmacs = [row["hash"] for row in _stored(app)]
    try:
        _at_revision(app, BEFORE_HMAC)
        rows = _stored(app)
        prev = GENESIS
        for row in rows:  # back to the keyless chain the old code verifies
            assert row["prev_hash"] == prev and row["hash"] == _plain_sha256(row, prev)
            prev = row["hash"]
    finally:
        _at_revision(app, "head")
    assert [row["hash"] for row in _stored(app)] == hmacs
    code, output = _verify(app)
    assert code == 0 and "3 events checked, 3 of them anchored" in output
    assert len(audit_rows(app)) == 3
