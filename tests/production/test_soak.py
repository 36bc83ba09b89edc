"""Soak on SQLite: 8 client threads and 2 worker processes against gunicorn for 20 seconds."""

import random
import re
import threading
import time
from collections import Counter

import pytest

from webapp.audit.models import AuditEvent
from webapp.extensions import db
from webapp.notifier.models import Delivery

from ..helpers import (
    ON_POSTGRES,
    SQLITE_ONLY,
    received_message_ids,
    settings_values,
    wait_until,
)
from .http import Browser

SOAK_SECONDS = 20
THREADS = 8
ADMIN = ("soak@example.com", "soak-password-123")
# One admin per thread: saves are throttled per admin (30 a minute), as a real team would be.
THREAD_ADMINS = [(f"soak{n}@example.com", "soak-password-123") for n in range(THREADS)]


def settings_form(server, version, name):
    """A save for the relay ``server`` (no login, so no password)."""
    return settings_values(
        server,
        password=None,
        allow_plaintext_password=None,
        sender_name=name,
        version=str(version),
    )


def current_version(browser):
    page = browser.get("/admin/settings/email").text
    return int(re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1))


class Tally:
    """Outcomes counted across threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()
        self.problems = []

    def add(self, key, response=None):
        with self.lock:
            self.counts[key] += 1
            if response is not None and (
                response.status >= 500 or "database is locked" in response.text
            ):
                self.problems.append(f"{key}: {response.status} {response.text[:200]}")


def client_thread(base_url, token, server, stop, tally, seed):
    """One user's traffic until ``stop``; what went wrong lands in ``tally.problems``.

    An assert here would end only this thread, and the test would never see it.
    """
    try:
        client_loop(base_url, token, server, stop, tally, seed)
    except Exception as exc:  # reported by the test through tally.problems
        with tally.lock:
            tally.problems.append(f"thread {seed}: {exc!r}")


def client_loop(base_url, token, server, stop, tally, seed):
    rng = random.Random(seed)
    browser = Browser(base_url)
    login = browser.login(*THREAD_ADMINS[seed])
    if login.status != 302:
        tally.add("login_failed")
        tally.problems.append(f"thread {seed}: login answered {login.status}")
        return
    while not stop.is_set():
        choice = rng.random()
        if choice < 0.3:
            version = current_version(browser)
            response = browser.post_form(
                "/admin/settings/email", settings_form(server, version, f"Soak {seed}")
            )
            if response.status == 302:
                tally.add("save_ok")
            elif "changed by" in response.text and "Reload the page" in response.text:
                tally.add("save_conflict")  # another thread saved first: refused, as designed
            elif response.status == 429:
                tally.add("save_throttled")  # this admin's 30 saves a minute are used up
            else:
                tally.add("save_failed", response)
                tally.problems.append(f"save: {response.status}")
        elif choice < 0.8:
            body = {
                "kind": "alert",
                "to": [f"soak{seed}-{rng.randrange(10**9)}@example.com"],
                "subject": "Soak",
                "text": "Body",
            }
            response = browser.request(
                "POST",
                "/api/v1/notifications",
                json_body=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status == 429:
                tally.add("queue_throttled")  # the token's per-minute allowance is used up
            else:
                tally.add("queued" if response.status == 202 else "queue_failed", response)
                if response.status != 202:
                    tally.problems.append(f"queue: {response.status}")
        else:
            response = browser.get(
                rng.choice(["/admin/settings/email", "/admin/audit", "/healthz"])
            )
            tally.add("read" if response.status == 200 else "read_failed", response)


@pytest.mark.skipif(ON_POSTGRES, reason=SQLITE_ONLY)
def test_soak_on_sqlite(deployment, smtp_servers, tmp_path):
    server = smtp_servers("plain")
    deployment.flask("init-db")
    for email, password in [ADMIN, *THREAD_ADMINS]:
        deployment.flask("create-user", email, "--role", "admin", "--password", password)
    token = deployment.flask("token", "create", "soak").stdout.strip().splitlines()[-1]
    web = deployment.web()
    first = Browser(web.base_url)
    assert first.login(*ADMIN).status == 302
    saved = first.post_form("/admin/settings/email", settings_form(server, 0, "Soak"))
    assert saved.status == 302 and saved.headers["Location"] == "/admin/settings/email"
    workers = [deployment.worker() for _ in range(2)]

    stop, tally = threading.Event(), Tally()
    threads = [
        threading.Thread(target=client_thread, args=(web.base_url, token, server, stop, tally, n))
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(SOAK_SECONDS)  # the soak's length, not a wait for something
    stop.set()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a client thread hangs"

    app = deployment.app

    def pending():
        with app.app_context():
            left = db.session.scalar(
                db.select(db.func.count(Delivery.id)).where(Delivery.status != "sent")
            )
            db.session.remove()
        return left

    drained = wait_until(lambda: pending() == 0, seconds=90, interval=0.5)
    with app.app_context():
        saves = db.session.scalar(
            db.select(db.func.count(AuditEvent.id)).where(
                AuditEvent.action == "email_settings.updated"
            )
        )
        expected = set(db.session.scalars(db.select(Delivery.message_id)))
        total = db.session.scalar(db.select(db.func.count(Delivery.id)))
        db.session.remove()
    for worker in workers:
        assert worker.stop() == 0, worker.output()[-2000:]

    seen = received_message_ids(server)
    logs = web.output() + "".join(w.output() for w in workers)
    print(f"soak: {dict(tally.counts)}; deliveries {total}; received {sum(seen.values())}")
    assert tally.problems == []
    assert "database is locked" not in logs
    assert tally.counts["save_ok"] > 0 and tally.counts["queued"] > 0
    assert saves == tally.counts["save_ok"] + 1  # plus the first save before the soak
    assert drained and total == tally.counts["queued"]
    assert set(seen) == expected and set(seen.values()) == {1}
    assert deployment.flask("audit", "verify").returncode == 0
