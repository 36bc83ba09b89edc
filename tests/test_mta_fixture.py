"""The real-MTA fixture's own checks, with plain smtplib."""

import smtplib
import ssl
from email.message import EmailMessage

import pytest


def tls(mta):
    return ssl.create_default_context(cafile=mta.ca_bundle)


def test_submission_delivers_after_starttls_and_login(postfix):
    before, mark = len(postfix.messages()), postfix.log_mark()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = postfix.login, "ops@corp.local", "fixture check"
    msg.set_content("hello")
    with smtplib.SMTP(postfix.host, postfix.submission_port, timeout=10) as smtp:
        smtp.starttls(context=tls(postfix))
        smtp.login(postfix.login, postfix.password)
        smtp.send_message(msg)
    assert b"Subject: fixture check" in postfix.wait_for_messages(before + 1)[-1]
    postfix.wait_for_log(r"disconnect from .* auth=1 .*quit=1", since=mark)


def test_submission_wants_starttls_before_mail(postfix):
    with smtplib.SMTP(postfix.host, postfix.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        code, text = smtp.mail(postfix.login)
    assert code == 530 and b"STARTTLS" in text


def test_smtps_refuses_a_sender_the_login_does_not_own(postfix):
    with smtplib.SMTP_SSL(postfix.host, postfix.smtps_port, context=tls(postfix), timeout=10) as s:
        s.login(postfix.login, postfix.password)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            s.sendmail(postfix.other_sender, ["ops@corp.local"], b"Subject: x\r\n\r\nx\r\n")
    code, text = refused.value.recipients["ops@corp.local"]
    assert code == 553 and b"not owned by user" in text


def test_plain_port_offers_no_auth(postfix):
    with smtplib.SMTP(postfix.host, postfix.plain_port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth") and not smtp.has_extn("starttls")
