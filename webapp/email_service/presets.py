"""Provider presets: server, port and security of common mail providers, with their quirks."""

import functools
import json

from flask_babel import lazy_gettext as _l
from jinja2.utils import htmlsafe_json_dumps
from wtforms.fields.choices import SelectChoice

from ..i18n import current_locale


def _auth_code_note(name):
    return _l(
        "%(name)s needs the client authorization code, not your login password: enable "
        "%(service)s in the webmail settings and use the code it gives you. After you change "
        "the login password, get a new code.",
        name=name,
        service=_l("POP3/SMTP or IMAP/SMTP"),
    )


PRESETS = {
    "163": {
        "label": _l("163 Mail"),
        "smtp_host": "smtp.163.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": _auth_code_note(_l("163 Mail")),
    },
    "qq": {
        "label": _l("QQ Mail"),
        "smtp_host": "smtp.qq.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": _auth_code_note(_l("QQ Mail")),
    },
    "exmail": {
        "label": _l("Tencent Exmail"),
        "smtp_host": "smtp.exmail.qq.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": _l(
            "Use the full mailbox address as the login. With secure login enabled, "
            "generate a client-specific password in the Exmail settings."
        ),
    },
    "aliyun": {
        "label": _l("Alibaba Mail (enterprise)"),
        "smtp_host": "smtp.qiye.aliyun.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": _l(
            "Use the full mailbox address as the login; if three-party client security "
            "is on, use the client password generated in the mailbox settings."
        ),
    },
    "gmail": {
        "label": "Gmail",
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": _l(
            "Gmail needs an app password (Google Account → Security → 2-Step "
            "Verification → App passwords); your normal password is refused. Or choose Google "
            "(OAuth 2.0) under Authentication."
        ),
    },
    "office365": {
        "label": "Outlook / Office 365",
        "smtp_host": "smtp.office365.com",
        "smtp_port": 587,
        "security": "tls",
        # Microsoft: "Message storage and concurrent connection throttling for SMTP
        # Authenticated Submission" (Exchange Online troubleshooting docs): up to three
        # concurrent connections per mailbox (more get "432 4.3.2 Concurrent connections
        # limit exceeded") and 30 messages per minute.
        "max_connections": 3,
        "max_per_minute": 30,
        # Basic authentication (passwords) for SMTP AUTH ends for Exchange Online tenants
        # (message center MC786329): OAuth 2.0 is the supported login.
        "auth_method": "microsoft",
        "note": _l(
            "Microsoft 365 signs in with OAuth 2.0: follow the setup steps shown under "
            "Authentication. Exchange shows the mailbox's own name, not the sender name below."
        ),
    },
    "local": {
        "label": _l("Local development server (127.0.0.1:1025)"),
        "smtp_host": "127.0.0.1",
        "smtp_port": 1025,
        "security": "none",
        "note": _l(
            "For development only: a local test server such as aiosmtpd "
            "(python -m aiosmtpd -n -l 127.0.0.1:1025). Needs SMTP_ALLOW_LOOPBACK=1."
        ),
    },
}

CHOICES = [SelectChoice("", _l("Choose a provider…"))]
CHOICES += [SelectChoice(key, p["label"]) for key, p in PRESETS.items()]
CHOICES.append(SelectChoice("other", _l("Other")))

# Where a provider documents no limit of its own, these apply.
DELIVERY_DEFAULTS = {"max_connections": 4, "max_per_minute": 0, "auth_method": "password"}
# What the page and its script need (no secrets here); the notes translate themselves.
FIELDS = ("smtp_host", "smtp_port", "security", "max_connections", "max_per_minute", "auth_method")
FOR_BROWSER = {
    key: {"note": p["note"], **{f: p.get(f, DELIVERY_DEFAULTS.get(f)) for f in FIELDS}}
    for key, p in PRESETS.items()
}


@functools.cache
def _browser_json(locale):
    worded = {key: {**p, "note": str(p["note"])} for key, p in FOR_BROWSER.items()}
    return htmlsafe_json_dumps(worded, dumps=json.dumps, sort_keys=True)


def browser_json():
    """The presets for a data- attribute, as Jinja's ``tojson`` writes them (sorted keys,
    HTML-safe), in the current language: serialised once per language, as they never change."""
    return _browser_json(current_locale())
