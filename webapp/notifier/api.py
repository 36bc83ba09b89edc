"""The notification API: queue a notification, read its delivery status (bearer token)."""

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from ..extensions import csrf, db, limiter
from ..timeutil import utcnow
from .api_messages import ERRORS
from .api_schema import parse_notification
from .attachments import total_too_large
from .models import Delivery, Notification
from .outbox import enqueue, find_by_key, recipient_count
from .tokens import TooManyUnknownTokens, presented_token
from .topics import find_topic

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens, not cookies: nothing for a cross-site form to ride on


def _error(status, message, **extra):
    return jsonify({"error": message, **extra}), status


def field_errors(errors, status=400):
    """The API's answer to bad input: ``{"errors": {field: message}}``."""
    return jsonify({"errors": errors}), status


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error):
    """413 in the API's own shape, for a body past ``API_MAX_BODY`` (chunked ones too)."""
    limit = current_app.config["API_MAX_BODY"] // (1024 * 1024)
    return field_errors({"body": ERRORS["too_large"].format(limit=limit)}, 413)


def read_body():
    """The request body; 413 past ``API_MAX_BODY``.

    A chunked body has no Content-Length: Werkzeug stops reading at the limit without
    saying so, so a body that fills the limit is taken as one that went past it.
    """
    raw = request.get_data(cache=True)
    if len(raw) >= request.max_content_length:
        raise RequestEntityTooLarge()
    return raw


@bp.before_request
def authenticate():
    """401 without a valid token, 403 with a revoked one, 429 after many unknown ones."""
    # Every body is capped, chunked ones included: Werkzeug stops reading past the limit.
    request.max_content_length = current_app.config["API_MAX_BODY"]
    try:
        token = presented_token(request.headers.get("Authorization", ""), request.remote_addr)
    except TooManyUnknownTokens:
        return _error(429, "Too many unknown API tokens from this address; wait a minute.")
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
    if not request.is_json:
        return field_errors({"body": ERRORS["body"]})
    errors, body = parse_notification(read_body())
    if errors:
        return field_errors(errors)
    too_large_files = total_too_large(body.attachments)
    if too_large_files:
        return field_errors({"attachments": too_large_files}, 413)
    if body.topic and find_topic(body.topic) is None:
        return field_errors({"topic": ERRORS["unregistered"].format(topic=body.topic)})
    token = g.api_token
    key = body.idempotency_key
    if key:
        existing = find_by_key(key)
        if existing is not None:
            return _accepted(existing)
    token.last_used_at = utcnow()
    values = body.model_dump(exclude={"attachments"})
    values["to"] = values["to"] or ()
    try:
        notification, _ = enqueue(
            created_by=_creator(token),
            attachments=[upload.stored() for upload in body.attachments],
            **values,
        )
        db.session.commit()
    except IntegrityError:
        # The same key arrived twice at once: the other request won; answer with its id.
        db.session.rollback()
        existing = find_by_key(key) if key else None
        if existing is None:
            raise
        return _accepted(existing)
    return _accepted(notification)


def _creator(token):
    return f"token:{token.name}"


@bp.route("/notifications/<notification_id>", methods=["GET"])
def notification_status(notification_id):
    """A notification's status per recipient."""
    notification = db.session.get(Notification, notification_id[:32])
    # A token reads only what it queued: another token's notification looks missing.
    if notification is None or notification.created_by != _creator(g.api_token):
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
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                for a in notification.attachments
            ],
        }
    )
