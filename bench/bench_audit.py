"""Audit log benchmark: 100,000 chained events, then the review pages and the CSV export."""

import argparse
import json
import logging
import random
import re
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from flask_migrate import upgrade
from sqlalchemy import insert, select, text

# Run as a script from the project root: make ``webapp`` and ``tests.helpers`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import AuthActions  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.audit.anchor import chain_key  # noqa: E402
from webapp.audit.cli import first_break  # noqa: E402
from webapp.audit.models import GENESIS, AuditEvent  # noqa: E402
from webapp.auth.models import User  # noqa: E402
from webapp.database import is_postgresql  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.timeutil import utcnow  # noqa: E402

FAST_HASH = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
ADMIN_EMAIL = "bench.admin@example.com"
ADMIN_PASSWORD = "bench-admin-password-1"
BATCH = 5_000
SPAN = timedelta(days=90)
# Roughly what a busy quarter looks like: mostly logins, a steady trickle of changes.
ACTIONS = {
    "auth.login": 30,
    "auth.logout": 18,
    "auth.login_failed": 8,
    "user.updated": 10,
    "email_settings.tested": 8,
    "email_settings.updated": 5,
    "access.denied": 4,
    "audit.exported": 3,
    "user.created": 2,
    "token.created": 1,
    "token.revoked": 1,
    "key.rotated": 0.2,
}
PEOPLE = [f"analyst{n:02d}@example.com" for n in range(1, 18)]
ACTORS = PEOPLE + ["system", "token:etl"]  # with "anonymous" for failed logins: 20 actors
ACTOR_WEIGHTS = [1 / rank for rank in range(1, len(ACTORS) + 1)]  # a few very active ones
AGENTS = ("Mozilla/5.0 (Windows NT 10.0) Chrome/126", "Mozilla/5.0 (Macintosh) Safari/17", "")
ID_CELL = re.compile(r'<td class="text-muted small">\d+</td>')
TOTAL = re.compile(r"(\d+) events?(?: match)?; page")


def parse_args():
    """Sizes of the run; the defaults are the figures quoted in the project notes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20, help="timed GETs per page")
    parser.add_argument("--csv-runs", type=int, default=5, help="timed full CSV exports")
    return parser.parse_args()


def build_app(instance):
    """The real app on a migrated database, with one administrator."""
    app = create_app({"INSTANCE_PATH": instance, "ARGON2_PARAMS": FAST_HASH})
    # Every audit event logs a line at INFO; the table below is the output that matters.
    logging.getLogger("webapp").setLevel(logging.WARNING)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        admin = User(email=ADMIN_EMAIL, name="Bench Admin", role="admin")
        admin.set_password(ADMIN_PASSWORD)
        db.session.add(admin)
        db.session.commit()
    return app


def logged_in_client(app):
    """A test client logged in as the administrator through the real login form."""
    client = app.test_client()
    response = AuthActions(client).login(ADMIN_EMAIL, ADMIN_PASSWORD)
    if response.status_code != 302:
        raise SystemExit(f"login failed: HTTP {response.status_code}")
    return client


def details(rng, action, actor):
    """Target and changes shaped like the app's own events of ``action``."""
    person = rng.choice(PEOPLE)
    if action == "user.updated":
        return person, rng.choice(
            ({"role": ["member", "admin"]}, {"name": ["", "A. Person"]}, {"active": [True, False]})
        )
    if action == "user.created":
        return person, {"role": [None, "member"], "password": "set"}
    if action == "email_settings.updated":
        return "email-service", {
            "smtp_host": ["smtp.old.example", "smtp.example.com"],
            "password": "changed",
        }
    if action == "email_settings.tested":
        outcome = rng.choice(("passed", "passed", "failed"))
        server = [None, "smtp.example.com:587 (tls)"]
        return "smtp.example.com", {"outcome": [None, outcome], "server": server}
    if action == "access.denied":
        return rng.choice(("/admin/audit", "/admin/settings/email", "/admin/users")), {}
    if action.startswith("token."):
        return f"token:{rng.choice(('etl', 'scheduler', 'monitor'))}", {}
    if action == "key.rotated":
        return "settings", {"reencrypted": [None, 1]}
    if action == "audit.exported":
        return "audit.csv", {"action": [None, "auth.login_failed"]}
    return (person if action == "auth.login_failed" else actor), {}


def event_row(rng, key, event_id, created_at, prev_hash):
    """One event as a dict for a bulk INSERT, hashed and linked as ``record_event`` does."""
    action = rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
    actor = "anonymous" if action == "auth.login_failed" else rng.choices(ACTORS, ACTOR_WEIGHTS)[0]
    target, changes = details(rng, action, actor)
    human = actor in PEOPLE or actor == "anonymous"
    row = {
        "id": event_id,
        "created_at": created_at,
        "actor_id": PEOPLE.index(actor) + 2 if actor in PEOPLE else None,
        "actor": actor,
        "action": action,
        "target": target,
        "changes": json.dumps(changes, ensure_ascii=False, sort_keys=True, default=str),
        "ip": f"10.0.{rng.randrange(8)}.{rng.randrange(1, 255)}" if human else "",
        "user_agent": rng.choice(AGENTS) if human else "",
        "prev_hash": prev_hash,
    }
    # The model's own hash function on a plain namespace: ORM instances cost far more to build.
    row["hash"] = AuditEvent.compute_hash(SimpleNamespace(**row), key)
    return row


def chained_batches(count, key, head_id, head_hash):
    """``count`` events after the chain head, over the last 90 days in order, in batches."""
    rng = random.Random(90)
    start, step = utcnow() - SPAN, SPAN / count
    batch, prev_hash = [], head_hash
    for n in range(1, count + 1):
        # n - random() stays in (n-1, n]: jittered, yet strictly increasing.
        row = event_row(rng, key, head_id + n, start + step * (n - rng.random()), prev_hash)
        batch.append(row)
        prev_hash = row["hash"]
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(app, count):
    """Append ``count`` valid chained events with bulk INSERTs; the seconds it took."""
    with app.app_context():
        head = db.session.execute(
            select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        ).first()
        started = time.perf_counter()
        for batch in chained_batches(count, chain_key(), *(head or (0, GENESIS))):
            db.session.execute(insert(AuditEvent), batch)
        db.session.commit()
        return time.perf_counter() - started


def analyze(app):
    """On PostgreSQL, ANALYZE the table as autovacuum soon would; True if it ran."""
    with app.app_context():
        if not is_postgresql():
            return False  # SQLite: the app never runs ANALYZE, so neither does the benchmark
        # Without statistics the planner takes 100,000 rows for 10,000 and picks other plans.
        db.session.execute(text("ANALYZE audit_events"))
        db.session.commit()
        return True


def verify(app):
    """Check the whole chain as ``flask audit verify`` does: (events checked, seconds)."""
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=2000)
        started = time.perf_counter()
        count, problem = first_break(db.session.execute(query).scalars(), chain_key())
        seconds = time.perf_counter() - started
    if problem:
        raise SystemExit(f"audit chain broken after {count} events: {problem}")
    return count, seconds


def time_page(client, url, repeats):
    """Time ``repeats`` GETs of ``url`` after one warm-up: (rows shown of matched, ms samples)."""
    client.get(url)  # warm-up: compiled templates and an open connection, as in service
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        body = response.get_data(as_text=True)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    return page_rows(body), samples


def page_rows(body):
    """Events shown and matched on an audit page; "-" for any other page."""
    total = TOTAL.search(body)
    if total is None:
        return "0 of 0" if 'id="audit-' in body else "-"
    return f"{len(ID_CELL.findall(body)):,} of {int(total.group(1)):,}"


def stream_csv(client):
    """Read the full CSV export chunk by chunk to its end: (data rows, bytes, ms)."""
    started = time.perf_counter()
    response = client.get("/admin/audit.csv", buffered=False)
    lines = size = 0
    for chunk in response.iter_encoded():
        lines += chunk.count(b"\n")  # control characters are escaped: one line per row
        size += len(chunk)
    response.close()
    if response.status_code != 200:
        raise SystemExit(f"GET /admin/audit.csv: HTTP {response.status_code}")
    return lines - 1, size, (time.perf_counter() - started) * 1000


def time_csv(client, runs):
    """Time ``runs`` full exports: (rows received, ms samples, max RSS growth in KiB)."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = [stream_csv(client) for _ in range(runs)]
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    # Each export records its own audit.exported event first, so each run sees one more row.
    rows = f"{results[0][0]:,}..{results[-1][0]:,}" if runs > 1 else f"{results[0][0]:,}"
    return rows, [ms for _, _, ms in results], rss_growth


def csv_heap_peak(client):
    """One more export under tracemalloc: (rows, bytes sent, Python heap peak in bytes)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rows, size, _ = stream_csv(client)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return rows, size, peak


def summary(samples):
    """Median and 95th percentile of ``samples``."""
    if len(samples) < 2:
        return samples[0], samples[0]
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[-1]


def print_table(results, healthz, empty):
    """One line per measurement with its ratios to the two baselines."""
    print(
        f"{'measurement':<44} {'rows':>18} {'runs':>4} {'median ms':>10} {'p95 ms':>9}"
        f" {'x healthz':>9} {'x empty':>8}"
    )
    for name, rows, samples in results:
        median, p95 = summary(samples)
        print(
            f"{name:<44} {rows:>18} {len(samples):>4} {median:>10.2f} {p95:>9.2f}"
            f" {median / healthz:>9.1f} {median / empty:>8.1f}"
        )


def database_label(app):
    """Dialect and server version, without the URL (it may hold a password)."""
    with app.app_context():
        engine = db.engine
        version = ".".join(str(part) for part in engine.dialect.server_version_info or ())
        return f"{engine.dialect.name} {version}"


def page_urls():
    """The timed review pages: one mid-ranked actor and a seven-day window a month ago."""
    today = utcnow().date()
    since, until = today - timedelta(days=35), today - timedelta(days=29)
    return [
        ("(a) first page", "/admin/audit"),
        ("(b) action=user.updated", "/admin/audit?action=user.updated"),
        (
            "(c) actor + since + until (7 days)",
            f"/admin/audit?actor={PEOPLE[3]}&since={since}&until={until}",
        ),
        ("(d) deep page ?page=1000", "/admin/audit?page=1000"),
    ]


def baselines(client, repeats):
    """The two yardsticks, timed before the fill: a trivial request and an empty audit page."""
    return [
        ("baseline: GET /healthz", *time_page(client, "/healthz", repeats)),
        ("baseline: first page, empty table", *time_page(client, "/admin/audit", repeats)),
    ]


def print_memory(runs, rss_growth, rows, size, peak):
    """Memory while streaming the export: it stays flat however many rows are sent."""
    print(
        f"CSV memory: max RSS growth over the {runs} timed exports {rss_growth / 1024:.1f} MiB;"
        f" one more export ({rows:,} rows, {size / 2**20:.1f} MiB sent) peaked at"
        f" {peak / 2**20:.2f} MiB of Python heap (tracemalloc)"
    )


def run(instance, args):
    """The whole benchmark on the app built in ``instance``."""
    app = build_app(instance)
    print(f"database: {database_label(app)}; events to add: {args.events:,}")
    client = logged_in_client(app)
    healthz, empty = baselines(client, args.repeats)
    seconds = fill(app, args.events)
    print(f"fill: {args.events:,} events in {seconds:.2f} s ({args.events / seconds:,.0f}/s)")
    if analyze(app):
        print("analyze: ANALYZE audit_events, as autovacuum would after a bulk load")
    print("verify: chain intact, {:,} events checked in {:.2f} s".format(*verify(app)))
    pages = [(name, *time_page(client, url, args.repeats)) for name, url in page_urls()]
    csv_rows, csv_ms, rss_growth = time_csv(client, args.csv_runs)
    print()
    print_table(
        [healthz, empty, *pages, ("(e) full CSV export, streamed", csv_rows, csv_ms)],
        summary(healthz[2])[0],
        summary(empty[2])[0],
    )
    print("(the empty table holds one event: the baseline login's own auth.login)")
    print()
    print_memory(args.csv_runs, rss_growth, *csv_heap_peak(client))
    print(
        "verify after the requests: chain intact, {:,} events checked in {:.2f} s".format(
            *verify(app)
        )
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main():
    """Run the benchmark in a throw-away instance folder."""
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as instance:
        run(instance, args)


if __name__ == "__main__":
    main()
