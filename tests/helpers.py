"""Helpers shared by the test packages: drive the app as a browser does, read back what it stored.

Fixtures live in the conftest files and are used as fixtures; everything a test module
imports comes from here (never from a conftest or another test module).
"""

import os
import re
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from webapp.audit.models import AuditEvent
from webapp.auth.models import User
from webapp.email_service.diagnosis import diagnose_connection
from webapp.email_service.models import load_settings
from webapp.email_service.transport import SmtpParams
from webapp.extensions import db
from webapp.notifier.models import Delivery
from webapp.notifier.worker import Worker
from webapp.timeutil import utcnow

from .smtp_servers import LOGIN, PASSWORD

SENDER = LOGIN
SENDER_NAME = "数据平台 通知"
TEST_EMAIL = "ops@example.com"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')

# -- the parts a run needs ---------------------------------------------------------------

POSTGRES_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = POSTGRES_URL.startswith("postgresql")
# .ci/run expects exactly this reason on its SQLite pass: keep the two in step.
NEEDS_POSTGRES = "needs DATABASE_URL on PostgreSQL"
# ... and exactly this one on its PostgreSQL pass.
SQLITE_ONLY = "the soak targets SQLite's single writer"
IN_CI = os.environ.get("CI") == "true"


def unavailable(reason):
    """A part the test needs is missing: skip on a laptop, fail under CI=true (nothing skips)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing part fails the run)", pytrace=False)
    pytest.skip(reason)


def wait_until(condition, seconds=60, interval=0.02):
    """Poll ``condition`` until it is true or ``seconds`` pass; returns its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


# -- forms and logins ----------------------------------------------------------------------


def csrf_token(client, path="/login"):
    """A valid CSRF token for this client's session, read from a rendered form."""
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(client, path, data, **kwargs):
    """POST ``data`` with a fresh CSRF token, as the page's form would."""
    return client.post(path, data={"csrf_token": csrf_token(client), **data}, **kwargs)


class AuthActions:
    """Log in and out through the real forms."""

    def __init__(self, client):
        self.client = client

    def login(self, email, password, next_path=None):
        path = "/login" + (f"?next={next_path}" if next_path else "")
        return post_form(self.client, path, {"email": email, "password": password})

    def logout(self):
        return post_form(self.client, "/logout", {})


def add_user(app, email, password, role="member", name="", active=True):
    """Insert a user directly and return its id."""
    with app.app_context():
        user = User(email=email, name=name, role=role, active=active)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user.id


# -- the Email Service ---------------------------------------------------------------------

SECURITY_OF_MODE = {"plain": "none", "ssl": "ssl", "starttls": "tls"}


def new_api_token(app, name="test-platform"):
    """A fresh API token's plaintext, created as the CLI would."""
    from webapp.notifier.tokens import create_token

    with app.app_context():
        _, plaintext = create_token(name, "system")
        db.session.commit()
    return plaintext


def register_topic(app, name, title=None, kind="card", roles=(), users=()):
    """Register ``name`` in the topic catalogue (an empty audience: every user sees it)."""
    from webapp.notifier.topics import save_topic

    with app.app_context():
        save_topic(name, title=title or name, url=None, kind=kind, roles=list(roles),
                   users=list(users), actor="system")  # fmt: skip
        db.session.commit()


def settings_values(server=None, **overrides):
    """A complete Email Service submission for ``server`` (security from its mode unless given).

    Without a server, give ``smtp_host``, ``smtp_port`` and ``security`` yourself. A value of
    None leaves that field out; security none comes with the plaintext box ticked.
    """
    data = {
        "sender_email": LOGIN,
        "password": PASSWORD,
        "sender_name": SENDER_NAME,
        "test_email": TEST_EMAIL,
        "enabled": "y",
        "version": "0",
    }
    if server is not None:
        data["smtp_host"], data["smtp_port"] = server.host, str(server.port)
        data["security"] = SECURITY_OF_MODE.get(getattr(server, "mode", ""), "none")
    data.update(overrides)
    if data.get("security") == "none":
        data.setdefault("allow_plaintext_password", "y")
    return {k: v for k, v in data.items() if v is not None}


def configure_service(app, server, *, enabled=True, password=PASSWORD, sender_name="数据平台"):
    """Store Email Service settings pointing at ``server`` (as a verified save would)."""
    with app.app_context():
        row = load_settings()
        row.smtp_host, row.smtp_port = server.host, server.port
        row.security = SECURITY_OF_MODE[server.mode]
        row.sender_email, row.sender_name, row.login_name = SENDER, sender_name, ""
        row.test_email, row.enabled = TEST_EMAIL, enabled
        row.version = (row.version or 0) + 1
        row.set_password(password, "test")
        db.session.add(row)
        db.session.commit()


def diagnose(app, server_or_host, port=None, security="none", *, password=PASSWORD, **kwargs):
    """Run Test Connection as the settings page does, with the test address filled in."""
    if hasattr(server_or_host, "port"):
        host, port = server_or_host.host, server_or_host.port
    else:
        host = server_or_host
    params = SmtpParams(host=host, port=port, security=security, login=LOGIN, password=password)
    kwargs = {
        "test_email": TEST_EMAIL,
        "sender_email": SENDER,
        "sender_name": SENDER_NAME,
        **kwargs,
    }
    with app.app_context():  # no request: as the notifier worker and the CLI run it
        return diagnose_connection(params, **kwargs)


def step_names(result):
    return [step.name for step in result.steps]


def failed(result, step, kind):
    """Assert the outcome failed at ``step`` for ``kind``, with the last step marked failed."""
    assert not result.ok and not result.sent
    assert (result.failed_step, result.kind) == (step, kind), result.as_dict()
    assert result.steps[-1].name == step and not result.steps[-1].ok
    assert all(s.ok for s in result.steps[:-1])
    assert result.hint
    return result.hint


def received_message_ids(server):
    """How often each Message-ID reached ``server`` (a Counter)."""
    return Counter(
        m.original_content.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
        for m in server.messages
    )


# -- the notifier --------------------------------------------------------------------------


def run_worker(app, **kwargs):
    """One ``notifier run --once`` in this process; returns its counts."""

    return Worker(app, poll_interval=0, **kwargs).run(once=True)


def make_due(app):
    """Bring every scheduled retry forward to now (as if its backoff had passed)."""
    with app.app_context():
        db.session.execute(
            db.update(Delivery)
            .where(Delivery.status == "retrying")
            .values(next_attempt_at=utcnow())
        )
        db.session.commit()


# -- the audit log -------------------------------------------------------------------------


def audit_rows(app, **where):
    """The stored events as dicts, oldest first, optionally filtered by column values."""
    with app.app_context():
        query = db.select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
        return [
            {
                "id": e.id,
                "created_at": e.created_at,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "changes": e.changes_dict,
                "ip": e.ip,
                "user_agent": e.user_agent,
            }
            for e in db.session.scalars(query)
        ]


def audit_summary(app, action):
    """``(actor, target, changes)`` of each event with this action, oldest first."""
    return [(e["actor"], e["target"], e["changes"]) for e in audit_rows(app, action=action)]


def tamper_audit(app, *statements):
    """Change audit rows behind the app's back, as a database user could, triggers lifted.

    Each statement is SQL text or ``(sql, params)``; params may be a list (executemany).
    """
    with app.app_context(), db.engine.begin() as conn:
        postgresql = conn.dialect.name == "postgresql"
        if postgresql:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        for statement in statements:
            sql, params = statement if isinstance(statement, tuple) else (statement, None)
            conn.execute(text(sql), params)
        if postgresql:
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))


# -- the browser ---------------------------------------------------------------------------

ARTIFACTS = Path(__file__).parent / "e2e" / "artifacts"
AUDIT_COLUMNS = ("#", "Time (UTC)", "Actor", "Action", "Target", "Changes", "IP")


def log_in(page, email, password):
    """Log in through the real form and wait for the home page."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()


def csp_violations(console_errors):
    """The console errors that are Content Security Policy refusals."""
    return [text for text in console_errors if "Content Security Policy" in text]


def screenshot(page, name):
    """Save a full-page screenshot as tests/e2e/artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def exactly(text):
    """A pattern matching ``text`` and nothing more (Playwright's has_text is a substring)."""
    return re.compile(f"^{re.escape(text)}$")


def audit_cell(row, column):
    """One cell of an audit table row, by its column heading."""
    return row.locator("td").nth(AUDIT_COLUMNS.index(column))


def audit_row(page, action, target):
    """The audit table's rows whose Action and Target cells are exactly these."""
    action_cell = f"td:nth-child({AUDIT_COLUMNS.index('Action') + 1})"
    target_cell = f"td:nth-child({AUDIT_COLUMNS.index('Target') + 1})"
    return (
        page.locator("#audit-table tbody tr")
        .filter(has=page.locator(action_cell, has_text=exactly(action)))
        .filter(has=page.locator(target_cell, has_text=exactly(target)))
    )


class ManualClock:
    """The app's ``CLOCK`` for a test: naive UTC that moves only when the test says so."""

    def __init__(self, start=datetime(2026, 11, 2, 9, 0)):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


# -- languages and time zones ----------------------------------------------------------------

PROJECT = Path(__file__).resolve().parent.parent


def compile_catalogues():
    """Compile each translations/*/LC_MESSAGES/messages.po whose .mo is missing or older, as
    `make test` does, so a plain `pytest` on a fresh clone reads the translations too."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in PROJECT.glob("translations/*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source)
        with mo.open("wb") as target:
            write_mo(target, catalog)


def set_preferences(app, email, locale=None, timezone=None):
    """Store a user's own language and time zone, as /account does."""
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        user.locale, user.timezone = locale, timezone
        db.session.commit()
