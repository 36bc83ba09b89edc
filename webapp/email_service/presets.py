"""Provider presets: server, port and security of common mail providers, with their quirks."""

import json

from jinja2.utils import htmlsafe_json_dumps
from wtforms.fields.choices import SelectChoice

AUTH_CODE_NOTE = (
    "{name} needs the client authorization code, not your login password: enable "
    "{service} in the webmail settings and use the code it gives you. After you change "
    "the login password, get a new code."
)

PRESETS = {
    "163": {
        "label": "163 Mail",
        "smtp_host": "smtp.163.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": AUTH_CODE_NOTE.format(name="163 Mail", service="POP3/SMTP or IMAP/SMTP"),
    },
    "qq": {
        "label": "QQ Mail",
        "smtp_host": "smtp.qq.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": AUTH_CODE_NOTE.format(name="QQ Mail", service="POP3/SMTP or IMAP/SMTP"),
    },
    "exmail": {
        "label": "Tencent Exmail",
        "smtp_host": "smtp.exmail.qq.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": "Use the full mailbox address as the login. With secure login enabled, "
        "generate a client-specific password in the Exmail settings.",
    },
    "aliyun": {
        "label": "Alibaba Mail (enterprise)",
        "smtp_host": "smtp.qiye.aliyun.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": "Use the full mailbox address as the login; if three-party client security "
        "is on, use the client password generated in the mailbox settings.",
    },
    "gmail": {
        "label": "Gmail",
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 465,
        "security": "ssl",
        "note": "Gmail needs an app password (Google Account → Security → 2-Step "
        "Verification → App passwords); your normal password is refused. Or choose Google "
        "(OAuth 2.0) under Authentication.",
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
        "note": "Microsoft 365 signs in with OAuth 2.0: follow the setup steps shown under "
        "Authentication. Exchange shows the mailbox's own name, not the sender name below.",
    },
    "local": {
        "label": "Local development server (127.0.0.1:1025)",
        "smtp_host": "127.0.0.1",
        "smtp_port": 1025,
        "security": "none",
        "note": "For development only: a local test server such as aiosmtpd "
        "(python -m aiosmtpd -n -l 127.0.0.1:1025). Needs SMTP_ALLOW_LOOPBACK=1.",
    },
}

CHOICES = [SelectChoice("", "Choose a provider…")]
CHOICES += [SelectChoice(key, p["label"]) for key, p in PRESETS.items()]
CHOICES.append(SelectChoice("other", "Other"))

# Where a provider documents no limit of its own, these apply.
DELIVERY_DEFAULTS = {"max_connections": 4, "max_per_minute": 0, "auth_method": "password"}
# What the page and its script need (no secrets here). Built and serialised once, at import:
# the presets never change, so no page view needs to do it again.
FIELDS = ("smtp_host", "smtp_port", "security", "max_connections", "max_per_minute", "auth_method")
FOR_BROWSER = {
    key: {"note": p["note"], **{f: p.get(f, DELIVERY_DEFAULTS.get(f)) for f in FIELDS}}
    for key, p in PRESETS.items()
}
# The same bytes as Jinja's ``tojson`` filter (sorted keys, HTML-safe), for a data- attribute.
BROWSER_JSON = htmlsafe_json_dumps(FOR_BROWSER, dumps=json.dumps, sort_keys=True)
