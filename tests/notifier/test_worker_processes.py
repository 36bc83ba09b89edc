"""Real worker processes: killed or stopped mid-batch, or four draining one outbox at once.

The SMTP server keeps DATA waiting on the test's word, so each signal is sent at a known
point (a message in hand, the batch claimed) rather than after a guessed delay.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from webapp.email_service.models import load_settings
from webapp.extensions import db
from webapp.notifier.models import Delivery, Notification
from webapp.notifier.outbox import delivery_row
from webapp.timeutil import utcnow

from ..helpers import configure_service, received_message_ids, run_worker, wait_until
from ..smtp_servers import SmtpServer

PROJECT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 600  # the killed worker's lease: never runs out while the test runs


class _HoldData:
    """aiosmtpd handler: the server's own, except that DATA may wait for ``release``."""

    def __init__(self, handler, server):
        self.handler, self.server = handler, server

    def __getattr__(self, name):
        return getattr(self.handler, name)

    async def handle_DATA(self, server, session, envelope):
        held = self.server
        if held.hold_from is not None and len(held.messages) >= held.hold_from:
            held.waiting.append(session.peer)
            try:
                # Bounded: a test that never releases still ends (and fails on its counts).
                for _ in range(12000):
                    if held.release.is_set():
                        break
                    await asyncio.sleep(0.01)
            finally:
                held.waiting.remove(session.peer)
        return await self.handler.handle_DATA(server, session, envelope)


class HoldingServer(SmtpServer):
    """A plain SMTP server with AUTH whose DATA waits, once it holds ``hold_from`` messages,
    until ``release`` is set; ``waiting`` names the sessions waiting now."""

    def __init__(self):
        super().__init__("plain", auth=True)
        self.hold_from = None
        self.release = threading.Event()
        self.waiting = []

    def _controller(self):
        controller = super()._controller()
        controller.handler = _HoldData(controller.handler, self)
        return controller


@pytest.fixture
def holding_server():
    server = HoldingServer().start()
    yield server
    server.release.set()
    server.stop()


def bulk_queue(app, count):
    """Queue ``count`` single-recipient alerts quickly (one notification, many rows)."""
    now = utcnow()
    with app.app_context():
        db.session.add(
            Notification(
                id="n" * 32, kind="alert", subject="Load test", text="Body", created_by="test"
            )
        )
        db.session.flush()
        rows = [
            delivery_row("n" * 32, f"r{n}@example.com", f"<n.{n}@test>", now) for n in range(count)
        ]
        db.session.execute(insert(Delivery), rows)
        db.session.commit()


@pytest.fixture
def start_worker():
    """Start ``flask --app wsgi notifier run`` processes on a test's database; any still
    running at teardown (a failed test) are killed."""
    started = []

    def start(app, *args, **env):
        environment = {
            **os.environ,
            "INSTANCE_PATH": app.instance_path,
            "SMTP_ALLOW_LOOPBACK": "1",
            "NOTIFIER_POLL_SECONDS": "0.2",
            "SMTP_TIMEOUT": "60",  # a DATA held by the test must not time out first
            **env,
        }
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            environment["DATABASE_URL"] = app.config["SQLALCHEMY_DATABASE_URI"]
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "notifier", "run", *args],
            cwd=PROJECT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.poll() is None:
            worker.kill()
        worker.communicate(timeout=10)


def output(worker):
    return worker.stdout.read().decode(errors="replace")[-2000:]


def wait_for_held_data(server, worker, sessions=1):
    """Wait until ``sessions`` DATA commands wait at the server; the worker must not exit."""
    assert wait_until(lambda: len(server.waiting) >= sessions or worker.poll() is not None), (
        f"no DATA was held; server has {len(server.messages)} messages"
    )
    assert worker.poll() is None, output(worker)


def by_status(app):
    """``{status: [message_id, ...]}`` of the outbox."""
    with app.app_context():
        rows = db.session.execute(db.select(Delivery.status, Delivery.message_id)).all()
    statuses = {}
    for status, message_id in rows:
        statuses.setdefault(status, []).append(message_id)
    return statuses


def tally(app, server):
    """(sent, duplicated, lost) counted by Message-ID against the outbox."""
    with app.app_context():
        expected = set(db.session.scalars(db.select(Delivery.message_id)))
    seen = received_message_ids(server)
    duplicated = sum(n - 1 for n in seen.values())
    lost = len(expected - set(seen))
    return len(seen), duplicated, lost


def test_sigkill_mid_batch_then_another_worker_delivers_the_rest(
    notifier_app, holding_server, start_worker, monkeypatch
):
    server = holding_server
    configure_service(notifier_app, server)
    bulk_queue(notifier_app, 300)
    # Batches of 25 recorded in groups of 10: after 57 messages, 51-57 are sent but not yet
    # recorded and the 58th waits at DATA, with 58-75 still in the worker's hands.
    server.hold_from = 57
    worker = start_worker(
        notifier_app,
        NOTIFIER_LEASE_SECONDS=str(LEASE_SECONDS),
        NOTIFIER_BATCH_SIZE="25",
        NOTIFIER_COMMIT_EVERY="10",
    )
    wait_for_held_data(server, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert wait_until(lambda: not server.waiting)  # the dead session's DATA is dropped
    server.hold_from = None

    leased = set(by_status(notifier_app)["sending"])
    assert len(server.messages) == 57
    sent_unrecorded = leased & set(received_message_ids(server))
    assert leased and 0 < len(sent_unrecorded) <= 10  # at most one group (COMMIT_EVERY)

    # Another worker leaves the dead worker's batch alone while its lease runs …
    run_worker(notifier_app)
    assert set(by_status(notifier_app)["sending"]) == leased
    never_sent = len(leased - sent_unrecorded)
    assert tally(notifier_app, server) == (300 - never_sent, 0, never_sent)

    # … and delivers it once the lease has run out (a clock moved past it, not a wait).
    later = utcnow() + timedelta(seconds=LEASE_SECONDS + 1)
    monkeypatch.setattr("webapp.notifier.worker.utcnow", lambda: later)
    run_worker(notifier_app)
    sent, duplicated, lost = tally(notifier_app, server)
    assert (sent, lost) == (300, 0)
    # Sent twice: exactly the messages the killed worker had sent but not recorded.
    twice = {mid for mid, n in received_message_ids(server).items() if n > 1}
    assert twice == sent_unrecorded and duplicated == len(twice)
    assert set(by_status(notifier_app)) == {"sent"}


def test_four_workers_drain_2000_deliveries_without_duplicates(
    notifier_app, holding_server, start_worker
):
    server = holding_server
    configure_service(notifier_app, server)
    with notifier_app.app_context():
        load_settings().max_connections = 1  # one session each: four waiting means four workers
        db.session.commit()
    bulk_queue(notifier_app, 2000)
    server.hold_from = 0  # the first DATA of each worker waits until all four have a batch
    workers = [start_worker(notifier_app, "--once", NOTIFIER_BATCH_SIZE="20") for _ in range(4)]
    assert wait_until(
        lambda: len(server.waiting) == 4 or any(w.poll() is not None for w in workers)
    ), f"waiting at DATA: {server.waiting}"
    # A worker that ended before its first message says why in its output.
    ended = [w.communicate()[0].decode(errors="replace")[-2000:] for w in workers
             if w.poll() is not None]  # fmt: skip
    assert len(set(server.waiting)) == 4, (server.waiting, ended)
    server.release.set()
    outputs = []
    for worker in workers:
        out, _ = worker.communicate(timeout=300)
        outputs.append(out.decode(errors="replace"))
        assert worker.returncode == 0, outputs[-1][-2000:]
    assert tally(notifier_app, server) == (2000, 0, 0)
    shares = [int(out.split("Delivered: sent ")[1].split(",")[0]) for out in outputs]
    assert sum(shares) == 2000
    assert all(share >= 20 for share in shares), f"work was not shared: {shares}"
    assert "database is locked" not in "".join(outputs)


def test_sigterm_mid_batch_finishes_the_message_and_gives_back_the_rest(
    notifier_app, holding_server, start_worker
):
    server = holding_server
    configure_service(notifier_app, server)
    bulk_queue(notifier_app, 400)
    server.hold_from = 20  # the 21st message of the first batch of 100 waits at DATA
    worker = start_worker(notifier_app, NOTIFIER_BATCH_SIZE="100")
    wait_for_held_data(server, worker)
    before = len(server.messages)  # every DATA from now on waits: nothing more arrives
    worker.send_signal(signal.SIGTERM)
    # The worker is blocked reading the reply to DATA: the signal is handled before it reads.
    server.release.set()
    out, _ = worker.communicate(timeout=30)
    out = out.decode(errors="replace")
    assert worker.returncode == 0, out[-2000:]
    # The messages in hand (one per session, 4 by default) are finished, then nothing more.
    sent = len(server.messages)
    assert before + 1 <= sent <= before + 4, (before, sent)
    assert f"Delivered: sent {sent}," in out
    statuses = by_status(notifier_app)
    assert "sending" not in statuses  # nothing waits for a lease to expire
    assert (len(statuses["sent"]), len(statuses["queued"])) == (sent, 400 - sent)
    run_worker(notifier_app)
    assert tally(notifier_app, server) == (400, 0, 0)
