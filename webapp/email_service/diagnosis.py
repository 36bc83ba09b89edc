"""Test Connection: run the SMTP conversation step by step and explain the first failure."""

import secrets
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

from flask import current_app, render_template
from flask_babel import force_locale, gettext

from ..i18n import N_
from ..timeutil import utcnow
from .hints import explain
from .message import build_message
from .models import Security
from .replies import StepFailed
from .transport import SmtpConversation


@dataclass
class Diagnosis:
    """The outcome of a test: each step, and the failing one explained."""

    ok: bool
    reference: str
    steps: list
    failed_step: str | None = None
    kind: str | None = None
    hint: str | None = None
    tls: str = ""
    seconds: float = 0.0
    sent: bool = False
    checked_at: object = field(default_factory=utcnow)
    refresh_token: str | None = field(default=None, repr=False)  # rotated by the token step

    def as_dict(self):
        """The JSON form of DESIGN.md's Test Connection result."""
        return {
            "ok": self.ok,
            "reference": self.reference,
            "failed_step": self.failed_step,
            "hint": self.hint,
            "sent": self.sent,
            "steps": [step.as_dict() for step in self.steps],
        }


def new_reference():
    """A short id the admin can quote, also written into the test email."""
    return "T-" + secrets.token_hex(4).upper()


def conversation(params):
    """An ``SmtpConversation`` configured from the app (timeout, loopback rule, CA bundle)."""
    config = current_app.config
    return SmtpConversation(
        params,
        timeout=config["SMTP_TIMEOUT"],
        allow_loopback=config["SMTP_ALLOW_LOOPBACK"],
        ca_bundle=config["SMTP_CA_BUNDLE"],
        helo_name=config["SMTP_HELO_NAME"],
    )


def _test_message(params, sender_email, sender_name, test_email, reference, tls):
    facts = {
        "host": params.host,
        "port": params.port,
        "security": str(Security(params.security).long_label),
        "tls": tls or gettext("not encrypted"),
        "sent_at": utcnow().strftime("%Y-%m-%d %H:%M:%S UTC"),
        "reference": reference,
    }
    message = build_message(
        sender_email=sender_email,
        sender_name=sender_name,
        to=[test_email],
        subject=gettext("Test email from the BI platform (%(reference)s)", reference=reference),
        text=render_template("mail/test_connection.txt", **facts),
        html=render_template("mail/test_connection.html", **facts),
        headers={"Auto-Submitted": "auto-generated"},
    )
    return message.as_bytes()


def diagnose_connection(params, *, sender_email, sender_name="", test_email=None, test_locale=None):
    """Run every step against the server; with ``test_email`` also send a test message,
    worded in ``test_locale`` (default: the current language)."""
    reference = new_reference()
    started = time.monotonic()
    conv = conversation(params)
    result = Diagnosis(ok=False, reference=reference, steps=conv.steps)
    try:
        with conv:
            conv.open()
            if test_email:
                with force_locale(test_locale) if test_locale else nullcontext():
                    message = _test_message(
                        params, sender_email, sender_name, test_email, reference, conv.tls
                    )
                conv.send(sender_email, [test_email], message)
                result.sent = True
            else:
                conv.probe_sender(sender_email)
        result.ok = True
    except StepFailed as failure:
        result.failed_step, result.kind = failure.step, failure.kind
        result.hint = explain(
            failure, params, sender=sender_email, recipient=test_email, timeout=conv.timeout
        )
    result.tls, result.refresh_token = conv.tls, conv.rotated_refresh_token
    result.seconds = round(time.monotonic() - started, 3)
    return result


def security_warning(port, security):
    """A non-blocking warning for a port and protocol that rarely go together, or None."""
    unusual = {(465, "tls"): "SSL", (587, "ssl"): "TLS", (25, "ssl"): N_("None or TLS")}
    usual = unusual.get((port, security))
    if usual is None:
        return None
    return gettext(
        "Port %(port)s with %(security)s is unusual: this port normally uses %(usual)s. "
        "Test Connection will tell you if it works.",
        port=port,
        security=Security(security).label,
        usual=gettext(usual),
    )
