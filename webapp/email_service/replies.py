"""Steps of a conversation, their failures, and what a server's refusal means."""

import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

# How each step is shown (the JSON result and the stored records keep the codes).
STEP_LABELS = {
    "token": _l("Get token (OAuth)"),
    "resolve": _l("Resolve host"),
    "connect": _l("Connect"),
    "tls": _l("TLS handshake"),
    "greeting": _l("Server greeting"),
    "ehlo": "EHLO",
    "starttls": "STARTTLS",
    "ehlo_after_starttls": _l("EHLO (encrypted)"),
    "auth": _l("Log in (AUTH)"),
    "mail_from": _l("MAIL FROM"),
    "rcpt_to": _l("RCPT TO"),
    "data": _l("DATA (message)"),
}

# What a refusal means at each step when nothing in the reply says more.
STEP_REFUSALS = {
    "greeting": "bad_greeting",
    "ehlo": "ehlo_failed",
    "ehlo_after_starttls": "ehlo_failed",
    "starttls": "starttls_failed",
    "auth": "auth_rejected",
    "mail_from": "sender_refused",
    "rcpt_to": "recipient_refused",
    "data": "message_refused",
}
ENHANCED_CODE = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
# How servers word a refused sender, at whatever step they refuse it: Postfix "Sender
# address rejected: not owned by user" (at RCPT), QQ "mail from address must be same as
# authorization user", 163 "Mail from must equal authorized user", Exchange "send as".
SENDER_SIGNS = ("sender address", "mail from", "from address", "authorized user", "send as")
# How servers say "slow down" (QQ, 163, Exchange Online, Gmail); 421 and 4.7.x say it too.
THROTTLE_SIGNS = (
    "too many",
    "too fast",
    "rate limit",
    "throttl",
    "frequency",
    "limit exceeded",  # Exchange Online: "432 4.3.2 Concurrent connections limit exceeded"
)
RECIPIENT_CODES = {"5.1.1", "5.1.2", "5.1.3", "5.1.10", "5.2.1", "5.2.2"}


@dataclass
class Step:
    """One step of a conversation, as shown to the administrator."""

    name: str
    ok: bool
    ms: int
    detail: str = ""
    reply: str = ""

    def as_dict(self):
        data = {"name": self.name, "ok": self.ok, "ms": self.ms}
        if self.detail:
            data["detail"] = self.detail
        if self.reply:
            data["reply"] = self.reply
        return data


@dataclass(eq=False)  # exceptions stay hashable
class StepFailed(Exception):
    """A failed step: ``step`` names it, ``kind`` classifies it, ``reply`` quotes the server.

    The message never holds the password: it is built from the step and kind only.
    ``offered`` is what the server's EHLO offered (upper-case keywords), for the hint.
    """

    step: str
    kind: str
    reply: str = ""
    code: int | None = None
    detail: str = ""
    offered: frozenset = field(default_factory=frozenset)

    def __str__(self):
        return f"{self.step} failed: {self.kind}"

    @property
    def temporary(self):
        """True when trying again later may succeed (network trouble or a 4xx reply)."""
        if self.code is not None:
            return 400 <= self.code < 500
        return self.kind in {
            "timeout",
            "auth_timeout",
            "refused",
            "unreachable",
            "no_greeting",
            "disconnected",
            "throttled",
        }


def enhanced_code(text):
    """The RFC 3463 enhanced status code at the start of a reply's text, or ""."""
    match = ENHANCED_CODE.match(text or "")
    return match.group(1) if match else ""


def is_throttling(step, code, lower, enhanced):
    """A temporary refusal that asks us to send more slowly (not a login's own 454)."""
    if step == "auth" or not 400 <= code < 500:
        return False
    slow_down = enhanced.startswith("4.7.") or any(sign in lower for sign in THROTTLE_SIGNS)
    return code == 421 or slow_down


def classify(step, code, text):
    """The kind of a refusal, from its code, enhanced code and words before its step."""
    lower = (text or "").lower()
    enhanced = enhanced_code(text)
    if "starttls" in lower and (code == 530 or enhanced == "5.7.0"):
        return "encryption_required"
    if is_throttling(step, code, lower, enhanced):
        return "throttled"
    if code == 530 or "authentication required" in lower:
        return "auth_required"
    if code == 535 or enhanced == "5.7.8":
        return "auth_rejected"
    if "recipient" not in lower and any(sign in lower for sign in SENDER_SIGNS):
        return "sender_refused"
    if step == "rcpt_to" or enhanced in RECIPIENT_CODES:
        return "recipient_refused"
    return STEP_REFUSALS.get(step, "protocol_error")


def reply_text(message):
    """A server reply as one line of at most 300 characters."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return " ".join(str(message).split())[:300]


def refusal(step, code, message, offered=frozenset()):
    """A StepFailed for the server's reply ``code message`` at ``step``."""
    text = reply_text(message)
    return StepFailed(step, classify(step, code, text), f"{code} {text}", code, offered=offered)
