"""Notification API under gunicorn: POSTs to one address, and one POST to 10,000 subscribers."""

import argparse
import json
import math
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from _common import (
    FAST_HASH,
    Gunicorn,
    build_app,
    database_label,
    dispose,
    machine_line,
    print_table,
    ratio,
    request,
    run_python_load,
    verdict,
    warm_up,
)
from argon2 import PasswordHasher
from sqlalchemy import delete, insert, literal, select

from webapp.auth.models import User
from webapp.extensions import db
from webapp.notifier.models import ApiToken, Notification, Subscription
from webapp.notifier.outbox import enqueue
from webapp.notifier.tokens import create_token
from webapp.notifier.topics import save_topic
from webapp.timeutil import utcnow

FANOUT_TARGET = 2.0  # seconds to queue one POST to a topic with 10,000 subscribers
TOKEN_SHARE = 5000  # requests per token: the API allows 6,000 a minute per token and worker
CONNECTIONS = 8  # as many as the two gunicorn workers have threads


def parse_args():
    """Sizes of the run; the defaults are the figures quoted in the project notes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="POSTs (and GETs) in (a)")
    parser.add_argument("--subscribers", type=int, default=10_000, help="topic size in (b)")
    parser.add_argument("--runs", type=int, default=5, help="timed fan-out POSTs in (b)")
    return parser.parse_args()


def prepare(app, run_id, args):
    """API tokens and ``args.subscribers`` users subscribed to one topic (bulk INSERTs)."""
    with app.app_context():
        tokens = [
            create_token(f"bench-{run_id}-{n}", "system")[1]
            for n in range(math.ceil(args.requests / TOKEN_SHARE))
        ]
        db.session.commit()
        # One real hash shared by every row: the fan-out never reads it.
        password_hash = PasswordHasher(**FAST_HASH).hash("not-used")
        started = time.perf_counter()
        now = utcnow()
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"subscriber{n}@{run_id}.example.com",
                    "name": f"Subscriber {n}",
                    "password_hash": password_hash,
                    "role": "member",
                    "active": True,
                    "created_at": now,
                }
                for n in range(args.subscribers)
            ],
        )
        subscribers = select(User.id, literal(topic(run_id)), literal(True), literal(now)).where(
            User.email.like(f"%@{run_id}.example.com")
        )
        columns = ["user_id", "topic", "subscribed", "created_at"]
        db.session.execute(insert(Subscription).from_select(columns, subscribers))
        # A notification names a registered topic (empty audience: every user receives it).
        save_topic(topic(run_id), title="Bench", url=None, kind="card", roles=[], users=[],
                   actor="system")  # fmt: skip
        db.session.commit()
        return tokens, time.perf_counter() - started


def topic(run_id):
    return f"card:bench-{run_id}"


def body(**fields):
    """A notification as the report renderer would send it."""
    return json.dumps(
        {
            "kind": "subscription",
            "subject": "Weekly sales dashboard",
            "text": "Sales rose 4 % week on week. Open the dashboard for the details.\n" * 10,
            "html": "<p>Sales rose <b>4 %</b> week on week.</p>" * 10,
            **fields,
        }
    )


def headers_for(token):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def load_one_address(server, tokens, run_id, count):
    """(a) ``count`` POSTs to one address, and ``count`` GET /healthz, over keep-alive."""
    warm_up(server.port, "/healthz")
    healthz = run_python_load(
        server.port,
        [("GET", "/healthz", None, {})] * CONNECTIONS,
        seconds=120,
        max_requests=count,
    )
    template = body(to=["ops@example.com"], idempotency_key=f"bench-{run_id}-{{n}}")
    specs = [
        ("POST", "/api/v1/notifications", template, headers_for(tokens[c % len(tokens)]))
        for c in range(CONNECTIONS)
    ]
    posts = run_python_load(server.port, specs, seconds=120, max_requests=count)
    return healthz, posts


def timed_post(server, token, payload, expected_recipients):
    """One POST on a fresh connection: seconds until its 202."""
    started = time.perf_counter()
    status, _, answer = request(
        server.port, "POST", "/api/v1/notifications", body=payload, headers=headers_for(token)
    )
    seconds = time.perf_counter() - started
    if status != 202 or json.loads(answer)["recipients"] != expected_recipients:
        raise SystemExit(f"POST /api/v1/notifications: HTTP {status} {answer[:300]!r}")
    return seconds


def fan_out(server, app, token, run_id, args):
    """(b) one-address POSTs (baseline), topic POSTs over HTTP, and ``enqueue`` in-process."""
    one = [timed_post(server, token, body(to=["ops@example.com"]), 1) for _ in range(args.runs)]
    http = [
        timed_post(server, token, body(topic=topic(run_id)), args.subscribers)
        for _ in range(args.runs)
    ]
    direct = []
    with app.app_context():
        for _ in range(args.runs):
            started = time.perf_counter()
            _, recipients = enqueue(
                kind="subscription",
                subject="Weekly sales dashboard",
                text="Sales rose 4 %.",
                topic=topic(run_id),
                created_by=f"token:bench-{run_id}-0",
            )
            db.session.commit()
            direct.append(time.perf_counter() - started)
            if recipients != args.subscribers:
                raise SystemExit(f"enqueue queued {recipients}, not {args.subscribers}")
    return one, http, direct


def clean_up(app, run_id):
    """On a shared database (PostgreSQL), remove what the run added, except audit events."""
    with app.app_context():
        db.session.execute(
            delete(Notification).where(Notification.created_by.like(f"token:bench-{run_id}-%"))
        )
        db.session.execute(delete(User).where(User.email.like(f"%@{run_id}.example.com")))
        db.session.execute(delete(ApiToken).where(ApiToken.name.like(f"bench-{run_id}-%")))
        db.session.commit()


def run(label, instance, database_url, args):
    """Everything on one database; returns the rows for the tables."""
    run_id = secrets.token_hex(4)
    app = build_app(instance, database_url)
    print(f"[{label}] database: {database_label(app)}")
    tokens, fill_seconds = prepare(app, run_id, args)
    print(
        f"[{label}] fill: {args.subscribers:,} users + subscriptions (bulk INSERT) in"
        f" {fill_seconds:.2f} s; {len(tokens)} API tokens (6,000/min each and worker)"
    )
    env = {"INSTANCE_PATH": instance, "SECRET_KEY": secrets.token_urlsafe(32)}
    if database_url:
        env["DATABASE_URL"] = database_url
    try:
        with Gunicorn("wsgi:app", log_path=Path(instance, "gunicorn.log"), env=env) as server:
            server.start(ready_path="/healthz")
            healthz, posts = load_one_address(server, tokens, run_id, args.requests)
            one, http, direct = fan_out(server, app, tokens[0], run_id, args)
    finally:
        if database_url:
            clean_up(app, run_id)
        dispose(app)
    return healthz, posts, one, http, direct


def print_load(label, healthz, posts):
    """(a): throughput and latency of both loads, and the POST/healthz ratio."""
    columns = [
        (f"(a) [{label}]", 44),
        ("requests", 9),
        ("seconds", 8),
        ("req/s", 8),
        ("p50 ms", 7),
        ("p99 ms", 7),
        ("bad", 5),
        ("x healthz", 9),
    ]
    rows = []
    for name, result, expected in (
        ("baseline: GET /healthz", healthz, 200),
        ("POST /api/v1/notifications, one address", posts, 202),
    ):
        rows.append(
            (
                name,
                f"{result.requests:,}",
                f"{result.seconds:.2f}",
                f"{result.rps:,.0f}",
                f"{result.p50:.2f}",
                f"{result.p99:.2f}",
                f"{result.unexpected(expected):,}",
                ratio(result.rps, healthz.rps),
            )
        )
    print_table(columns, rows)


def print_fan_out(label, args, one, http, direct):
    """(b): medians of the timed POSTs, against a one-address POST."""
    baseline = statistics.median(one)
    columns = [
        (f"(b) [{label}]", 52),
        ("runs", 4),
        ("median s", 9),
        ("min s", 7),
        ("max s", 7),
        ("x one", 7),
    ]
    rows = [
        (name, f"{len(s)}", f"{statistics.median(s):.3f}", f"{min(s):.3f}", f"{max(s):.3f}")
        + (ratio(statistics.median(s), baseline),)
        for name, s in (
            ("baseline: POST, one address", one),
            (f"POST, topic with {args.subscribers:,} subscribers", http),
            ("  of which enqueue + commit in-process (no HTTP)", direct),
        )
    ]
    print_table(columns, rows)
    median = statistics.median(http)
    print(
        f"target [{label}]: queue one POST to {args.subscribers:,} subscribers in"
        f" < {FANOUT_TARGET:.0f} s (median of {len(http)}): {median:.3f} s"
        f" -> {verdict(median < FANOUT_TARGET)}"
    )


def main():
    """SQLite in a throw-away instance folder; PostgreSQL too when DATABASE_URL names one."""
    args = parse_args()
    print(machine_line())
    print(
        "server: the real app under gunicorn -c gunicorn.conf.py (gthread, 2 workers x 4"
        " threads), 127.0.0.1"
    )
    print(
        f"load generator: Python, 2 processes, {CONNECTIONS} keep-alive connections,"
        f" {args.requests:,} requests per load (at most 120 s)"
    )
    databases = [("sqlite", None)]
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        databases.append(("postgresql", url))
    else:
        print("(set DATABASE_URL to a scratch PostgreSQL database to run it there too)")
    results = []
    for label, database_url in databases:
        with tempfile.TemporaryDirectory(prefix="bench-api-") as instance:
            results.append((label, *run(label, instance, database_url, args)))
    for label, healthz, posts, one, http, direct in results:
        print()
        print_load(label, healthz, posts)
        print()
        print_fan_out(label, args, one, http, direct)


if __name__ == "__main__":
    main()
