"""Notifier: topics and subscriptions, API tokens, the outbox, the worker, resource alerts."""

from datetime import timedelta

from ..extensions import db
from ..health import add_health_check
from ..timeutil import utcnow
from . import api, cli
from .models import WorkerHeartbeat

HEARTBEAT_FRESH = timedelta(minutes=2)


def _worker_health():
    last = db.session.scalar(db.select(db.func.max(WorkerHeartbeat.seen_at)))
    alive = last is not None and utcnow() - last < HEARTBEAT_FRESH
    return {"ok": alive, "last_seen": last.isoformat() + "Z" if last else None}


def register(app):
    """Add the notifier's pages, API, CLI and health line."""
    app.register_blueprint(api.bp)
    app.cli.add_command(cli.notifier_group)
    app.cli.add_command(cli.token_group)
    add_health_check(app, "worker", _worker_health)
