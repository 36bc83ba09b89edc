"""One deadline per conversation, one login attempt, QUIT whenever a session exists."""

import time

import pytest

from ..helpers import diagnose, failed
from ..smtp_servers import LOGIN

TIMEOUT = 2.0
# Test Connection must answer within SMTP_TIMEOUT + 0.5 s; the extra second is slack for a
# loaded CI machine, still far below what an unbounded read took (the whole drip: 30 s+).
BOUND = TIMEOUT + 1.5


@pytest.fixture
def bounded_app(make_smtp_app):
    return make_smtp_app(SMTP_TIMEOUT=TIMEOUT)


def timed(app, server, **kwargs):
    started = time.monotonic()
    result = diagnose(app, server, security="none", **kwargs)
    return result, time.monotonic() - started


def test_wrong_password_is_one_login_attempt(smtp_app, starttls_server):
    # smtplib.login() would try PLAIN, then LOGIN after the 535: two failed logins.
    result = diagnose(smtp_app, starttls_server, security="tls", password="wrong-password")
    failed(result, "auth", "auth_rejected")
    assert starttls_server.auth_attempts == [LOGIN]
    assert starttls_server.commands.count("AUTH") == 1


def test_auth_uses_login_when_plain_is_not_offered(bounded_app, scripted_servers):
    server = scripted_servers(replies={"EHLO": "250-scripted.test\r\n250 AUTH LOGIN"})
    result = diagnose(bounded_app, server, security="none")
    assert result.ok, result.as_dict()
    auth = [line for line in server.lines if line.upper().startswith("AUTH")]
    assert len(auth) == 1 and auth[0].upper().startswith("AUTH LOGIN")
    assert "(LOGIN)" in next(s.detail for s in result.steps if s.name == "auth")


def test_a_delayed_answer_to_auth_is_explained_and_ended_with_quit(bounded_app, scripted_servers):
    # Dovecot delays its answer to a wrong password; here the delay outlasts the budget.
    server = scripted_servers(delays={"AUTH": 4}, replies={"AUTH": "535 5.7.8 bad"})
    result, elapsed = timed(bounded_app, server)

    hint = failed(result, "auth", "auth_timeout")
    assert elapsed < BOUND, elapsed
    assert "delay their answer to a wrong password" in hint and "firewall" not in hint
    assert server.wait_for("QUIT"), server.lines  # the session was ended politely
    assert [v for v in server.verbs() if v == "AUTH"] == ["AUTH"]


@pytest.mark.parametrize("verb", ["EHLO", "AUTH", "MAIL", "GREETING"])
def test_a_reply_one_byte_a_second_cannot_stretch_the_deadline(bounded_app, scripted_servers, verb):
    server = scripted_servers(drip={verb}, drip_interval=0.4)
    result, elapsed = timed(bounded_app, server)

    assert not result.ok and elapsed < BOUND, (elapsed, result.as_dict())
    assert result.kind in {"timeout", "auth_timeout", "no_greeting"}, result.as_dict()
    assert sum(step.ms for step in result.steps) < BOUND * 1000


def test_a_session_after_a_timeout_still_sends_quit(bounded_app, scripted_servers):
    server = scripted_servers(delays={"MAIL": 5})
    result, elapsed = timed(bounded_app, server, password=None)
    failed(result, "mail_from", "timeout")
    assert elapsed < BOUND
    assert "stopped answering during mail_from" in result.hint
    assert server.wait_for("QUIT"), server.lines
