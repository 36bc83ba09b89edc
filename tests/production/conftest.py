"""Production-shaped fixtures: real gunicorn instances and worker processes on 127.0.0.1."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ..smtp_servers import free_port

PROJECT = Path(__file__).resolve().parents[2]


class Process:
    """A child process whose output goes to a file we can read back."""

    def __init__(self, args, env, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            args, cwd=PROJECT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


def wait_healthy(base_url, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{base_url} did not become healthy")


@pytest.fixture
def deployment(tmp_path, make_app):
    """Start gunicorn instances and workers sharing one environment; all stopped at teardown.

    The database is the test's own (a migrated SQLite copy, or PostgreSQL emptied after);
    ``app`` reads it from the test process.
    """
    app = make_app()
    instance = app.instance_path
    env = {
        **os.environ,
        "INSTANCE_PATH": instance,
        "SECRET_KEY": "shared-secret-key-for-this-test-only-0123456789",
        "SETTINGS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SMTP_ALLOW_LOOPBACK": "1",
        "SMTP_TIMEOUT": "5",
        "NOTIFIER_POLL_SECONDS": "0.2",
        "RESOURCE_CHECK_SECONDS": "0",  # a busy test machine must not add resource alerts
        "WEB_CONCURRENCY": "2",
    }
    started = []

    class Deployment:
        environment = env

        def __init__(self):
            self.app = app

        def flask(self, *args, check=True):
            result = subprocess.run(
                [sys.executable, "-m", "flask", "--app", "wsgi", *args],
                cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            if check and result.returncode != 0:
                raise AssertionError(result.stdout + result.stderr)
            return result

        def web(self):
            port = free_port()
            process = Process(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "gunicorn.conf.py",
                    "-b",
                    f"127.0.0.1:{port}",
                    "wsgi:app",
                ],
                env,
                tmp_path / f"web-{port}.log",
            )
            started.append(process)
            base_url = f"http://127.0.0.1:{port}"
            wait_healthy(base_url)
            process.base_url = base_url
            return process

        def worker(self, *args):
            process = Process(
                [sys.executable, "-m", "flask", "--app", "wsgi", "notifier", "run", *args],
                env,
                tmp_path / f"worker-{len(started)}.log",
            )
            started.append(process)
            return process

    yield Deployment()
    for process in started:
        process.stop()
