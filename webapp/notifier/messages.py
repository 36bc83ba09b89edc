"""Outgoing notification messages: the kind's templates, stable Message-IDs, BASE_URL links."""

from flask import current_app, render_template
from markupsafe import Markup

from ..email_service.message import build_message

SUBJECT_PREFIX = {
    "subscription": "",
    "alert": "[Alert] ",
    "task_failure": "[Task failed] ",
    "resource_alert": "[Server] ",
}


def render_bodies(notification):
    """Text and HTML bodies for a notification (the same for every recipient)."""
    base_url = current_app.config["BASE_URL"]
    context = {
        "notification": notification,
        "data": notification.data or {},
        # HTML comes from the platform's own services (holders of an API token), as the
        # report renderer's output; it is mail content, never served in our pages.
        "html_body": Markup(notification.html) if notification.html else None,  # noqa: S704
        "base_url": base_url,
        "manage_url": f"{base_url}/account/subscriptions",
    }
    kind = notification.kind
    return (
        render_template(f"mail/{kind}.txt", **context),
        render_template(f"mail/{kind}.html", **context),
    )


def message_bytes(settings, notification, delivery, bodies):
    """The bytes sent for one delivery; its Message-ID is the one stored at queueing."""
    text, html = bodies
    base_url = current_app.config["BASE_URL"]
    message = build_message(
        sender_email=settings.sender_email,
        sender_name=settings.sender_name,
        to=[delivery.recipient],
        subject=SUBJECT_PREFIX.get(notification.kind, "") + notification.subject,
        text=text,
        html=html,
        message_id=delivery.message_id,
        headers={
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
            "List-Unsubscribe": f"<{base_url}/account/subscriptions>",
        },
    )
    return message.as_bytes()
