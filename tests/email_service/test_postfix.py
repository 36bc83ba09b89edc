"""Against a real MTA: Postfix 3.7 with Dovecot SASL, in each of its three listeners.

What aiosmtpd forgives and Postfix does not: Dovecot delays its answer to a wrong
password, the submission port wants STARTTLS before AUTH or MAIL, and a sender the login
does not own is refused at RCPT. Postfix's log line ``disconnect from … auth=1 quit=1``
says exactly what the client did.
"""

import email
import email.policy
import re

import pytest

from ..helpers import SENDER, diagnose, failed

TEST_EMAIL = "ops@corp.local"  # a company domain, delivered like any other


@pytest.fixture
def mta_app(make_smtp_app, postfix):
    """The app trusting the MTA's CA; the budget outlasts Dovecot's 2 s wrong-password delay."""
    return make_smtp_app(SMTP_CA_BUNDLE=str(postfix.ca_bundle), SMTP_TIMEOUT=6)


def port_of(postfix, listener):
    return {"plain": postfix.plain_port, "smtps": postfix.smtps_port}.get(
        listener, postfix.submission_port
    )


def run(app, postfix, listener, security, **kwargs):
    """Diagnose against one listener; returns (result, the Postfix log lines it caused)."""
    mark = postfix.log_mark()
    kwargs.setdefault("test_email", TEST_EMAIL)
    result = diagnose(app, postfix.host, port_of(postfix, listener), security, **kwargs)
    return result, mark


def disconnects(postfix, mark, count=1):
    """The ``disconnect from`` lines of the sessions since ``mark`` (waits for ``count``)."""
    pattern = r"disconnect from .*"
    postfix.wait_for_log(rf"(?s)({pattern}.*){{{count}}}", since=mark)
    return re.findall(pattern, postfix.log_since(mark))


@pytest.mark.parametrize(("listener", "security"), [("smtps", "ssl"), ("submission", "tls")])
def test_right_password_sends_the_test_email(mta_app, postfix, listener, security):
    before = len(postfix.messages())
    result, mark = run(mta_app, postfix, listener, security)

    assert result.ok and result.sent, result.as_dict()
    [line] = disconnects(postfix, mark)
    assert "auth=1" in line and "quit=1" in line and "rcpt=1" in line and "data=1" in line
    received = email.message_from_bytes(
        postfix.wait_for_messages(before + 1)[-1], policy=email.policy.default
    )
    assert received["To"].addresses[0].addr_spec == TEST_EMAIL
    assert result.reference in received["Subject"]


def test_plain_listener_relays_without_a_login(mta_app, postfix):
    result, mark = run(mta_app, postfix, "plain", "none", password=None)
    assert result.ok and result.sent, result.as_dict()
    assert "quit=1" in disconnects(postfix, mark)[0]


@pytest.mark.parametrize(("listener", "security"), [("smtps", "ssl"), ("submission", "tls")])
def test_wrong_password_is_one_failed_login_then_quit(mta_app, postfix, listener, security):
    result, mark = run(mta_app, postfix, listener, security, password="wrong-password")

    hint = failed(result, "auth", "auth_rejected")
    assert result.steps[-1].reply.startswith("535 5.7.8")
    assert "authorization code" in hint
    [line] = disconnects(postfix, mark)
    assert "auth=0/1" in line and "quit=1" in line, line


def test_dovecot_delay_past_the_budget_is_a_login_hint_not_a_firewall(make_smtp_app, postfix):
    app = make_smtp_app(SMTP_CA_BUNDLE=str(postfix.ca_bundle), SMTP_TIMEOUT=1.2)
    result, mark = run(app, postfix, "smtps", "ssl", password="wrong-password")

    # Timed out at AUTH, within the budget (bench_test_connection.py measures by how much).
    hint = failed(result, "auth", "auth_timeout")
    assert "wrong password" in hint and "firewall" not in hint
    # QUIT was sent while Dovecot still held the answer: Postfix read it afterwards.
    [line] = disconnects(postfix, mark)
    assert "auth=0/1" in line and "quit=1" in line, line


def test_submission_port_without_tls_says_choose_tls(mta_app, postfix):
    # Save with no password: MAIL gets "530 5.7.0 Must issue a STARTTLS command first".
    result, mark = run(mta_app, postfix, "submission", "none", password=None, test_email=None)
    hint = failed(result, "mail_from", "encryption_required")
    assert result.steps[-1].reply == "530 5.7.0 Must issue a STARTTLS command first"
    assert "requires encryption" in hint and "choose TLS" in hint
    assert "quit=1" in disconnects(postfix, mark)[0]
    # Test with a password: AUTH is not offered before STARTTLS.
    result, _ = run(mta_app, postfix, "submission", "none")
    hint = failed(result, "auth", "encryption_required")
    assert "choose TLS" in hint


def test_sender_not_owned_is_refused_at_rcpt_and_blamed_on_the_sender(mta_app, postfix):
    result, mark = run(mta_app, postfix, "smtps", "ssl", sender_email=postfix.other_sender)
    hint = failed(result, "rcpt_to", "sender_refused")
    assert "not owned by user" in result.steps[-1].reply
    assert f"refused the sender {postfix.other_sender}" in hint
    assert "quit=1" in disconnects(postfix, mark)[0]


@pytest.mark.parametrize(
    ("listener", "security", "step", "kind", "words"),
    [
        ("submission", "ssl", "tls", "tls_plaintext_server", "offers STARTTLS: choose TLS"),
        ("plain", "ssl", "tls", "tls_plaintext_server", "offers no encryption"),
        ("plain", "tls", "starttls", "starttls_missing", "did not offer STARTTLS"),
        ("smtps", "tls", "greeting", "expects_ssl", "Choose SSL"),
        ("smtps", "none", "greeting", "expects_ssl", "Choose SSL"),
    ],
)
def test_wrong_security_mode_is_named(
    make_smtp_app, postfix, listener, security, step, kind, words
):
    app = make_smtp_app(SMTP_CA_BUNDLE=str(postfix.ca_bundle), SMTP_TIMEOUT=2)
    mark = postfix.log_mark()
    result, _ = run(app, postfix, listener, security)
    hint = failed(result, step, kind)
    assert words in hint
    # Nothing was logged in: no password crossed the wire in any of these.
    assert "auth=" not in postfix.log_since(mark).replace("auth=0/0", "")


def test_notifier_delivers_through_postfix_over_one_session(mta_app, postfix):
    from webapp.email_service.models import load_settings
    from webapp.extensions import db
    from webapp.notifier.outbox import enqueue

    from ..helpers import run_worker

    with mta_app.app_context():
        row = load_settings()
        row.smtp_host, row.smtp_port, row.security = postfix.host, postfix.submission_port, "tls"
        row.sender_email, row.enabled, row.version = SENDER, True, 1
        row.max_connections = 1  # both messages over one session
        row.set_password(postfix.password, "test")
        db.session.add(row)
        for subject in ("Disk full", "Task failed"):
            enqueue(created_by="token:t", kind="alert", to=[TEST_EMAIL], subject=subject, text=".")
        db.session.commit()
    before, mark = len(postfix.messages()), postfix.log_mark()

    assert run_worker(mta_app)["sent"] == 2
    subjects = [
        email.message_from_bytes(raw, policy=email.policy.default)["Subject"]
        for raw in postfix.wait_for_messages(before + 2)[-2:]
    ]
    assert sorted(subjects) == ["[Alert] Disk full", "[Alert] Task failed"]
    [line] = disconnects(postfix, mark)
    assert "starttls=1 auth=1 mail=2 rcpt=2 data=2 quit=1" in line, line
