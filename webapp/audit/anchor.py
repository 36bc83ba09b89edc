"""The chain's anchor outside the database: an append-only file of ``id hmac`` lines.

Whoever can write the database can delete its newest events, and the chain that is left
is still valid. So each committed event is also appended to a file the database cannot
reach (``AUDIT_ANCHOR_FILE``) and written to the log; ``audit verify`` then checks that
every anchored event is still there, unchanged. Lines are appended after the commit, by
every process that records events, so their order may differ slightly from the ids'.
"""

import fcntl
import logging
import os
import re

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("webapp.audit")

_LINE = re.compile(r"(\d+) ([0-9a-f]{64})")
_PENDING = "audit_anchors_pending"


class AnchorError(ValueError):
    """The anchor file cannot be trusted as it stands; the message says why."""


def chain_key():
    """The chain's HMAC key, from the configuration: never stored in the database."""
    return current_app.config["AUDIT_HMAC_KEY"].encode("utf-8")


def anchor_after_commit(session, event_id, digest):
    """Anchor this event once its transaction commits; forget it if that rolls back."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    path = current_app.config["AUDIT_ANCHOR_FILE"]
    session.info.setdefault(_PENDING, []).append((event_id, digest, transaction, path))


def append_anchors(path, anchors):
    """Append ``(id, hmac)`` lines to the file in one write, under an exclusive lock."""
    data = "".join(f"{event_id} {digest}\n" for event_id, digest in anchors).encode("ascii")
    # O_APPEND puts every write at the end even with several processes appending; the
    # lock keeps a write whole on file systems that do not promise it (NFS).
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
    finally:
        os.close(fd)  # also releases the lock


def read_anchors(path):
    """``{id: hmac}`` from the anchor file, or None when there is no file."""
    try:
        f = open(path, encoding="ascii", errors="replace")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return None
    anchors = {}
    with f:
        for number, line in enumerate(f, 1):
            match = _LINE.fullmatch(line.rstrip("\n"))
            if not match:
                raise AnchorError(f"the anchor file is damaged at line {number}")
            event_id, digest = int(match[1]), match[2]
            if anchors.setdefault(event_id, digest) != digest:
                raise AnchorError(
                    f"the anchor file names two different events #{event_id}: events were "
                    "deleted and others written in their place"
                )
    return anchors


def _inside(transaction, outer):
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_commit")
def _write_pending(session):
    # A released savepoint also fires after_commit: only the outermost commit is final.
    if session.in_nested_transaction() or not session.info.get(_PENDING):
        return
    pending = session.info.pop(_PENDING)
    for event_id, digest, _transaction, _path in pending:
        log.info("audit anchor #%d %s", event_id, digest)
    for path in dict.fromkeys(p[3] for p in pending):
        try:
            append_anchors(path, [(p[0], p[1]) for p in pending if p[3] == path])
        except OSError as exc:
            # The events are committed: failing the request now would not undo them, and the
            # log lines above still anchor them.
            log.error("audit anchor file not written (%s): %s", path, exc.strerror)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction):
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [p for p in pending if not _inside(p[2], previous_transaction)]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session, transaction):
    # Closed without a commit (session.close(), a dropped connection): nothing to anchor.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
