"""Delivery throughput: ``notifier run --once`` against smtplib over one connection or many."""

import argparse
import cProfile
import logging
import os
import pstats
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import (
    HOST,
    PROJECT,
    ChildServer,
    build_app,
    cumtime_of,
    dispose,
    free_port,
    machine_line,
    print_profile,
    print_table,
    ratio,
    verdict,
)
from sqlalchemy import insert, select
from sqlalchemy.orm import joinedload

from webapp.email_service.models import load_settings
from webapp.extensions import db
from webapp.notifier.messages import NotificationMessage
from webapp.notifier.models import Delivery, Notification
from webapp.notifier.outbox import delivery_row, enqueue
from webapp.notifier.worker import Worker
from webapp.timeutil import utcnow

CEILING_TARGET = 0.70  # the worker should reach 70 % of one bare smtplib connection
NAIVE_TARGET = 3.0  # and three times a loop that connects once per message
SENDER_NAME = "数据平台"
TEXT = "Sales rose 4 % week on week; the East region leads. Open the dashboard for details.\n"
HTML = "<p>Sales rose <b>4 %</b> week on week; the <i>East</i> region leads.</p>\n"
# Where the profile's time goes, per message: (label, file suffix, function[, first line]).
PARTS = [
    ("claim a batch (claim_due)", "notifier/worker.py", "claim_due"),
    ("hold check (sync_hold_state)", "notifier/worker.py", "sync_hold_state"),
    (
        "render + build per notification and batch",
        "notifier/messages.py",
        "__init__",
        NotificationMessage.__init__.__code__.co_firstlineno,  # not _Body's, which it calls
    ),
    ("finish each recipient's bytes (for_recipient)", "notifier/messages.py", "for_recipient"),
    ("new SmtpConversation (builds a TLS context)", "email_service/diagnosis.py", "conversation"),
    ("SMTP connect + login (open)", "email_service/transport.py", "open"),
    ("SMTP MAIL/RCPT/DATA (send)", "email_service/transport.py", "send"),
    ("SMTP QUIT (close)", "email_service/transport.py", "close"),
    ("mark sent (one UPDATE per group)", "notifier/outcomes.py", "mark_sent"),
    (
        "  of which syncing the session (evaluate)",
        "orm/bulk_persistence.py",
        "_do_post_synchronize_evaluate",
    ),
    ("reload rows expired by a commit (SELECT)", "sqlalchemy/orm/state.py", "_load_expired"),
    ("every COMMIT (db.session.commit)", "sqlalchemy/orm/scoping.py", "commit"),
]


def parse_args():
    """Sizes of the run; the defaults are the figures quoted in the project notes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--naive", type=int, default=300, help="messages sent one per connection")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled run")
    parser.add_argument(
        "--security",
        choices=("none", "ssl"),
        default="none",
        help="plain SMTP (default) or implicit TLS with a trustme certificate",
    )
    return parser.parse_args()


# -- the SMTP server, in its own process -----------------------------------------------
def serve_smtp(pipe, port, cert_path=None):
    """aiosmtpd (tests.smtp_servers.SmtpServer with AUTH) answering commands on ``pipe``.

    Plain SMTP, or implicit TLS with the certificate in ``cert_path``.
    """
    warnings.filterwarnings("ignore", category=UserWarning)  # AUTH without TLS: on purpose
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # a warning per connection
    from tests.smtp_servers import SmtpServer

    if cert_path:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path)
        server = SmtpServer("ssl", auth=True, tls_context=context, port=port).start()
    else:
        server = SmtpServer("plain", auth=True, port=port).start()
    pipe.send(("ready", port))
    while True:
        command = pipe.recv()
        if command == "count":
            ids = {m.original_content.split(b"Message-ID: ")[-1][:120] for m in server.messages}
            pipe.send((len(server.messages), len(ids)))
        elif command == "reset":
            server.messages.clear()
            server.commands.clear()
            server.auth_attempts.clear()
            pipe.send("reset")
        else:
            server.stop()
            pipe.send("stopped")
            return


# -- the app -------------------------------------------------------------------------
def configure_service(app, port, security):
    """Email Service settings pointing at the server, stored as a verified save would."""
    from tests.smtp_servers import LOGIN, PASSWORD

    with app.app_context():
        row = load_settings()
        row.smtp_host, row.smtp_port, row.security = HOST, port, security
        row.sender_email, row.sender_name, row.login_name = LOGIN, SENDER_NAME, ""
        row.test_email, row.enabled = "ops@example.com", True
        row.version = (row.version or 0) + 1
        row.set_password(PASSWORD, "bench")
        db.session.add(row)
        db.session.commit()


def queue_fan_out(app, count):
    """One notification to ``count`` addresses through ``enqueue``; its id."""
    with app.app_context():
        notification, recipients = enqueue(
            kind="subscription",
            subject="Weekly sales dashboard",
            text=TEXT * 12,
            html=HTML * 12,
            to=[f"reader{n}@example.com" for n in range(count)],
            created_by="bench",
        )
        db.session.commit()
        assert recipients == count
        return notification.id


def queue_separate(app, count):
    """``count`` notifications of one recipient each, inserted in bulk (alert-style)."""
    now = utcnow()
    ids = [f"bench{n:027d}" for n in range(count)]
    with app.app_context():
        db.session.execute(
            insert(Notification),
            [
                {
                    "id": nid,
                    "kind": "alert",
                    "subject": f"Revenue below threshold on card {n}",
                    "text": TEXT * 12,
                    "html": HTML * 12,
                    "created_by": "bench",
                    "created_at": now,
                }
                for n, nid in enumerate(ids)
            ],
        )
        db.session.execute(
            insert(Delivery),
            [
                delivery_row(nid, f"owner{n}@example.com", f"<{nid}.a0@bench>", now)
                for n, nid in enumerate(ids)
            ],
        )
        db.session.commit()


def prebuilt_messages(app, notification_id):
    """The bytes the worker would send for each delivery, built by the app's own functions."""
    with app.app_context():
        deliveries = db.session.scalars(
            select(Delivery)
            .options(joinedload(Delivery.notification))
            .where(Delivery.notification_id == notification_id)
            .order_by(Delivery.id)
        ).all()
        settings = load_settings()
        message = NotificationMessage(settings, deliveries[0].notification)
        return settings.sender_email, [
            (d.recipient, message.for_recipient(d.recipient, d.message_id, d.user_id, d.topic))
            for d in deliveries
        ]


# -- the measurements ------------------------------------------------------------------
def connect(port, tls):
    """A plain smtplib connection, or an implicit-TLS one verified against ``tls``."""
    if tls is None:
        return smtplib.SMTP(HOST, port, local_hostname="localhost", timeout=10)
    return smtplib.SMTP_SSL(HOST, port, local_hostname="localhost", timeout=10, context=tls)


def smtp_ceiling(port, sender, messages, tls):
    """Every message over one connection, one login: the most a client can get."""
    from tests.smtp_servers import LOGIN, PASSWORD

    started = time.perf_counter()
    with connect(port, tls) as smtp:
        smtp.login(LOGIN, PASSWORD)
        for recipient, raw in messages:
            smtp.sendmail(sender, [recipient], raw)
    return time.perf_counter() - started


def smtp_naive(port, sender, messages, tls):
    """A new connection and login for each message."""
    from tests.smtp_servers import LOGIN, PASSWORD

    started = time.perf_counter()
    for recipient, raw in messages:
        with connect(port, tls) as smtp:
            smtp.login(LOGIN, PASSWORD)
            smtp.sendmail(sender, [recipient], raw)
    return time.perf_counter() - started


def worker_in_process(app, count, profiler=None):
    """``Worker(app).run(once=True)`` in this process: seconds (inside ``profiler`` if given);
    SystemExit unless it sent all ``count``."""
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    counts = Worker(app, poll_interval=0).run(once=True)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    if counts["sent"] != count:
        raise SystemExit(f"the worker sent {counts}, expected {count}")
    return seconds


def worker_cli(instance, ca_bundle):
    """``flask --app wsgi notifier run --once`` in a new process: (seconds, its summary line)."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(
        {"INSTANCE_PATH": instance, "SMTP_ALLOW_LOOPBACK": "1", "RESOURCE_CHECK_SECONDS": "0"}
    )
    if ca_bundle:
        env["SMTP_CA_BUNDLE"] = ca_bundle
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "notifier", "run", "--once"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"notifier run --once exited {done.returncode}:\n{done.stderr[-2000:]}")
    summary = [line for line in done.stdout.splitlines() if line.startswith("Delivered:")]
    return seconds, summary[-1] if summary else "?"


def print_rates(rows, ceiling, naive):
    """Messages per second of each way, with its ratios to the two yardsticks."""
    print_table(
        [
            ("measurement", 56),
            ("messages", 8),
            ("seconds", 8),
            ("msg/s", 7),
            ("x ceiling", 9),
            ("x naive", 8),
        ],
        [
            (
                name,
                f"{count:,}",
                f"{seconds:.2f}",
                f"{count / seconds:,.0f}",
                ratio(count / seconds, ceiling),
                ratio(count / seconds, naive),
            )
            for name, count, seconds in rows
        ],
    )


def part_time(stats, suffix, name, line=None):
    """(calls, cumulative seconds) of a part; ``line`` tells apart functions of one name."""
    if line is None:
        return cumtime_of(stats, suffix, name)
    calls = cumulative = 0
    for (filename, first_line, function), (_, ncalls, _, cumtime, _) in stats.stats.items():
        if (function, first_line) == (name, line) and filename.endswith(suffix):
            calls += ncalls
            cumulative += cumtime
    return calls, cumulative


def print_breakdown(profile_path, count):
    """Where the profiled worker's time goes, per message, then the top functions."""
    stats = pstats.Stats(str(profile_path))
    total = max(cumtime for _, _, _, cumtime, _ in stats.stats.values())
    print(
        f"profile (cProfile, one more in-process run of {count:,}; cProfile slows it, read the"
        f" shares): {total:.2f} s in all"
    )
    rows = []
    for label, *where in PARTS:
        calls, cumulative = part_time(stats, *where)
        rows.append(
            (
                label,
                f"{calls:,}",
                f"{cumulative:.2f}",
                f"{cumulative * 1e6 / count:,.0f}",
                f"{cumulative / total:.0%}",
            )
        )
    print_table(
        [("part", 44), ("calls", 7), ("cum s", 7), ("us/msg", 7), ("share", 6)],
        rows,
    )
    print("(parts overlap: mark_sent's UPDATE runs inside the commit that follows it)")
    print()
    print_profile(stats, count, "msg")


def run(instance, server, args, ca_bundle):
    """All the measurements on one app; rows for the table, and the profile's path."""
    app = build_app(
        instance, SMTP_ALLOW_LOOPBACK=True, RESOURCE_CHECK_SECONDS=0, SMTP_CA_BUNDLE=ca_bundle
    )
    configure_service(app, server.port, args.security)
    tls = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
    first = queue_fan_out(app, args.messages)
    sender, messages = prebuilt_messages(app, first)
    ceiling = smtp_ceiling(server.port, sender, messages, tls)
    server.received(args.messages, "ceiling")
    naive = smtp_naive(server.port, sender, messages[: args.naive], tls)
    server.received(args.naive, "naive")
    rows = [
        ("ceiling: smtplib, one connection, pre-built messages", args.messages, ceiling),
        (
            f"naive: smtplib, connection per message ({args.naive} measured)",
            args.naive,
            naive,
        ),
    ]
    seconds = worker_in_process(app, args.messages)  # delivers the queue built above
    server.received(args.messages, "worker")
    rows.append(("notifier run --once, in-process Worker (fan-out)", args.messages, seconds))
    queue_separate(app, args.messages)
    seconds = worker_in_process(app, args.messages)
    server.received(args.messages, "worker, separate notifications")
    rows.append(
        (
            f"  same, {args.messages:,} separate notifications (a render each)",
            args.messages,
            seconds,
        )
    )
    idle, _ = worker_cli(instance, ca_bundle)
    queue_fan_out(app, args.messages)
    seconds, summary = worker_cli(instance, ca_bundle)
    server.received(args.messages, "CLI")
    rows.append(("notifier run --once, CLI subprocess (incl. start-up)", args.messages, seconds))
    profile_path = None
    if not args.no_profile:
        queue_fan_out(app, args.messages)
        profile_path = Path(instance, "notifier.prof")
        profiler = cProfile.Profile()
        worker_in_process(app, args.messages, profiler)
        profiler.dump_stats(profile_path)
        server.received(args.messages, "profiled worker")
    dispose(app)
    return rows, idle, summary, profile_path


def tls_files(folder):
    """A trustme CA (its PEM for SMTP_CA_BUNDLE) and a server certificate for 127.0.0.1."""
    import trustme

    ca = trustme.CA()
    ca_bundle, cert_path = str(Path(folder, "ca.pem")), str(Path(folder, "server.pem"))
    ca.cert_pem.write_to_path(ca_bundle)
    ca.issue_cert(HOST, "localhost").private_key_and_cert_chain_pem.write_to_path(cert_path)
    return ca_bundle, cert_path


def main():
    """Measure in a throw-away instance folder against a server in another process."""
    args = parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench-notifier-") as instance:
        ca_bundle, cert_path = tls_files(instance) if args.security == "ssl" else (None, None)
        mode = "implicit TLS (465-style)" if cert_path else "plain SMTP"
        print(
            "SMTP server: aiosmtpd (tests.smtp_servers.SmtpServer) in a separate process,"
            f" {mode} with AUTH LOGIN, 127.0.0.1; {args.messages:,} messages of ~3.4 KB"
            " (text + HTML, quoted-printable); database: SQLite; worker batch size:"
            " 50 (NOTIFIER_BATCH_SIZE default)"
        )
        with ChildServer(serve_smtp, free_port(), cert_path) as server:
            rows, idle, summary, profile_path = run(instance, server, args, ca_bundle)
            report(rows, idle, summary, profile_path, args)


def report(rows, idle, summary, profile_path, args):
    """The table, the two targets, and the profile's breakdown."""
    ceiling_rate = rows[0][1] / rows[0][2]
    naive_rate = rows[1][1] / rows[1][2]
    worker_rate = rows[2][1] / rows[2][2]
    print()
    print_rates(rows, ceiling_rate, naive_rate)
    print(
        f"(naive: {args.naive} messages measured; at that rate {args.messages:,} would take"
        f" {args.messages / naive_rate:.1f} s. CLI with nothing due: {idle:.2f} s of"
        f' interpreter and app start-up; it printed "{summary}")'
    )
    print()
    share = worker_rate / ceiling_rate
    print(
        f"target: notifier >= {CEILING_TARGET:.0%} of the ceiling: {share:.0%}"
        f" -> {verdict(share >= CEILING_TARGET)}"
    )
    times = worker_rate / naive_rate
    print(
        f"target: notifier >= {NAIVE_TARGET:.0f}x naive: {times:.1f}x"
        f" -> {verdict(times >= NAIVE_TARGET)}"
    )
    if ceiling_rate < NAIVE_TARGET * naive_rate:
        print(
            f"(here even the ceiling is only {ceiling_rate / naive_rate:.1f}x naive: a new"
            " connection costs little on loopback; try --security ssl)"
        )
    if profile_path:
        print()
        print_breakdown(profile_path, args.messages)


if __name__ == "__main__":
    main()
