"""Browser fixtures: Debian's Chromium, the app served from a thread, console errors."""

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from ..helpers import unavailable

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch the system's Chromium; `playwright install` downloads fail on these machines."""
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not chromium:
        unavailable("no chromium: apt-get install -y chromium (or set CHROMIUM_PATH)")
    return {**browser_type_launch_args, "executable_path": chromium, "args": CHROMIUM_ARGS}


@pytest.fixture
def live_server(app):
    """The test's app (fresh database, CSRF on) served over real HTTP on a free port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def base_url(live_server):
    return live_server


@pytest.fixture
def browser_context_args(base_url):
    # Function-scoped like base_url: the plugin's session-scoped version cannot use a
    # server that lives for one test.
    return {"base_url": base_url, "viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def console_errors(page):
    """Every console error the browser reports for this page, such as CSP refusals."""
    errors = []

    def keep_errors(message):
        if message.type == "error":
            errors.append(message.text)

    page.on("console", keep_errors)
    return errors
