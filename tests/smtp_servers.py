"""Real SMTP servers for tests: aiosmtpd on 127.0.0.1, certificates from a trustme CA.

``tests/conftest.py`` loads this module as a plugin, so its fixtures serve every package.

Every server records what reached it, so tests assert on the bytes a user's mailbox would
get, and on what was never sent (no AUTH or MAIL in plain text).
"""

import asyncio
import base64
import binascii
import json
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

HOST = "127.0.0.1"
LOGIN = "reports@example.com"
PASSWORD = "right-password-1"
MODES = ("plain", "ssl", "starttls")
# What Gmail sends (base64) after a refused XOAUTH2 token; the client answers with an empty line.
XOAUTH2_CHALLENGE = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
# Exchange Online's refusal of a token (also what a mailbox with SMTP AUTH disabled gets).
XOAUTH2_REFUSED = "535 5.7.3 Authentication unsuccessful"


def free_port():
    """A port nothing listens on right now (``Controller(port=0)`` cannot work)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_context(ca, *names):
    """A server-side TLS context presenting a certificate from ``ca`` for ``names``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or (HOST, "localhost"))).configure_cert(context)
    return context


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list
    content: bytes
    original_content: bytes
    login: str | None = None
    mail_options: tuple = ()


class _Recorder:
    """aiosmtpd handler: records commands and messages, replies as the server's knobs say."""

    def __init__(self, server):
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.server.commands.append("EHLO")
        self.server.ehlo_names.append(hostname)
        session.host_name = hostname  # with this hook, aiosmtpd leaves it to us
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.server.commands.append("MAIL")
        if getattr(session, "over_limit", False):
            self.server.sessions_refused += 1
            return "421 4.7.0 Too many concurrent connections, try again later"
        if self.server.mail_reply:
            return self.server.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.server.commands.append("RCPT")
        if self.server.rcpt_reply:
            return self.server.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.server.commands.append("DATA")
        if self.server.data_delay:
            await asyncio.sleep(self.server.data_delay)  # a slow server keeps a batch in hand
        known = self.server
        due = known.throttle_after is not None and len(known.messages) >= known.throttle_after
        if due and known.throttled < known.throttle_times:
            known.throttled += 1
            return "451 4.7.0 Too many messages, slow down"
        if self.server.data_reply:
            return self.server.data_reply
        self.server.messages.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.content,
                original_content=envelope.original_content,
                login=session.auth_data,
                mail_options=tuple(envelope.mail_options),
            )
        )
        return "250 2.0.0 OK: queued"

    async def auth_XOAUTH2(self, server, args):
        """SASL XOAUTH2: ``user=<mailbox>^Aauth=Bearer <token>^A^A``, token checked by OAuth."""
        if len(args) == 2:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:  # aiosmtpd has answered already
                return AuthResult(success=False, handled=True)
        fields = dict(
            part.partition("=")[::2] for part in blob.decode("utf-8", "replace").split("\x01")
        )
        scheme, _, token = fields.get("auth", "").partition(" ")
        known = self.server
        user = fields.get("user", "")
        known.commands.append("AUTH")
        known.auth_attempts.append(user)
        if known.auth_reply:
            return AuthResult(success=False, handled=False, message=known.auth_reply)
        mailbox = known.oauth.valid_access_token(token) if scheme.lower() == "bearer" else None
        if mailbox and mailbox.lower() == user.lower():
            return AuthResult(success=True, auth_data=user)
        # Refused: a 334 with the error as base64 JSON, the client's empty line, then 535.
        answer = await server.challenge_auth(json.dumps(XOAUTH2_CHALLENGE, separators=(",", ":")))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=XOAUTH2_REFUSED)


class _CountingSMTP(SMTP):
    """aiosmtpd's SMTP, counting open sessions and marking those over the server's limit."""

    def __init__(self, handler, known, **kwargs):
        super().__init__(handler, **kwargs)
        self.known = known

    def connection_made(self, transport):
        super().connection_made(transport)
        known = self.known
        known.open_sessions += 1
        known.most_open_sessions = max(known.most_open_sessions, known.open_sessions)
        self.session.over_limit = bool(
            known.session_limit and known.open_sessions > known.session_limit
        )

    def connection_lost(self, error):
        self.known.open_sessions -= 1
        super().connection_lost(error)


class _SessionCountingController(Controller):
    def __init__(self, known, *args, **kwargs):
        self.known = known
        super().__init__(*args, **kwargs)

    def factory(self):
        return _CountingSMTP(self.handler, self.known, **self.SMTP_kwargs)


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that can be stopped and started again on its port.

    ``mode`` is ``plain``, ``ssl`` (implicit TLS, 465-style) or ``starttls`` (587-style,
    STARTTLS required before anything else). With ``auth`` a login is required before
    MAIL and one is accepted: ``login``/``password``. Set ``auth_reply``, ``mail_reply``,
    ``rcpt_reply`` or ``data_reply`` to a reply such as ``"550 5.1.1 no such user"`` or
    ``"451 4.3.0 try later"`` to refuse at that step; ``None`` accepts again.

    With ``oauth`` (an ``OAuthServer`` from ``tests/oauth_server.py``) AUTH is required and
    XOAUTH2 is offered beside PLAIN and LOGIN: a bearer token is accepted when the OAuth server
    says it is valid for the mailbox named in ``user=``.
    """

    def __init__(
        self,
        mode="plain",
        *,
        auth=False,
        tls_context=None,
        login=LOGIN,
        password=PASSWORD,
        port=None,
        oauth=None,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode != "plain" and tls_context is None:
            raise ValueError(f"mode {mode!r} needs a tls_context")
        self.mode, self.auth, self.tls_context = mode, auth or oauth is not None, tls_context
        self.oauth = oauth
        self.login, self.password = login, password
        self.host, self.port = HOST, port or free_port()
        self.messages = []  # Received, in order
        self.commands = []  # EHLO, AUTH, MAIL, RCPT, DATA as they arrived
        self.ehlo_names = []  # the name each EHLO gave
        self.auth_attempts = []  # logins tried, right or wrong
        self.auth_reply = self.mail_reply = self.rcpt_reply = self.data_reply = None
        self.data_delay = 0.0  # seconds before answering DATA
        # Sessions open now and the most ever open at once; beyond ``session_limit`` a
        # session is answered "421 … too many connections" at MAIL (Exchange, QQ do so).
        self.open_sessions = self.most_open_sessions = 0
        self.session_limit = None
        self.sessions_refused = 0
        # After ``throttle_after`` messages, the next ``throttle_times`` DATA get a 451 4.7.0.
        self.throttle_after, self.throttle_times, self.throttled = None, 0, 0
        self.controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        self.commands.append("AUTH")
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        self.auth_attempts.append(login)
        if self.auth_reply:
            return AuthResult(success=False, handled=False, message=self.auth_reply)
        if login == self.login and auth_data.password.decode() == self.password:
            # auth_data keeps the login only: aiosmtpd may log it.
            return AuthResult(success=True, auth_data=login)
        # handled=True would leave the client waiting for a reply that never comes.
        return AuthResult(success=False, handled=False)

    def _controller(self):
        kwargs = {}
        if self.mode == "ssl":
            kwargs["ssl_context"] = self.tls_context
        elif self.mode == "starttls":
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        if self.auth:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
            # Implicit TLS does not count as TLS for aiosmtpd; plain servers offer AUTH too.
            kwargs["auth_require_tls"] = self.mode == "starttls"
        if self.oauth is None:
            kwargs["auth_exclude_mechanism"] = ["XOAUTH2"]
        return _SessionCountingController(
            self,
            _Recorder(self),
            hostname=HOST,
            port=self.port,
            server_hostname="mail.test",
            ready_timeout=10,
            **kwargs,
        )

    @property
    def running(self):
        return self.controller is not None

    def start(self):
        """Listen on ``self.port`` (the same port after a stop)."""
        if self.controller is None:
            controller = self._controller()
            controller.start()
            self.controller = controller
        return self

    def stop(self):
        """Stop listening; connections are then refused until ``start``."""
        if self.controller is not None:
            controller, self.controller = self.controller, None
            controller.stop()

    def restart(self):
        """Stop, then start again on the same port (a short outage)."""
        self.stop()
        return self.start()

    def __repr__(self):
        oauth = " oauth" if self.oauth is not None else ""
        return f"<SmtpServer {self.mode} {self.host}:{self.port} auth={self.auth}{oauth}>"


class _Listener:
    """A TCP listener on 127.0.0.1 that hands each connection to ``_on_connect``."""

    def __init__(self):
        self.host = HOST
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._on_connect(conn)

    def _on_connect(self, conn):
        raise NotImplementedError

    def close(self):
        self._stopping.set()
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


class SilentServer(_Listener):
    """Accepts TCP connections and never says a word (a firewall or a stuck server)."""

    def __init__(self):
        self.accepted = []
        super().__init__()

    def _on_connect(self, conn):
        self.accepted.append(conn)

    def close(self):
        super().close()
        for conn in self.accepted:
            conn.close()


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_ca():
    """The CA the app trusts (through SMTP_CA_BUNDLE) for the test servers."""
    return trustme.CA()


@pytest.fixture(scope="session")
def smtp_ca_bundle(smtp_ca, tmp_path_factory):
    """Path of a PEM file holding ``smtp_ca``: the value for SMTP_CA_BUNDLE."""
    path = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    smtp_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def trusted_tls(smtp_ca):
    """Server TLS context with a trusted certificate for 127.0.0.1 and localhost."""
    return server_context(smtp_ca)


@pytest.fixture(scope="session")
def untrusted_tls():
    """Server TLS context whose certificate comes from a CA the app does not trust."""
    return server_context(trustme.CA())


@pytest.fixture(scope="session")
def other_name_tls(smtp_ca):
    """Server TLS context, trusted CA, but the certificate names mail.example.org only."""
    return server_context(smtp_ca, "mail.example.org")


@pytest.fixture
def smtp_servers(trusted_tls):
    """Start servers: ``smtp_servers("ssl", auth=True)``; all are stopped at teardown."""
    started = []

    def start(mode="plain", *, auth=False, tls_context=None, **kwargs):
        if mode != "plain" and tls_context is None:
            tls_context = trusted_tls
        server = SmtpServer(mode, auth=auth, tls_context=tls_context, **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def plain_server(smtp_servers):
    """Plain SMTP with AUTH offered (port-25 style, no STARTTLS)."""
    return smtp_servers("plain", auth=True)


@pytest.fixture
def ssl_server(smtp_servers):
    """Implicit TLS with AUTH (465 style), trusted certificate."""
    return smtp_servers("ssl", auth=True)


@pytest.fixture
def starttls_server(smtp_servers):
    """STARTTLS required, AUTH after it (587 style), trusted certificate."""
    return smtp_servers("starttls", auth=True)


@pytest.fixture
def silent_server():
    """A listener that accepts and never greets; closed at teardown."""
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    return free_port()


@pytest.fixture
def make_smtp_app(make_app, smtp_ca_bundle):
    """Apps that trust the test CA and give up after 3 s; override any setting."""

    def make(**extra):
        return make_app(**{"SMTP_CA_BUNDLE": smtp_ca_bundle, "SMTP_TIMEOUT": 3, **extra})

    return make


@pytest.fixture
def smtp_app(make_smtp_app):
    """An app configured for the test servers (loopback allowed, test CA trusted)."""
    return make_smtp_app()


class ScriptedServer(_Listener):
    """A hand-written SMTP peer for what aiosmtpd cannot do: late or byte-by-byte replies.

    ``replies`` maps a verb (EHLO, AUTH, MAIL, RCPT, DATA, QUIT) to its reply; ``delays``
    maps a verb (or GREETING) to seconds of silence before replying; verbs in ``drip`` are
    answered one byte every ``drip_interval`` seconds. Every line received is kept in
    ``lines``, per connection in ``sessions``.
    """

    EHLO = "250-scripted.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME"
    DEFAULTS = {
        "EHLO": EHLO,
        "AUTH": "235 2.7.0 Authentication successful",
        "QUIT": "221 2.0.0 Bye",
        "DATA": "354 go ahead",
    }

    def __init__(self, replies=None, delays=None, drip=(), drip_interval=1.0):
        self.replies = {**self.DEFAULTS, **(replies or {})}
        self.delays, self.drip, self.drip_interval = delays or {}, set(drip), drip_interval
        self.sessions = []
        super().__init__()

    @property
    def lines(self):
        return [line for session in self.sessions for line in session]

    def verbs(self):
        return [line.split(" ")[0].upper() for line in self.lines]

    def _on_connect(self, conn):
        thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _say(self, conn, verb, text):
        if self._stopping.wait(self.delays.get(verb, 0)):
            return
        data = (text + "\r\n").encode()
        if verb not in self.drip:
            conn.sendall(data)
            return
        for index in range(len(data)):
            if self._stopping.wait(self.drip_interval if index else 0):
                return
            conn.sendall(data[index : index + 1])

    def _read(self, reader, lines, inbox):
        # Lines are recorded as they arrive, so one sent while a reply is delayed (QUIT
        # after a timeout) counts even if the client hangs up before the reply.
        try:
            for raw in reader:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(line)
                inbox.put(line)
                if line.upper() == "DATA" and self.replies["DATA"].startswith("354"):
                    while reader.readline() not in (b".\r\n", b""):
                        pass
                    inbox.put("END")
        except (OSError, ValueError):  # ValueError: the session ended and closed the file
            pass
        inbox.put(None)

    def _serve(self, conn):
        lines, inbox = [], queue.Queue()
        self.sessions.append(lines)
        with conn, conn.makefile("rb") as reader:
            threading.Thread(target=self._read, args=(reader, lines, inbox), daemon=True).start()
            try:
                self._say(conn, "GREETING", "220 scripted.test ESMTP")
                while (line := inbox.get()) is not None and not self._stopping.is_set():
                    verb = line.split(" ")[0].upper()
                    default = "250 2.0.0 queued" if verb == "END" else "250 2.0.0 OK"
                    self._say(conn, verb, self.replies.get(verb, default))
                    if verb == "QUIT":
                        return
            except OSError:
                return

    def wait_for(self, verb, timeout=5.0):
        """True once a line starting with ``verb`` arrived (within ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if verb in self.verbs():
                return True
            time.sleep(0.02)
        return False


@pytest.fixture
def scripted_servers():
    """Start hand-written SMTP peers: ``scripted_servers(delays={"AUTH": 10})``."""
    started = []

    def start(**kwargs):
        server = ScriptedServer(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
