"""Append-only for real, same-transaction recording, and a chain that shows tampering."""

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from webapp.audit.models import AuditEvent, AuditImmutableError
from webapp.audit.record import record_event
from webapp.auth.models import User
from webapp.database import write_transaction
from webapp.extensions import db

from ..helpers import audit_rows, post_form, tamper_audit


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET target = 'x'", "DELETE FROM audit_events"],
)
def test_database_triggers_refuse_update_and_delete(app, record, statement):
    record("user.updated", target="someone")
    with app.app_context():
        with pytest.raises(DatabaseError) as excinfo, db.engine.begin() as conn:
            conn.execute(text(statement))
        assert "append-only" in str(excinfo.value)
        assert db.session.scalar(db.select(AuditEvent.target)) == "someone"


def test_orm_refuses_update_and_delete(app, record):
    event_id = record("user.updated", target="someone")
    with app.app_context():
        event = db.session.get(AuditEvent, event_id)
        event.target = "changed"
        with pytest.raises(AuditImmutableError):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(AuditImmutableError):
            db.session.delete(db.session.get(AuditEvent, event_id))
            db.session.flush()
        db.session.rollback()
        with pytest.raises(AuditImmutableError):
            db.session.execute(db.delete(AuditEvent))
        db.session.rollback()
    assert audit_rows(app)[0]["target"] == "someone"


def test_change_rolled_back_takes_its_event_with_it(app):
    with app.test_request_context(), pytest.raises(RuntimeError):
        try:
            db.session.add(User(email="ghost@example.com", password_hash="x", role="member"))
            record_event("user.created", target="ghost@example.com")
            db.session.flush()
            raise RuntimeError("failure after the change")
        finally:
            db.session.rollback()
    with app.app_context():
        assert db.session.scalar(db.select(User).where(User.email == "ghost@example.com")) is None
    assert audit_rows(app) == []


def _refuse_audit_inserts(app):
    with app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION test_refuse_insert() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER test_refuse_insert BEFORE INSERT ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION test_refuse_insert()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER test_refuse_insert BEFORE INSERT ON audit_events "
                    "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"
                )
            )


def _allow_audit_inserts(app):
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(
            text(
                "DROP TRIGGER test_refuse_insert"
                + (" ON audit_events" if conn.dialect.name == "postgresql" else "")
            )
        )
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP FUNCTION test_refuse_insert()"))


def test_when_the_event_cannot_be_written_the_change_does_not_happen(app, admin_client):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    _refuse_audit_inserts(app)
    try:
        response = post_form(
            admin_client,
            "/admin/users/new",
            {
                "email": "new@example.com",
                "role": "member",
                "password": "long-password-1",
                "confirm": "long-password-1",
            },
        )
    finally:
        _allow_audit_inserts(app)
    assert response.status_code == 500
    with app.app_context():
        assert db.session.scalar(db.select(User).where(User.email == "new@example.com")) is None


def test_verify_passes_on_an_intact_chain(app, runner, record, admin_client):
    for n in range(5):
        record("user.updated", target=f"user{n}@example.com", changes={"name": [f"a{n}", f"b{n}"]})
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"{len(audit_rows(app))} events checked" in result.output


def test_verify_fails_on_an_edited_row(app, runner, record):
    for n in range(5):
        record("user.updated", target=f"user{n}@example.com", changes={"role": ["member", "admin"]})
    tamper_audit(
        app, 'UPDATE audit_events SET changes = \'{"role": ["member", "member"]}\' WHERE id = 3'
    )
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "event #3" in result.output and "edited" in result.output


def test_verify_fails_on_a_deleted_row(app, runner, record):
    for n in range(5):
        record("auth.login", target=f"user{n}@example.com")
    tamper_audit(app, "DELETE FROM audit_events WHERE id = 2")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "event #3" in result.output and "removed" in result.output


def test_verify_fails_on_a_relinked_row(app, runner, record):
    ids = [record("auth.login", target=f"u{n}") for n in range(4)]
    tamper_audit(app, f"UPDATE audit_events SET prev_hash = '{'f' * 64}' WHERE id = {ids[2]}")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"event #{ids[2]}" in result.output and "link" in result.output


def test_concurrent_writers_do_not_fork_the_chain(app, runner):
    errors = []

    def writer(n):
        try:
            for i in range(15):
                with app.app_context(), write_transaction():
                    record_event("user.updated", target=f"writer{n}-{i}", actor="system")
        except Exception as exc:  # reported below; a thread cannot fail the test itself
            errors.append(repr(exc))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(audit_rows(app)) == 60
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "60 events checked, 60 of them anchored" in result.output
