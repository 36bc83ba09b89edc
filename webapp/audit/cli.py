"""``flask audit verify``: check the whole HMAC chain and the anchor file outside the database."""

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from ..extensions import db
from .anchor import AnchorError, chain_key, read_anchors
from .models import GENESIS, AuditEvent, plain_digest

audit_group = AppGroup("audit", help="Audit log commands.")


def _content_problem(event):
    if event.hash == plain_digest(event):
        return (
            f"event #{event.id}: its hash is a plain SHA-256 recomputed without "
            "AUDIT_HMAC_KEY (the event was rewritten)"
        )
    if event.id == 1:
        return (
            "event #1: its content does not match its HMAC: it was edited, or AUDIT_HMAC_KEY "
            "is not the key this log was written with"
        )
    return f"event #{event.id}: its content does not match its HMAC (edited)"


def first_break(events, key, anchors=None):
    """``(count_checked, problem)`` for events in id order; problem is None if intact.

    ``anchors`` maps ids to the HMACs the anchor file recorded: each must still be there,
    and none may lie beyond the newest event.
    """
    anchors = anchors or {}
    expected_id, expected_prev, count = 1, GENESIS, 0
    for event in events:
        if event.id != expected_id:
            return count, f"event #{event.id}: events #{expected_id}..#{event.id - 1} were removed"
        if event.prev_hash != expected_prev:
            return count, f"event #{event.id}: its link to event #{event.id - 1} is broken"
        if event.compute_hash(key) != event.hash:
            return count, _content_problem(event)
        if anchors.get(event.id, event.hash) != event.hash:
            return count, (
                f"event #{event.id}: it is not the event the anchor file recorded under this "
                "number (newer events were deleted and the log went on after them)"
            )
        count += 1
        expected_id, expected_prev = event.id + 1, event.hash
    newest = max(anchors, default=0)
    if newest >= expected_id:
        return count, (
            f"events #{expected_id}..#{newest} are missing: the anchor file records event "
            f"#{newest}, the log ends at #{expected_id - 1} (the newest events were deleted)"
        )
    return count, None


@audit_group.command("verify")
def verify_command():
    """Check every event's HMAC and link and the anchor file; exit 1 naming the first bad event."""
    path = current_app.config["AUDIT_ANCHOR_FILE"]
    try:
        anchors = read_anchors(path)
    except AnchorError as exc:
        click.echo(f"Audit chain BROKEN: {exc}", err=True)
        sys.exit(1)
    query = db.select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=2000)
    count, problem = first_break(db.session.execute(query).scalars(), chain_key(), anchors)
    if problem:
        click.echo(f"Audit chain BROKEN after {count} good events: {problem}", err=True)
        sys.exit(1)
    if anchors is None:
        click.echo(
            "Warning: there is no anchor file (AUDIT_ANCHOR_FILE), so deleting the newest "
            "events would go unnoticed; it is written from the next event on.",
            err=True,
        )
    anchored = len(anchors or ())
    click.echo(f"Audit chain intact: {count} events checked, {anchored} of them anchored.")
