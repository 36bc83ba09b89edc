"""TLS for SMTP: the verifying context, what a handshake failure means, and the SSL probe."""

import functools
import os
import socket
import ssl

from flask_babel import gettext

from .replies import StepFailed

PLAINTEXT_SIGNS = ("wrong version number", "record layer failure", "packet length too long")


def tls_context(ca_bundle=None):
    """A verifying client context: system CAs plus ``ca_bundle``, TLS 1.2 or newer.

    Cached (loading the system CAs costs ~25 ms); a changed bundle file gets a new one.
    """
    stamp = os.stat(ca_bundle).st_mtime_ns if ca_bundle and os.path.exists(ca_bundle) else None
    return _tls_context(ca_bundle, stamp)


@functools.lru_cache(maxsize=8)
def _tls_context(ca_bundle, _stamp):
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def describe_tls(sock):
    """TLS version, cipher and the certificate's subject and expiry, for the step detail."""
    cert = sock.getpeercert() or {}
    subject = dict(item for rdn in cert.get("subject", ()) for item in rdn)
    issuer = dict(item for rdn in cert.get("issuer", ()) for item in rdn)
    parts = [sock.version() or "TLS", (sock.cipher() or ("?",))[0]]
    if subject:
        parts.append(gettext("certificate %(name)s", name=subject.get("commonName", "?")))
    if issuer:
        name = issuer.get("commonName") or issuer.get("organizationName", "?")
        parts.append(gettext("issued by %(name)s", name=name))
    if cert.get("notAfter"):
        parts.append(gettext("valid until %(date)s", date=cert["notAfter"]))
    return ", ".join(parts)


def tls_failure(step, exc):
    """The StepFailed for a TLS error: untrusted, wrong name, expired, plain text, or other."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = (exc.verify_message or str(exc)).lower()
        if "hostname" in reason or "ip address mismatch" in reason:
            kind = "cert_mismatch"
        elif "expired" in reason:
            kind = "cert_expired"
        else:
            kind = "cert_untrusted"
        return StepFailed(step, kind, detail=exc.verify_message or str(exc))
    text = str(exc).lower()
    if any(sign in text for sign in PLAINTEXT_SIGNS) or "http_request" in text:
        return StepFailed(step, "tls_plaintext_server", detail=str(exc))
    return StepFailed(step, "tls_error", detail=str(exc))


def probe_is_tls(address, port, host, seconds):
    """Whether a fresh connection to ``address`` completes a TLS handshake in ``seconds``."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE  # only asks "is this TLS?"; nothing is sent over it
    try:
        with (
            socket.create_connection((address, port), timeout=seconds) as raw,
            probe.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False
