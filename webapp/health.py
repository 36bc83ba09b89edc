"""``/healthz``: the database state, plus whatever each feature reports."""

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db, limiter

bp = Blueprint("health", __name__)


def add_health_check(app, name, check):
    """Register ``check()`` (returns a JSON-able dict) under ``name`` in ``/healthz``."""
    app.extensions.setdefault("health_checks", {})[name] = check


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """200 with the state of the database and each feature."""
    body = {"status": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
        body["database"] = {"ok": True, "dialect": db.engine.dialect.name}
    except SQLAlchemyError as exc:
        db.session.rollback()
        body["status"] = "degraded"
        body["database"] = {"ok": False, "error": exc.__class__.__name__}
    for name, check in current_app.extensions.get("health_checks", {}).items():
        try:
            body[name] = check()
        except SQLAlchemyError as exc:
            db.session.rollback()
            body[name] = {"ok": False, "error": exc.__class__.__name__}
    return jsonify(body)


def register(app):
    """Add the ``/healthz`` route."""
    app.register_blueprint(bp)
