"""``/healthz``: ok or not for anyone; the database state and each feature's for the trusted."""

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db, limiter

bp = Blueprint("health", __name__)


def add_health_check(app, name, check):
    """Register ``check()`` (returns a JSON-able dict) under ``name`` in ``/healthz``."""
    app.extensions.setdefault("health_checks", {})[name] = check


def add_health_token_check(app, is_valid):
    """Let a request whose bearer token passes ``is_valid(token)`` read the details."""
    app.extensions.setdefault("health_token_checks", []).append(is_valid)


def _may_read_details():
    # Versions, worker state and mail settings help an attacker; admins and the platform's
    # API tokens need them, a load balancer only needs ok or not.
    if current_user.is_authenticated and getattr(current_user, "is_admin", False):
        return True
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    checks = current_app.extensions.get("health_token_checks", ())
    return any(is_valid(presented.strip()) for is_valid in checks)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """200 with ``status`` ok or degraded; the state of the database and each feature too
    for a logged-in admin or a valid API token."""
    body = {"status": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
        body["database"] = {"ok": True, "dialect": db.engine.dialect.name}
    except SQLAlchemyError as exc:
        db.session.rollback()
        body["status"] = "degraded"
        body["database"] = {"ok": False, "error": exc.__class__.__name__}
    try:
        trusted = _may_read_details()
    except SQLAlchemyError:  # the user or token cannot be looked up: the database is down
        db.session.rollback()
        trusted = False
    if not trusted:
        return jsonify({"status": body["status"]})
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
