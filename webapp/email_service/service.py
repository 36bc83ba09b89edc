"""Saving the settings and recording tests: each change with its audit event, in one transaction."""

from dataclasses import dataclass, field, fields

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from ..audit.record import diff, record_event, secret_change
from ..extensions import db
from ..i18n import local_time
from ..timeutil import utcnow
from .encryption import UndecryptableSecret
from .hints import Hint, stored_wording
from .models import PasswordNotBound, app_target, connection_target, load_settings
from .oauth_settings import (
    oauth_client,
    oauth_errors,
    oauth_secret_change,
    oauth_session_params,
)
from .transport import SmtpParams

FIELDS = (
    "smtp_host",
    "smtp_port",
    "security",
    "sender_email",
    "sender_name",
    "login_name",
    "test_email",
    "enabled",
    "max_connections",
    "max_per_minute",
    "auth_method",
    "oauth_tenant",
    "oauth_client_id",
    "oauth_flow",
)
# Worded in the reader's language when a form shows them (lazy strings).
RETYPE = _l(
    "You changed the server, port, security protocol or login name: enter the password "
    "again. A stored password is only ever sent to the server, port, security and login it "
    "was saved for."
)
UNDECRYPTABLE = _l(
    "The stored password can no longer be decrypted (the encryption keys changed): enter it again."
)
BOTH = _l("Either enter a new password or remove the stored one, not both.")
PLAINTEXT = _l(
    "With security None the password crosses the network unencrypted. Choose SSL or TLS, "
    "or tick this box to confirm."
)


@dataclass(frozen=True)
class SettingsInput:
    """The values an administrator submitted on the Email Service page."""

    smtp_host: str
    smtp_port: int
    security: str
    sender_email: str
    sender_name: str | None
    login_name: str | None
    test_email: str | None
    enabled: bool
    max_connections: int
    max_per_minute: int
    password: str | None = field(repr=False)
    remove_password: bool
    allow_plaintext_password: bool
    auth_method: str = "password"
    oauth_tenant: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(default=None, repr=False)
    oauth_flow: str = "application"

    @classmethod
    def names(cls):
        return [f.name for f in fields(cls)]

    @property
    def target(self):
        login = self.login_name or self.sender_email or ""
        return connection_target(self.smtp_host, self.smtp_port, self.security, login)

    @property
    def uses_oauth(self):
        return self.auth_method != "password"

    @property
    def app_target(self):
        return app_target(self.auth_method, self.oauth_tenant, self.oauth_client_id)


class StaleSettings(Exception):
    """The row changed after the page was rendered; the message says who changed it when."""


def keeps_stored_password(row, values):
    """True when the blank password field means "use the stored one"."""
    return not values.password and not values.remove_password and row.has_password


def input_errors(row, values):
    """``{field: message}`` for rules that need the stored row: secret binding, plaintext."""
    if values.uses_oauth:
        return oauth_errors(row, values)  # no password is sent: its rules do not apply
    errors = {}
    keeps = keeps_stored_password(row, values)
    if values.password and values.remove_password:
        errors["password"] = BOTH
    elif keeps:
        try:
            row.password_for(values.target)
        except PasswordNotBound:
            errors["password"] = RETYPE
        except UndecryptableSecret:
            errors["password"] = UNDECRYPTABLE
    # A kept password bound to these values was saved (and confirmed) with this security.
    confirmed_before = keeps and "password" not in errors
    sends_password = bool(values.password) or keeps
    if (
        values.security == "none"
        and sends_password
        and not confirmed_before
        and not values.allow_plaintext_password
    ):
        errors["allow_plaintext_password"] = PLAINTEXT
    return errors


def connection_params(row, values):
    """The parameters a test or save connects with (call after ``input_errors`` is empty)."""
    host, port, security, _ = values.target
    login = values.login_name or values.sender_email
    if values.uses_oauth:
        secret = values.oauth_client_secret or row.oauth_secret_for(values.app_target)
        client = oauth_client(row, values.auth_method, values.oauth_tenant,
                              values.oauth_client_id, values.oauth_flow, secret)  # fmt: skip
        return SmtpParams(values.smtp_host, port, security, login, oauth=client)
    password = values.password
    if not password and keeps_stored_password(row, values):
        password = row.password_for(values.target)
    return SmtpParams(values.smtp_host, port, security, login, password or None)


def session_params(row):
    """The parameters the notifier sends with; PasswordNotBound or UndecryptableSecret, or
    DeliveryBlocked when no OAuth token can be had (see ``oauth_session_params``)."""
    if row.uses_oauth:
        return oauth_session_params(row)
    password = row.password_for(row.target)
    return SmtpParams(row.smtp_host, row.smtp_port, row.security, row.effective_login,
                      password)  # fmt: skip


def tests_stored(row, values):
    """True when these values reach the stored server with the stored password."""
    same_password = keeps_stored_password(row, values) or (
        not values.password and not row.has_password
    )
    return row.version > 0 and values.target == row.target and same_password


def check_version(row, submitted):
    """StaleSettings (naming who changed what when) if the row moved on since the page."""
    if submitted == str(row.version or 0):
        return
    raise StaleSettings(
        gettext(
            "These settings were changed by %(who)s at %(when)s after you opened this page. "
            "Reload the page to see that change, then make yours again.",
            who=row.updated_by or gettext("another administrator"),
            when=local_time(row.updated_at, seconds=True, zone=True) or "?",
        )
    )


def _password_change(row, values, actor_email):
    """Apply the password intent to ``row`` (sealed to its new target); the audit marker."""
    had = row.has_password
    if values.remove_password and had:
        row.set_password(None, actor_email)
        return "cleared"
    if values.password:
        try:
            if row.password_for(row.target) == values.password:
                return None
        except (PasswordNotBound, UndecryptableSecret):
            pass  # saved for another target (or unreadable): seal it again for this one
        row.set_password(values.password, actor_email)
        return secret_change(had, True)
    return None


def save_settings(row, values, actor, verification, submitted_version):
    """Store ``values`` in ``row`` and record ``email_settings.updated``.

    ``verification`` says how the connection was checked: "passed", "skipped" (saved
    without verifying) or "not needed" (service disabled). StaleSettings when the row
    changed since the page was rendered. The caller commits.
    """
    check_version(row, submitted_version)
    persisted = row.version > 0
    before = {f: getattr(row, f) for f in FIELDS} if persisted else {}
    for name in FIELDS:
        setattr(row, name, getattr(values, name))
    row.sender_name, row.login_name = row.sender_name or "", row.login_name or ""
    row.oauth_tenant, row.oauth_client_id = row.oauth_tenant or "", row.oauth_client_id or ""
    row.test_email = row.test_email or ""
    changes = diff(before, {f: getattr(row, f) for f in FIELDS})
    marker = _password_change(row, values, actor.email)
    if marker:
        changes["password"] = marker
    changes.update(oauth_secret_change(row, values))
    changes["verification"] = [None, verification]
    row.version = (row.version or 0) + 1
    row.updated_at, row.updated_by = utcnow(), actor.email
    if verification == "passed" and row.hold_reason:
        changes["hold"] = [recorded_hold(row.hold_reason), None]
        row.hold_reason, row.held_since = None, None
    db.session.add(row)
    record_event("email_settings.updated", target="email-service", changes=changes, actor=actor)
    return changes


def record_test(params, diagnosis, tested_stored, trigger="test"):
    """Record ``email_settings.tested`` (``trigger``: test or save); a passing test of the
    stored settings lifts a hold. Every connection made from the web is recorded here.
    """
    changes = {
        "trigger": [None, trigger],
        "server": [None, f"{params.host}:{params.port} ({params.security})"],
        "outcome": [None, "passed" if diagnosis.ok else "failed"],
        "reference": [None, diagnosis.reference],
    }
    if diagnosis.failed_step:
        changes["failed_step"] = [None, diagnosis.failed_step]
        changes["failure"] = [None, diagnosis.kind]
    record_event("email_settings.tested", target=params.host, changes=changes)
    if diagnosis.ok and diagnosis.sent and tested_stored:
        release_hold(diagnosis.reference)


def unusable_password():
    """The hold reason for a stored password that cannot be used."""
    return Hint("password_unusable")


def recorded_hold(stored):
    """A hold reason as the audit log records it: English words, not the stored codes."""
    with force_locale("en"):
        return stored_wording(stored)[:200]


def hold_delivery(reason):
    """Put outgoing mail on hold until a passing test; recorded once per hold.

    A ``Hint`` is stored as its template's key and values, and worded for each reader of
    the page; plain text is stored as it is.
    """
    row = load_settings(for_update=True)
    if row.version == 0 or row.hold_reason:
        return
    stored = reason.stored(500) if isinstance(reason, Hint) else reason[:500]
    row.hold_reason, row.held_since = stored, utcnow()
    record_event(
        "email_settings.held",
        target="email-service",
        changes={"hold": [None, recorded_hold(stored)]},
        actor="system",
    )


def release_hold(reference):
    """Lift a hold after a passing Test Connection or a verified save."""
    row = load_settings(for_update=True)
    if not row.hold_reason:
        return
    changes = {"hold": [recorded_hold(row.hold_reason), None], "reference": [None, reference]}
    row.hold_reason, row.held_since = None, None
    record_event("email_settings.released", target="email-service", changes=changes)
