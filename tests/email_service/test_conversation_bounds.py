"""One deadline per conversation, one login attempt, QUIT whenever a session exists.

Each server below stalls, or drips a reply byte by byte, past SMTP_TIMEOUT: the outcome (a
timeout at that step, QUIT still sent) shows the deadline ended the conversation. A dripped
reply never leaves one read waiting long, so only a deadline for the whole conversation can
end it. How close to SMTP_TIMEOUT it ends is measured in bench/bench_test_connection.py.
"""

import pytest

from ..helpers import diagnose, failed
from ..smtp_servers import LOGIN

TIMEOUT = 2.0


@pytest.fixture
def bounded_app(make_smtp_app):
    return make_smtp_app(SMTP_TIMEOUT=TIMEOUT)


def plain(app, server, **kwargs):
    return diagnose(app, server, security="none", **kwargs)


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
    result = plain(bounded_app, server)

    hint = failed(result, "auth", "auth_timeout")
    assert "delay their answer to a wrong password" in hint and "firewall" not in hint
    assert server.wait_for("QUIT"), server.lines  # the session was ended politely
    assert [v for v in server.verbs() if v == "AUTH"] == ["AUTH"]


@pytest.mark.parametrize("verb", ["EHLO", "AUTH", "MAIL", "GREETING"])
def test_a_reply_one_byte_a_second_cannot_stretch_the_deadline(bounded_app, scripted_servers, verb):
    # The whole reply takes 20 s and more; each byte comes within 0.4 s.
    server = scripted_servers(drip={verb}, drip_interval=0.4)
    result = plain(bounded_app, server)

    assert not result.ok, result.as_dict()
    assert result.kind in {"timeout", "auth_timeout", "no_greeting"}, result.as_dict()


def test_a_session_after_a_timeout_still_sends_quit(bounded_app, scripted_servers):
    server = scripted_servers(delays={"MAIL": 5})
    result = plain(bounded_app, server, password=None)
    failed(result, "mail_from", "timeout")
    assert "stopped answering during MAIL FROM" in result.hint  # the step as the page names it
    assert server.wait_for("QUIT"), server.lines
