"""What happens to a delivery after an attempt: sent, retried with backoff, dead or held."""

import random
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, update

from ..extensions import db
from ..timeutil import utcnow
from .models import Delivery

# Failures that mean the settings are wrong: retrying message by message cannot help.
HOLD_KINDS = {
    "auth_rejected",
    "auth_required",
    "auth_unsupported",
    "password_not_ascii",
    "cert_untrusted",
    "cert_mismatch",
    "cert_expired",
    "starttls_missing",
    "tls_plaintext_server",
    "expects_ssl",
    "encryption_required",
    "blocked_address",
    "sender_refused",
}


PER_MESSAGE = {"rcpt_to", "data"}


def backoff_seconds(attempts):
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(n-1))]."""
    config = current_app.config
    ceiling = min(
        config["NOTIFIER_BACKOFF_CAP"], config["NOTIFIER_BACKOFF_BASE"] * 2 ** (attempts - 1)
    )
    return random.uniform(0, ceiling)


def _mine(delivery_id, worker_id):
    # No session synchronisation: the loop holds plain values, not Delivery objects.
    return (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.lease_owner == worker_id)
        .execution_options(synchronize_session=False)
    )


_table = Delivery.__table__
# One statement, compiled once, run with executemany for a group of sent deliveries.
_MARK_SENT = (
    update(_table)
    .where(_table.c.id == bindparam("delivery_id"), _table.c.lease_owner == bindparam("worker"))
    .values(
        status="sent",
        attempts=_table.c.attempts + 1,
        sent_at=bindparam("now"),
        updated_at=bindparam("now"),
        lease_owner=None,
        lease_expires_at=None,
        last_error=None,
        last_reply=bindparam("reply"),
    )
)


def mark_sent(sent, worker_id):
    """The server accepted these messages: ``sent`` holds ``(delivery_id, reply)`` pairs."""
    now = utcnow()
    rows = [
        {"delivery_id": i, "worker": worker_id, "now": now, "reply": (r or "")[:300] or None}
        for i, r in sent
    ]
    db.session.connection().execute(_MARK_SENT, rows)


def mark_failed(delivery, worker_id, failure):
    """Retry a temporary failure later, within the retry window; a 5xx for it is dead at once.

    ``delivery`` needs ``id``, ``attempts`` and ``created_at``. A delivery is retried until
    ``NOTIFIER_MAX_AGE`` has passed since it was queued, however many tries that takes.
    """
    attempts = delivery.attempts + 1
    # Only a refusal of this message (RCPT or DATA) is final; a 5xx greeting or EHLO says
    # the server is unwell (or our address is listed), which may pass: retry.
    permanent = failure.code is not None and failure.code >= 500 and failure.step in PER_MESSAGE
    now = utcnow()
    window_ends = delivery.created_at + timedelta(seconds=current_app.config["NOTIFIER_MAX_AGE"])
    values = {
        "attempts": attempts,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": failure.kind,
        "last_reply": (failure.reply or failure.detail or "")[:300],
    }
    if permanent or now >= window_ends:
        values["status"] = "dead"
    else:
        values["status"] = "retrying"
        # The last try falls at the end of the window, not after it.
        retry_at = now + timedelta(seconds=backoff_seconds(attempts))
        values["next_attempt_at"] = min(retry_at, window_ends)
    db.session.execute(_mine(delivery.id, worker_id).values(**values))
    return values["status"]


def _give_up_claim(delivery_ids, worker_id, status, failure=None, delay=None):
    """Set ``status`` on claimed deliveries and drop the claim, counting no attempt.

    ``failure`` is noted as the last error; ``delay`` (seconds) makes them due again then.
    """
    now = utcnow()
    values = {"status": status, "lease_owner": None, "lease_expires_at": None, "updated_at": now}
    if failure is not None:
        values["last_error"] = failure.kind
        values["last_reply"] = (failure.reply or failure.detail or "")[:300]
    if delay is not None:
        values["next_attempt_at"] = now + timedelta(seconds=delay)
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.lease_owner == worker_id)
        .values(**values)
    )


def mark_throttled(delivery_ids, worker_id, failure, pause):
    """Put deliveries back in the queue after ``pause`` seconds, no attempt counted.

    The server asked us to slow down (421, 4.7.x): that says nothing about the messages.
    """
    _give_up_claim(delivery_ids, worker_id, "retrying", failure, delay=pause)


def mark_held(delivery_ids, worker_id, failure=None):
    """Hold claimed deliveries without counting an attempt (the settings are at fault)."""
    _give_up_claim(delivery_ids, worker_id, "held", failure)


def release(delivery_ids, worker_id, delay=0.0):
    """Give back claimed deliveries untouched, due again after ``delay`` seconds.

    A worker stopping before sending them, or a per-minute budget spent, does this.
    """
    _give_up_claim(delivery_ids, worker_id, "queued", delay=delay)
