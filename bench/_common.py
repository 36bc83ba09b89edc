"""Shared by the benchmarks: a throw-away migrated app, gunicorn, loopback load, result tables."""

import contextlib
import http.client
import logging
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from flask_migrate import upgrade

# Run as a script from the project root: make ``webapp`` and ``tests`` importable.
PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from tests.loopback import loopback_only  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.auth.models import User  # noqa: E402
from webapp.extensions import db  # noqa: E402

# Benchmarks reach 127.0.0.0/8 and ::1 only, as the tests do.
sys.addaudithook(loopback_only)

HOST = "127.0.0.1"
FAST_HASH = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
ADMIN_EMAIL = "bench.admin@example.com"
ADMIN_PASSWORD = "bench-admin-password-1"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


# -- the app -------------------------------------------------------------------------
def free_port():
    """A port nothing listens on right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def sqlite_url(instance):
    """The app's own default: a SQLite file in the instance folder."""
    return "sqlite:///" + os.path.join(instance, "webapp.sqlite")


def build_app(instance, database_url=None, **config):
    """The real app on a migrated database (SQLite in ``instance`` unless a URL is given)."""
    app = create_app(
        {
            "INSTANCE_PATH": instance,
            "SQLALCHEMY_DATABASE_URI": database_url or sqlite_url(instance),
            **config,
        }
    )
    # Audit events log a line at INFO each; the tables below are the output that matters.
    logging.getLogger("webapp").setLevel(logging.WARNING)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


def add_admin(app, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    """An administrator whose password is hashed with the app's own argon2 parameters."""
    with app.app_context():
        admin = User(email=email, name="Bench Admin", role="admin")
        admin.set_password(password)
        db.session.add(admin)
        db.session.commit()
        return admin.id


def dispose(app):
    """Close the app's connections (the temporary folder is removed next)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def database_label(app):
    """Dialect and server version, without the URL (it may hold a password)."""
    with app.app_context():
        engine = db.engine
        version = ".".join(str(part) for part in engine.dialect.server_version_info or ())
        return f"{engine.dialect.name} {version}"


# -- gunicorn ------------------------------------------------------------------------
class Gunicorn:
    """gunicorn with the project's gunicorn.conf.py on a free loopback port, logging to a file."""

    def __init__(self, target, *, log_path, chdir=PROJECT, env=None, workers=2):
        self.port = free_port()
        self.log_path = Path(log_path)
        environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        environment.update(
            {"BIND": f"{HOST}:{self.port}", "WEB_CONCURRENCY": str(workers), **(env or {})}
        )
        self.workers = workers
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(PROJECT / "gunicorn.conf.py"),
            "--chdir",
            str(chdir),
            target,
        ]
        self.environment = environment
        self.process = None

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def start(self, ready_path="/", timeout=60):
        """Start and wait until ``ready_path`` answers 200."""
        self.log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            self.command, env=self.environment, stdout=self.log_file, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited at start:\n{self.log_tail()}")
            try:
                if request(self.port, "GET", ready_path)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"gunicorn did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self):
        """SIGTERM, then SIGKILL if it is still there after the graceful timeout."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None
        self.log_file.close()

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def worker_boots(self):
        """How many workers booted so far (the first ``workers`` plus max_requests restarts)."""
        return self.log_text().count("Booting worker with pid")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# -- plain HTTP ----------------------------------------------------------------------
def request(port, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def session_cookie(headers, name):
    """``name=value`` of the cookie set in ``headers``."""
    for value in headers.get_all("Set-Cookie") or ():
        if value.startswith(name + "="):
            return value.split(";", 1)[0]
    raise SystemExit(f"no {name} cookie was set")


def log_in(port, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, cookie_name="bi_session"):
    """Log in through the real form (GET /login, CSRF token, POST); the session cookie."""
    status, headers, body = request(port, "GET", "/login")
    match = CSRF_RE.search(body.decode())
    if status != 200 or not match:
        raise SystemExit(f"GET /login: HTTP {status}, CSRF token found: {bool(match)}")
    form = urlencode({"csrf_token": match.group(1), "email": email, "password": password})
    status, headers, _ = request(
        port,
        "POST",
        "/login",
        body=form,
        headers={
            "Cookie": session_cookie(headers, cookie_name),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    if status != 302:
        raise SystemExit(f"POST /login: HTTP {status}")
    return session_cookie(headers, cookie_name)


# -- load ----------------------------------------------------------------------------
@dataclass
class LoadResult:
    """What one bounded load measured."""

    tool: str
    requests: int
    seconds: float
    latencies_ms: list = field(default_factory=list, repr=False)
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0
    p50_override: float | None = None
    p99_override: float | None = None

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50(self):
        if self.p50_override is not None:
            return self.p50_override
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self):
        if self.p99_override is not None:
            return self.p99_override
        if len(self.latencies_ms) < 2:
            return self.p50
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[98]

    def unexpected(self, expected):
        """Responses with another status than ``expected``, plus connection errors."""
        return sum(n for status, n in self.statuses.items() if status != expected) + self.errors


def wrk_available():
    """The path of ``wrk``, or None (the Python load generator is used then)."""
    return shutil.which("wrk")


def _wrk_ms(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * WRK_UNITS[unit]


def run_wrk(url, *, seconds, connections, threads, max_requests, headers, workdir):
    """``wrk -t -c -d --latency``; a Lua script stops each thread after its share of requests."""
    script = Path(workdir) / "stop_after.lua"
    per_thread = max(1, max_requests // threads)
    script.write_text(
        "local count = 0\n"
        "function response()\n"
        "  count = count + 1\n"
        f"  if count >= {per_thread} then wrk.thread:stop() end\n"
        "end\n"
    )
    command = [
        wrk_available(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not done:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    result = LoadResult(
        tool="wrk",
        requests=int(done.group(1)),
        seconds=_wrk_ms(done.group(2) + done.group(3)) / 1000,
        p50_override=_wrk_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        p99_override=_wrk_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
    )
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result.statuses["other"] = int(bad.group(1)) if bad else 0
    result.statuses["2xx/3xx"] = result.requests - result.statuses["other"]
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        result.errors = sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return result


def _client_thread(port, spec, tag, deadline, limit, out):
    """One keep-alive connection sending up to ``limit`` requests until ``deadline``."""
    method, path, body, headers = spec
    conn, latencies, statuses, errors = None, [], Counter(), 0
    for n in range(limit):
        if time.monotonic() >= deadline:
            break
        if conn is None:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
        payload = body.replace("{n}", f"{tag}-{n}").encode() if body else None
        started = time.perf_counter()
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = None
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[response.status] += 1
        if response.will_close:  # e.g. a worker restarting after max_requests
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    out.append((latencies, statuses, errors))


def _client_process(index, port, specs, seconds, limit, barrier, results):
    """Threads of one load process; all processes start together at ``barrier``."""
    barrier.wait(timeout=120)
    out = []
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(
            target=_client_thread, args=(port, spec, f"{index}.{t}", deadline, limit, out)
        )
        for t, spec in enumerate(specs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies, statuses, errors = [], Counter(), 0
    for thread_latencies, thread_statuses, thread_errors in out:
        latencies += thread_latencies
        statuses.update(thread_statuses)
        errors += thread_errors
    results.put((latencies, statuses, errors, elapsed))


def run_python_load(port, specs, *, seconds, max_requests, processes=2):
    """Keep-alive connections (one thread each, one spec per connection) in ``processes``.

    Each spec is ``(method, path, body or None, headers)``; ``{n}`` in a body becomes a
    value unique to the request. Bounded by ``seconds`` and by ``max_requests`` in all.
    Processes, not just threads, so the client is not one GIL; they start together.
    """
    if len(specs) < processes:
        raise ValueError("give at least one connection per process")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results = context.Queue()
    limit = max(1, max_requests // len(specs))
    workers = [
        context.Process(
            target=_client_process,
            args=(p, port, specs[p::processes], seconds, limit, barrier, results),
            daemon=True,
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)  # every process has imported what it needs: start now
    collected = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(30)
    result = LoadResult(tool="python", requests=0, seconds=0.0)
    for latencies, statuses, errors, elapsed in collected:
        result.latencies_ms += latencies
        result.statuses.update(statuses)
        result.errors += errors
        result.seconds = max(result.seconds, elapsed)
    result.requests = len(result.latencies_ms)
    return result


def warm_up(port, path, headers=None, count=20):
    """A few requests on fresh connections, so every worker has compiled its templates."""
    for _ in range(count):
        request(port, "GET", path, headers=headers)


# -- output --------------------------------------------------------------------------
def print_table(columns, rows):
    """``columns`` are ``(title, width)`` or ``(title, width, align)``; numbers align right.

    The first column aligns left unless told otherwise, the others right.
    """
    aligns = [c[2] if len(c) > 2 else ("<" if i == 0 else ">") for i, c in enumerate(columns)]
    widths = [c[1] for c in columns]

    def line(cells):
        return " ".join(f"{cell:{a}{w}}" for cell, a, w in zip(cells, aligns, widths, strict=True))

    print(line([c[0] for c in columns]).rstrip())
    for row in rows:
        print(line(row).rstrip())


def ratio(value, baseline):
    """``value / baseline`` as text, or "-" without a baseline."""
    return f"{value / baseline:.2f}" if baseline else "-"


def verdict(ok):
    """How a target reads in the output."""
    return "met" if ok else "NOT met"


def machine_line():
    """CPUs and Python: the context the figures need (the loader shares the CPUs)."""
    return f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load from this host"


# -- profiles ------------------------------------------------------------------------
def short_location(filename, line, name):
    """``package/module.py:line(name)`` without the machine's own folders."""
    if filename == "~":
        return name  # a built-in
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif path.is_relative_to(PROJECT):
        parts = path.relative_to(PROJECT).parts
    else:
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{line}({name})"


def top_by_cumtime(stats, count=15, exclude=()):
    """The ``count`` functions with most cumulative time: (location, calls, tottime, cumtime).

    ``exclude``: locations starting with these are left out (a harness around everything).
    """
    rows = [
        (short_location(*key), calls, tottime, cumtime)
        for key, (_, calls, tottime, cumtime, _) in stats.stats.items()
    ]
    rows = [row for row in rows if not row[0].startswith(tuple(exclude))]
    rows.sort(key=lambda row: row[3], reverse=True)
    return rows[:count]


def cumtime_of(stats, path_suffix, name):
    """(calls, cumulative seconds) of the function ``name`` in a file ending ``path_suffix``."""
    calls = cumulative = 0
    for (filename, _, function), (_, ncalls, _, cumtime, _) in stats.stats.items():
        if function == name and filename.endswith(path_suffix):
            calls += ncalls
            cumulative += cumtime
    return calls, cumulative


def print_profile(stats, per, unit, count=15, exclude=()):
    """Top functions by cumulative time, with milliseconds per ``unit`` (``per`` of them)."""
    print_table(
        [("function (top by cumulative time)", 72), ("calls", 8), ("cum s", 7), (f"ms/{unit}", 9)],
        [
            (location[-72:], f"{calls:,}", f"{cumtime:.2f}", f"{cumtime * 1000 / per:.3f}")
            for location, calls, _, cumtime in top_by_cumtime(stats, count, exclude)
        ],
    )


# -- servers in other processes, and a private MTA ------------------------------------
class ChildServer:
    """A server in a separate process (no GIL shared with the measured code), driven over a
    pipe. ``target(pipe, *args)`` sends ``("ready", port)``, answers ``count`` with
    ``(messages, distinct Message-IDs)`` and ``reset``, and ends on ``stop``.
    """

    def __init__(self, target, *args):
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), daemon=True)
        self.port = None

    def ask(self, command, timeout=60):
        self.pipe.send(command)
        if not self.pipe.poll(timeout):
            raise SystemExit(f"the server process did not answer {command!r}")
        return self.pipe.recv()

    def __enter__(self):
        self.process.start()
        if not self.pipe.poll(60):
            raise SystemExit("the server process did not start")
        _, self.port = self.pipe.recv()
        return self

    def __exit__(self, *exc):
        try:
            self.ask("stop", timeout=20)
        finally:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)

    def received(self, expected, what):
        """Check the server got ``expected`` distinct messages, then forget them."""
        count, distinct = self.ask("count")
        self.ask("reset")
        if (count, distinct) != (expected, expected):
            raise SystemExit(
                f"{what}: the server got {count} ({distinct} distinct), not {expected}"
            )


@contextlib.contextmanager
def private_mta():
    """A private Postfix + Dovecot on loopback (tests/mta.py); None, said why, when absent."""
    from tests.mta import MtaError, find_tools, let_postfix_in, start_mta

    try:
        tools = find_tools()
    except MtaError as exc:
        print(f"Postfix figures skipped: {exc}")
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="bench-mta-") as folder:
        root = Path(folder)
        let_postfix_in(root, root)
        mta, stop = start_mta(root, tools)
        try:
            yield mta
        finally:
            stop()
