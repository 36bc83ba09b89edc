"""Waking idle workers: LISTEN/NOTIFY on PostgreSQL, a short poll elsewhere."""

import contextlib
import logging
import time

import psycopg
from sqlalchemy import text

from ..database import is_postgresql
from ..extensions import db

CHANNEL = "notifier_outbox"
log = logging.getLogger("webapp.notifier")


def announce():
    """Tell idle workers that a notification was queued (delivered at commit; PostgreSQL)."""
    if is_postgresql():
        db.session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Waiter:
    """Waits for new work: a NOTIFY on PostgreSQL, else (or as well) the poll interval."""

    def __init__(self):
        self.conn = None

    def wait(self, seconds, stopping):
        """Return after ``seconds``, when work is announced, or soon after ``stopping()``."""
        if seconds <= 0:
            return
        if is_postgresql() and self._listen():
            try:
                # Waits in slices so a stop request is seen within a second.
                deadline = time.monotonic() + seconds
                while not stopping() and (left := deadline - time.monotonic()) > 0:
                    if list(self.conn.notifies(timeout=min(1.0, left), stop_after=1)):
                        return
                return
            except psycopg.Error:
                log.warning("LISTEN connection lost; polling until it is back")
                self.close()
        deadline = time.monotonic() + seconds
        while not stopping() and time.monotonic() < deadline:
            time.sleep(min(0.1, seconds))

    def _listen(self):
        if self.conn is None:
            url = db.engine.url.set(drivername="postgresql")
            try:
                self.conn = psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True
                )
                self.conn.execute(f"LISTEN {CHANNEL}")
            except psycopg.Error:
                self.conn = None
        return self.conn is not None

    def close(self):
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None
