"""The one function that builds outgoing messages."""

import email.policy
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import MIMEPart
from email.utils import format_datetime, make_msgid

from ..validators import has_control_characters

POLICY = email.policy.SMTP


def _header_text(value, what):
    # The forms refuse these already; this keeps any other caller from forging headers.
    if has_control_characters(value) or "=?" in value:
        raise ValueError(f"{what} contains line breaks, control characters or '=?'")
    return value


def new_message_id(sender_email):
    """A fresh ``Message-ID`` in the sender's domain."""
    return make_msgid(domain=sender_email.rpartition("@")[2] or "localhost")


def _file_part(attachment):
    part = MIMEPart(policy=POLICY)
    maintype, _, subtype = attachment.content_type.partition("/")
    part.set_content(
        attachment.content,
        maintype,
        subtype,
        filename=attachment.filename,
        disposition="inline" if attachment.inline else "attachment",
        cid=f"<{attachment.content_id}>" if attachment.inline else None,
        params={"charset": "utf-8"} if maintype == "text" and _utf8(attachment.content) else None,
    )
    return part


def _utf8(data):
    # A CSV that is UTF-8 says so, or a mail client may open 华东 as mojibake.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _body(text, html, attachments):
    """The parts: ``multipart/mixed`` › ``related`` (inline images) › ``alternative``."""
    body = MIMEPart(policy=POLICY)
    # Quoted-printable keeps Chinese bodies 7-bit clean: no server is ever sent raw 8-bit
    # data it did not offer 8BITMIME for.
    body.set_content(text, cte="quoted-printable")
    if html:
        body.add_alternative(html, subtype="html", cte="quoted-printable")
    for subtype, inline in (("related", True), ("mixed", False)):
        group = [a for a in attachments if bool(a.inline) == inline]
        if group:
            container = MIMEPart(policy=POLICY)
            container.make_mixed() if subtype == "mixed" else container.make_related()
            container.attach(body)
            for attachment in group:
                container.attach(_file_part(attachment))
            body = container
    return body


def message_without_recipient(
    *, sender_email, sender_name, subject, text, html=None, headers=None, attachments=()
):
    """A message with From, Subject, Date, the text (+HTML) parts and the files, but no To
    or Message-ID: the notifier adds those per recipient.

    ``attachments``: objects with ``filename``, ``content_type``, ``content`` (bytes),
    ``inline`` and ``content_id``. Non-ASCII names and subjects are RFC 2047-encoded,
    non-ASCII file names RFC 2231-encoded, by the email package.
    """
    message = _body(text, html, attachments)
    message["MIME-Version"] = "1.0"
    message["From"] = Address(
        display_name=_header_text(sender_name or "", "sender name"), addr_spec=sender_email
    )
    message["Subject"] = _header_text(subject, "subject")
    message["Date"] = format_datetime(datetime.now(UTC))
    for name, value in (headers or {}).items():
        message[name] = _header_text(value, name)
    return message


def build_message(*, to, message_id=None, **parts):
    """A message for ``to`` with every header: ``message_without_recipient``
    plus To and Message-ID."""
    message = message_without_recipient(**parts)
    message["To"] = [Address(addr_spec=address) for address in to]
    message["Message-ID"] = message_id or new_message_id(parts["sender_email"])
    return message
