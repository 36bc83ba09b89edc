"""Database connection rules: SQLite pragmas, write transactions and the schema command."""

import contextlib
import contextvars
import os

import click
from flask import current_app, has_request_context, request
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import event

from .extensions import db, migrate

# SQLite in WAL mode lets a read transaction that later writes fail at once with
# "database is locked" when another writer committed in between. Transactions that
# may write therefore start with BEGIN IMMEDIATE (taking the write lock up front and
# waiting busy_timeout for it); page reads (GET) stay deferred so readers never queue.
_begin_mode = contextvars.ContextVar("sqlite_begin_mode", default=None)
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def _sqlite_connect(dbapi_connection, _record):
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn):
    mode = _begin_mode.get()
    if mode is None:
        reading = has_request_context() and request.method in READ_METHODS
        mode = "DEFERRED" if reading else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


def configure_engine(engine):
    """Install the per-connection rules on ``engine`` (SQLite only)."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)


@contextlib.contextmanager
def write_transaction():
    """Run a block that writes in its own transaction, committed at the end.

    Used where a read-only request (a GET) must still write, such as an audit event.
    """
    db.session.commit()
    token = _begin_mode.set("IMMEDIATE")
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _begin_mode.reset(token)


def is_postgresql():
    """True when the app's database is PostgreSQL."""
    return db.engine.dialect.name == "postgresql"


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create or upgrade the schema to the latest migration."""
    upgrade(directory=current_app.extensions["migrate"].directory)
    click.echo("Database is at the latest schema.")


def register_database(app):
    """Bind the database, migrations and the ``init-db`` command to ``app``."""
    db.init_app(app)
    migrations = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
    migrate.init_app(app, db, directory=migrations, render_as_batch=True)
    with app.app_context():
        configure_engine(db.engine)
    app.cli.add_command(init_db_command)
