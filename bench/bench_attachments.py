"""Attachments at fan-out: memory of the API request and of the worker, and messages per second.

A notification to 1,000 subscribers with a 500 KB PNG inline and a 2 MB XLSX, beside the
same notification without files, in one run. The API server and the worker each run in a
fresh child process whose peak RSS is reset just before the measured part (Linux
``/proc/self/clear_refs``), so the figures are that part's own; the SMTP server runs in
another process and keeps no message bodies.
"""

import argparse
import base64
import email
import email.policy
import gc
import hashlib
import http.client
import io
import json
import logging
import multiprocessing
import random
import re
import resource
import smtplib
import tempfile
import threading
import time
import tracemalloc
import warnings
import zipfile

from _common import (
    FAST_HASH,
    HOST,
    ChildServer,
    build_app,
    dispose,
    free_port,
    machine_line,
    print_table,
    ratio,
    sqlite_url,
    verdict,
)
from argon2 import PasswordHasher
from bench_notifier import configure_service
from sqlalchemy import insert, literal, select
from werkzeug.serving import make_server

from webapp import create_app
from webapp.auth.models import User
from webapp.email_service.models import load_settings
from webapp.extensions import db
from webapp.notifier.attachments import XLSX
from webapp.notifier.messages import NotificationMessage
from webapp.notifier.models import Delivery, Subscription
from webapp.notifier.tokens import create_token
from webapp.notifier.topics import save_topic
from webapp.notifier.worker import Worker
from webapp.timeutil import utcnow

PNG_BYTES = 500 * 1024
XLSX_BYTES = 2 * 1024 * 1024
FLAT_TARGET = 1.25  # a peak at 1,000 recipients within 1.25x the same peak at 250
TEXT = "Sales rose 4 % week on week; the East region leads. Open the dashboard for details.\n"
HTML = '<p>Sales rose <b>4 %</b> week on week.</p><p><img src="cid:chart1" alt="Sales"></p>\n'
MB = 1024 * 1024


def parse_args():
    """Sizes of the run; the defaults are the issue's."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1000, help="the large fan-out")
    parser.add_argument("--small", type=int, default=250, help="the small fan-out")
    parser.add_argument(
        "--ceiling", type=int, default=100, help="messages of each kind in the smtplib ceiling"
    )
    return parser.parse_args()


# -- memory --------------------------------------------------------------------------
def _status_kb(field):
    with open("/proc/self/status") as status:
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.M).group(1))


class PeakMemory:
    """Peak RSS growth of the code inside (all threads, C allocations too), and with
    ``traced`` the tracemalloc peak of Python allocations."""

    def __init__(self, traced=False):
        self.traced = traced
        self.rss_before = self.rss_growth = self.traced_peak = 0

    def __enter__(self):
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")  # resets VmHWM, the peak RSS, to the RSS of now
            self.peak = lambda: _status_kb("VmHWM") * 1024
            self.rss_before = _status_kb("VmRSS") * 1024
        except OSError:  # not Linux: the peak of the whole process, an upper bound
            self.peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            self.rss_before = self.peak()
        if self.traced:
            tracemalloc.start()
            tracemalloc.reset_peak()
        return self

    def __exit__(self, *exc):
        if self.traced:
            self.traced_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        self.rss_growth = max(0, self.peak() - self.rss_before)

    def figures(self):
        return {
            "rss_before": self.rss_before,
            "rss_growth": self.rss_growth,
            "traced_peak": self.traced_peak,
        }


# -- the files -----------------------------------------------------------------------
def make_png(rng):
    """A PNG's signature and header chunk, then random bytes: ``PNG_BYTES`` in all."""
    head = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x04\x00" * 2 + b"\x08\x06\x00"
    return head + rng.randbytes(PNG_BYTES - len(head))


def make_xlsx(rng):
    """A real zip with a workbook's parts and random (incompressible) data: ~``XLSX_BYTES``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        book.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
        book.writestr("xl/worksheets/sheet1.xml", "<worksheet>" + "<row/>" * 1000 + "</worksheet>")
        book.writestr("xl/media/data.bin", rng.randbytes(XLSX_BYTES - 4096))
    return out.getvalue()


def request_body(topic, files, key):
    """The API body: the notification, with the PNG inline and the XLSX when ``files``."""
    body = {
        "kind": "subscription",
        "topic": topic,
        "subject": "Daily sales",
        "text": TEXT * 10,
        "html": HTML * 3,
        "idempotency_key": key,
    }
    if files:
        png, xlsx = files
        body["attachments"] = [
            {
                "filename": "sales.png",
                "content_type": "image/png",
                "inline": True,
                "content_id": "chart1",
                "content_base64": base64.b64encode(png).decode(),
            },
            {
                "filename": "销售日报.xlsx",
                "content_type": XLSX,
                "inline": False,
                "content_base64": base64.b64encode(xlsx).decode(),
            },
        ]
    return json.dumps(body).encode()


# -- the SMTP server, in its own process, keeping no bodies ----------------------------
class Tally(list):
    """``SmtpServer.messages`` keeping each message's Message-ID and the total size, not bytes,
    and the last message whole (to check its files)."""

    def __init__(self):
        super().__init__()
        self.bytes, self.last = 0, None

    def append(self, received):
        head = received.original_content.partition(b"\r\n\r\n")[0]
        found = re.search(rb"^Message-ID: (\S+)", head, re.M | re.I)
        super().append(found.group(1) if found else b"")
        self.bytes += len(received.original_content)
        self.last = received.original_content


def files_of(raw):
    """``{filename: sha256}`` of the parts of a received message that are files or images."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return {
        part.get_filename() or part["Content-ID"]: hashlib.sha256(part.get_content()).hexdigest()
        for part in message.walk()
        if part.get_content_maintype() in ("image", "application")
    }


def serve_smtp(pipe, port):
    """aiosmtpd (``SmtpServer``, plain with AUTH) answering as ``ChildServer`` expects, and
    ``bytes`` (received in all) and ``files`` (the last message's)."""
    warnings.filterwarnings("ignore", category=UserWarning)  # AUTH without TLS: on purpose
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    from tests.smtp_servers import SmtpServer

    server = SmtpServer("plain", auth=True, port=port)
    server.messages = Tally()
    server.start()
    pipe.send(("ready", port))
    while (command := pipe.recv()) != "stop":
        if command == "count":
            pipe.send((len(server.messages), len(set(server.messages))))
        elif command == "bytes":
            pipe.send(server.messages.bytes)
        elif command == "files":
            pipe.send(files_of(server.messages.last) if server.messages.last else {})
        elif command == "reset":
            server.messages = Tally()
            server.commands.clear()
            server.auth_attempts.clear()
            pipe.send("reset")
    server.stop()
    pipe.send("stopped")


# -- the app and the children that are measured ----------------------------------------
def open_app(instance):
    """The app on the migrated database in ``instance`` (as a worker process starts it)."""
    app = create_app(
        {
            "INSTANCE_PATH": instance,
            "SQLALCHEMY_DATABASE_URI": sqlite_url(instance),
            "SMTP_ALLOW_LOOPBACK": True,
            "RESOURCE_CHECK_SECONDS": 0,
        }
    )
    logging.getLogger("webapp").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return app


class MeasuredRequest:
    """WSGI middleware measuring the next request once armed: from reading its body to the
    last byte of its answer, without the server around it (werkzeug's development server
    drains leftover input into a 10 MB buffer after answering, which is not the app's)."""

    def __init__(self, wsgi_app):
        self.wsgi_app, self.armed, self.figures = wsgi_app, False, None

    def __call__(self, environ, start_response):
        if not self.armed:
            return self.wsgi_app(environ, start_response)
        self.armed = False
        with PeakMemory(traced=True) as memory:
            answer = self.wsgi_app(environ, start_response)
            try:
                body = b"".join(answer)
            finally:
                if hasattr(answer, "close"):
                    answer.close()
        self.figures = memory.figures()
        return [body]


def serve_api(pipe, instance):
    """The app under werkzeug's threaded server: ``arm`` measures the next request, ``read``
    answers its figures, ``stop`` ends it."""
    app = open_app(instance)
    app.wsgi_app = measured = MeasuredRequest(app.wsgi_app)
    server = make_server(HOST, 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pipe.send(("ready", server.server_port))
    while (command := pipe.recv()) != "stop":
        if command == "arm":
            measured.armed = True
            pipe.send("armed")
        elif command == "read":
            pipe.send(measured.figures)
    server.shutdown()
    pipe.send("stopped")


def deliver(pipe, instance):
    """``Worker(app).run(once=True)`` in a fresh process: its counts, seconds and memory."""
    app = open_app(instance)
    with PeakMemory() as memory:
        started = time.perf_counter()
        counts = Worker(app, poll_interval=0).run(once=True)
        seconds = time.perf_counter() - started
    pipe.send({"counts": counts, "seconds": seconds, **memory.figures()})


def in_child(target, *args, timeout=1800):
    """Run ``target(pipe, *args)`` in a fresh (spawned) process; what it sent."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    if not parent.poll(timeout):
        process.kill()
        raise SystemExit(f"{target.__name__} did not finish within {timeout} s")
    result = parent.recv()
    process.join(30)
    return result


def post(port, token, body):
    """POST /api/v1/notifications over a fresh connection: (status, JSON answer)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request(
            "POST",
            "/api/v1/notifications",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def measure_api(instance, token, topic, files, key, expected):
    """One POST of the notification to a fresh API server process; its figures."""
    body = request_body(topic, files, key)
    with ChildServer(serve_api, instance) as api:
        # Warm up on a topic nobody follows, without files: the code is loaded, but no
        # memory the measured request needs is already resident.
        status, _ = post(api.port, token, request_body("card:warm-up", None, key + "-warm"))
        if status != 202:
            raise SystemExit(f"warm-up POST: HTTP {status}")
        api.ask("arm")
        started = time.perf_counter()
        status, answer = post(api.port, token, body)
        seconds = time.perf_counter() - started
        figures = api.ask("read")
    if status != 202 or answer.get("recipients") != expected:
        raise SystemExit(f"POST: HTTP {status} {answer}, expected 202 and {expected} recipients")
    return {"body": len(body), "seconds": seconds, "id": answer["id"], **figures}


def measure_worker(instance, server, expected, files):
    """Deliver everything due in a fresh worker process; check what the server got."""
    result = in_child(deliver, instance)
    if result["counts"]["sent"] != expected:
        raise SystemExit(f"worker: {result['counts']}, expected {expected} sent")
    size = server.ask("bytes")
    if files:
        png, xlsx = files
        wanted = {"sales.png": png, "销售日报.xlsx": xlsx}
        got = server.ask("files")
        if got != {name: hashlib.sha256(data).hexdigest() for name, data in wanted.items()}:
            raise SystemExit(f"the files did not arrive byte for byte: {sorted(got)}")
    server.received(expected, "worker")
    return {**result, "bytes": size}


def smtp_ceiling(app, server, notification_id, count):
    """smtplib over one connection and login, each message built just before it is sent by
    the app's own ``NotificationMessage``: what one session can do; seconds."""
    from tests.smtp_servers import LOGIN, PASSWORD

    with app.app_context():
        deliveries = db.session.scalars(
            select(Delivery)
            .where(Delivery.notification_id == notification_id)
            .order_by(Delivery.id)
            .limit(count)
        ).all()
        settings = load_settings()
        message = NotificationMessage(settings, deliveries[0].notification)
        sender = settings.sender_email
        started = time.perf_counter()
        with smtplib.SMTP(HOST, server.port, local_hostname="localhost", timeout=60) as smtp:
            smtp.login(LOGIN, PASSWORD)
            for d in deliveries:
                raw = message.for_recipient(d.recipient, d.message_id, d.user_id, d.topic)
                smtp.sendmail(sender, [d.recipient], raw)
        seconds = time.perf_counter() - started
        db.session.rollback()
    server.received(count, "ceiling")
    return seconds


# -- setup ---------------------------------------------------------------------------
def prepare(app, recipients, small):
    """Topics for both fan-outs, ``recipients`` members following the large one and the
    first ``small`` of them the small one (bulk INSERTs), and an API token."""
    with app.app_context():
        for name in ("card:sales", "card:sales-small", "card:warm-up"):
            save_topic(
                name, title="Daily sales", url=None, kind="card", roles=[], users=[], actor="bench"
            )
        # One real hash shared by every row: the fan-out never reads it.
        password_hash = PasswordHasher(**FAST_HASH).hash("not-used")
        now = utcnow()
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"reader{n:05d}@example.com",
                    "name": f"Reader {n}",
                    "password_hash": password_hash,
                    "role": "member",
                    "active": True,
                    "created_at": now,
                }
                for n in range(recipients)
            ],
        )
        columns = ["user_id", "topic", "subscribed", "created_at"]
        for topic, count in (("card:sales", recipients), ("card:sales-small", small)):
            readers = (
                select(User.id, literal(topic), literal(True), literal(now))
                .where(User.email.like("reader%@example.com"))
                .order_by(User.email)
                .limit(count)
            )
            db.session.execute(insert(Subscription).from_select(columns, readers))
        _, token = create_token("bench-attachments", "bench")
        db.session.commit()
        return token


# -- the run -------------------------------------------------------------------------
def run(instance, server, args, files):
    """Each variant: the API request, then the worker delivering it; figures by variant."""
    app = build_app(instance, SMTP_ALLOW_LOOPBACK=True, RESOURCE_CHECK_SECONDS=0)
    configure_service(app, server.port, "none")
    token = prepare(app, args.recipients, args.small)
    dispose(app)  # the measured processes open their own
    results = {}
    variants = [
        (args.recipients, "card:sales", False),
        (args.recipients, "card:sales", True),
        (args.small, "card:sales-small", False),
        (args.small, "card:sales-small", True),
    ]
    for count, topic, with_files in variants:
        chosen = files if with_files else None
        key = f"bench-{count}-{'files' if with_files else 'plain'}"
        api = measure_api(instance, token, topic, chosen, key, count)
        worker = measure_worker(instance, server, count, chosen)
        results[count, with_files] = (api, worker)
    ceilings = {}
    for with_files in (False, True):
        notification_id = results[args.recipients, with_files][0]["id"]
        seconds = smtp_ceiling(app, server, notification_id, args.ceiling)
        ceilings[with_files] = args.ceiling / seconds
    dispose(app)
    return results, ceilings


def mb(value):
    return f"{value / MB:,.1f}"


def label(count, with_files):
    files = "PNG 500 KB inline + XLSX 2 MB" if with_files else "no files"
    return f"{count:,} recipients, {files}"


def print_api(results):
    """The API request of each variant: body, time, peak memory, ratios."""
    print("API request: POST /api/v1/notifications to werkzeug's threaded server, own process")
    rows = []
    for (count, with_files), (api, _) in results.items():
        plain = results[count, False][0]
        rows.append(
            (
                label(count, with_files),
                mb(api["body"]),
                f"{api['seconds']:.2f}",
                mb(api["traced_peak"]),
                ratio(api["traced_peak"], api["body"]) if with_files else "-",
                mb(api["rss_growth"]),
                ratio(api["rss_growth"], plain["rss_growth"]),
            )
        )
    columns = [("notification", 49), ("body MB", 8), ("seconds", 8), ("traced MB", 10),
               ("x body", 7), ("RSS+ MB", 8), ("x no files", 10)]  # fmt: skip
    print_table(columns, rows)


def print_worker(results, ceilings):
    """The worker's delivery of each variant: rate, bytes, peak memory, ratios."""
    print("worker: Worker(app).run(once=True) in its own process, 4 sessions; aiosmtpd elsewhere")
    rows = []
    for (count, with_files), (_, worker) in results.items():
        plain = results[count, False][1]
        rate = count / worker["seconds"]
        rows.append(
            (
                label(count, with_files),
                f"{count:,}",
                f"{worker['seconds']:.2f}",
                f"{rate:,.1f}",
                ratio(rate, count / plain["seconds"]),
                ratio(rate, ceilings[with_files]),
                f"{worker['bytes'] / count / 1024:,.0f}",
                mb(worker["rss_growth"]),
                ratio(worker["rss_growth"], plain["rss_growth"]),
            )
        )
    columns = [("notification", 49), ("sent", 6), ("seconds", 8), ("msg/s", 7),
               ("x no files", 10), ("x ceiling", 9), ("KB/msg", 7), ("RSS+ MB", 8),
               ("x no files", 10)]  # fmt: skip
    print_table(columns, rows)
    for with_files, rate in ceilings.items():
        print(
            f"ceiling ({'with' if with_files else 'without'} files): smtplib, one connection,"
            f" each message built by NotificationMessage just before sending: {rate:,.1f} msg/s"
        )
    print(
        "(RSS+: how far the peak resident memory rose over the measured part; traced MB:"
        " tracemalloc's peak of Python allocations)"
    )


def print_targets(results, args):
    """Memory must not grow with the number of recipients."""
    big, small = args.recipients, args.small
    checks = [(f"worker peak RSS+ ({files})", 1, "rss_growth", with_files)
              for with_files, files in ((False, "no files"), (True, "files"))]  # fmt: skip
    checks.append(("API traced peak (files)", 0, "traced_peak", True))
    for name, part, figure, with_files in checks:
        grown = results[big, with_files][part][figure]
        base = results[small, with_files][part][figure]
        times = grown / base if base else float("inf")
        print(
            f"target: {name} at {big:,} recipients <= {FLAT_TARGET:.2f}x at {small:,}:"
            f" {mb(grown)} vs {mb(base)} MB, {times:.2f}x -> {verdict(times <= FLAT_TARGET)}"
        )


def report(results, ceilings, args):
    """The two tables and the targets."""
    print()
    print_api(results)
    print()
    print_worker(results, ceilings)
    print()
    print_targets(results, args)


def main():
    """Measure in a throw-away instance folder against a server in another process."""
    args = parse_args()
    rng = random.Random(12)  # the same files every run
    files = (make_png(rng), make_xlsx(rng))
    print(machine_line())
    print(
        f"files: PNG {len(files[0]):,} bytes (inline, cid:chart1), XLSX {len(files[1]):,} bytes"
        " (a zip of random data); SMTP server: aiosmtpd (tests.smtp_servers.SmtpServer) in a"
        " separate process, plain SMTP with AUTH, 127.0.0.1; database: SQLite; worker: 4"
        " sessions (max_connections default), batch size 50"
    )
    with tempfile.TemporaryDirectory(prefix="bench-attachments-") as instance:
        with ChildServer(serve_smtp, free_port()) as server:
            results, ceilings = run(instance, server, args, files)
        report(results, ceilings, args)


if __name__ == "__main__":
    main()
