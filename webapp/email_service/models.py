"""The one Email Service settings row; its password and OAuth secrets are stored only
encrypted, each sealed with the settings it was entered for."""

import json
from enum import StrEnum

from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..timeutil import utcnow
from . import encryption


class Security(StrEnum):
    """How the connection is protected: the stored value, its short and its long label."""

    def __new__(cls, value, label, long_label):
        member = str.__new__(cls, value)
        member._value_, member.label, member.long_label = value, label, long_label
        return member

    NONE = "none", _l("None"), _l("None")
    SSL = "ssl", "SSL", _l("SSL (implicit TLS)")
    TLS = "tls", "TLS", "TLS (STARTTLS)"


class AuthMethod(StrEnum):
    """How the platform logs in to the mail server."""

    def __new__(cls, value, label):
        member = str.__new__(cls, value)
        member._value_, member.label = value, label
        return member

    PASSWORD = "password", _l("Password or authorization code")
    MICROSOFT = "microsoft", "Microsoft 365 (OAuth 2.0)"
    GOOGLE = "google", "Google (OAuth 2.0)"


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
    # OAuth 2.0 (XOAUTH2): the app registration, and for delegated sign-in the mailbox's
    # refresh token. Both secrets are sealed with (provider, tenant, client id).
    auth_method = db.Column(
        db.String(10), nullable=False, default="password", server_default="password"
    )
    oauth_tenant = db.Column(db.String(100), nullable=False, default="", server_default="")
    oauth_client_id = db.Column(db.String(100), nullable=False, default="", server_default="")
    oauth_flow = db.Column(
        db.String(12), nullable=False, default="application", server_default="application"
    )
    oauth_secret_encrypted = db.Column(db.Text)
    oauth_refresh_encrypted = db.Column(db.Text)
    oauth_account = db.Column(db.String(254))  # who signed in, for the page
    oauth_signed_in_at = db.Column(db.DateTime)

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
        return unseal(self.password_encrypted, legacy_target=self.target)

    def password_for(self, target):
        """The stored password if it was saved for ``target``; None when none is stored.

        PasswordNotBound when it was saved for another server, port, security or login:
        a password is never sent anywhere it was not typed for.
        """
        return secret_for(self.password_encrypted, target, legacy_target=self.target)

    @property
    def uses_oauth(self):
        return self.auth_method != AuthMethod.PASSWORD

    @property
    def oauth_target(self):
        """What the OAuth client secret and refresh token are bound to."""
        return app_target(self.auth_method, self.oauth_tenant, self.oauth_client_id)

    def oauth_secret_for(self, target):
        """The client secret if it was saved for ``target`` (None when none is stored)."""
        return secret_for(self.oauth_secret_encrypted, target)

    def refresh_token_for(self, target):
        """The signed-in mailbox's refresh token if it was issued to ``target``."""
        return secret_for(self.oauth_refresh_encrypted, target)

    def set_oauth_secret(self, plaintext):
        """Store the client secret sealed with this row's app registration (None clears)."""
        self.oauth_secret_encrypted = seal(plaintext, self.oauth_target)

    def set_refresh_token(self, token, account, rotated=False):
        """Store the refresh token of a delegated sign-in (None signs out); ``rotated``: the
        provider replaced the token of the same sign-in."""
        self.oauth_refresh_encrypted = seal(token, self.oauth_target)
        if not rotated:
            self.oauth_account = account if token else None
            self.oauth_signed_in_at = utcnow() if token else None

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
        self.password_encrypted = seal(plaintext, self.target)
        self.password_changed_at = utcnow()
        self.password_changed_by = by


class PasswordNotBound(Exception):
    """The stored password belongs to another server, port, security or login."""

    def __init__(self, bound, target):
        super().__init__("the stored password was saved for other connection settings")
        self.bound, self.target = bound, target


def seal(secret, target):
    """``secret`` encrypted together with the ``target`` it may be used for (None: None)."""
    if not secret:
        return None
    return encryption.encrypt(json.dumps({"password": secret, "target": list(target)}))


def unseal(encrypted, legacy_target=None):
    """``(secret, target)``; UndecryptableSecret when no configured key decrypts it."""
    plaintext = encryption.decrypt(encrypted)
    try:
        sealed = json.loads(plaintext)
        return sealed["password"], tuple(sealed["target"])
    except (ValueError, TypeError, KeyError):
        # Stored before passwords were bound: bound to the settings it was saved with.
        return plaintext, legacy_target


def secret_for(encrypted, target, legacy_target=None):
    """The sealed secret when it was saved for ``target``; None when there is none;
    PasswordNotBound when it belongs to other settings."""
    if not encrypted:
        return None
    secret, bound = unseal(encrypted, legacy_target)
    if bound != tuple(target):
        raise PasswordNotBound(bound, tuple(target))
    return secret


def app_target(provider, tenant, client_id):
    """What OAuth secrets are bound to: the provider, tenant and client id."""
    return ("oauth", provider or "", (tenant or "").lower(), (client_id or "").lower())


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
    "auth_method": "password",
    "oauth_tenant": "",
    "oauth_client_id": "",
    "oauth_flow": "application",
}


def load_settings(for_update=False):
    """The settings row; an unsaved blank one (version 0) before the first save."""
    query = db.select(EmailSettings).where(EmailSettings.id == 1)
    if for_update:
        query = query.with_for_update()
    return db.session.scalar(query) or EmailSettings(id=1, **BLANK)
