"""Browser fixtures: Debian's Chromium, the app served from a thread, console and screenshots."""

import os
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

ARTIFACTS = Path(__file__).parent / "artifacts"
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
        pytest.skip("no chromium: apt-get install -y chromium")
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


def csp_violations(console_errors):
    """The console errors that are Content Security Policy refusals."""
    return [text for text in console_errors if "Content Security Policy" in text]


def screenshot(page, name):
    """Save a full-page screenshot as tests/e2e/artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def log_in(page, email, password):
    """Log in through the real form and wait for the home page."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
