"""Validation of the notification API body: every error names its field."""

import re

from ..validators import has_control_characters, normalized_address
from .models import KINDS

FIELDS = {"kind", "topic", "to", "subject", "text", "html", "idempotency_key", "data"}
TOPIC_RE = re.compile(r"^[a-z0-9][a-z0-9:._-]{0,99}$")
MAX_RECIPIENTS = 1000


def _text(body, name, errors, required, limit, one_line=False):
    value = body.get(name)
    if value is None:
        if required:
            errors[name] = "This field is required."
        return None
    if not isinstance(value, str):
        errors[name] = "Must be a string."
    elif required and not value.strip():
        errors[name] = "Must not be empty."
    elif len(value) > limit:
        errors[name] = f"At most {limit} characters."
    elif one_line and has_control_characters(value):
        errors[name] = "Must not contain line breaks or control characters."
    else:
        return value
    return None


def _addresses(value, errors):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors["to"] = "Must be a list of email addresses."
        return []
    if len(value) > MAX_RECIPIENTS:
        errors["to"] = f"At most {MAX_RECIPIENTS} addresses."
        return []
    clean = []
    for address in value:
        try:
            clean.append(normalized_address(address))
        except ValueError:
            errors["to"] = f"{address[:100]!r} is not one valid email address."
            return []
    return clean


def validate_notification(body):
    """``(errors, clean)``: errors maps field to message; clean holds the accepted values."""
    if not isinstance(body, dict):
        return {"body": "Send a JSON object."}, None
    errors = {name: "Unknown field." for name in sorted(set(body) - FIELDS)}
    kind = body.get("kind")
    if kind not in KINDS:
        errors["kind"] = "Must be one of: " + ", ".join(KINDS) + "."
    topic = body.get("topic")
    if topic is not None and (not isinstance(topic, str) or not TOPIC_RE.match(topic)):
        errors["topic"] = "Lower-case letters, digits and : . _ - (at most 100), e.g. card:42."
    to = _addresses(body["to"], errors) if body.get("to") is not None else []
    if not topic and not to and "topic" not in errors and "to" not in errors:
        errors["topic"] = "Give a topic, addresses in 'to', or both."
    clean = {
        "kind": kind,
        "topic": topic,
        "to": to,
        "subject": _text(body, "subject", errors, True, 200, one_line=True),
        "text": _text(body, "text", errors, True, 1_000_000),
        "html": _text(body, "html", errors, False, 1_000_000),
        "idempotency_key": _text(body, "idempotency_key", errors, False, 200, one_line=True),
        "data": body.get("data"),
    }
    if clean["data"] is not None and not isinstance(clean["data"], dict):
        errors["data"] = "Must be a JSON object."
    if clean["subject"] and "=?" in clean["subject"]:
        errors["subject"] = 'Must not contain "=?".'
    return errors, None if errors else clean
