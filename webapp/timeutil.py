"""One clock for the whole app: naive datetimes that are always UTC."""

from datetime import UTC, datetime

from flask import current_app, has_app_context


def utcnow():
    """Current UTC time without tzinfo (the form stored in every table).

    An app whose ``CLOCK`` setting is a callable reads the time from it instead: tests
    use that to live through a day-long outage in a second.
    """
    clock = current_app.config.get("CLOCK") if has_app_context() else None
    return clock() if clock else datetime.now(UTC).replace(tzinfo=None)
