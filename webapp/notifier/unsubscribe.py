"""One-click unsubscribe links: signed per recipient and topic, usable without a login.

The links never expire; rotating ``SECRET_KEY`` revokes every one of them.
"""

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "notifier.unsubscribe"


def _serializer():
    return URLSafeSerializer(current_app.secret_key, salt=SALT)


def link_maker():
    """A function ``(user_id, topic) -> url`` that works outside the app context."""
    serializer, base_url = _serializer(), current_app.config["BASE_URL"]

    def link(user_id, topic):
        return f"{base_url}/unsubscribe/{serializer.dumps([user_id, topic])}"

    return link


def read_link_token(token):
    """``(user_id, topic)`` from a link's token, or None when it is not one of ours."""
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    )
    return tuple(value) if valid else None
