"""Saving the settings and recording tests: each change with its audit event, in one transaction."""

from ..audit.record import diff, record_event, secret_change
from ..extensions import db
from ..timeutil import utcnow
from .models import load_settings

FIELDS = (
    "smtp_host",
    "smtp_port",
    "security",
    "sender_email",
    "sender_name",
    "login_name",
    "test_email",
    "enabled",
)


def _password_change(row, form, actor_email):
    """Apply the form's password intent to ``row``; return the audit marker or None."""
    had = row.has_password
    if form.remove_password.data and had:
        row.set_password(None, actor_email)
        return "cleared"
    if form.password.data:
        if had and row.password_readable() and row.decrypted_password() == form.password.data:
            return None
        row.set_password(form.password.data, actor_email)
        return secret_change(had, True)
    return None


def save_settings(row, form, actor, verification):
    """Store the form's values in ``row`` and record ``email_settings.updated``.

    ``verification`` says how the connection was checked: "passed", "skipped" (saved
    without verifying) or "not needed" (service disabled). The caller commits.
    """
    persisted = row.version > 0
    before = {f: getattr(row, f) for f in FIELDS} if persisted else {}
    for name in FIELDS:
        setattr(row, name, getattr(form, name).data)
    row.sender_name, row.login_name = row.sender_name or "", row.login_name or ""
    row.test_email = row.test_email or ""
    changes = diff(before, {f: getattr(row, f) for f in FIELDS})
    marker = _password_change(row, form, actor.email)
    if marker:
        changes["password"] = marker
    changes["verification"] = [None, verification]
    row.version = (row.version or 0) + 1
    row.updated_at, row.updated_by = utcnow(), actor.email
    if verification == "passed" and row.hold_reason:
        changes["hold"] = [row.hold_reason[:200], None]
        row.hold_reason, row.held_since = None, None
    db.session.add(row)
    record_event("email_settings.updated", target="email-service", changes=changes, actor=actor)
    return changes


def record_test(params, diagnosis, tested_stored):
    """Record ``email_settings.tested``; a passing test of the stored settings lifts a hold."""
    changes = {
        "server": [None, f"{params.host}:{params.port} ({params.security})"],
        "outcome": [None, "passed" if diagnosis.ok else "failed"],
        "reference": [None, diagnosis.reference],
    }
    if diagnosis.failed_step:
        changes["failed_step"] = [None, diagnosis.failed_step]
    record_event("email_settings.tested", target=params.host, changes=changes)
    if diagnosis.ok and diagnosis.sent and tested_stored:
        release_hold(diagnosis.reference)


def hold_delivery(reason):
    """Put outgoing mail on hold until a passing test; recorded once per hold."""
    row = load_settings(for_update=True)
    if row.version == 0 or row.hold_reason:
        return
    row.hold_reason, row.held_since = reason[:500], utcnow()
    record_event(
        "email_settings.held",
        target="email-service",
        changes={"hold": [None, reason[:200]]},
        actor="system",
    )


def release_hold(reference):
    """Lift a hold after a passing Test Connection or a verified save."""
    row = load_settings(for_update=True)
    if not row.hold_reason:
        return
    changes = {"hold": [row.hold_reason[:200], None], "reference": [None, reference]}
    row.hold_reason, row.held_since = None, None
    record_event("email_settings.released", target="email-service", changes=changes)
