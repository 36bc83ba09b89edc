"""The notification API: queue a notification, read its delivery status (bearer token)."""

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.exc import IntegrityError

from ..extensions import csrf, db, limiter
from ..timeutil import utcnow
from .api_schema import validate_notification
from .models import Delivery, Notification
from .outbox import enqueue, find_by_key, recipient_count
from .tokens import find_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens, not cookies: nothing for a cross-site form to ride on


def _error(status, message, **extra):
    return jsonify({"error": message, **extra}), status


@bp.before_request
def authenticate():
    """401 without a valid token, 403 with a revoked one."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    token = find_token(presented.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        response = _error(401, "Send a valid API token: Authorization: Bearer <token>.")
        response[0].headers["WWW-Authenticate"] = 'Bearer realm="notifier"'
        return response
    if token.revoked_at is not None:
        return _error(403, "This API token was revoked.")
    g.api_token = token


def _token_key():
    token = g.get("api_token")
    return f"token:{token.id}" if token else request.remote_addr or ""


def _accepted(notification, status=202):
    body = {"id": notification.id, "recipients": recipient_count(notification.id)}
    return jsonify(body), status


@bp.route("/notifications", methods=["POST"])
# Per token: generous for a platform's bursts, a brake on a runaway client.
@limiter.limit("6000 per minute", key_func=_token_key)
def create_notification():
    """Queue a notification: 202 with its id and recipient count; 400 naming bad fields."""
    limit = current_app.config["API_MAX_BODY"]
    if (request.content_length or 0) > limit or len(request.get_data(cache=True)) > limit:
        return jsonify({"errors": {"body": f"The body is larger than {limit // 1024} KB."}}), 400
    errors, clean = validate_notification(request.get_json(silent=True))
    if errors:
        return jsonify({"errors": errors}), 400
    token = g.api_token
    if clean["idempotency_key"]:
        existing = find_by_key(clean["idempotency_key"])
        if existing is not None:
            return _accepted(existing)
    token.last_used_at = utcnow()
    try:
        notification, _ = enqueue(created_by=f"token:{token.name}", **clean)
        db.session.commit()
    except IntegrityError:
        # The same key arrived twice at once: the other request won; answer with its id.
        db.session.rollback()
        existing = find_by_key(clean["idempotency_key"]) if clean["idempotency_key"] else None
        if existing is None:
            raise
        return _accepted(existing)
    return _accepted(notification)


@bp.route("/notifications/<notification_id>", methods=["GET"])
def notification_status(notification_id):
    """A notification's status per recipient."""
    notification = db.session.get(Notification, notification_id[:32])
    if notification is None:
        return _error(404, "No notification with this id.")
    deliveries = db.session.scalars(
        db.select(Delivery).where(Delivery.notification_id == notification.id).order_by(Delivery.id)
    ).all()
    counts = {}
    for delivery in deliveries:
        counts[delivery.status] = counts.get(delivery.status, 0) + 1
    return jsonify(
        {
            "id": notification.id,
            "kind": notification.kind,
            "topic": notification.topic,
            "subject": notification.subject,
            "created_at": notification.created_at.isoformat() + "Z",
            "counts": counts,
            "recipients": [
                {
                    "recipient": d.recipient,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "last_reply": d.last_reply,
                    "sent_at": d.sent_at.isoformat() + "Z" if d.sent_at else None,
                }
                for d in deliveries
            ],
        }
    )
