"""Plain-language explanations of SMTP failures, with the likely fix."""

SECURITY_NAMES = {"none": "None", "ssl": "SSL", "tls": "TLS"}


def _port_advice(port):
    if port == 465:
        return "Port 465 expects SSL."
    if port == 587:
        return "Port 587 expects TLS (STARTTLS)."
    if port == 25:
        return "Port 25 is usually None or TLS."
    return "Usual ports: 25 None, 465 SSL, 587 TLS."


def _dns(f, p, c):
    return (
        f"The server name {p.host} could not be found (DNS). Check the spelling, for example "
        "smtp.163.com, smtp.qq.com or smtp.exmail.qq.com, and that this machine can resolve it."
    )


def _blocked(f, p, c):
    return (
        f"{p.host} points to an address this service never connects to: {f.detail}. "
        "Enter your mail server's real name or address."
    )


def _refused(f, p, c):
    return (
        f"Nothing accepts connections on {p.host} port {p.port}: the connection was refused. "
        f"Check the port. {_port_advice(p.port)}"
    )


def _unreachable(f, p, c):
    return (
        f"{p.host} port {p.port} cannot be reached ({f.detail}). Check the network route and "
        "that a firewall allows outgoing connections to this port."
    )


def _timeout(f, p, c):
    return (
        f"No answer from {p.host} port {p.port} within {c['timeout']:g} seconds. A firewall may "
        "be dropping the connection; many cloud providers block port 25, so try 465 (SSL) "
        "or 587 (TLS)."
    )


def _no_greeting(f, p, c):
    return (
        f"{p.host} accepted the connection but never sent its greeting within the time limit. "
        "It may not be a mail server, or it may be overloaded. "
        f"{_port_advice(p.port)}"
    )


def _bad_greeting(f, p, c):
    return (
        f"The server turned the connection away in its greeting ({f.reply}). It may not "
        "accept mail from this machine's address: ask its administrator to allow it (relay "
        "allow-list), or check that this address is not on a blocklist."
    )


def _expects_ssl(f, p, c):
    return (
        f"You chose {SECURITY_NAMES[p.security]}, but the server on port {p.port} expects SSL "
        "(encryption from the first byte, typical of port 465). Choose SSL as the security "
        "protocol."
    )


def _plaintext_server(f, p, c):
    fix = "choose TLS" if p.port != 25 else "choose None or TLS"
    return (
        f"You chose SSL, but the server on port {p.port} answered in plain text (typical of "
        f"port 587 or 25): {fix}. SSL is for servers that encrypt from the first byte, "
        "usually port 465."
    )


def _starttls_missing(f, p, c):
    return (
        "You chose TLS, but the server did not offer STARTTLS, so the connection was stopped "
        "before anything was sent in plain text. If the server uses port 465, choose SSL; "
        "otherwise ask its administrator to enable STARTTLS."
    )


def _cert_untrusted(f, p, c):
    return (
        f"The server's certificate is not trusted ({f.detail}). It may be self-signed or "
        "issued by your company's own authority: set SMTP_CA_BUNDLE to that authority's "
        "PEM file, or use the provider's official server name."
    )


def _cert_mismatch(f, p, c):
    return (
        f"The server's certificate was issued for a different name than {p.host} "
        f"({f.detail.rstrip('.')}). Enter the server name that the certificate covers, for "
        "example the provider's official SMTP host rather than an IP address or alias."
    )


def _cert_expired(f, p, c):
    return f"The server's certificate has expired ({f.detail}). Its administrator must renew it."


def _tls_error(f, p, c):
    return (
        f"The encrypted connection could not be set up ({f.detail}). The server may require "
        f"an older or different protocol. {_port_advice(p.port)}"
    )


def _auth_rejected(f, p, c):
    return (
        f"The server refused the login ({f.code or f.reply}). For 163 and QQ Mail use the "
        "client authorization code, not the login password (get a new one after changing "
        "the password); Gmail needs an app password; Office 365 needs SMTP AUTH enabled for "
        "the mailbox. Check the login name too."
    )


def _auth_unsupported(f, p, c):
    return (
        "The server does not offer a login (AUTH) on this connection. Many servers only "
        "offer it over SSL or TLS: choose one. A relay that needs no login needs no "
        "password either: remove the stored password."
    )


def _auth_required(f, p, c):
    return (
        f"The server requires a login before it accepts mail ({f.reply}), and no password "
        "is set. Enter the password (for 163 and QQ Mail, the client authorization code)."
    )


def _sender_refused(f, p, c):
    return (
        f"The server refused the sender {c['sender']} ({f.reply}). QQ, 163 and Exmail only "
        "accept mail whose sender is the logged-in account: make the sender email and the "
        "login name the same. Microsoft Exchange needs send-as rights for another sender."
    )


def _recipient_refused(f, p, c):
    return (
        f"The server refused the recipient {c['recipient']} ({f.reply}). Check the address; "
        "some servers refuse outside recipients unless you log in."
    )


def _message_refused(f, p, c):
    return (
        f"The server accepted the addresses but refused the message ({f.reply}). It may have "
        "been judged spam or too large; the server's reply says why."
    )


def _disconnected(f, p, c):
    return (
        f"The server closed the connection during {f.step} ({f.detail or f.reply}). "
        "Try again later."
    )


def _protocol(f, p, c):
    return f"The server answered {f.step} unexpectedly ({f.reply or f.detail})."


def _password_not_ascii(f, p, c):
    return "The password contains characters other than ASCII, which SMTP login cannot send."


HINTS = {
    "dns": _dns,
    "blocked_address": _blocked,
    "refused": _refused,
    "unreachable": _unreachable,
    "timeout": _timeout,
    "no_greeting": _no_greeting,
    "bad_greeting": _bad_greeting,
    "expects_ssl": _expects_ssl,
    "tls_plaintext_server": _plaintext_server,
    "starttls_missing": _starttls_missing,
    "starttls_failed": _protocol,
    "cert_untrusted": _cert_untrusted,
    "cert_mismatch": _cert_mismatch,
    "cert_expired": _cert_expired,
    "tls_error": _tls_error,
    "ehlo_failed": _protocol,
    "auth_rejected": _auth_rejected,
    "auth_unsupported": _auth_unsupported,
    "password_not_ascii": _password_not_ascii,
    "auth_required": _auth_required,
    "sender_refused": _sender_refused,
    "recipient_refused": _recipient_refused,
    "message_refused": _message_refused,
    "disconnected": _disconnected,
    "protocol_error": _protocol,
}


def explain(failure, params, **context):
    """The hint for a ``StepFailed``: what went wrong and the likely fix."""
    return HINTS.get(failure.kind, _protocol)(failure, params, context)
