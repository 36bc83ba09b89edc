"""The one way to open an SMTP connection: checked address, bounded time, verified TLS.

An ``SmtpConversation`` runs the conversation step by step (resolve, connect, TLS,
greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA), timing each one and turning every
failure into a ``StepFailed`` that names the step and the kind of failure. Test
Connection shows those steps; the notifier only cares whether they raised.
"""

import functools
import ipaddress
import os
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field

# Cloud metadata services outside the link-local range (AWS IPv6, Alibaba Cloud).
METADATA_ADDRESSES = {
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
# What a refusal means at each step, when smtplib raises instead of returning the reply.
STEP_REFUSALS = {
    "ehlo": "ehlo_failed",
    "auth": "auth_rejected",
    "mail_from": "sender_refused",
    "rcpt_to": "recipient_refused",
    "data": "message_refused",
}
# Share of the remaining time to wait for a greeting before probing for implicit TLS.
GREETING_SHARE = 0.6


@dataclass
class SmtpParams:
    """Everything needed to reach and log in to a mail server (the password stays here)."""

    host: str
    port: int
    security: str  # none | ssl | tls
    login: str = ""
    password: str | None = field(default=None, repr=False)


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


class StepFailed(Exception):
    """A failed step: ``step`` names it, ``kind`` classifies it, ``reply`` quotes the server.

    The message never holds the password: it is built from the step and kind only.
    """

    def __init__(self, step, kind, reply="", code=None, detail=""):
        super().__init__(f"{step} failed: {kind}")
        self.step, self.kind, self.reply, self.code, self.detail = step, kind, reply, code, detail

    @property
    def temporary(self):
        """True when trying again later may succeed (network trouble or a 4xx reply)."""
        if self.code is not None:
            return 400 <= self.code < 500
        return self.kind in {"timeout", "refused", "unreachable", "no_greeting", "disconnected"}


def address_refusal(address, allow_loopback):
    """Why ``address`` must not be connected to, or None when it may be."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata service"
    if ip.is_link_local:
        return "link-local (where cloud metadata services live)"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified (0.0.0.0 or ::)"
    if ip.version == 4 and (ip.is_reserved or ip == ipaddress.ip_address("255.255.255.255")):
        return "reserved"
    if ip.is_loopback and not allow_loopback:
        return "loopback (this server itself; set SMTP_ALLOW_LOOPBACK=1 to allow)"
    return None


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
        parts.append(f"certificate {subject.get('commonName', '?')}")
    if issuer:
        parts.append(f"issued by {issuer.get('commonName') or issuer.get('organizationName', '?')}")
    if cert.get("notAfter"):
        parts.append(f"valid until {cert['notAfter']}")
    return ", ".join(parts)


def _reply_text(message):
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return " ".join(str(message).split())[:300]


def _tls_failure(step, exc):
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
    plaintext_signs = ("wrong version number", "record layer failure", "packet length too long")
    if any(sign in text for sign in plaintext_signs) or "http_request" in text:
        return StepFailed(step, "tls_plaintext_server", detail=str(exc))
    return StepFailed(step, "tls_error", detail=str(exc))


class SmtpConversation:
    """A conversation with one server, bounded overall by ``timeout`` seconds."""

    def __init__(self, params, *, timeout, allow_loopback=False, ca_bundle=None, helo_name=None):
        self.params = params
        # Given explicitly: smtplib's default, socket.getfqdn(), can stall on reverse DNS.
        self.helo_name = helo_name or "localhost"
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.allow_loopback = allow_loopback
        self.context = tls_context(ca_bundle)
        self.steps = []
        self.smtp = None
        self.address = None
        self.tls = ""

    # -- bookkeeping ---------------------------------------------------------------
    def remaining(self, step):
        """Seconds left before the overall deadline; StepFailed(timeout) when none."""
        left = self.deadline - time.monotonic()
        if left <= 0.01:
            raise StepFailed(step, "timeout")
        return left

    def _run(self, name, action):
        started = time.monotonic()
        try:
            detail, reply = action()
        except StepFailed as failure:
            self._record(name, started, False, failure.detail, failure.reply)
            raise
        except TimeoutError as exc:
            self._record(name, started, False, "timed out")
            raise StepFailed(name, "timeout", detail="timed out") from exc
        except smtplib.SMTPServerDisconnected as exc:
            kind = "timeout" if "timed out" in str(exc) else "disconnected"
            self._record(name, started, False, str(exc))
            raise StepFailed(name, kind, detail=str(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            reply = f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
            self._record(name, started, False, "", reply)
            kind = STEP_REFUSALS.get(name, "protocol_error")
            raise StepFailed(name, kind, reply=reply, code=exc.smtp_code) from exc
        except smtplib.SMTPException as exc:
            self._record(name, started, False, str(exc))
            raise StepFailed(name, "protocol_error", detail=str(exc)) from exc
        except ssl.SSLError as exc:
            failure = _tls_failure(name, exc)
            self._record(name, started, False, failure.detail)
            raise failure from exc
        except OSError as exc:
            self._record(name, started, False, exc.strerror or str(exc))
            kind = "refused" if isinstance(exc, ConnectionRefusedError) else "unreachable"
            raise StepFailed(name, kind, detail=exc.strerror or str(exc)) from exc
        self._record(name, started, True, detail, reply)

    def _record(self, name, started, ok, detail="", reply=""):
        ms = int((time.monotonic() - started) * 1000)
        self.steps.append(Step(name, ok, ms, detail, reply))

    def _settimeout(self, step):
        self.smtp.sock.settimeout(self.remaining(step))

    def _expect(self, step, kind, code, message, accepted=(250,)):
        reply = f"{code} {_reply_text(message)}"
        if code not in accepted:
            raise StepFailed(step, kind, reply=reply, code=code)
        return reply

    # -- the steps -----------------------------------------------------------------
    def resolve(self):
        def action():
            try:
                infos = socket.getaddrinfo(
                    self.params.host, self.params.port, type=socket.SOCK_STREAM
                )
            except (socket.gaierror, UnicodeError) as exc:
                raise StepFailed("resolve", "dns", detail=str(exc)) from exc
            refusals = []
            for info in infos:
                address = info[4][0]
                why = address_refusal(address, self.allow_loopback)
                if why is None:
                    self.address = address
                    return address, ""
                refusals.append(f"{address} is {why}")
            raise StepFailed("resolve", "blocked_address", detail="; ".join(refusals))

        self._run("resolve", action)

    def connect(self):
        def action():
            sock = socket.create_connection(
                (self.address, self.params.port), timeout=self.remaining("connect")
            )
            self.smtp = smtplib.SMTP(timeout=self.timeout, local_hostname=self.helo_name)
            self.smtp._host = self.params.host  # STARTTLS verifies the certificate for this name
            self.smtp.sock = sock
            return f"{self.address}:{self.params.port}", ""

        self._run("connect", action)

    def tls_handshake(self):
        def action():
            self.smtp.sock.settimeout(self.remaining("tls"))
            self.smtp.sock = self.context.wrap_socket(
                self.smtp.sock, server_hostname=self.params.host
            )
            self.tls = describe_tls(self.smtp.sock)
            return self.tls, ""

        self._run("tls", action)

    def greeting(self):
        def action():
            budget = self.remaining("greeting")
            if self.params.security != "ssl":
                budget *= GREETING_SHARE  # keep time to tell "expects SSL" from "silent"
            self.smtp.sock.settimeout(budget)
            try:
                code, message = self.smtp.getreply()
            except smtplib.SMTPServerDisconnected as exc:
                if "timed out" not in str(exc):
                    raise
                kind = "no_greeting"
                if self.params.security != "ssl" and self._speaks_tls():
                    kind = "expects_ssl"
                raise StepFailed("greeting", kind, detail="no greeting from the server") from exc
            return "", self._expect("greeting", "bad_greeting", code, message, (220,))

        self._run("greeting", action)

    def _speaks_tls(self):
        """Whether a fresh connection to the same address completes a TLS handshake."""
        try:
            left = self.remaining("greeting")
        except StepFailed:
            return False
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE  # only asks "is this TLS?"; nothing is sent over it
        try:
            with (
                socket.create_connection((self.address, self.params.port), timeout=left) as raw,
                probe.wrap_socket(raw, server_hostname=self.params.host),
            ):
                return True
        except (OSError, ssl.SSLError):
            return False

    def ehlo(self, step="ehlo"):
        def action():
            self._settimeout(step)
            code, message = self.smtp.ehlo()
            reply = self._expect(step, "ehlo_failed", code, message)
            offered = " ".join(sorted(k.upper() for k in self.smtp.esmtp_features))
            return f"offers {offered}" if offered else "no extensions offered", reply

        self._run(step, action)

    def starttls(self):
        def action():
            if not self.smtp.has_extn("starttls"):
                raise StepFailed("starttls", "starttls_missing", detail="STARTTLS not offered")
            self._settimeout("starttls")
            code, message = self.smtp.docmd("STARTTLS")
            reply = self._expect("starttls", "starttls_failed", code, message, (220,))
            self.smtp.sock = self.context.wrap_socket(
                self.smtp.sock, server_hostname=self.params.host
            )
            # What smtplib.starttls() resets: nothing learned in plaintext is kept.
            self.smtp.file = None
            self.smtp.helo_resp = self.smtp.ehlo_resp = None
            self.smtp.esmtp_features, self.smtp.does_esmtp = {}, False
            self.tls = describe_tls(self.smtp.sock)
            return self.tls, reply

        self._run("starttls", action)

    def auth(self):
        def action():
            if not self.smtp.has_extn("auth"):
                raise StepFailed("auth", "auth_unsupported", detail="AUTH not offered")
            self._settimeout("auth")
            try:
                code, message = self.smtp.login(self.params.login, self.params.password)
            except smtplib.SMTPAuthenticationError as exc:
                reply = f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
                raise StepFailed("auth", "auth_rejected", reply=reply, code=exc.smtp_code) from None
            except UnicodeEncodeError:
                raise StepFailed("auth", "password_not_ascii") from None
            except smtplib.SMTPException as exc:
                if isinstance(exc, smtplib.SMTPServerDisconnected):
                    raise
                raise StepFailed("auth", "auth_unsupported", detail=str(exc)) from None
            reply = f"{code} {_reply_text(message)}"
            if code != 235:  # smtplib returns a 503 ("already authenticated") without raising
                raise StepFailed("auth", "auth_rejected", reply=reply, code=code)
            return f"logged in as {self.params.login}", reply

        self._run("auth", action)

    # -- composite operations ------------------------------------------------------
    def open(self):
        """Reach the server and log in (when a password is given); StepFailed on any failure."""
        self.resolve()
        self.connect()
        if self.params.security == "ssl":
            self.tls_handshake()
        self.greeting()
        self.ehlo()
        if self.params.security == "tls":
            self.starttls()
            self.ehlo("ehlo_after_starttls")
        if self.params.password:
            self.auth()
        return self

    def send(self, sender, recipients, message_bytes, fresh_deadline=False):
        """MAIL, RCPT each recipient, DATA; returns ``{recipient: StepFailed}`` for refused ones.

        Raises StepFailed when the sender or every recipient is refused, or DATA fails.
        ``fresh_deadline`` gives this message a whole ``timeout`` of its own (a long-lived
        connection); Test Connection keeps one deadline for the whole conversation.
        """
        if fresh_deadline:
            self.deadline = time.monotonic() + self.timeout
        refused = {}

        def mail():
            self._settimeout("mail_from")
            code, message = self.smtp.mail(sender)
            return sender, self._expect("mail_from", "sender_refused", code, message)

        def rcpt():
            accepted, reply = [], ""
            for recipient in recipients:
                self._settimeout("rcpt_to")
                code, message = self.smtp.rcpt(recipient)
                if code in (250, 251):
                    accepted.append(recipient)
                    reply = f"{code} {_reply_text(message)}"
                else:
                    refused[recipient] = StepFailed(
                        "rcpt_to", "recipient_refused", f"{code} {_reply_text(message)}", code
                    )
            if not accepted:
                first = next(iter(refused.values()))
                raise StepFailed("rcpt_to", first.kind, first.reply, first.code)
            return ", ".join(accepted), reply

        def data():
            self._settimeout("data")
            code, message = self.smtp.data(message_bytes)
            return f"{len(message_bytes)} bytes", self._expect(
                "data", "message_refused", code, message
            )

        try:
            self._run("mail_from", mail)
            self._run("rcpt_to", rcpt)
            self._run("data", data)
        except StepFailed:
            self._reset()
            raise
        return refused

    def probe_sender(self, sender):
        """MAIL FROM, then RSET: shows the server accepts this sender (and login) without
        sending anything. A server that needs a login answers 530 here when none was given.
        """

        def mail():
            self._settimeout("mail_from")
            code, message = self.smtp.mail(sender)
            kind = "auth_required" if code == 530 else "sender_refused"
            reply = self._expect("mail_from", kind, code, message)
            self.smtp.rset()
            return f"{sender} (then RSET: nothing is sent)", reply

        self._run("mail_from", mail)

    def _reset(self):
        # After a refusal the connection can carry the next message once RSET clears it.
        if self.smtp is not None and self.smtp.sock is not None:
            try:
                self.smtp.rset()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()

    def close(self):
        """QUIT politely when possible, then close the socket."""
        if self.smtp is None or self.smtp.sock is None:
            return
        try:
            self.smtp.sock.settimeout(min(2.0, max(0.1, self.deadline - time.monotonic())))
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
