"""Replies are classified by code, enhanced code and words, whatever the step."""

import pytest

from webapp.email_service.replies import classify

from ..helpers import SENDER, diagnose, failed

STARTTLS_EHLO = "250-mail.corp.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME"
SENDER_KIND, RCPT_KIND = "sender_refused", "recipient_refused"
NOT_OWNED = "553 5.7.1 <reports@example.com>: Sender address rejected: not owned by user ops"


@pytest.mark.parametrize(
    ("step", "code", "text", "kind"),
    [
        # Postfix submission port (smtpd_tls_auth_only) before STARTTLS.
        ("mail_from", 530, "5.7.0 Must issue a STARTTLS command first", "encryption_required"),
        ("rcpt_to", 530, "5.7.0 Must issue a STARTTLS command first", "encryption_required"),
        ("mail_from", 530, "5.7.0 Authentication required", "auth_required"),
        # Postfix reject_sender_login_mismatch refuses at RCPT, not at MAIL.
        ("rcpt_to", 553, NOT_OWNED[4:], "sender_refused"),
        (
            "mail_from",
            501,
            "mail from address must be same as authorization user",
            "sender_refused",
        ),
        ("data", 553, "Mail from must equal authorized user", "sender_refused"),
        ("data", 554, "5.2.252 SendAsDenied; not allowed to send as ops@corp", "sender_refused"),
        (
            "rcpt_to",
            554,
            "5.7.1 <x@y.z>: Recipient address rejected: Access denied",
            "recipient_refused",
        ),
        (
            "rcpt_to",
            550,
            "5.1.1 <x@y.z>: Recipient address rejected: User unknown",
            "recipient_refused",
        ),
        ("auth", 535, "5.7.8 Error: authentication failed", "auth_rejected"),
        ("auth", 454, "4.7.0 Temporary authentication failure", "auth_rejected"),
        ("data", 554, "5.7.1 rejected as spam", "message_refused"),
        ("greeting", 554, "5.7.1 no SMTP service for you", "bad_greeting"),
    ],
)
def test_classification(step, code, text, kind):
    assert classify(step, code, text) == kind


def test_530_starttls_on_save_says_choose_tls(smtp_app, scripted_servers):
    # Save with no password checks MAIL FROM: the submission port wants STARTTLS first.
    server = scripted_servers(
        replies={"EHLO": STARTTLS_EHLO, "MAIL": "530 5.7.0 Must issue a STARTTLS command first"}
    )
    result = diagnose(smtp_app, server, security="none", password=None, test_email=None)
    hint = failed(result, "mail_from", "encryption_required")
    assert "requires encryption" in hint and "choose TLS" in hint
    assert "password" not in hint and "sender" not in hint


def test_login_not_offered_before_starttls_says_choose_tls(smtp_app, scripted_servers):
    server = scripted_servers(replies={"EHLO": STARTTLS_EHLO})
    result = diagnose(smtp_app, server, security="none")
    hint = failed(result, "auth", "encryption_required")
    assert "choose TLS" in hint
    assert not any(line.upper().startswith("AUTH") for line in server.lines)


def test_sender_refused_at_rcpt_is_blamed_on_the_sender(smtp_app, scripted_servers):
    server = scripted_servers(replies={"RCPT": NOT_OWNED})
    result = diagnose(smtp_app, server, security="none")
    hint = failed(result, "rcpt_to", "sender_refused")
    assert f"refused the sender {SENDER}" in hint and "not owned by user" in hint
    assert "recipient" not in hint.split("(")[0]
