"""Content negotiation: whether a request asked for JSON rather than a page."""

from flask import request


def wants_json():
    """True for the API and for clients that prefer JSON to HTML in ``Accept``."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > 0
