"""Plain-language explanations of SMTP failures, with the likely fix: one table of templates.

Each template is filled with ``str.format_map`` from the failure, the settings and the
test's context (see ``_context``): one place to read, reword and later translate.
"""

from urllib.parse import urlsplit

from .models import Security

PORT_ADVICE = {
    465: "Port 465 expects SSL.",
    587: "Port 587 expects TLS (STARTTLS).",
    25: "Port 25 is usually None or TLS.",
}
OTHER_PORTS = "Usual ports: 25 None, 465 SSL, 587 TLS."

HINTS = {
    "dns": "The server name {host} could not be found (DNS). Check the spelling, for example "
    "smtp.163.com, smtp.qq.com or smtp.exmail.qq.com, and that this machine can resolve it.",
    "dns_timeout": "Looking up {host} took longer than the time limit: this machine's DNS "
    "server did not answer. Check its DNS settings, or enter the server's IP address.",
    "blocked_address": "{host} points to an address this service never connects to: {detail}. "
    "Enter your mail server's real name or address.",
    "refused": "Nothing accepts connections on {host} port {port} ({detail}). "
    "Check the port. {port_advice}",
    "unreachable": "{host} port {port} cannot be reached ({detail}). Check the network route "
    "and that a firewall allows outgoing connections to this port.",
    "timeout": "No answer from {host} port {port} within {timeout:g} seconds. A firewall may be "
    "dropping the connection; many cloud providers block port 25, so try 465 (SSL) or 587 (TLS).",
    "timeout:session": "The server stopped answering during {step} and the {timeout:g}-second "
    "time limit ran out. It may be overloaded; try again later.",
    "auth_timeout": "The server did not answer the login within the time limit. Servers delay "
    "their answer to a wrong password on purpose: check the password (for 163 and QQ Mail, the "
    "client authorization code) and the login name.",
    "no_greeting": "{host} accepted the connection but never sent its greeting within the time "
    "limit. It may not be a mail server, or it may be overloaded. {port_advice}",
    "bad_greeting": "The server turned the connection away in its greeting ({reply}). It may "
    "not accept mail from this machine's address: ask its administrator to allow it (relay "
    "allow-list), or check that this address is not on a blocklist.",
    "expects_ssl": "You chose {security}, but the server on port {port} expects SSL (encryption "
    "from the first byte, typical of port 465). Choose SSL as the security protocol.",
    "tls_plaintext_server": "You chose SSL, but the server on port {port} answered in plain "
    "text and offers STARTTLS: choose TLS. SSL is for servers that encrypt from the first "
    "byte, usually port 465.",
    "tls_plaintext_server:unencrypted": "You chose SSL, but the server on port {port} answered "
    "in plain text and offers no encryption at all (no STARTTLS), so TLS would fail too. Use "
    "the provider's encrypted port (usually 465 with SSL or 587 with TLS), or choose None "
    "only for a relay on a trusted network.",
    "tls_plaintext_server:unknown": "You chose SSL, but the server on port {port} answered in "
    "plain text. If it offers STARTTLS choose TLS; otherwise use its encrypted port "
    "(usually 465 with SSL).",
    "starttls_missing": "You chose TLS, but the server did not offer STARTTLS, so the "
    "connection was stopped before anything was sent in plain text. If the server uses port "
    "465, choose SSL; otherwise ask its administrator to enable STARTTLS.",
    "encryption_required": "This server requires encryption before it accepts a login or "
    "mail ({reply_or_detail}), and it offers STARTTLS: choose TLS as the security protocol.",
    "encryption_required:unknown": "This server requires encryption before it accepts a login "
    "or mail ({reply_or_detail}): choose SSL (usually port 465) or TLS (usually port 587).",
    "cert_untrusted": "The server's certificate is not trusted ({detail}). It may be "
    "self-signed or issued by your company's own authority: set SMTP_CA_BUNDLE to that "
    "authority's PEM file, or use the provider's official server name.",
    "cert_mismatch": "The server's certificate was issued for a different name than {host} "
    "({detail_trimmed}). Enter the server name that the certificate covers, for example the "
    "provider's official SMTP host rather than an IP address or alias.",
    "cert_expired": "The server's certificate has expired ({detail}). Its administrator must "
    "renew it.",
    "tls_error": "The encrypted connection could not be set up ({detail}). The server may "
    "require an older or different protocol. {port_advice}",
    "auth_rejected": "The server refused the login ({code_or_reply}). For 163 and QQ Mail use "
    "the client authorization code, not the login password (get a new one after changing the "
    "password); Gmail needs an app password; Office 365 needs SMTP AUTH enabled for the "
    "mailbox. Check the login name too.",
    "auth_unsupported": "The server does not offer a login (AUTH) on this connection "
    "({detail}). Many servers only offer it over SSL or TLS: choose one. A relay that needs "
    "no login needs no password either: remove the stored password.",
    "auth_required": "The server requires a login before it accepts mail ({reply}), and no "
    "password is set. Enter the password (for 163 and QQ Mail, the client authorization code).",
    "password_not_ascii": "The password contains characters other than ASCII, which SMTP "
    "login cannot send.",
    "sender_refused": "The server refused the sender {sender} ({reply}). QQ, 163 and Exmail "
    "only accept mail whose sender is the logged-in account: make the sender email and the "
    "login name the same. Microsoft Exchange needs send-as rights for another sender.",
    "recipient_refused": "The server refused the recipient {recipient} ({reply}). Check the "
    "address; some servers refuse outside recipients unless you log in.",
    "message_refused": "The server accepted the addresses but refused the message ({reply}). "
    "It may have been judged spam or too large; the server's reply says why.",
    "throttled": "The server is throttling us: {reply_or_detail}. It accepts mail more slowly "
    "for a while; messages wait and are sent as it allows, none is lost. If it lasts, lower "
    "the parallel sessions or the messages per minute.",
    "disconnected": "The server closed the connection during {step} ({reply_or_detail}). "
    "Try again later.",
    "protocol_error": "The server answered {step} unexpectedly ({reply_or_detail}).",
    # OAuth 2.0: the token step, and Exchange or Gmail refusing the token.
    "oauth_wrong_secret": "Microsoft refused the client secret ({detail}). In Microsoft "
    "Entra ID → App registrations → your app → Certificates & secrets, copy the secret's "
    "Value (not its Secret ID), or create a new secret if it expired, and enter it again.",
    "oauth_app_not_found": "No app with client ID {client_id} is registered in tenant "
    "{tenant} ({detail}). Copy the Application (client) ID from the app's Overview page, and "
    "check that the app belongs to this tenant.",
    "oauth_tenant_not_found": "The tenant {tenant} does not exist ({detail}). Enter the "
    "Directory (tenant) ID from the app's Overview page, or your domain such as "
    "contoso.onmicrosoft.com.",
    "oauth_consent_missing": "Nobody has granted the app its permission yet ({detail}). In "
    "App registrations → your app → API permissions, add Office 365 Exchange Online → "
    "SMTP.SendAsApp (application sign-in) or SMTP.Send (delegated sign-in), then press "
    "“Grant admin consent”.",
    "oauth_revoked": "The sign-in of {account} is no longer valid ({detail}): it was "
    "revoked, it expired, or the mailbox's password changed. Press “Sign in as the sender "
    "mailbox” again; held mail is sent as soon as it works.",
    "oauth_revoked:google": "Google no longer accepts the sign-in of {account} ({detail}): "
    "it was revoked, or the password changed. An app still in “Testing” on the OAuth consent "
    "screen gets sign-ins that expire after 7 days: publish it. Then press “Sign in as the "
    "sender mailbox” again; held mail is sent as soon as it works.",
    "oauth_not_signed_in": "Delegated sign-in needs the sender mailbox to sign in once. Save "
    "these settings, then press “Sign in as the sender mailbox”.",
    "oauth_unreachable": "The sign-in service at {token_host} could not be reached "
    "({detail}). This server needs outgoing HTTPS (port 443) to it: check the proxy and the "
    "firewall.",
    "oauth_timeout": "The sign-in service at {token_host} did not answer within the time "
    "limit. Try again; if it lasts, check the proxy and the firewall for outgoing HTTPS.",
    "oauth_error": "The sign-in service refused the token request ({detail}).",
    "oauth_rejected": "Exchange Online refused the token ({code_or_reply}; {detail}) although "
    "Microsoft issued it. Either SMTP AUTH is off for the mailbox: an Exchange administrator "
    "runs Set-CASMailbox -Identity {login} -SmtpClientAuthenticationDisabled $false (and "
    "checks that Get-TransportConfig does not disable it for the whole organisation); or, "
    "with application sign-in, the app is not registered in Exchange Online: run "
    "New-ServicePrincipal -AppId {client_id} -ObjectId <the Enterprise application's object "
    "ID>, then Add-MailboxPermission -Identity {login} -User <that service principal> "
    "-AccessRights FullAccess.",
    "oauth_rejected:google": "Gmail refused the token ({code_or_reply}; {detail}). The "
    "sender mailbox must be the account that signed in ({account}), and the app needs the "
    "scope https://mail.google.com/: sign in again.",
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


def _context(failure, params, extra):
    return {
        "host": params.host,
        "port": params.port,
        "security": Security(params.security).label,
        "port_advice": PORT_ADVICE.get(params.port, OTHER_PORTS),
        "step": failure.step,
        "detail": failure.detail,
        "detail_trimmed": failure.detail.rstrip("."),
        "reply": failure.reply,
        "code_or_reply": failure.code or failure.reply,
        "reply_or_detail": failure.reply or failure.detail,
        "sender": "",
        "recipient": "",
        "timeout": 0,
        "login": params.login,
        "account": params.login,
        "client_id": "",
        "tenant": "",
        "token_host": "",
        **_oauth_context(params),
        **extra,
    }


def explain(failure, params, **context):
    """The hint for a ``StepFailed``: what went wrong and the likely fix."""
    provider = params.oauth.provider if params.oauth is not None else None
    key = _template_key(failure, provider)
    return HINTS[key].format_map(_context(failure, params, context))
