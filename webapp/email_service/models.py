"""The one Email Service settings row; its password is stored only encrypted."""

import json
from enum import StrEnum

from ..extensions import db
from ..timeutil import utcnow
from . import encryption


class Security(StrEnum):
    """How the connection is protected: the stored value, its short and its long label."""

    def __new__(cls, value, label, long_label):
        member = str.__new__(cls, value)
        member._value_, member.label, member.long_label = value, label, long_label
        return member

    NONE = "none", "None", "None"
    SSL = "ssl", "SSL", "SSL (implicit TLS)"
    TLS = "tls", "TLS", "TLS (STARTTLS)"


class EmailSettings(db.Model):
    """How the platform reaches its outgoing mail server."""

    __tablename__ = "email_settings"

    id = db.Column(db.Integer, primary_key=True)
    smtp_host = db.Column(db.String(253), nullable=False, default="")
    smtp_port = db.Column(db.Integer, nullable=False, default=465)
    security = db.Column(db.String(4), nullable=False, default="ssl")
    sender_email = db.Column(db.String(254), nullable=False, default="")
    sender_name = db.Column(db.String(100), nullable=False, default="")
    login_name = db.Column(db.String(254), nullable=False, default="")
    password_encrypted = db.Column(db.Text)
    password_changed_at = db.Column(db.DateTime)
    password_changed_by = db.Column(db.String(254))
    test_email = db.Column(db.String(254), nullable=False, default="")
    enabled = db.Column(db.Boolean, nullable=False, default=False)
    # Delivery: parallel SMTP sessions per worker, and messages per minute over all workers.
    max_connections = db.Column(db.Integer, nullable=False, default=4, server_default="4")
    max_per_minute = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    version = db.Column(db.Integer, nullable=False, default=0)
    updated_at = db.Column(db.DateTime)
    updated_by = db.Column(db.String(254))
    # Set by the notifier when the server refuses the login or the certificate: retrying
    # each message is pointless until an administrator fixes the settings and a test passes.
    hold_reason = db.Column(db.String(500))
    held_since = db.Column(db.DateTime)

    __table_args__ = (
        db.CheckConstraint(
            f"security IN ({', '.join(repr(mode.value) for mode in Security)})", name="security"
        ),
    )

    def __repr__(self):
        # Never the password, not even encrypted.
        return f"<EmailSettings {self.smtp_host}:{self.smtp_port} {self.security} v{self.version}>"

    @property
    def configured(self):
        """True once a server and a sender are stored."""
        return bool(self.smtp_host and self.sender_email)

    @property
    def usable(self):
        """True when the notifier may send: enabled, configured and not on hold."""
        return bool(self.enabled and self.configured and not self.hold_reason)

    @property
    def effective_login(self):
        """The SMTP login name: the stored one, or the sender email when blank."""
        return self.login_name or self.sender_email

    @property
    def has_password(self):
        return bool(self.password_encrypted)

    @property
    def target(self):
        """Where this row's settings log in: the stored password is bound to exactly this."""
        return connection_target(
            self.smtp_host, self.smtp_port, self.security, self.effective_login
        )

    def _sealed(self):
        """``(password, target it was saved for)``; UndecryptableSecret if no key fits."""
        plaintext = encryption.decrypt(self.password_encrypted)
        try:
            sealed = json.loads(plaintext)
            return sealed["password"], tuple(sealed["target"])
        except (ValueError, TypeError, KeyError):
            # Stored before passwords were bound: bound to the settings it was saved with.
            return plaintext, self.target

    def password_for(self, target):
        """The stored password if it was saved for ``target``; None when none is stored.

        PasswordNotBound when it was saved for another server, port, security or login:
        a password is never sent anywhere it was not typed for.
        """
        if not self.password_encrypted:
            return None
        password, bound = self._sealed()
        if bound != tuple(target):
            raise PasswordNotBound(bound, tuple(target))
        return password

    def password_bound_to(self):
        """The target the stored password was saved for (None when none is stored)."""
        return self._sealed()[1] if self.password_encrypted else None

    def password_readable(self):
        """False when a password is stored that no configured key can decrypt."""
        try:
            self.password_bound_to()
        except encryption.UndecryptableSecret:
            return False
        return True

    def set_password(self, plaintext, by):
        """Store ``plaintext`` sealed with this row's target (None clears it), noting who and when.

        Set the server, port, security and login first: the password is bound to them.
        """
        sealed = json.dumps({"password": plaintext, "target": list(self.target)})
        self.password_encrypted = encryption.encrypt(sealed) if plaintext else None
        self.password_changed_at = utcnow()
        self.password_changed_by = by


class PasswordNotBound(Exception):
    """The stored password belongs to another server, port, security or login."""

    def __init__(self, bound, target):
        super().__init__("the stored password was saved for other connection settings")
        self.bound, self.target = bound, target


def connection_target(host, port, security, login):
    """What a password is bound to: host, port, security and login name, compared exactly."""
    return ((host or "").lower(), int(port or 0), security or "", (login or "").lower())


BLANK = {
    "smtp_host": "",
    "smtp_port": 465,
    "security": "ssl",
    "sender_email": "",
    "sender_name": "",
    "login_name": "",
    "test_email": "",
    "enabled": False,
    "max_connections": 4,
    "max_per_minute": 0,
    "version": 0,
    "hold_reason": None,
}


def load_settings(for_update=False):
    """The settings row; an unsaved blank one (version 0) before the first save."""
    query = db.select(EmailSettings).where(EmailSettings.id == 1)
    if for_update:
        query = query.with_for_update()
    return db.session.scalar(query) or EmailSettings(id=1, **BLANK)
