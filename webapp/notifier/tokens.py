"""API tokens: shown once at creation, stored only as a SHA-256 digest, revocable."""

import hashlib
import hmac
import re
import secrets

from flask import request
from flask_babel import gettext
from limits import parse

from ..audit.record import record_event
from ..extensions import db, limiter
from ..timeutil import utcnow
from .models import ApiToken

PREFIX = "bin_"
# Guessing tokens: an address that presents this many unknown ones waits a minute, wherever
# it presents them (the API, or /healthz for its details).
UNKNOWN_TOKEN_BUDGET = parse("20 per minute")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")


def _digest(plaintext):
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def check_name(name):
    """An error message for a bad or taken token name, or None."""
    if not NAME_RE.match(name or ""):
        return gettext("Use 1–64 letters, digits, spaces, dots, dashes or underscores.")
    if db.session.scalar(db.select(ApiToken.id).where(ApiToken.name == name)) is not None:
        return gettext("A token named %(name)s already exists.", name=repr(name))
    return None


def create_token(name, actor):
    """Create a token; return ``(row, plaintext)``. The plaintext is never stored."""
    plaintext = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=_digest(plaintext),
        prefix=plaintext[: len(PREFIX) + 6],
        created_by=actor if isinstance(actor, str) else actor.email,
    )
    db.session.add(row)
    db.session.flush()
    record_event("token.created", target=name, changes={"name": [None, name]}, actor=actor)
    return row, plaintext


def revoke_token(row, actor):
    """Revoke a token at once; later requests with it get 403."""
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_event(
            "token.revoked", target=row.name, changes={"revoked": [False, True]}, actor=actor
        )


class TooManyUnknownTokens(Exception):
    """This address presented too many unknown tokens this minute."""


def presented_token(header, address):
    """The token row an ``Authorization: Bearer …`` header names (revoked ones included), or
    None; TooManyUnknownTokens once ``address`` spent its budget of unknown ones."""
    scheme, _, presented = header.partition(" ")
    token = find_token(presented.strip()) if scheme.lower() == "bearer" else None
    guessing = token is None and limiter.enabled
    if guessing and not limiter.limiter.hit(UNKNOWN_TOKEN_BUDGET, "unknown-token", address or ""):
        raise TooManyUnknownTokens
    return token


def live_token(plaintext):
    """True for an API token that exists and is not revoked (``/healthz`` details); unknown
    ones count against the address's budget, as at the API."""
    try:
        token = presented_token(f"Bearer {plaintext}", request.remote_addr)
    except TooManyUnknownTokens:
        return False
    return token is not None and token.revoked_at is None


def find_token(plaintext):
    """The token row matching a presented bearer token (revoked ones included), or None."""
    if not plaintext or not plaintext.startswith(PREFIX) or len(plaintext) > 200:
        return None
    row = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == _digest(plaintext)))
    # The lookup is by digest; compare again in constant time for good measure.
    if row is not None and hmac.compare_digest(row.token_hash, _digest(plaintext)):
        return row
    return None
