"""Outgoing notification messages: built once per notification, finished per recipient.

A message with a 2 MB file goes to a thousand recipients, so the templates, the MIME tree
and the encoded files are made once. Each recipient then gets only what is theirs: the To,
Message-ID and List-Unsubscribe headers, written as whole header lines, and the one body
line that carries their unsubscribe link, encoded on its own. Nothing is found by searching
the finished message for a stand-in, so no subject or body text can take another header's
place.
"""

import binascii
import secrets
from collections import defaultdict

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select

from ..auth.models import User
from ..config import LOCALES
from ..email_service import message_without_recipient
from ..extensions import db
from ..i18n import html_lang
from ..validators import has_control_characters
from . import login_alerts, monitor
from .unsubscribe import link_maker

SUBJECT_PREFIX = {
    "alert": _l("[Alert]"),
    "task_failure": _l("[Task failed]"),
    "resource_alert": _l("[Server]"),
}
ONE_CLICK = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"


def _qp(text):
    """``text`` as quoted-printable UTF-8 with CRLF line ends (lines encode independently)."""
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True)


def _header_line(name, value):
    # The values are ours (addresses validated at queueing, ids and links we made), but a
    # header line is only ever written from printable ASCII without spaces.
    if not value.isascii() or " " in value or has_control_characters(value):
        raise ValueError(f"{name} holds characters a header line cannot carry")
    return f"{name}: {value}\r\n".encode("ascii")


class _Body:
    """A rendered body split around the line holding the unsubscribe stand-in."""

    def __init__(self, text, mark):
        text = text if text.endswith("\n") else text + "\n"  # the boundary starts a line
        start = text.index(mark)
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.index("\n", start) + 1
        self.before, self.after = _qp(text[:line_start]), _qp(text[line_end:])
        self.line, self.mark = text[line_start:line_end], mark

    def encoded(self, snippet):
        """The quoted-printable body with ``snippet`` in place of the stand-in."""
        return self.before + _qp(self.line.replace(self.mark, snippet)) + self.after


def recipient_locales(deliveries):
    """``{user_id: locale}`` for the deliveries' recipients; a user who chose no language and
    a named address without an account (``None``) get ``DEFAULT_LOCALE``."""
    default = current_app.config["DEFAULT_LOCALE"]
    ids = {d.user_id for d in deliveries if d.user_id is not None}
    query = select(User.id, User.locale).where(User.id.in_(ids), User.locale.in_(LOCALES))
    return defaultdict(lambda: default, db.session.execute(query).all() if ids else ())


def wording(notification):
    """``(subject, text)`` in the current language: the platform's own alerts are worded
    again from their data; everything else is as its sender wrote it."""
    data = notification.data or {}
    if notification.created_by == monitor.CREATED_BY and data.get("metric") in monitor.METRICS:
        return monitor.alert_wording(data)
    if notification.created_by == "system" and data.get("alert") == login_alerts.ALERT:
        return login_alerts.alert_wording(data)
    return notification.subject, notification.text


def subject_line(notification, subject):
    """The Subject: the kind's prefix in the current language, then ``subject``."""
    prefix = SUBJECT_PREFIX.get(notification.kind)
    return f"{prefix} {subject}" if prefix else subject


def _context(notification, mark):
    base_url = current_app.config["BASE_URL"]
    subject, text = wording(notification)
    files = [a for a in notification.attachments if not a.inline]
    html = notification.html or ""
    return {
        "notification": notification,
        "subject": subject,
        "text": text,
        "lang": html_lang(),
        "data": notification.data or {},
        # HTML comes from the platform's own services (holders of an API token), as the
        # report renderer's output; it is mail content, never served in our pages.
        "html_body": Markup(html) if html else None,  # noqa: S704
        "base_url": base_url,
        "manage_url": f"{base_url}/account/subscriptions",
        "unsubscribe_line": mark,
        "files": files,
        # Inline images the platform's HTML does not show itself are shown after it.
        "images": [
            a for a in notification.attachments if a.inline and f"cid:{a.content_id}" not in html
        ],
    }


class NotificationMessage:
    """A notification's message for any recipient; ``for_recipient`` needs no app context,
    so the session threads build each message just before sending it. It is written in the
    language current while it is built (the worker builds one per recipients' language)."""

    def __init__(self, settings, notification):
        mark, url_mark = f"x{secrets.token_hex(16)}", f"u{secrets.token_hex(16)}"
        context = _context(notification, mark)
        kind = notification.kind
        text = render_template(f"mail/{kind}.txt", **context)
        html = render_template(f"mail/{kind}.html", **context)
        self.text, self.html = _Body(text, mark), _Body(html, mark)
        self.snippets = (
            render_template("mail/_unsubscribe.txt", url=url_mark).strip(),
            render_template("mail/_unsubscribe.html", url=url_mark).strip(),
        )
        self.url_mark, self.link = url_mark, link_maker()
        text_mark, html_mark = f"t{secrets.token_hex(16)}", f"h{secrets.token_hex(16)}"
        message = message_without_recipient(
            sender_email=settings.sender_email,
            sender_name=settings.sender_name,
            subject=subject_line(notification, context["subject"]),
            text=text_mark + "\n",
            html=html_mark + "\n",
            headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
            attachments=notification.attachments,
        )
        raw = message.as_bytes()
        # The parts' payloads are the stand-ins; the encoded bodies go in their place.
        self.head, rest = self._split(raw, text_mark)
        self.middle, self.tail = self._split(rest, html_mark)

    @staticmethod
    def _split(raw, mark):
        before, found, after = raw.partition(mark.encode("ascii") + b"\r\n")
        if not found or mark.encode("ascii") in after:
            raise ValueError("the message's body part was not where it was put")
        return before, after

    def for_recipient(self, recipient, message_id, user_id=None, topic=None):
        """The bytes sent to ``recipient``; subscribers get their one-click unsubscribe link."""
        lines = [_header_line("To", recipient), _header_line("Message-ID", message_id)]
        text_snippet = html_snippet = ""
        if user_id is not None and topic:
            url = self.link(user_id, topic)
            lines += [_header_line("List-Unsubscribe", f"<{url}>"), ONE_CLICK]
            text_snippet = self.snippets[0].replace(self.url_mark, url)
            html_snippet = self.snippets[1].replace(self.url_mark, str(escape(url)))
        return b"".join(
            [
                *lines,
                self.head,
                self.text.encoded(text_snippet),
                self.middle,
                self.html.encoded(html_snippet),
                self.tail,
            ]
        )
