"""The one way to talk SMTP: vetted addresses, one deadline, verified TLS, one login attempt.

An ``SmtpConversation`` runs the conversation step by step (token for OAuth, resolve,
connect, TLS, greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA), timing each one and turning every
failure into a ``StepFailed`` that names the step and the kind of failure. Test
Connection shows those steps; the notifier only cares whether they raised.
"""

import smtplib
import ssl
import time
from dataclasses import dataclass, field

from flask_babel import gettext

from ..i18n import N_
from .addresses import (
    address_refusal,
    connect_first,
    default_helo_name,
    interleave,
    resolve_within,
)
from .oauth import TokenFailed, fetch_token, xoauth2, xoauth2_challenge
from .replies import Step, StepFailed, refusal, reply_text
from .smtp_client import Deadline, DeadlinePassed, DeadlineSMTP
from .tls import describe_tls, probe_is_tls, tls_context, tls_failure

# Share of the remaining time to wait for a greeting before probing for implicit TLS.
GREETING_SHARE = 0.6
# Kept back from the budget so QUIT can still be attempted after a step timed out.
QUIT_RESERVE = 0.3
# How a failed connect step is reported, from what its attempts gave: the first that
# applies. No attempt at all means the time was up before one could start.
CONNECT_FAILURES = ("timeout", "refused")
# How a connection attempt ended, as the step's detail says it (others: the system's words).
OUTCOMES = {"timeout": N_("timeout"), "refused": N_("refused"), "connected": N_("connected")}


@dataclass
class SmtpParams:
    """Everything needed to reach and log in to a mail server (the password stays here)."""

    host: str
    port: int
    security: str  # none | ssl | tls
    login: str = ""
    password: str | None = field(default=None, repr=False)
    # OAuth 2.0: the app registration (an ``OAuthClient``), or a token obtained already.
    oauth: object = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)


class SmtpConversation:
    """A conversation with one server, bounded overall by ``timeout`` seconds."""

    def __init__(self, params, *, timeout, allow_loopback=False, ca_bundle=None, helo_name=None):
        self.params = params
        self.timeout = timeout
        self.allow_loopback = allow_loopback
        self.context = tls_context(ca_bundle)
        self.helo_name = helo_name
        self.smtp = None
        self._new_deadlines()
        self.steps = []
        self.addresses = []
        self.address = None
        self.sock = None  # connected (and for SSL wrapped), before smtplib takes it
        self.offered = frozenset()  # what EHLO offered, upper-case
        self.tls = ""
        self.access_token = params.access_token
        self.rotated_refresh_token = None  # what the token step's refresh gave back

    def _new_deadlines(self):
        self.final = Deadline(self.timeout)  # nothing, QUIT included, runs past this
        self.deadline = Deadline(self.timeout - min(QUIT_RESERVE, self.timeout / 10))
        if self.smtp is not None:
            self.smtp.deadline = self.deadline

    # -- bookkeeping ---------------------------------------------------------------
    def left(self, step):
        """Seconds left before the deadline; StepFailed(timeout) when none."""
        left = self.deadline.left()
        if left <= 0.01:
            raise StepFailed(step, "auth_timeout" if step == "auth" else "timeout")
        return left

    def _run(self, name, action):
        started = time.monotonic()
        try:
            detail, reply = action()
        except StepFailed as failure:
            failure.offered = failure.offered or self.offered
            self._record(name, started, False, failure.detail, failure.reply)
            raise
        except Exception as exc:
            failure = self._failure(name, exc)
            if failure is None:
                raise
            self._record(name, started, False, failure.detail, failure.reply)
            raise failure from exc
        self._record(name, started, True, detail, reply)

    def _failure(self, name, exc):
        """The StepFailed for an exception raised during step ``name`` (None: not ours)."""
        timeout_kind = "auth_timeout" if name == "auth" else "timeout"
        if isinstance(exc, DeadlinePassed | TimeoutError):
            detail = gettext("timed out")
            return StepFailed(name, timeout_kind, detail=detail, offered=self.offered)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            kind = "starttls_missing" if name == "starttls" else "auth_unsupported"
            return StepFailed(name, kind, detail=str(exc), offered=self.offered)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return StepFailed(name, "disconnected", detail=str(exc), offered=self.offered)
        if isinstance(exc, smtplib.SMTPResponseException):
            return refusal(name, exc.smtp_code, exc.smtp_error, self.offered)
        if isinstance(exc, smtplib.SMTPException):
            return StepFailed(name, "protocol_error", detail=str(exc), offered=self.offered)
        if isinstance(exc, ssl.SSLError):
            return tls_failure(name, exc)
        if isinstance(exc, OSError):
            kind = "refused" if isinstance(exc, ConnectionRefusedError) else "unreachable"
            return StepFailed(name, kind, detail=exc.strerror or str(exc))
        return None

    def _record(self, name, started, ok, detail="", reply=""):
        ms = int((time.monotonic() - started) * 1000)
        self.steps.append(Step(name, ok, ms, detail, reply))

    def _expect(self, step, code, message, accepted=(250,)):
        if code not in accepted:
            raise refusal(step, code, message, self.offered)
        return f"{code} {reply_text(message)}"

    # -- reaching the server -------------------------------------------------------
    def resolve(self):
        def action():
            addresses = resolve_within(self.params.host, self.params.port, self.left("resolve"))
            refusals, allowed = [], []
            for address in addresses:
                why = address_refusal(address, self.allow_loopback)
                if why is None:
                    allowed.append(address)
                else:
                    refusals.append(gettext("%(address)s is %(why)s", address=address, why=why))
            if not allowed:
                raise StepFailed("resolve", "blocked_address", detail="; ".join(refusals))
            self.addresses = interleave(allowed)
            return ", ".join(self.addresses), ""

        self._run("resolve", action)

    def connect(self):
        def action():
            self.left("connect")
            sock, attempts = connect_first(self.addresses, self.params.port, self.deadline)
            tried = "; ".join(
                f"{address} {gettext(OUTCOMES[outcome]) if outcome in OUTCOMES else outcome}"
                for address, outcome in attempts
            )
            if sock is None:
                outcomes = {outcome for _, outcome in attempts} or {"timeout"}
                kind = next((k for k in CONNECT_FAILURES if k in outcomes), "unreachable")
                raise StepFailed("connect", kind, detail=gettext("tried %(tried)s", tried=tried))
            self.sock, self.address = sock, attempts[-1][0]
            detail = f"{self.address}:{self.params.port}"
            if len(attempts) > 1:
                detail += " " + gettext("(tried %(tried)s)", tried=tried)
            return detail, ""

        self._run("connect", action)

    def tls_handshake(self):
        def action():
            self.sock.settimeout(self.left("tls"))
            raw, self.sock = self.sock, None
            self.sock = self.context.wrap_socket(raw, server_hostname=self.params.host)
            self.tls = describe_tls(self.sock)
            return self.tls, ""

        try:
            self._run("tls", action)
        except StepFailed as failure:
            if failure.kind == "tls_plaintext_server":
                failure.offered = self._plain_offer()
            raise

    def greeting(self):
        def action():
            budget = self.left("greeting")
            if self.params.security != "ssl":
                budget *= GREETING_SHARE  # keep time to tell "expects SSL" from "silent"
            helo = self.helo_name or default_helo_name(self.sock)
            sock, self.sock = self.sock, None
            try:
                self.smtp = DeadlineSMTP(
                    self.params.host,
                    self.params.port,
                    sock,
                    deadline=Deadline(budget),
                    local_hostname=helo,
                )
            except DeadlinePassed:
                sock.close()
                kind = "no_greeting"
                if self.params.security != "ssl" and self._speaks_tls():
                    kind = "expects_ssl"
                detail = gettext("no greeting from the server")
                raise StepFailed("greeting", kind, detail=detail) from None
            self.smtp.deadline = self.deadline
            code, message = self.smtp.greeting
            return gettext("EHLO name %(name)s", name=helo), f"{code} {reply_text(message)}"

        self._run("greeting", action)

    def _speaks_tls(self):
        try:
            left = self.left("greeting")
        except StepFailed:
            return False
        return probe_is_tls(self.address, self.params.port, self.params.host, left)

    def _plain_offer(self):
        """What the server offers over plain SMTP (for "choose TLS" or not); empty if unknown."""
        try:
            probe = SmtpConversation(
                SmtpParams(self.params.host, self.params.port, "none"),
                timeout=max(0.0, self.deadline.left()),
                allow_loopback=True,  # the same vetted address, reached again
                helo_name=self.helo_name,
            )
            probe.addresses = [self.address]
            with probe:
                probe.connect()
                probe.greeting()
                probe.ehlo()
            return probe.offered
        except StepFailed:
            return frozenset()

    def ehlo(self, step="ehlo"):
        def action():
            self.left(step)
            code, message = self.smtp.ehlo()
            reply = self._expect(step, code, message)
            self.offered = frozenset(k.upper() for k in self.smtp.esmtp_features)
            offered = " ".join(sorted(self.offered))
            if not offered:
                return gettext("no extensions offered"), reply
            return gettext("offers %(extensions)s", extensions=offered), reply

        self._run(step, action)

    def starttls(self):
        def action():
            if "STARTTLS" not in self.offered:
                detail = gettext("STARTTLS not offered")
                raise StepFailed("starttls", "starttls_missing", detail=detail)
            self.smtp.sock.settimeout(self.left("starttls"))  # bounds the handshake too
            code, message = self.smtp.starttls(context=self.context)
            self.offered = frozenset()  # nothing learned in plain text is kept
            self.tls = describe_tls(self.smtp.sock)
            return self.tls, f"{code} {reply_text(message)}"

        self._run("starttls", action)

    def token(self):
        """Get an OAuth access token from the provider, before any connection is made."""

        def action():
            client = self.params.oauth
            try:
                token = fetch_token(client, self.left("token"))
            except TokenFailed as failure:
                raise StepFailed("token", failure.kind, detail=failure.detail) from None
            self.access_token, self.rotated_refresh_token = token.access_token, token.refresh_token
            minutes = max(0, int((token.expires_at - time.time()) // 60))
            detail = gettext(
                "%(provider)s (%(flow)s): valid for %(minutes)s minutes",
                provider=client.provider,
                flow=client.flow,
                minutes=minutes,
            )
            return detail, ""

        self._run("token", action)

    def auth(self):
        """One login attempt with one mechanism (XOAUTH2 with a token, else PLAIN, else
        LOGIN): a refusal is final.

        smtplib's ``login()`` tries the next mechanism after a refusal, which doubles the
        failed logins that fail2ban and providers count toward locking the account.
        """
        if self.access_token:
            self._run("auth", self._xoauth2)
            return

        def action():
            mechanism = self._mechanism(("PLAIN", "LOGIN"))
            self.left("auth")
            smtp = self.smtp
            smtp.user, smtp.password = self.params.login, self.params.password
            method = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
            try:
                code, message = smtp.auth(mechanism, method)
            except UnicodeEncodeError:
                raise StepFailed("auth", "password_not_ascii") from None
            finally:
                smtp.password = None
            reply = f"{code} {reply_text(message)}"
            if code != 235:  # smtplib returns a 503 ("already authenticated") without raising
                raise refusal("auth", code, message, self.offered)
            return gettext(
                "logged in as %(login)s (%(mechanism)s)",
                login=self.params.login,
                mechanism=mechanism,
            ), reply

        self._run("auth", action)

    def _mechanism(self, wanted):
        """The first of ``wanted`` the server offers; StepFailed when AUTH or all are missing."""
        mechanisms = self.smtp.esmtp_features.get("auth", "").upper().split()
        if "AUTH" not in self.offered:
            kind = "auth_unsupported"
            if self.params.security == "none" and "STARTTLS" in self.offered:
                kind = "encryption_required"
            detail = gettext("AUTH not offered")
            raise StepFailed("auth", kind, detail=detail, offered=self.offered)
        mechanism = next((m for m in wanted if m in mechanisms), None)
        if mechanism is None:
            if mechanisms:
                detail = gettext("offers only %(mechanisms)s", mechanisms=" ".join(mechanisms))
            else:
                detail = gettext("offers no mechanism")
            raise StepFailed("auth", "auth_unsupported", detail=detail, offered=self.offered)
        return mechanism

    def _xoauth2(self):
        """``AUTH XOAUTH2`` with the bearer token, once; the server's JSON challenge is kept."""
        self._mechanism(("XOAUTH2",))
        self.left("auth")
        challenges = []

        def respond(challenge=None):
            if challenge is None:
                return xoauth2(self.params.login, self.access_token)
            challenges.append(challenge)
            return ""  # the protocol's answer to an error challenge: end the exchange

        try:
            code, message = self.smtp.auth("XOAUTH2", respond)
        except smtplib.SMTPAuthenticationError as exc:
            failure = refusal("auth", exc.smtp_code, exc.smtp_error, self.offered)
            if failure.kind == "auth_rejected":
                failure.kind = "oauth_rejected"
            failure.detail = xoauth2_challenge(challenges)
            raise failure from None
        if code != 235:
            raise refusal("auth", code, message, self.offered)
        detail = gettext(
            "logged in as %(login)s (%(mechanism)s)", login=self.params.login, mechanism="XOAUTH2"
        )
        return detail, f"{code} {reply_text(message)}"

    # -- composite operations ------------------------------------------------------
    def open(self):
        """Reach the server and log in (with a password or an OAuth token); StepFailed on any
        failure."""
        if self.params.oauth is not None and not self.access_token:
            self.token()
        self.resolve()
        self.connect()
        if self.params.security == "ssl":
            self.tls_handshake()
        self.greeting()
        self.ehlo()
        if self.params.security == "tls":
            self.starttls()
            self.ehlo("ehlo_after_starttls")
        if self.params.password or self.access_token:
            self.auth()
        return self

    def send(self, sender, recipients, message_bytes, fresh_deadline=False):
        """MAIL, RCPT each recipient, DATA; returns ``{recipient: StepFailed}`` for refused ones.

        Raises StepFailed when the sender or every recipient is refused, or DATA fails.
        ``fresh_deadline`` gives this message a whole ``timeout`` of its own (a long-lived
        connection); Test Connection keeps one deadline for the whole conversation.
        """
        if fresh_deadline:
            self._new_deadlines()
        refused = {}

        def mail():
            self.left("mail_from")
            code, message = self.smtp.mail(sender)
            return sender, self._expect("mail_from", code, message)

        def rcpt():
            accepted, reply = [], ""
            for recipient in recipients:
                self.left("rcpt_to")
                code, message = self.smtp.rcpt(recipient)
                if code in (250, 251):
                    accepted.append(recipient)
                    reply = f"{code} {reply_text(message)}"
                else:
                    refused[recipient] = refusal("rcpt_to", code, message, self.offered)
            if not accepted:
                raise next(iter(refused.values()))
            return ", ".join(accepted), reply

        def data():
            self.left("data")
            code, message = self.smtp.data(message_bytes)
            size = gettext("%(count)s bytes", count=len(message_bytes))
            return size, self._expect("data", code, message)

        try:
            self._run("mail_from", mail)
            self._run("rcpt_to", rcpt)
            self._run("data", data)
        except StepFailed as failure:
            if failure.code is not None:  # refused with a reply: the session can go on
                self._reset()
            raise
        return refused

    def probe_sender(self, sender):
        """MAIL FROM, then RSET: shows the server accepts this sender (and login) without
        sending anything. A server that needs a login answers 530 here when none was given.
        """

        def mail():
            self.left("mail_from")
            code, message = self.smtp.mail(sender)
            reply = self._expect("mail_from", code, message)
            self.smtp.rset()
            return gettext("%(sender)s (then RSET: nothing is sent)", sender=sender), reply

        self._run("mail_from", mail)

    def _reset(self):
        # After a refusal the connection can carry the next message once RSET clears it.
        if self.smtp is not None and self.smtp.sock is not None:
            try:
                self.smtp.rset()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            except DeadlinePassed:
                pass  # close() still tries QUIT

    def close(self):
        """QUIT politely whenever a session exists (briefly bounded), then close the socket."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.smtp is None or self.smtp.sock is None:
            return
        self.smtp.deadline = Deadline(min(2.0, max(0.1, self.final.left())))
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException, DeadlinePassed):
            self.smtp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
