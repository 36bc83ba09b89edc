"""Shared fixtures: an app with its own instance folder and database, users, a login helper.

Under ``CI=true`` nothing skips: a missing part (Chromium, PostgreSQL, Redis, Postfix) stops
the run before any test, and a skip other than the one this pass expects is a failure.
"""

import os
import shutil
import socket
import sys

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from webapp import create_app
from webapp.extensions import db
from webapp.notifier.topics import ensure_system_topics

from .helpers import (
    IN_CI,
    NEEDS_POSTGRES,
    ON_POSTGRES,
    POSTGRES_URL,
    SQLITE_ONLY,
    AuthActions,
    add_user,
)
from .loopback import OFF_LOOPBACK, loopback_only
from .mta import MtaError, find_tools

# Real SMTP servers (aiosmtpd, trustme certificates) for every test package.
pytest_plugins = ["tests.smtp_servers", "tests.mta", "tests.oauth_server"]

# Cheap argon2 parameters: the production ones cost 0.1 s per hash and tests hash a lot.
FAST_HASH = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
ADMIN_PASSWORD = "admin-password-123"
MEMBER_PASSWORD = "member-password-123"


# Tests reach 127.0.0.0/8 and ::1 only: enforced for the whole run.
sys.addaudithook(loopback_only)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if any test tried to leave the host, even where the error was swallowed."""
    if OFF_LOOPBACK:
        session.exitstatus = 1
        print("\nOff-loopback attempts (tests reach 127.0.0.0/8 and ::1 only):", *OFF_LOOPBACK)


# The one skip each pass expects: PostgreSQL-only tests on SQLite, the SQLite soak on PostgreSQL.
EXPECTED_SKIP = SQLITE_ONLY if ON_POSTGRES else NEEDS_POSTGRES


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            return True
    except OSError:
        return False


def missing_parts():
    """What this machine lacks of the parts the whole suite uses (none on a CI machine)."""
    missing = []
    if not (os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")):
        missing.append("Chromium (apt-get install chromium)")
    try:
        find_tools()
    except MtaError as exc:
        missing.append(f"Postfix and Dovecot ({exc})")
    for port, name in ((5432, "PostgreSQL"), (6379, "Redis")):
        if not _answers(port):
            missing.append(f"{name} on 127.0.0.1:{port}")
    return missing


def pytest_sessionstart(session):
    """Under CI=true a missing part fails the run at once, instead of skipping tests later."""
    if IN_CI and (missing := missing_parts()):
        pytest.exit("CI=true and missing: " + "; ".join(missing), returncode=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip is a failure, unless it is the one this pass expects."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else "")
        reason = reason.removeprefix("Skipped: ")
        if reason != EXPECTED_SKIP:
            report.outcome = "failed"
            report.longrepr = f"skipped under CI=true (nothing may skip in CI): {reason}"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` run only on the PostgreSQL pass (DATABASE_URL)."""
    if not ON_POSTGRES:
        for item in items:
            if item.get_closest_marker("postgres"):
                item.add_marker(pytest.mark.skip(reason=NEEDS_POSTGRES))


def base_config(instance_path, **extra):
    """Configuration every test app starts from."""
    return {
        "INSTANCE_PATH": str(instance_path),
        "TESTING": True,
        "ARGON2_PARAMS": FAST_HASH,
        "SMTP_ALLOW_LOOPBACK": True,
        **extra,
    }


def _migrate(app):
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.session.remove()
        db.engine.dispose()


def reset_postgres(url):
    """Drop everything in the PostgreSQL test database (leaves it clean for the next run)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory):
    """Migrate once per run: a SQLite file to copy, or the PostgreSQL schema itself."""
    folder = tmp_path_factory.mktemp("template")
    if ON_POSTGRES:
        reset_postgres(POSTGRES_URL)
    _migrate(create_app(base_config(folder)))
    yield folder / "webapp.sqlite"
    if ON_POSTGRES:
        reset_postgres(POSTGRES_URL)


def _empty_postgres_tables(app):
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            # The replica role skips the audit table's refuse-TRUNCATE trigger, for tests only.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        ensure_system_topics()  # rows the migrations seed, as SQLite's copied file has them
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(tmp_path, schema_template):
    """Factory for apps sharing this test's instance folder and fresh database."""
    instance = tmp_path / "instance"
    instance.mkdir()
    if not ON_POSTGRES:
        shutil.copy(schema_template, instance / "webapp.sqlite")
    apps = []

    def make(**extra):
        app = create_app(base_config(instance, **extra))
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if ON_POSTGRES and apps:
        _empty_postgres_tables(apps[0])


@pytest.fixture
def app(make_app):
    """The app under test, with CSRF on as in production."""
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Account:
    """A user's login details for tests."""

    def __init__(self, user_id, email, password):
        self.id, self.email, self.password = user_id, email, password


@pytest.fixture
def admin(app):
    email = "ada.admin@example.com"
    return Account(
        add_user(app, email, ADMIN_PASSWORD, "admin", "Ada Admin"), email, ADMIN_PASSWORD
    )


@pytest.fixture
def member(app):
    email = "max.member@example.com"
    return Account(
        add_user(app, email, MEMBER_PASSWORD, "member", "Max Member"), email, MEMBER_PASSWORD
    )


@pytest.fixture
def auth(client):
    """Log in and out through the real forms."""
    return AuthActions(client)


@pytest.fixture
def admin_client(client, auth, admin):
    auth.login(admin.email, admin.password)
    return client


@pytest.fixture
def member_client(client, auth, member):
    auth.login(member.email, member.password)
    return client
