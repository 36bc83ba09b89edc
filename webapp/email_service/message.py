"""The one function that builds outgoing messages."""

import email.policy
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..validators import has_control_characters


def _header_text(value, what):
    # The forms refuse these already; this keeps any other caller from forging headers.
    if has_control_characters(value) or "=?" in value:
        raise ValueError(f"{what} contains line breaks, control characters or '=?'")
    return value


def new_message_id(sender_email):
    """A fresh ``Message-ID`` in the sender's domain."""
    return make_msgid(domain=sender_email.rpartition("@")[2] or "localhost")


def build_message(
    *, sender_email, sender_name, to, subject, text, html=None, message_id=None, headers=None
):
    """An ``EmailMessage`` with From, To, Subject, Date, Message-ID and text (+HTML) parts.

    Non-ASCII names and subjects are RFC 2047-encoded by the email package.
    """
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = Address(
        display_name=_header_text(sender_name or "", "sender name"), addr_spec=sender_email
    )
    message["To"] = [Address(addr_spec=address) for address in to]
    message["Subject"] = _header_text(subject, "subject")
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id or new_message_id(sender_email)
    for name, value in (headers or {}).items():
        message[name] = _header_text(value, name)
    # Quoted-printable keeps Chinese bodies 7-bit clean: no server is ever sent raw 8-bit
    # data it did not offer 8BITMIME for.
    message.set_content(text, cte="quoted-printable")
    if html:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message
