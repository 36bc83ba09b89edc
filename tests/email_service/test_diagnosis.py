"""Test Connection against real SMTP servers: what the admin sees, what the mailbox gets."""

import email
import email.policy
import json
import logging
import socket

import pytest

from webapp.email_service import addresses

from ..helpers import (
    SECURITY_OF_MODE,
    SENDER,
    SENDER_NAME,
    TEST_EMAIL,
    diagnose,
    failed,
    step_names,
)
from ..smtp_servers import LOGIN, PASSWORD

CANARY = "CANARY-pw-4242"
OPEN_STEPS = {
    "none": ["resolve", "connect", "greeting", "ehlo"],
    "ssl": ["resolve", "connect", "tls", "greeting", "ehlo"],
    "tls": ["resolve", "connect", "greeting", "ehlo", "starttls", "ehlo_after_starttls"],
}
SEND_STEPS = ["auth", "mail_from", "rcpt_to", "data"]
SECURITY_LABELS = {"none": "None", "ssl": "SSL (implicit TLS)", "tls": "TLS (STARTTLS)"}


# -- success -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "ssl", "starttls"])
def test_success_sends_one_test_email_in_each_mode(smtp_app, smtp_servers, mode):
    server = smtp_servers(mode, auth=True)
    security = SECURITY_OF_MODE[mode]

    result = diagnose(smtp_app, server, security=security)

    assert result.ok and result.sent, result.as_dict()
    assert result.failed_step is None and result.hint is None
    assert step_names(result) == OPEN_STEPS[security] + SEND_STEPS
    assert all(step.ok for step in result.steps)
    assert result.reference.startswith("T-")
    by_name = {step.name: step for step in result.steps}
    if security == "ssl":
        assert "TLSv1." in by_name["tls"].detail and "TLSv1." in result.tls
    elif security == "tls":
        assert "TLSv1." in by_name["starttls"].detail and "TLSv1." in result.tls
    else:
        assert result.tls == ""
    assert by_name["auth"].reply.startswith("235")
    assert by_name["greeting"].reply.startswith("220 mail.test")
    assert by_name["greeting"].detail.startswith("EHLO name ")

    assert len(server.messages) == 1
    received = server.messages[0]
    assert received.mail_from == SENDER and received.rcpt_tos == [TEST_EMAIL]
    assert received.login == LOGIN
    assert b"=?utf-8?" in received.content  # the Chinese name is RFC 2047-encoded
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert str(message["From"]) == f"{SENDER_NAME} <{SENDER}>"
    assert message["From"].addresses[0].display_name == SENDER_NAME
    assert str(message["To"]) == TEST_EMAIL
    assert result.reference in message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    for subtype in ("plain", "html"):
        body = message.get_body((subtype,)).get_content()
        assert f"127.0.0.1:{server.port}" in body
        assert SECURITY_LABELS[security] in body
        assert result.reference in body
        if security == "none":
            assert "not encrypted" in body
        else:
            assert "TLSv1." in body


def test_without_test_address_nothing_is_sent(smtp_app, starttls_server):
    result = diagnose(smtp_app, starttls_server, security="tls", test_email=None)
    assert result.ok and not result.sent
    assert step_names(result) == OPEN_STEPS["tls"] + ["auth", "mail_from"]
    # The sender is probed with MAIL FROM, then RSET: no recipient, no message.
    assert starttls_server.messages == [] and "RCPT" not in starttls_server.commands


def test_check_without_password_finds_a_server_that_needs_a_login(smtp_app, plain_server):
    result = diagnose(smtp_app, plain_server, password=None, test_email=None)
    hint = failed(result, "mail_from", "auth_required")
    assert "requires a login" in hint and "530" in hint


def test_relay_without_password_skips_auth(smtp_app, smtp_servers):
    server = smtp_servers("plain", auth=False)
    result = diagnose(smtp_app, server, password=None)
    assert result.ok and result.sent
    assert step_names(result) == OPEN_STEPS["none"] + ["mail_from", "rcpt_to", "data"]
    assert len(server.messages) == 1 and "AUTH" not in server.commands


# -- failures, in the order of the conversation ------------------------------------------


@pytest.fixture
def resolver_without(monkeypatch):
    """A resolver that answers "no such name" for the given host names (no real DNS asked)."""
    unknown = set()
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host in unknown:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(addresses.socket, "getaddrinfo", getaddrinfo)
    return unknown.add


def test_unknown_host(smtp_app, resolver_without):
    resolver_without("smtp.no-such-host.invalid")
    result = diagnose(smtp_app, "smtp.no-such-host.invalid", 587, "tls")
    hint = failed(result, "resolve", "dns")
    assert step_names(result) == ["resolve"]
    assert "smtp.no-such-host.invalid could not be found (DNS)" in hint
    assert "Check the spelling" in hint


def test_closed_port(smtp_app, closed_port):
    result = diagnose(smtp_app, "127.0.0.1", closed_port, "tls")
    hint = failed(result, "connect", "refused")
    assert f"port {closed_port}" in hint and "refused" in hint and "Check the port" in hint


def test_silent_server_gives_up_within_the_timeout(make_smtp_app, silent_server):
    # How long giving up takes is measured in bench/bench_test_connection.py, not here.
    app = make_smtp_app(SMTP_TIMEOUT=1)
    result = diagnose(app, silent_server, security="none")

    hint = failed(result, "greeting", "no_greeting")
    assert "never sent its greeting" in hint
    assert silent_server.accepted  # it connected, and was never answered


def test_ssl_against_a_starttls_server_says_choose_tls(smtp_app, starttls_server):
    result = diagnose(smtp_app, starttls_server, security="ssl")
    hint = failed(result, "tls", "tls_plaintext_server")
    assert "offers STARTTLS: choose TLS" in hint
    assert starttls_server.auth_attempts == [] and starttls_server.messages == []


def test_ssl_against_a_plain_server_without_starttls_does_not_say_choose_tls(
    smtp_app, plain_server
):
    # What EHLO offers decides the hint: TLS would fail here too.
    result = diagnose(smtp_app, plain_server, security="ssl")
    hint = failed(result, "tls", "tls_plaintext_server")
    assert "choose TLS" not in hint and "offers no encryption" in hint
    assert "AUTH" not in plain_server.commands and plain_server.messages == []


@pytest.mark.parametrize("security", ["none", "tls"])
def test_plain_or_starttls_against_implicit_tls_says_choose_ssl(
    make_smtp_app, smtp_servers, security
):
    server = smtp_servers("ssl", auth=True)
    result = diagnose(make_smtp_app(SMTP_TIMEOUT=1.5), server, security=security)
    hint = failed(result, "greeting", "expects_ssl")
    assert "expects SSL" in hint and "Choose SSL" in hint
    assert server.commands == [] and server.messages == []


def test_tls_without_starttls_stops_before_anything_is_sent(smtp_app, smtp_servers):
    # A plain server that offers AUTH in the clear: a client that fell back would log in.
    server = smtp_servers("plain", auth=True)
    result = diagnose(smtp_app, server, security="tls", password=CANARY)
    hint = failed(result, "starttls", "starttls_missing")
    assert "did not offer STARTTLS" in hint and "before anything was sent" in hint
    assert server.commands == ["EHLO"]
    assert server.auth_attempts == [] and server.messages == []


@pytest.mark.parametrize(("mode", "step"), [("ssl", "tls"), ("starttls", "starttls")])
def test_untrusted_certificate(smtp_app, smtp_servers, untrusted_tls, mode, step):
    server = smtp_servers(mode, auth=True, tls_context=untrusted_tls)
    result = diagnose(smtp_app, server, security=SECURITY_OF_MODE[mode])
    hint = failed(result, step, "cert_untrusted")
    assert "not trusted" in hint and "SMTP_CA_BUNDLE" in hint
    assert server.auth_attempts == [] and server.messages == []


@pytest.mark.parametrize(("mode", "step"), [("ssl", "tls"), ("starttls", "starttls")])
def test_certificate_for_another_name(smtp_app, smtp_servers, other_name_tls, mode, step):
    server = smtp_servers(mode, auth=True, tls_context=other_name_tls)
    result = diagnose(smtp_app, server, security=SECURITY_OF_MODE[mode])
    hint = failed(result, step, "cert_mismatch")
    assert "issued for a different name than 127.0.0.1" in hint
    assert server.auth_attempts == [] and server.messages == []


def test_wrong_password(smtp_app, starttls_server):
    result = diagnose(smtp_app, starttls_server, security="tls", password="wrong-password")
    hint = failed(result, "auth", "auth_rejected")
    assert result.steps[-1].reply.startswith("535")
    assert "refused the login (535)" in hint and "authorization code" in hint
    assert set(starttls_server.auth_attempts) == {LOGIN} and starttls_server.messages == []


def test_503_reply_to_auth_is_not_a_login(smtp_app, starttls_server):
    # smtplib.login() returns (503, ...) instead of raising: it reads 503 as "already
    # authenticated". On a fresh connection it means the login did not happen.
    starttls_server.auth_reply = "503 5.5.1 Error: bad sequence of commands"
    result = diagnose(smtp_app, starttls_server, security="tls")
    assert not result.ok and result.failed_step == "auth", result.as_dict()
    assert starttls_server.messages == []


def test_non_ascii_password_is_explained(smtp_app, starttls_server):
    result = diagnose(smtp_app, starttls_server, security="tls", password="密码-123")
    hint = failed(result, "auth", "password_not_ascii")
    assert "other than ASCII" in hint


def test_recipient_refused(smtp_app, ssl_server):
    ssl_server.rcpt_reply = "550 5.1.1 no such user"
    result = diagnose(smtp_app, ssl_server, security="ssl")
    hint = failed(result, "rcpt_to", "recipient_refused")
    assert f"refused the recipient {TEST_EMAIL}" in hint and "550 5.1.1 no such user" in hint
    assert ssl_server.messages == [] and "DATA" not in ssl_server.commands


def test_recipient_deferred_is_reported_as_temporary_reply(smtp_app, ssl_server):
    ssl_server.rcpt_reply = "451 4.3.0 try later"
    result = diagnose(smtp_app, ssl_server, security="ssl")
    hint = failed(result, "rcpt_to", "recipient_refused")
    assert "451 4.3.0 try later" in hint


def test_message_refused(smtp_app, ssl_server):
    ssl_server.data_reply = "554 5.7.1 rejected as spam"
    result = diagnose(smtp_app, ssl_server, security="ssl")
    hint = failed(result, "data", "message_refused")
    assert "refused the message (554 5.7.1 rejected as spam)" in hint
    assert ssl_server.messages == []


def test_sender_refused(smtp_app, ssl_server):
    ssl_server.mail_reply = "553 5.7.1 sender not owned by user"
    result = diagnose(smtp_app, ssl_server, security="ssl")
    hint = failed(result, "mail_from", "sender_refused")
    assert f"refused the sender {SENDER}" in hint and "553" in hint


def test_loopback_refused_unless_allowed(make_smtp_app, plain_server):
    app = make_smtp_app(SMTP_ALLOW_LOOPBACK=False)
    result = diagnose(app, plain_server, security="none")
    hint = failed(result, "resolve", "blocked_address")
    assert step_names(result) == ["resolve"]
    assert "loopback" in hint and "SMTP_ALLOW_LOOPBACK" in hint
    assert plain_server.commands == []


def test_link_local_metadata_address_refused_without_connecting(smtp_app):
    result = diagnose(smtp_app, "169.254.169.254", 25, "none")
    hint = failed(result, "resolve", "blocked_address")
    assert step_names(result) == ["resolve"]  # no connect step: nothing was dialled
    assert "169.254.169.254 is link-local" in hint


# -- the JSON form and secrets ---------------------------------------------------------


def test_json_form(smtp_app, starttls_server):
    result = diagnose(smtp_app, starttls_server, security="tls", password="wrong-password")
    data = json.loads(json.dumps(result.as_dict()))
    assert data["ok"] is False and data["sent"] is False
    assert data["reference"].startswith("T-") and data["reference"] == result.reference
    assert data["failed_step"] == "auth" and "authorization code" in data["hint"]
    assert [step["name"] for step in data["steps"]] == OPEN_STEPS["tls"] + ["auth"]
    for step in data["steps"]:
        assert {"name", "ok", "ms"} <= step.keys()
        assert isinstance(step["ok"], bool) and isinstance(step["ms"], int) and step["ms"] >= 0
    assert data["steps"][-1]["ok"] is False and data["steps"][-1]["reply"].startswith("535")


def test_json_form_of_a_success(smtp_app, ssl_server):
    data = diagnose(smtp_app, ssl_server, security="ssl").as_dict()
    assert data["ok"] is True and data["sent"] is True
    assert data["failed_step"] is None and data["hint"] is None
    assert data["steps"][2]["name"] == "tls" and "TLSv1." in data["steps"][2]["detail"]


CANARY_SCENARIOS = {
    # name: (server mode, security chosen, password the server accepts, RCPT reply)
    "rejected-after-starttls": ("starttls", "tls", PASSWORD, None),
    "rejected-in-plain-text": ("plain", "none", PASSWORD, None),
    "starttls-missing": ("plain", "tls", PASSWORD, None),
    "recipient-refused": ("ssl", "ssl", CANARY, "550 5.1.1 no such user"),
    "sent": ("ssl", "ssl", CANARY, None),
}


@pytest.mark.parametrize(
    ("mode", "security", "accepted", "rcpt_reply"),
    list(CANARY_SCENARIOS.values()),
    ids=list(CANARY_SCENARIOS),
)
def test_password_never_shown_or_logged(
    smtp_app, smtp_servers, caplog, mode, security, accepted, rcpt_reply
):
    server = smtp_servers(mode, auth=True, password=accepted)
    server.rcpt_reply = rcpt_reply
    caplog.set_level(logging.DEBUG)

    result = diagnose(smtp_app, server, security=security, password=CANARY)

    assert CANARY not in repr(result)
    assert CANARY not in json.dumps(result.as_dict())
    assert CANARY not in (result.hint or "")
    assert all(CANARY not in f"{step.detail} {step.reply}" for step in result.steps)
    assert caplog.records  # the server and app did log: the check below is not vacuous
    for record in caplog.records:
        assert CANARY not in record.getMessage(), record.name
    assert CANARY not in caplog.text


def test_server_outage_then_recovery_on_the_same_port(smtp_app, plain_server):
    plain_server.stop()
    result = diagnose(smtp_app, plain_server)
    failed(result, "connect", "refused")

    plain_server.start()
    assert diagnose(smtp_app, plain_server).sent
    assert len(plain_server.messages) == 1


def test_a_refusing_greeting_is_explained(smtp_app):
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def refuse():
        conn, _ = listener.accept()
        conn.sendall(b"554 5.7.1 no SMTP service for you\r\n")
        conn.close()

    threading.Thread(target=refuse, daemon=True).start()
    result = diagnose(smtp_app, "127.0.0.1", listener.getsockname()[1], "tls")
    listener.close()
    hint = failed(result, "greeting", "bad_greeting")
    assert "554 5.7.1 no SMTP service for you" in hint and "allow" in hint
