"""Page throughput under gunicorn: the Email Service page and the login page against a bare app."""

import argparse
import cProfile
import importlib.util
import pstats
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from _common import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Gunicorn,
    add_admin,
    build_app,
    cumtime_of,
    dispose,
    log_in,
    machine_line,
    print_profile,
    print_table,
    ratio,
    request,
    run_python_load,
    run_wrk,
    verdict,
    warm_up,
    wrk_available,
)
from jinja2 import Environment, FileSystemLoader

TARGET = 0.30  # the app's pages should keep at least 30 % of the throughput of a bare Flask app
# Frames of the test client and Flask's dispatch: around every request, they explain nothing.
HARNESS = ("werkzeug/test.py", "flask/testing.py", "flask/app.py", "flask_login/utils.py")
PROFILED = 200  # in-process requests per page for the cost breakdown
# Where an Email Service page's time goes: (label, file suffix, function).
PARTS = [
    ("render_template (Jinja, WTForms widgets)", "flask/templating.py", "render_template"),
    ("  of which WTForms renders a field", "wtforms/meta.py", "render_field"),
    ("  of which attributes (html_params)", "wtforms/widgets/core.py", "html_params"),
    ("  Markup objects made (Markup.__new__)", "markupsafe/__init__.py", "__new__"),
    ("build the form from the row", "wtforms/form.py", "__call__"),
    ("read the settings row (load_settings)", "email_service/models.py", "load_settings"),
    ("status lines (delivery_status_line)", "notifier/status.py", "delivery_status_line"),
    ("load the user (load_user)", "auth/access.py", "load_user"),
    ("CSRF token (generate_csrf)", "flask_wtf/csrf.py", "generate_csrf"),
    ("save the session cookie", "flask/sessions.py", "save_session"),
]
BARE_APP = '''"""A bare Flask app: one route rendering one template (the benchmark's baseline)."""

from flask import Flask, render_template

app = Flask(__name__)
FIELDS = [
    {{"name": f"field_{{n}}", "label": f"Setting number {{n}}", "value": f"value-{{n}}",
      "help": "What this setting does, in one sentence of help text under the input."}}
    for n in range({rows})
]


@app.get("/")
def page():
    return render_template("page.html", fields=FIELDS, title="Email Service")
'''
BARE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }} · Enterprise Settings</title>
  <link rel="stylesheet" href="/static/css/bootstrap.min.css">
  <link rel="stylesheet" href="/static/css/app.css">
</head>
<body>
  <nav class="navbar navbar-expand bg-body-tertiary border-bottom">
    <div class="container"><a class="navbar-brand" href="/">BI Platform</a></div>
  </nav>
  <main class="container py-4">
    <h1 class="h3 mb-3">{{ title }}</h1>
    <form method="post" novalidate>
      <input type="hidden" name="csrf_token" value="0123456789abcdef0123456789abcdef">
      {% for field in fields %}
      <div class="mb-3 row">
        <label class="col-sm-3 col-form-label" for="{{ field.name }}">{{ field.label }}</label>
        <div class="col-sm-9">
          <input class="form-control" id="{{ field.name }}" name="{{ field.name }}"
                 type="text" value="{{ field.value }}">
          <div class="form-text">{{ field.help }}</div>
        </div>
      </div>
      {% endfor %}
      <button class="btn btn-primary" type="submit">Save</button>
    </form>
  </main>
  <script src="/static/js/bootstrap.bundle.min.js"></script>
</body>
</html>
"""


def parse_args():
    """Load shape; the defaults are the figures quoted in the project notes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=12, help="load per page (10-15 s)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--max-requests", type=int, default=300_000, help="cap per page")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process profile")
    parser.add_argument(
        "--loader",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="wrk when installed (auto), else the Python keep-alive load generator",
    )
    return parser.parse_args()


def pick_loader(choice):
    """The load generator to use: wrk if asked or found, else Python."""
    if choice == "python" or (choice == "auto" and not wrk_available()):
        return "python"
    if not wrk_available():
        raise SystemExit("--loader wrk: wrk is not installed (apt-get install wrk)")
    return "wrk"


def load(loader, server, path, headers, args, workdir):
    """One bounded load of ``path`` on ``server``, with the chosen generator."""
    if loader == "wrk":
        return run_wrk(
            server.url + path,
            seconds=args.seconds,
            connections=args.connections,
            threads=args.threads,
            max_requests=args.max_requests,
            headers=headers,
            workdir=workdir,
        )
    specs = [("GET", path, None, headers)] * args.connections
    return run_python_load(server.port, specs, seconds=args.seconds, max_requests=args.max_requests)


def write_bare_app(folder, target_size):
    """The baseline app and its template, sized to render about ``target_size`` bytes."""
    templates = Path(folder, "templates")
    templates.mkdir(parents=True, exist_ok=True)
    (templates / "page.html").write_text(BARE_TEMPLATE)
    template = Environment(loader=FileSystemLoader(templates), autoescape=True).get_template(
        "page.html"
    )

    def size(rows):
        fields = [
            {
                "name": f"field_{n}",
                "label": f"Setting number {n}",
                "value": f"value-{n}",
                "help": "What this setting does, in one sentence of help text under the input.",
            }
            for n in range(rows)
        ]
        return len(template.render(fields=fields, title="Email Service").encode())

    per_row = size(1) - size(0)
    rows = max(0, round((target_size - size(0)) / per_row))
    Path(folder, "bare_app.py").write_text(BARE_APP.format(rows=rows))
    return size(rows)


def measure(instance, args, loader):
    """Both apps up at once; load the bare one, the two pages, then the bare one again.

    Measuring the baseline before and after shows how much the machine drifted meanwhile.
    Returns the four results, the two pages' sizes, the bare page's size and worker boots.
    """
    env = {"INSTANCE_PATH": instance, "SECRET_KEY": secrets.token_urlsafe(32)}
    bare_dir = Path(instance, "bare")
    with Gunicorn("wsgi:app", log_path=Path(instance, "gunicorn-app.log"), env=env) as app:
        app.start(ready_path="/healthz")
        cookie = {"Cookie": log_in(app.port)}
        status, _, page = request(app.port, "GET", "/admin/settings/email", headers=cookie)
        if status != 200 or b'name="smtp_host"' not in page:
            raise SystemExit(f"GET /admin/settings/email as admin: HTTP {status}")
        login_page = request(app.port, "GET", "/login")[2]
        bare_size = write_bare_app(bare_dir, len(page))
        log = Path(instance, "gunicorn-bare.log")
        with Gunicorn("bare_app:app", log_path=log, chdir=bare_dir) as bare:
            bare.start(ready_path="/")
            warm_up(bare.port, "/")
            warm_up(app.port, "/admin/settings/email", cookie)
            warm_up(app.port, "/login")
            results = [
                load(loader, bare, "/", {}, args, instance),
                load(loader, app, "/admin/settings/email", cookie, args, instance),
                load(loader, app, "/login", {}, args, instance),
                load(loader, bare, "/", {}, args, instance),
            ]
            boots = (app.worker_boots(), bare.worker_boots())
    return results, (len(page), len(login_page), bare_size), boots


def print_results(rows, bare_rps):
    """One line per page: throughput, latency, errors and the ratio to the bare app."""
    columns = [
        ("measurement", 40),
        ("bytes", 7),
        ("requests", 9),
        ("req/s", 8),
        ("p50 ms", 7),
        ("p99 ms", 7),
        ("bad", 5),
        ("x bare", 7),
    ]
    print_table(
        columns,
        [
            (
                name,
                f"{size:,}",
                f"{r.requests:,}",
                f"{r.rps:,.0f}",
                f"{r.p50:.2f}",
                f"{r.p99:.2f}",
                f"{r.unexpected(200 if r.tool == 'python' else '2xx/3xx'):,}",
                ratio(r.rps, bare_rps),
            )
            for name, size, r in rows
        ],
    )


def per_request_ms(client, path, count=PROFILED):
    """Median milliseconds of ``count`` in-process GETs (Flask test client, no HTTP)."""
    client.get(path)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
    if response.status_code != 200:
        raise SystemExit(f"in-process GET {path}: HTTP {response.status_code}")
    return statistics.median(samples)


def profile_in_process(instance, bare_dir):
    """Cost of each page without HTTP or gunicorn, and where the settings page spends it."""
    from tests.helpers import AuthActions

    spec = importlib.util.spec_from_file_location("bare_app", Path(bare_dir, "bare_app.py"))
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    bare.app.template_folder = str(Path(bare_dir, "templates"))
    app = build_app(instance)
    admin = app.test_client()
    if AuthActions(admin).login(ADMIN_EMAIL, ADMIN_PASSWORD).status_code != 302:
        raise SystemExit("in-process login failed")
    costs = [
        ("bare Flask, one template", per_request_ms(bare.app.test_client(), "/")),
        ("GET /healthz (a few queries, JSON)", per_request_ms(app.test_client(), "/healthz")),
        ("GET /admin/settings/email", per_request_ms(admin, "/admin/settings/email")),
        ("GET /login", per_request_ms(app.test_client(), "/login")),
    ]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(PROFILED):
        admin.get("/admin/settings/email")
    profiler.disable()
    dispose(app)
    return costs, pstats.Stats(profiler)


def print_in_process(costs, stats):
    """The in-process table, the settings page's parts, and its top functions."""
    print(f"in-process (Flask test client, median of {PROFILED} GETs each, no HTTP, no gunicorn):")
    bare_ms, healthz_ms = costs[0][1], costs[1][1]
    print_table(
        [("page", 40), ("ms/req", 7), ("x bare", 7), ("x healthz", 9)],
        [
            (name, f"{ms:.2f}", f"{ms / bare_ms:.1f}", f"{ms / healthz_ms:.1f}")
            for name, ms in costs
        ],
    )
    settings_ms = dict(costs)["GET /admin/settings/email"]
    print(f"settings page: {settings_ms:.2f} ms/req next to /healthz {healthz_ms:.2f} ms/req")
    total = max(cumtime for _, _, _, cumtime, _ in stats.stats.values())
    print()
    print(f"profile of GET /admin/settings/email (cProfile, {PROFILED} GETs; read the shares):")
    rows = []
    for label, suffix, name in PARTS:
        calls, cumulative = cumtime_of(stats, suffix, name)
        rows.append(
            (
                label,
                f"{calls / PROFILED:g}",
                f"{cumulative * 1000 / PROFILED:.3f}",
                f"{cumulative / total:.0%}",
            )
        )
    print_table([("part", 44), ("calls/req", 9), ("ms/req", 7), ("share", 6)], rows)
    print()
    print_profile(stats, PROFILED, "req", exclude=HARNESS)


def main():
    """Both apps under the project's gunicorn settings, then the in-process profile."""
    args = parse_args()
    loader = pick_loader(args.loader)
    print(machine_line())
    if loader == "wrk":
        how = f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s --latency"
    else:
        why = "wrk not found" if args.loader == "auto" else "--loader python"
        how = f"{why}: 2 processes, {args.connections} keep-alive connections, {args.seconds} s"
    print(f"load generator: {loader} ({how}); at most {args.max_requests:,} requests per page")
    print("server: gunicorn -c gunicorn.conf.py (gthread, 2 workers x 4 threads), 127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as instance:
        app = build_app(instance)  # production argon2 cost: the one login below pays it once
        add_admin(app)
        dispose(app)
        results, (settings_size, login_size, bare_size), boots = measure(instance, args, loader)
        profile = None
        if not args.no_profile:
            profile = profile_in_process(instance, Path(instance, "bare"))
    bare_before, settings, login, bare_after = results
    # The baseline is the mean of the runs before and after the pages: drift cancels out.
    bare_rps = (bare_before.rps + bare_after.rps) / 2
    print()
    print_results(
        [
            ("baseline: bare Flask, before the pages", bare_size, bare_before),
            ("GET /admin/settings/email (admin cookie)", settings_size, settings),
            ("GET /login (anonymous)", login_size, login),
            ("baseline: bare Flask, after the pages", bare_size, bare_after),
        ],
        bare_rps,
    )
    print(
        f"(x bare: against the mean of both baseline runs, {bare_rps:,.0f} req/s; bad:"
        " non-2xx/3xx responses plus socket errors; worker boots incl. max_requests"
        f" restarts: app {boots[0]}, bare {boots[1]})"
    )
    print()
    for name, result in (("settings page", settings), ("login page", login)):
        share = result.rps / bare_rps if bare_rps else 0.0
        print(
            f"target: {name} >= {TARGET:.0%} of the bare app's req/s:"
            f" {share:.0%} -> {verdict(share >= TARGET)}"
        )
    if profile:
        print()
        print_in_process(*profile)


if __name__ == "__main__":
    main()
