"""Plain-language explanations of SMTP failures, with the likely fix: one table of templates.

Each template is filled with ``str.format_map`` from the failure, the settings and the
test's context (see ``_context``), in the reader's language: the table is marked for the
catalogue with ``N_`` and translated when a hint is worded. A hint remembers its template
and values, so a stored one (a hold reason) is worded again for each reader.
"""

import json
from string import Formatter
from urllib.parse import urlsplit

from flask_babel import gettext

from ..i18n import N_
from .models import Security
from .replies import STEP_LABELS

PORT_ADVICE = {
    465: N_("Port 465 expects SSL."),
    587: N_("Port 587 expects TLS (STARTTLS)."),
    25: N_("Port 25 is usually None or TLS."),
}
OTHER_PORTS = N_("Usual ports: 25 None, 465 SSL, 587 TLS.")

HINTS = {
    "dns": N_(
        "The server name {host} could not be found (DNS). Check the spelling, for example "
        "smtp.163.com, smtp.qq.com or smtp.exmail.qq.com, and that this machine can resolve it."
    ),
    "dns_timeout": N_(
        "Looking up {host} took longer than the time limit: this machine's DNS "
        "server did not answer. Check its DNS settings, or enter the server's IP address."
    ),
    "blocked_address": N_(
        "{host} points to an address this service never connects to: {detail}. "
        "Enter your mail server's real name or address."
    ),
    "refused": N_(
        "Nothing accepts connections on {host} port {port} ({detail}). "
        "Check the port. {port_advice}"
    ),
    "unreachable": N_(
        "{host} port {port} cannot be reached ({detail}). Check the network route "
        "and that a firewall allows outgoing connections to this port."
    ),
    "timeout": N_(
        "No answer from {host} port {port} within {timeout:g} seconds. A firewall may be "
        "dropping the connection; many cloud providers block port 25, so try 465 (SSL) or "
        "587 (TLS)."
    ),
    "timeout:session": N_(
        "The server stopped answering during {step} and the {timeout:g}-second "
        "time limit ran out. It may be overloaded; try again later."
    ),
    "auth_timeout": N_(
        "The server did not answer the login within the time limit. Servers delay "
        "their answer to a wrong password on purpose: check the password (for 163 and QQ Mail, the "
        "client authorization code) and the login name."
    ),
    "no_greeting": N_(
        "{host} accepted the connection but never sent its greeting within the time "
        "limit. It may not be a mail server, or it may be overloaded. {port_advice}"
    ),
    "bad_greeting": N_(
        "The server turned the connection away in its greeting ({reply}). It may "
        "not accept mail from this machine's address: ask its administrator to allow it (relay "
        "allow-list), or check that this address is not on a blocklist."
    ),
    "expects_ssl": N_(
        "You chose {security}, but the server on port {port} expects SSL (encryption "
        "from the first byte, typical of port 465). Choose SSL as the security protocol."
    ),
    "tls_plaintext_server": N_(
        "You chose SSL, but the server on port {port} answered in plain "
        "text and offers STARTTLS: choose TLS. SSL is for servers that encrypt from the first "
        "byte, usually port 465."
    ),
    "tls_plaintext_server:unencrypted": N_(
        "You chose SSL, but the server on port {port} answered "
        "in plain text and offers no encryption at all (no STARTTLS), so TLS would fail too. Use "
        "the provider's encrypted port (usually 465 with SSL or 587 with TLS), or choose None "
        "only for a relay on a trusted network."
    ),
    "tls_plaintext_server:unknown": N_(
        "You chose SSL, but the server on port {port} answered in "
        "plain text. If it offers STARTTLS choose TLS; otherwise use its encrypted port "
        "(usually 465 with SSL)."
    ),
    "starttls_missing": N_(
        "You chose TLS, but the server did not offer STARTTLS, so the "
        "connection was stopped before anything was sent in plain text. If the server uses port "
        "465, choose SSL; otherwise ask its administrator to enable STARTTLS."
    ),
    "encryption_required": N_(
        "This server requires encryption before it accepts a login or "
        "mail ({reply_or_detail}), and it offers STARTTLS: choose TLS as the security protocol."
    ),
    "encryption_required:unknown": N_(
        "This server requires encryption before it accepts a login "
        "or mail ({reply_or_detail}): choose SSL (usually port 465) or TLS (usually port 587)."
    ),
    "cert_untrusted": N_(
        "The server's certificate is not trusted ({detail}). It may be "
        "self-signed or issued by your company's own authority: set SMTP_CA_BUNDLE to that "
        "authority's PEM file, or use the provider's official server name."
    ),
    "cert_mismatch": N_(
        "The server's certificate was issued for a different name than {host} "
        "({detail_trimmed}). Enter the server name that the certificate covers, for example the "
        "provider's official SMTP host rather than an IP address or alias."
    ),
    "cert_expired": N_(
        "The server's certificate has expired ({detail}). Its administrator must renew it."
    ),
    "tls_error": N_(
        "The encrypted connection could not be set up ({detail}). The server may "
        "require an older or different protocol. {port_advice}"
    ),
    "auth_rejected": N_(
        "The server refused the login ({code_or_reply}). For 163 and QQ Mail use "
        "the client authorization code, not the login password (get a new one after changing the "
        "password); Gmail needs an app password; Office 365 needs SMTP AUTH enabled for the "
        "mailbox. Check the login name too."
    ),
    "auth_unsupported": N_(
        "The server does not offer a login (AUTH) on this connection "
        "({detail}). Many servers only offer it over SSL or TLS: choose one. A relay that needs "
        "no login needs no password either: remove the stored password."
    ),
    "auth_required": N_(
        "The server requires a login before it accepts mail ({reply}), and no "
        "password is set. Enter the password (for 163 and QQ Mail, the client authorization code)."
    ),
    "password_not_ascii": N_(
        "The password contains characters other than ASCII, which SMTP login cannot send."
    ),
    "sender_refused": N_(
        "The server refused the sender {sender} ({reply}). QQ, 163 and Exmail "
        "only accept mail whose sender is the logged-in account: make the sender email and the "
        "login name the same. Microsoft Exchange needs send-as rights for another sender."
    ),
    "recipient_refused": N_(
        "The server refused the recipient {recipient} ({reply}). Check the "
        "address; some servers refuse outside recipients unless you log in."
    ),
    "message_refused": N_(
        "The server accepted the addresses but refused the message ({reply}). "
        "It may have been judged spam or too large; the server's reply says why."
    ),
    "throttled": N_(
        "The server is throttling us: {reply_or_detail}. It accepts mail more slowly "
        "for a while; messages wait and are sent as it allows, none is lost. If it lasts, lower "
        "the parallel sessions or the messages per minute."
    ),
    "disconnected": N_(
        "The server closed the connection during {step} ({reply_or_detail}). Try again later."
    ),
    "protocol_error": N_("The server answered {step} unexpectedly ({reply_or_detail})."),
    # OAuth 2.0: the token step, and Exchange or Gmail refusing the token.
    "oauth_wrong_secret": N_(
        "Microsoft refused the client secret ({detail}). In Microsoft "
        "Entra ID → App registrations → your app → Certificates & secrets, copy the secret's "
        "Value (not its Secret ID), or create a new secret if it expired, and enter it again."
    ),
    "oauth_app_not_found": N_(
        "No app with client ID {client_id} is registered in tenant "
        "{tenant} ({detail}). Copy the Application (client) ID from the app's Overview page, and "
        "check that the app belongs to this tenant."
    ),
    "oauth_tenant_not_found": N_(
        "The tenant {tenant} does not exist ({detail}). Enter the "
        "Directory (tenant) ID from the app's Overview page, or your domain such as "
        "contoso.onmicrosoft.com."
    ),
    "oauth_consent_missing": N_(
        "Nobody has granted the app its permission yet ({detail}). In "
        "App registrations → your app → API permissions, add Office 365 Exchange Online → "
        "SMTP.SendAsApp (application sign-in) or SMTP.Send (delegated sign-in), then press "
        "“Grant admin consent”."
    ),
    "oauth_revoked": N_(
        "The sign-in of {account} is no longer valid ({detail}): it was "
        "revoked, it expired, or the mailbox's password changed. Press “Sign in as the sender "
        "mailbox” again; held mail is sent as soon as it works."
    ),
    "oauth_revoked:google": N_(
        "Google no longer accepts the sign-in of {account} ({detail}): "
        "it was revoked, or the password changed. An app still in “Testing” on the OAuth consent "
        "screen gets sign-ins that expire after 7 days: publish it. Then press “Sign in as the "
        "sender mailbox” again; held mail is sent as soon as it works."
    ),
    "oauth_not_signed_in": N_(
        "Delegated sign-in needs the sender mailbox to sign in once. Save "
        "these settings, then press “Sign in as the sender mailbox”."
    ),
    "oauth_unreachable": N_(
        "The sign-in service at {token_host} could not be reached "
        "({detail}). This server needs outgoing HTTPS (port 443) to it: check the proxy and the "
        "firewall."
    ),
    "oauth_timeout": N_(
        "The sign-in service at {token_host} did not answer within the time "
        "limit. Try again; if it lasts, check the proxy and the firewall for outgoing HTTPS."
    ),
    "oauth_error": N_("The sign-in service refused the token request ({detail})."),
    "oauth_rejected": N_(
        "Exchange Online refused the token ({code_or_reply}; {detail}) although "
        "Microsoft issued it. Either SMTP AUTH is off for the mailbox: an Exchange administrator "
        "runs Set-CASMailbox -Identity {login} -SmtpClientAuthenticationDisabled $false (and "
        "checks that Get-TransportConfig does not disable it for the whole organisation); or, "
        "with application sign-in, the app is not registered in Exchange Online: run "
        "New-ServicePrincipal -AppId {client_id} -ObjectId <the Enterprise application's object "
        "ID>, then Add-MailboxPermission -Identity {login} -User <that service principal> "
        "-AccessRights FullAccess."
    ),
    "oauth_rejected:google": N_(
        "Gmail refused the token ({code_or_reply}; {detail}). The "
        "sender mailbox must be the account that signed in ({account}), and the app needs the "
        "scope https://mail.google.com/: sign in again."
    ),
    # Not an SMTP failure: the notifier's reason to hold mail when the password is unusable.
    "password_unusable": N_(
        "The stored SMTP password cannot be used (it no longer decrypts, or it was saved for "
        "other connection settings): enter it again."
    ),
}
# Kinds explained by another kind's template.
SAME_AS = {"starttls_failed": "protocol_error", "ehlo_failed": "protocol_error"}


def _template_key(failure, provider=None):
    kind = SAME_AS.get(failure.kind, failure.kind)
    starttls = "STARTTLS" in failure.offered
    if kind == "timeout" and failure.step not in ("resolve", "connect", "greeting"):
        return "timeout:session"
    if kind == "tls_plaintext_server" and not starttls:
        return kind + (":unencrypted" if failure.offered else ":unknown")
    if kind == "encryption_required" and not starttls:
        return kind + ":unknown"
    if provider == "google" and f"{kind}:google" in HINTS:
        return f"{kind}:google"
    return kind if kind in HINTS else "protocol_error"


def _oauth_context(params):
    client = params.oauth
    if client is None:
        return {}
    return {
        "client_id": client.client_id,
        "tenant": client.tenant,
        "token_host": urlsplit(client.token_url).hostname or client.token_url,
    }


def _values(failure, params, extra):
    """What a hint is made of: plain values (no words), so it can be stored and reworded."""
    return {
        "host": params.host,
        "port": params.port,
        "security": params.security,
        "step": failure.step,
        "detail": failure.detail,
        "reply": failure.reply,
        "code": failure.code,
        "sender": "",
        "recipient": "",
        "timeout": 0,
        "login": params.login,
        "client_id": "",
        "tenant": "",
        "token_host": "",
        **_oauth_context(params),
        **{name: value if value is not None else "" for name, value in extra.items()},
    }


# The names templates use that are worded from other values, and the values they need.
DERIVED = {
    "security": ("security",),
    "port_advice": ("port",),
    "step": ("step",),
    "detail_trimmed": ("detail",),
    "code_or_reply": ("code", "reply"),
    "reply_or_detail": ("reply", "detail"),
    "account": ("login",),
}


def _security_label(value):
    try:
        return str(Security(value).label)
    except ValueError:
        return value


def _context(values):
    """The template's names from ``values``, worded in the current language."""
    port, security = values.get("port"), values.get("security")
    advice = PORT_ADVICE.get(port, OTHER_PORTS)
    detail, reply = values.get("detail", ""), values.get("reply", "")
    return {
        **values,
        "security": _security_label(security),
        "port_advice": gettext(advice),
        "step": str(STEP_LABELS.get(values.get("step"), values.get("step", ""))),
        "detail_trimmed": detail.rstrip("."),
        "code_or_reply": values.get("code") or reply,
        "reply_or_detail": reply or detail,
        "account": values.get("login", ""),
    }


def word(key, values):
    """The hint ``key`` filled with ``values``, in the current language."""
    return gettext(HINTS[key]).format_map(_context(values))


class Hint(str):
    """A worded hint that remembers its template and values, to be stored and reworded."""

    def __new__(cls, key, values=None):
        hint = super().__new__(cls, word(key, values or {}))
        hint.key, hint.values = key, values or {}
        return hint

    def stored(self, limit):
        """JSON of the template's key and the values it uses, at most ``limit`` characters
        (the longest text is halved until it fits)."""
        names = set()
        for _, name, _, _ in Formatter().parse(HINTS[self.key]):
            if name:
                names.update(DERIVED.get(name, (name,)))
        values = {name: self.values[name] for name in sorted(names) if name in self.values}
        while True:
            text = json.dumps({"hint": self.key, "values": values}, ensure_ascii=False)
            texts = [name for name, value in values.items() if isinstance(value, str)]
            longest = max(texts, key=lambda name: len(values[name]), default=None)
            if len(text) <= limit or longest is None or len(values[longest]) < 2:
                return text[:limit]
            values[longest] = values[longest][: len(values[longest]) // 2] + "…"


def stored_wording(stored):
    """A stored hint worded in the current language; text stored before hints were stored
    as JSON (English) is shown as it is."""
    try:
        data = json.loads(stored)
    except (TypeError, ValueError):
        return stored
    if not isinstance(data, dict) or data.get("hint") not in HINTS:
        return stored
    try:
        return word(data["hint"], data.get("values") or {})
    except (KeyError, ValueError, TypeError):  # values this version cannot fill in
        return stored


def explain(failure, params, **context):
    """The hint for a ``StepFailed``: what went wrong and the likely fix."""
    provider = params.oauth.provider if params.oauth is not None else None
    return Hint(_template_key(failure, provider), _values(failure, params, context))
