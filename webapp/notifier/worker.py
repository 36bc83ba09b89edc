"""The delivery worker: claim due deliveries under a lease, send them over parallel sessions."""

import logging
import os
import secrets
import signal
import socket
import time
from collections import OrderedDict
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple

from flask_babel import force_locale
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import joinedload

from ..database import is_postgresql
from ..email_service import (
    DeliveryBlocked,
    PasswordUnusable,
    load_settings,
    session_params,
    unusable_password,
)
from ..extensions import db
from ..timeutil import utcnow
from .messages import NotificationMessage, recipient_locales
from .models import Delivery, WorkerHeartbeat
from .monitor import check_resources
from .sending import BatchSender
from .wakeup import Waiter

log = logging.getLogger("webapp.notifier")
MESSAGE_REUSE_SECONDS = 60.0  # so its Date header is never more than a minute old
RECENT_MESSAGES = 8  # each may hold 10 MB of encoded files


class Item(NamedTuple):
    """What the send loop needs of a delivery: plain values, no ORM object to refresh."""

    id: int
    recipient: str
    attempts: int
    created_at: datetime


def claim_due(worker_id, limit, lease_seconds):
    """Atomically take up to ``limit`` due deliveries (expired leases included)."""
    now = utcnow()
    due = (
        select(Delivery.id)
        .where(
            or_(
                and_(Delivery.status.in_(("queued", "retrying")), Delivery.next_attempt_at <= now),
                and_(Delivery.status == "sending", Delivery.lease_expires_at < now),
            )
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if is_postgresql():
        due = due.with_for_update(skip_locked=True)  # several workers never take the same row
    # On SQLite this transaction began with BEGIN IMMEDIATE: select and update are atomic.
    ids = list(db.session.scalars(due))
    if ids:
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                status="sending",
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        )
    db.session.commit()
    return ids


def sync_hold_state(usable):
    """Hold pending mail while the service cannot send; release it when it can again."""
    now = utcnow()
    if usable:
        source, target = ("held",), "queued"
    else:
        source, target = ("queued", "retrying"), "held"
    values = {"status": target, "updated_at": now}
    if target == "queued":
        values["next_attempt_at"] = now
    db.session.execute(update(Delivery).where(Delivery.status.in_(source)).values(**values))
    db.session.commit()


class Worker:
    """One delivery worker process (or thread); ``run`` until stopped or, with once, idle."""

    def __init__(self, app, batch_size=None, poll_interval=None):
        config = app.config
        self.app = app
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.batch_size = batch_size or config["NOTIFIER_BATCH_SIZE"]
        self.poll_interval = (
            poll_interval if poll_interval is not None else config["NOTIFIER_POLL_SECONDS"]
        )
        # The lease outlives the slowest batch, so no other worker takes a message in hand.
        self.lease_seconds = config["NOTIFIER_LEASE_SECONDS"] or (
            self.batch_size * config["SMTP_TIMEOUT"] + 60
        )
        self.stopping = False
        self.started_at = utcnow()
        self.last_heartbeat = 0.0
        self.last_monitor = 0.0
        self.counts = {"sent": 0, "retrying": 0, "dead": 0, "held": 0, "throttled": 0}
        self.commit_every = config["NOTIFIER_COMMIT_EVERY"]
        self.sender = BatchSender(self)
        self.waiter = Waiter()
        self.recent_messages = OrderedDict()  # (notification, locale, version) -> (t, message)

    def stop(self, *_):
        """Finish the message in hand, give back the rest of the batch, then exit."""
        self.stopping = True

    def install_signal_handlers(self):
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    # -- the loop ------------------------------------------------------------------
    def run(self, once=False):
        """Deliver until stopped; with ``once``, until nothing is due."""
        with self.app.app_context():
            try:
                while not self.stopping:
                    self.heartbeat()
                    self.maybe_check_resources()
                    worked = self.run_batch()
                    if once and not worked:
                        break
                    if not worked:
                        self.waiter.wait(self._idle_seconds(), lambda: self.stopping)
            finally:
                self.sender.close()
                self.waiter.close()
                db.session.remove()
        return self.counts

    def _idle_seconds(self):
        paused = self.sender.paused_until - time.monotonic()
        return max(self.poll_interval, min(paused, 60.0)) if paused > 0 else self.poll_interval

    def run_batch(self):
        """Claim one batch and deliver it; False when there was nothing to do (or paused)."""
        if time.monotonic() < self.sender.paused_until:
            return False  # the server asked us to slow down, or the minute's budget is spent
        usable = load_settings().usable
        sync_hold_state(usable)
        if not usable:
            return False
        ids = claim_due(self.worker_id, self.batch_size, self.lease_seconds)
        if not ids:
            return False
        self.deliver(ids)
        return True

    def heartbeat(self):
        """Record that this worker is alive (at most every few seconds)."""
        if time.monotonic() - self.last_heartbeat < 5:
            return
        row = db.session.get(WorkerHeartbeat, self.worker_id)
        if row is None:
            row = WorkerHeartbeat(
                worker_id=self.worker_id,
                hostname=socket.gethostname()[:255],
                pid=os.getpid(),
                started_at=self.started_at,
                seen_at=utcnow(),
            )
            db.session.add(row)
        row.seen_at = utcnow()
        db.session.commit()
        self.last_heartbeat = time.monotonic()

    def maybe_check_resources(self):
        """Run the resource monitor once a minute."""
        interval = self.app.config["RESOURCE_CHECK_SECONDS"]
        if not interval or time.monotonic() - self.last_monitor < interval:
            return
        self.last_monitor = time.monotonic()
        try:
            check_resources()
            db.session.commit()
        except Exception:  # the monitor must never stop deliveries
            db.session.rollback()
            log.exception("resource check failed")

    # -- one batch -----------------------------------------------------------------
    def deliver(self, ids):
        """Send the claimed deliveries over the session pool, within the per-minute limit."""
        deliveries = db.session.scalars(
            select(Delivery)
            .options(joinedload(Delivery.notification))
            .where(Delivery.id.in_(ids), Delivery.lease_owner == self.worker_id)
            .order_by(Delivery.id)
        ).all()
        if not deliveries:
            return
        settings = load_settings()
        try:
            params = session_params(settings)
        except PasswordUnusable:
            self.sender.hold(ids, None, unusable_password())
            return
        except DeliveryBlocked as blocked:
            if blocked.temporary:  # the sign-in service is down: try again in a while
                self.sender.give_back(ids, delay=self.app.config["NOTIFIER_BACKOFF_BASE"])
            else:  # a revoked sign-in or a wrong secret: hold until an admin fixes it
                self.sender.hold(ids, None, blocked.reason)
            return
        messages = list(self._messages(settings, deliveries))
        sender, sessions = settings.sender_email, settings.max_connections
        per_minute = settings.max_per_minute
        db.session.commit()  # no transaction stays open while talking SMTP
        self.sender.send(params, sender, messages, sessions, per_minute)

    def _built(self, settings, notification, locale):
        """The notification's message in ``locale``, reused by the next batches for a minute:
        a thousand recipients are twenty batches, and a 2 MB file need not be encoded twenty
        times. New settings make a new message."""
        key = (notification.id, locale, settings.version)
        entry = self.recent_messages.get(key)
        if entry is None or time.monotonic() - entry[0] > MESSAGE_REUSE_SECONDS:
            with force_locale(locale):
                entry = (time.monotonic(), NotificationMessage(settings, notification))
            self.recent_messages[key] = entry
            while len(self.recent_messages) > RECENT_MESSAGES:
                self.recent_messages.popitem(last=False)  # the oldest goes first
        return entry[1]

    def _messages(self, settings, deliveries):
        """``(Item, build)`` per delivery; each notification is rendered and built once per
        language of its recipients."""
        locales = recipient_locales(deliveries)
        for d in deliveries:
            n = d.notification
            message = self._built(settings, n, locales[d.user_id])
            build = partial(message.for_recipient, d.recipient, d.message_id, d.user_id, d.topic)
            yield Item(d.id, d.recipient, d.attempts, d.created_at), build
