"""Page latency during a login flood: a logged-in page's p99 with and without wrong-password
floods (one address, many addresses, one account from many addresses), under gunicorn with
the production argon2 cost; and the same many-address flood with the hash cap lifted."""

import argparse
import http.client
import multiprocessing
import secrets
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

from _common import (
    ADMIN_EMAIL,
    CSRF_RE,
    HOST,
    Gunicorn,
    add_admin,
    build_app,
    dispose,
    log_in,
    machine_line,
    print_table,
    ratio,
    request,
    run_python_load,
    session_cookie,
    warm_up,
)

PAGE = "/admin/settings/email"
# Flood shapes: who the wrong passwords are for, and from which addresses.
FLOODS = {
    "none": None,
    "one address, random accounts": ("random", "one"),
    "many addresses, random accounts": ("random", "many"),
    "many addresses, the admin account": ("admin", "many"),
}


def parse_args():
    """Load shape; the defaults take about three minutes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=12, help="page load per scenario")
    parser.add_argument("--connections", type=int, default=8, help="page load connections")
    parser.add_argument("--flood", type=int, default=16, help="flooding connections")
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap per scenario")
    return parser.parse_args()


def _flood_thread(port, who, where, index, stop, out):
    """One keep-alive connection posting wrong passwords until ``stop`` is set."""
    status, headers, body = request(port, "GET", "/login")
    cookie = session_cookie(headers, "bi_session")
    token = CSRF_RE.search(body.decode()).group(1)
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    statuses, latencies, n = Counter(), [], 0
    while not stop.is_set():
        n += 1
        email = ADMIN_EMAIL if who == "admin" else f"guess{index}.{n}@example.com"
        # TRUSTED_PROXIES=1: the app takes the client address from X-Forwarded-For.
        address = "198.51.100.7" if where == "one" else f"10.{index}.{n // 250 % 250}.{n % 250}"
        form = urlencode({"csrf_token": token, "email": email, "password": "wrong-password"})
        started = time.perf_counter()
        try:
            conn.request(
                "POST",
                "/login",
                body=form,
                headers={
                    "Cookie": cookie,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Forwarded-For": address,
                },
            )
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            statuses["error"] += 1
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[response.status] += 1
    conn.close()
    out.append((statuses, latencies))


def _flood_process(port, who, where, connections, ready, stop, results):
    """The flood in its own process (its own GIL), ``connections`` threads."""
    out, inner_stop = [], threading.Event()
    threads = [
        threading.Thread(target=_flood_thread, args=(port, who, where, i, inner_stop, out))
        for i in range(connections)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    ready.set()
    stop.wait()
    inner_stop.set()
    for thread in threads:
        thread.join()
    statuses, latencies = Counter(), []
    for thread_statuses, thread_latencies in out:
        statuses.update(thread_statuses)
        latencies += thread_latencies
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else float("nan")
    results.put((statuses, p50, time.monotonic() - started))


def measure(port, cookie, flood, args):
    """Page load for ``args.seconds``, with ``flood`` running from before it starts."""
    context = multiprocessing.get_context("spawn")
    ready, stop, results = context.Event(), context.Event(), context.Queue()
    flooder = None
    if flood:
        flooder = context.Process(
            target=_flood_process, args=(port, *flood, args.flood, ready, stop, results)
        )
        flooder.start()
        ready.wait(60)
        time.sleep(2)  # the flood is in full swing before the pages are timed
    specs = [("GET", PAGE, None, {"Cookie": cookie})] * args.connections
    pages = run_python_load(
        port, specs, seconds=args.seconds, max_requests=args.max_requests, processes=2
    )
    flood_result = None
    if flooder:
        stop.set()
        flood_result = results.get(timeout=120)
        flooder.join(30)
    return pages, flood_result


def run_server(instance, cap, scenarios, args):
    """One gunicorn with ``LOGIN_HASH_CONCURRENCY=cap``; each scenario measured in turn."""
    env = {
        "INSTANCE_PATH": instance,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "TRUSTED_PROXIES": "1",
        "LOGIN_HASH_CONCURRENCY": str(cap),
    }
    rows = []
    log = Path(instance, f"gunicorn-cap{cap}.log")
    with Gunicorn("wsgi:app", log_path=log, env=env) as server:
        server.start(ready_path="/healthz")
        cookie = log_in(server.port)
        if request(server.port, "GET", PAGE, headers={"Cookie": cookie})[0] != 200:
            raise SystemExit(f"GET {PAGE} as admin failed")
        warm_up(server.port, PAGE, {"Cookie": cookie})
        for name in scenarios:
            pages, flood = measure(server.port, cookie, FLOODS[name], args)
            rows.append((f"cap {cap}: {name}", pages, flood))
            time.sleep(2)  # let sleeping logins drain before the next scenario
    return rows


def print_results(rows):
    """Page figures beside the no-flood baseline of the same server, and the flood's."""
    baseline = {}
    table = []
    for name, pages, flood in rows:
        cap = name.split(":")[0]
        if flood is None:
            baseline[cap] = pages
        base = baseline.get(cap)
        if flood:
            statuses, login_p50, seconds = flood
            attempts = sum(statuses.values())
            flood_text = f"{attempts / seconds:,.0f}/s p50 {login_p50:,.0f} ms; " + ", ".join(
                f"{code}: {n:,}" for code, n in sorted(statuses.items(), key=str)
            )
        else:
            flood_text = "-"
        table.append(
            (
                name,
                f"{pages.rps:,.0f}",
                f"{pages.p50:.1f}",
                f"{pages.p99:.1f}",
                ratio(pages.p99, base.p99) if base else "-",
                f"{pages.unexpected(200):,}",
                flood_text,
            )
        )
    print_table(
        [
            ("scenario", 44),
            ("page/s", 7),
            ("p50 ms", 7),
            ("p99 ms", 8),
            ("p99 x", 6),
            ("bad", 4),
            ("login flood: attempts, p50, answers", 60, "<"),
        ],
        table,
    )


def main():
    """Two servers (hash cap 2, the default; cap 8, every thread) and the floods on each."""
    args = parse_args()
    print(machine_line())
    print(
        f"server: gunicorn -c gunicorn.conf.py (gthread, 2 workers x 4 threads), 127.0.0.1,"
        f" production argon2 (64 MiB); page GET {PAGE} as admin over {args.connections}"
        f" keep-alive connections for {args.seconds} s; flood: {args.flood} connections posting"
        " wrong passwords"
    )
    with tempfile.TemporaryDirectory(prefix="bench-login-flood-") as instance:
        app = build_app(instance)
        add_admin(app)
        dispose(app)
        rows = run_server(instance, 2, list(FLOODS), args)
        rows += run_server(instance, 8, ["none", "many addresses, random accounts"], args)
    print()
    print_results(rows)
    print(
        "(p99 x: against the same server's page p99 without a flood; bad: non-200 pages;"
        " answers: 200 = password checked and refused, 429 = throttled before the check,"
        " 503 = every password-check slot taken)"
    )


if __name__ == "__main__":
    main()
