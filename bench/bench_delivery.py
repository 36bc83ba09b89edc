"""Delivery at real-world scale: 10 ms each way between the worker and the SMTP server."""

import argparse
import asyncio
import contextlib
import cProfile
import logging
import os
import pstats
import random
import re
import smtplib
import statistics
import tempfile
import threading
import time
import warnings

import psycopg
from _common import (
    HOST,
    ChildServer,
    build_app,
    database_label,
    dispose,
    machine_line,
    print_profile,
    print_table,
    private_mta,
    ratio,
    verdict,
)
from bench_notifier import prebuilt_messages, queue_fan_out, worker_in_process
from sqlalchemy.engine import make_url

from webapp.email_service.models import load_settings
from webapp.extensions import db
from webapp.notifier.pool import MAX_MESSAGES
from webapp.notifier.tokens import create_token
from webapp.notifier.worker import Worker

ONE_SESSION_TARGET = 0.9  # (b) the worker on one session: at least 0.9 of smtplib's
EIGHT_SESSIONS_TARGET = 6.0  # (c) the worker on eight sessions: at least 6 times smtplib's
ROUND_TRIPS = 4  # MAIL, RCPT, DATA, the message itself: each waits for the server's reply
SENDER_NAME = "数据平台"
CHUNK = 65536
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SCRATCH_DATABASE = "bench_delivery"  # created and dropped by this script
RECEIVE_TIMEOUT = 10.0  # seconds past the poll interval a queued message may take


def parse_args():
    """Sizes of the run; the defaults are the figures issue 11 asks for."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="messages in (a), (b), (c)")
    parser.add_argument("--latency-ms", type=float, default=10.0, help="one-way delay, ms")
    parser.add_argument("--samples", type=int, default=50, help="API-to-server samples per DB")
    parser.add_argument("--mta-messages", type=int, default=500, help="messages to Postfix")
    parser.add_argument("--no-mta", action="store_true", help="skip the Postfix figures")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL row")
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help=f"a loopback server where the database {SCRATCH_DATABASE!r} may be created",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the eight-session run (worker thread)"
    )
    args = parser.parse_args()
    if min(args.messages, args.mta_messages) < 1 or args.samples < 2:
        parser.error("give at least 1 message and 2 samples")
    return args


def quiet_smtp_server():
    """aiosmtpd warns about AUTH without TLS (on purpose here) and logs every connection."""
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("mail.log").setLevel(logging.ERROR)


# -- the distant server ----------------------------------------------------------------
class LatencyProxy:
    """TCP from a 127.0.0.1 port to ``upstream_port``, each chunk held ``delay`` s each way.

    The delay is a one-way latency, not a rate: a chunk leaves ``delay`` after it arrived,
    in order, however many others are in flight. Runs in its own thread and event loop.
    """

    def __init__(self, upstream_port, delay):
        self.upstream_port, self.delay = upstream_port, delay
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxy", daemon=True)
        self.connections = set()
        self.server = self.port = None

    def start(self):
        self.thread.start()
        self.server = self._call(asyncio.start_server(self._connection, HOST, 0))
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self):
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._shutdown())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()

    def _call(self, coroutine, timeout=10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _shutdown(self):
        self.server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)

    async def _connection(self, client_reader, client_writer):
        task = asyncio.current_task()
        self.connections.add(task)
        upstream_writer = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                HOST, self.upstream_port
            )
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer),
                self._pipe(upstream_reader, client_writer),
            )
        except (OSError, asyncio.CancelledError):
            pass  # cancelled: the proxy is stopping (asyncio reads this task's exception)
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
            self.connections.discard(task)

    async def _pipe(self, reader, writer):
        """Read as fast as data comes; a second task writes each chunk when it is due."""
        loop = asyncio.get_running_loop()
        chunks = asyncio.Queue()
        sender = asyncio.create_task(self._send_when_due(chunks, writer))
        try:
            while data := await reader.read(CHUNK):
                chunks.put_nowait((loop.time() + self.delay, data))
        except OSError:
            pass
        except asyncio.CancelledError:
            sender.cancel()
            raise
        chunks.put_nowait((loop.time() + self.delay, b""))  # the close travels as late
        await sender

    @staticmethod
    async def _send_when_due(chunks, writer):
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data = await chunks.get()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            return


def message_ids(messages):
    """Distinct Message-ID headers among what an aiosmtpd server received."""
    found = (re.search(rb"^Message-ID: *(\S+)", m.original_content, re.M | re.I) for m in messages)
    return {match.group(1) for match in found if match}


def serve_distant(pipe, delay, upstream_port):
    """Child process: the proxy, in front of ``upstream_port`` or of aiosmtpd with AUTH."""
    quiet_smtp_server()
    from tests.smtp_servers import SmtpServer

    server = None
    if upstream_port is None:
        server = SmtpServer("plain", auth=True).start()
        upstream_port = server.port
    proxy = LatencyProxy(upstream_port, delay).start()
    pipe.send(("ready", proxy.port))
    try:
        while (command := pipe.recv()) != "stop":
            if command == "count":
                pipe.send((len(server.messages), len(message_ids(server.messages))))
            elif command == "reset":
                server.messages.clear()
                pipe.send("reset")
    finally:
        proxy.stop()
        if server is not None:
            server.stop()
    pipe.send("stopped")


# -- the app -------------------------------------------------------------------------
def store_settings(app, port, sessions, password):
    """Email Service settings for ``port`` with ``sessions`` parallel SMTP sessions, no limit."""
    from tests.smtp_servers import LOGIN

    with app.app_context():
        row = load_settings()
        row.smtp_host, row.smtp_port, row.security = HOST, port, "none"
        row.sender_email, row.sender_name, row.login_name = LOGIN, SENDER_NAME, ""
        row.test_email, row.enabled = "ops@example.com", True
        row.max_connections, row.max_per_minute = sessions, 0
        row.version = (row.version or 0) + 1
        row.set_password(password, "bench")  # None: no AUTH (Postfix's plain listener)
        db.session.add(row)
        db.session.commit()


def smtplib_one_session(port, sender, messages, password):
    """Every message over one connection (and one login): seconds, connecting included."""
    from tests.smtp_servers import LOGIN

    started = time.perf_counter()
    with smtplib.SMTP(HOST, port, local_hostname="localhost", timeout=30) as smtp:
        if password:
            smtp.login(LOGIN, password)
        for recipient, raw in messages:
            smtp.sendmail(sender, [recipient], raw)
    return time.perf_counter() - started


# -- (a), (b), (c) ---------------------------------------------------------------------
def measure_throughput(app, distant, args, profile=None):
    """Rows of (case, sessions, messages, seconds) through the proxy to aiosmtpd."""
    from tests.smtp_servers import PASSWORD

    count, rows = args.messages, []
    store_settings(app, distant.port, 1, PASSWORD)
    sender, messages = prebuilt_messages(app, queue_fan_out(app, count))
    seconds = smtplib_one_session(distant.port, sender, messages, PASSWORD)
    distant.received(count, "(a) smtplib")
    rows.append(("(a) smtplib, one connection, pre-built messages", 1, count, seconds))
    seconds = worker_in_process(app, count)  # delivers the notification queued above
    distant.received(count, "(b) worker, one session")
    rows.append(("(b) worker, max_connections=1", 1, count, seconds))
    for sessions in (4, 8):
        store_settings(app, distant.port, sessions, PASSWORD)
        queue_fan_out(app, count)
        seconds = worker_in_process(app, count, profile if sessions == 8 else None)
        distant.received(count, f"(c) worker, {sessions} sessions")
        rows.append((f"(c) worker, max_connections={sessions}", sessions, count, seconds))
    return rows


def report_throughput(rows, args):
    """msg/s of each case, its ratio to (a), and the two targets."""
    ceiling = rows[0][2] / rows[0][3]
    floor_ms = ROUND_TRIPS * 2 * args.latency_ms
    print_table(
        [
            ("case", 50),
            ("messages", 8),
            ("seconds", 8),
            ("msg/s", 7),
            ("x (a)", 6),
            ("msg/s/session", 13),
        ],
        [
            (
                name,
                f"{count:,}",
                f"{seconds:.1f}",
                f"{count / seconds:.1f}",
                ratio(count / seconds, ceiling),
                f"{count / seconds / sessions:.1f}",
            )
            for name, sessions, count, seconds in rows
        ],
    )
    print(
        f"({ROUND_TRIPS} round trips a message at {args.latency_ms:g} ms each way: at least"
        f" {floor_ms:g} ms, at most {1000 / floor_ms:.1f} msg/s per session)"
    )
    rates = {sessions: count / seconds for _, sessions, count, seconds in rows[1:]}
    one, eight = rates[1] / ceiling, rates[8] / ceiling
    print(
        f"target: (b) one session >= {ONE_SESSION_TARGET:.1f}x (a): {one:.2f}x"
        f" -> {verdict(one >= ONE_SESSION_TARGET)}"
    )
    print(
        f"target: (c) eight sessions >= {EIGHT_SESSIONS_TARGET:.0f}x (a): {eight:.2f}x"
        f" -> {verdict(eight >= EIGHT_SESSIONS_TARGET)}"
    )


# -- API 202 to the server -------------------------------------------------------------
def run_in_thread(worker):
    """``worker.run()`` in a thread; the thread, and a list that receives its exception."""
    failed = []

    def target():
        try:
            worker.run()
        except BaseException as exc:  # reported by the sampling loop, which would wait
            failed.append(exc)

    thread = threading.Thread(target=target, name="bench-worker", daemon=True)
    thread.start()
    return thread, failed


def wait_for_message(server, before, deadline, failed):
    """perf_counter() once the server holds more than ``before`` messages (1 ms polls)."""
    while len(server.messages) <= before:
        if failed:
            raise SystemExit(f"the worker thread failed: {failed[0]!r}")
        if time.perf_counter() > deadline:
            raise SystemExit("a notification the API accepted never reached the server")
        time.sleep(0.001)
    return time.perf_counter()


def sample_latency(app, server, samples, rng):
    """(202 -> received ms, POST ms) for each of ``samples`` notifications, after a warm-up."""
    with app.app_context():
        _, token = create_token(f"bench-latency-{os.getpid()}", "system")
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    poll = app.config["NOTIFIER_POLL_SECONDS"]
    worker = Worker(app)
    thread, failed = run_in_thread(worker)
    results = []
    try:
        for n in range(samples + 1):  # the first opens the worker's SMTP session: not counted
            # A random pause puts each arrival anywhere in the worker's poll cycle.
            time.sleep(rng.uniform(0, poll))
            before = len(server.messages)
            body = {"kind": "alert", "to": ["a@example.com"], "subject": f"Latency {n}"}
            started = time.perf_counter()
            response = client.post(
                "/api/v1/notifications", json={**body, "text": "Revenue dipped."}, headers=headers
            )
            accepted = time.perf_counter()
            if response.status_code != 202:
                raise SystemExit(f"POST /api/v1/notifications: HTTP {response.status_code}")
            received = wait_for_message(server, before, accepted + poll + RECEIVE_TIMEOUT, failed)
            if f"Latency {n}".encode() not in server.messages[before].original_content:
                raise SystemExit(f"sample {n}: the server got another message first")
            if n:
                results.append(((received - accepted) * 1000, (accepted - started) * 1000))
    finally:
        worker.stop()
        thread.join(30)
    if thread.is_alive():
        raise SystemExit("the worker thread did not stop within 30 s")
    return results


def measure_latency(app, label, wake_up, args, rng):
    """One row: the database, its wake-up, and the API-to-server latency figures."""
    from tests.smtp_servers import PASSWORD, SmtpServer

    server = SmtpServer("plain", auth=True).start()  # in this process, no proxy
    try:
        store_settings(app, server.port, 4, PASSWORD)
        results = sample_latency(app, server, args.samples, rng)
    finally:
        server.stop()
    latencies = [latency for latency, _ in results]
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98]
    return (
        label,
        wake_up,
        f"{len(latencies)}",
        f"{statistics.median(latencies):.1f}",
        f"{p99:.1f}",
        f"{max(latencies):.1f}",
        f"{statistics.median(post for _, post in results):.1f}",
    )


def report_latency(app, args, rng):
    """API 202 to the server on SQLite, then on PostgreSQL (its app is built in between)."""
    poll = app.config["NOTIFIER_POLL_SECONDS"]
    rows = [measure_latency(app, database_label(app), f"poll every {poll:g} s", args, rng)]
    postgres, skipped = latency_on_postgres(args, rng)
    if postgres:
        rows.append(postgres)
    print(
        "API 202 -> SMTP server received: Worker(app).run() idle in a thread, one POST"
        " /api/v1/notifications at a time through the test client after a random pause"
        f" of 0-{poll:g} s (arrivals fall anywhere in the poll cycle); aiosmtpd in this"
        f" process, no proxy, polled every 1 ms; {args.samples} samples after one warm-up"
        f" (with {args.samples} samples, p99 lies between the two worst)."
    )
    print_table(
        [
            ("database", 18),
            ("wake-up", 24, "<"),
            ("samples", 7),
            ("p50 ms", 7),
            ("p99 ms", 7),
            ("max ms", 7),
            ("POST p50 ms", 11),
        ],
        rows,
    )
    if skipped:
        print(f"PostgreSQL row skipped: {skipped}")


def admin_conninfo(url):
    """The libpq form of a SQLAlchemy URL (psycopg does not read ``+psycopg``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_scratch_database(admin_url):
    """A fresh database on the loopback server: (its URL, None), or (None, why not)."""
    url = make_url(admin_url)
    if url.host not in LOOPBACK:
        return None, f"{url.host} is not a loopback address"
    try:
        with psycopg.connect(admin_conninfo(url), autocommit=True, connect_timeout=5) as conn:
            # A run that crashed may have left it: it is this script's own.
            conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {SCRATCH_DATABASE}")
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())  # libpq's message spans lines
        return None, f"PostgreSQL not reachable at {url.host}:{url.port or 5432} ({reason})"
    return url.set(database=SCRATCH_DATABASE).render_as_string(hide_password=False), None


def drop_scratch_database(admin_url):
    with psycopg.connect(admin_conninfo(make_url(admin_url)), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")


def latency_on_postgres(args, rng):
    """(The PostgreSQL row, None) in a database of its own, dropped after; or (None, why)."""
    if args.no_postgres:
        return None, "--no-postgres"
    url, why_not = create_scratch_database(args.postgres_url)
    if url is None:
        return None, why_not
    try:
        with tempfile.TemporaryDirectory(prefix="bench-delivery-pg-") as instance:
            app = build_app(instance, url, SMTP_ALLOW_LOOPBACK=True, RESOURCE_CHECK_SECONDS=0)
            try:
                label = database_label(app)
                return measure_latency(app, label, "LISTEN/NOTIFY", args, rng), None
            finally:
                dispose(app)
    finally:
        drop_scratch_database(args.postgres_url)


# -- Postfix -------------------------------------------------------------------------
def maildir_count(mta):
    return sum(len(os.listdir(mta.maildir / sub)) for sub in ("new", "cur"))


def wait_delivered(mta, expected, what, timeout=120):
    """Postfix accepted the messages (250): wait until its Maildir holds them all."""
    deadline = time.monotonic() + timeout
    while (count := maildir_count(mta)) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: Postfix delivered {count} messages, expected {expected}")
        time.sleep(0.1)


def postfix_rows(app, mta, port, path, count):
    """smtplib and the worker (1 and 4 sessions) to one Postfix port: rows of figures."""
    rows = []
    store_settings(app, port, 1, None)
    sender, messages = prebuilt_messages(app, queue_fan_out(app, count))
    before = maildir_count(mta)
    seconds = smtplib_one_session(port, sender, messages, None)
    wait_delivered(mta, before + count, f"Postfix {path}, smtplib")
    rows.append((path, "smtplib, one connection", 1, count, seconds))
    for sessions in (1, 4):
        if sessions != 1:
            store_settings(app, port, sessions, None)
            queue_fan_out(app, count)
        before = maildir_count(mta)
        seconds = worker_in_process(app, count)
        wait_delivered(mta, before + count, f"Postfix {path}, worker")
        rows.append((path, f"worker, max_connections={sessions}", sessions, count, seconds))
    return rows


def measure_postfix(app, args):
    """Postfix's plain listener, through the proxy and directly; None when not installed."""
    with private_mta() as mta:
        if mta is None:
            return None
        with ChildServer(serve_distant, args.latency_ms / 1000, mta.plain_port) as distant:
            rows = postfix_rows(app, mta, distant.port, "proxy", args.mta_messages)
        return rows + postfix_rows(app, mta, mta.plain_port, "direct", args.mta_messages)


def print_postfix(rows, aiosmtpd, args):
    """Each Postfix figure next to smtplib's on the same path, and aiosmtpd's through the proxy."""
    smtplib_rate = {
        path: count / seconds for path, way, _, count, seconds in rows if way.startswith("smtplib")
    }
    table = []
    for path, way, sessions, count, seconds in rows:
        rate = count / seconds
        beside = aiosmtpd.get((way.startswith("smtplib"), sessions)) if path == "proxy" else None
        where = f"{args.latency_ms:g} ms proxy" if path == "proxy" else "direct"
        table.append(
            (
                f"{way} ({where})",
                f"{count:,}",
                f"{seconds:.2f}",
                f"{rate:.1f}",
                ratio(rate, smtplib_rate[path]),
                f"{beside:.1f}" if beside else "-",
            )
        )
    print_table(
        [
            ("Postfix plain listener (no AUTH)", 46),
            ("messages", 8),
            ("seconds", 8),
            ("msg/s", 7),
            ("x smtplib", 9),
            ("aiosmtpd msg/s", 14),
        ],
        table,
    )


def report_postfix(app, rows, args):
    """The Postfix table, with the aiosmtpd figures of ``rows`` (the throughput cases)."""
    if args.no_mta:
        print("Postfix figures skipped (--no-mta)")
        return
    postfix = measure_postfix(app, args)
    if not postfix:
        return
    print(
        "Postfix (tests/mta.py: private, on loopback), plain listener without AUTH:"
        f" {args.mta_messages:,} messages a row, through a {args.latency_ms:g} ms proxy as above"
        " and directly; seconds until the last 250 (all then found in its Maildir). Last"
        " column: the same way to aiosmtpd through the proxy, from the table above."
    )
    aiosmtpd = {
        (name.startswith("(a)"), sessions): count / seconds
        for name, sessions, count, seconds in rows
    }
    print_postfix(postfix, aiosmtpd, args)


# -- the run -------------------------------------------------------------------------
def print_header(app, args):
    batch = app.config["NOTIFIER_BATCH_SIZE"]
    print(
        f"Network: an asyncio TCP proxy on 127.0.0.1 holds every chunk {args.latency_ms:g} ms in"
        " each direction (a one-way latency, in order), in its own thread and event loop, in"
        " a separate process with aiosmtpd (plain SMTP with AUTH) behind it."
    )
    print(
        f"(a) smtplib over one connection and one login, {args.messages:,} messages of ~3.4 KB"
        " built beforehand by the app's own functions: the one-session ceiling."
    )
    print(
        "(b) Worker(app).run(once=True) in this process with max_connections=1 (batches of"
        f" {batch}, a session reconnects after {MAX_MESSAGES} messages). (c) the same with"
        " 4 and 8 sessions. Database: SQLite."
    )


def main():
    """Measure in throw-away instance folders; clean up servers, threads and the database."""
    args = parse_args()
    quiet_smtp_server()
    rng = random.Random(11)
    print(machine_line())
    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as instance:
        app = build_app(instance, SMTP_ALLOW_LOOPBACK=True, RESOURCE_CHECK_SECONDS=0)
        try:
            print_header(app, args)
            print()
            with ChildServer(serve_distant, args.latency_ms / 1000, None) as distant:
                rows = measure_throughput(app, distant, args, profile)
            report_throughput(rows, args)
            if profile:
                print()
                print("profile of (c) with 8 sessions, worker thread only (cProfile):")
                print_profile(pstats.Stats(profile), args.messages, "msg")
            print()
            report_latency(app, args, rng)
            print()
            report_postfix(app, rows, args)
        finally:
            dispose(app)


if __name__ == "__main__":
    main()
