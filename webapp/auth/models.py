"""Users, roles and server-side login sessions."""

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_login import UserMixin

from ..extensions import db
from ..timeutil import utcnow

ROLES = ("admin", "member")


def _hasher():
    return PasswordHasher(**current_app.config["ARGON2_PARAMS"])


class User(UserMixin, db.Model):
    """A person who logs in: an administrator or a member."""

    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    # Stored lower-cased, so the unique constraint is case-insensitive on every database.
    email = db.Column(db.String(254), nullable=False, unique=True)
    name = db.Column(db.String(100), nullable=False, default="")
    password_hash = db.Column(db.String(255), nullable=False)
    role = db.Column(db.String(10), nullable=False, default="member")
    active = db.Column(db.Boolean, nullable=False, default=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # Own language (a code of config.LOCALES) and IANA time zone; None follows the browser
    # and DEFAULT_LOCALE, and DEFAULT_TIMEZONE.
    locale = db.Column(db.String(16))
    timezone = db.Column(db.String(64))

    __table_args__ = (db.CheckConstraint("role IN ('admin', 'member')", name="role"),)

    def __repr__(self):
        return f"<User {self.id} {self.email!r} {self.role}>"

    @property
    def is_active(self):
        return bool(self.active)

    @property
    def is_admin(self):
        return self.role == "admin"

    @property
    def label(self):
        """How the user is shown: name and email, or just the email."""
        return f"{self.name} <{self.email}>" if self.name else self.email

    def set_password(self, password):
        """Store an argon2id hash of ``password``."""
        self.password_hash = _hasher().hash(password)

    def check_password(self, password):
        """True when ``password`` matches the stored hash."""
        return password_matches(self.password_hash, password)


def password_matches(password_hash, password, hasher=None):
    """True when ``password`` matches ``password_hash`` (an argon2 hash).

    ``hasher`` (from ``password_hasher``) lets a thread without the app context check it.
    """
    try:
        return (hasher or _hasher()).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_hasher():
    """The app's argon2 hasher, to hand to a thread that has no app context."""
    return _hasher()


def dummy_password_hash():
    """A hash to check unknown emails against, so they take the time of a real check."""
    reference = current_app.extensions.get("dummy_password_hash")
    if reference is None:
        reference = current_app.extensions["dummy_password_hash"] = _hasher().hash("-")
    return reference


class LoginSession(db.Model):
    """One server-side login; deleting the row ends the session even if its cookie is replayed."""

    __tablename__ = "login_sessions"

    id = db.Column(db.String(64), primary_key=True)  # SHA-256 of the token kept in the cookie
    user_id = db.Column(
        db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # Written at most once a minute (TOUCH_SECONDS), not on every request.
    last_seen_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    TOUCH_SECONDS = 60

    @staticmethod
    def digest(token):
        """The stored form of a session token."""
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def start(cls, user):
        """Create a session row for ``user`` and return the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        db.session.add(cls(id=cls.digest(token), user_id=user.id, created_at=now, last_seen_at=now))
        return token

    def expired(self, now, lifetime, idle):
        """True once ``lifetime`` seconds passed since login or ``idle`` since last use."""
        return (now - self.created_at).total_seconds() >= lifetime or (
            now - self.last_seen_at
        ).total_seconds() >= idle

    def stale(self, now, idle):
        """True when ``last_seen_at`` is old enough to be written again."""
        every = min(self.TOUCH_SECONDS, idle / 4)
        return (now - self.last_seen_at).total_seconds() >= every
