"""One clock for the whole app: naive datetimes that are always UTC."""

from datetime import UTC, datetime


def utcnow():
    """Current UTC time without tzinfo (the form stored in every table)."""
    return datetime.now(UTC).replace(tzinfo=None)
