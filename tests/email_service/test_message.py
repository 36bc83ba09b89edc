"""build_message: the headers and parts a mailbox receives, and forged headers refused."""

import email
import email.policy
from email.utils import parsedate_to_datetime

import pytest

from webapp.email_service.message import build_message

SENDER = "reports@example.com"
SENDER_NAME = "数据平台 通知"
SUBJECT = "每日销售报表 Daily sales report"


def build(**overrides):
    kwargs = {
        "sender_email": SENDER,
        "sender_name": SENDER_NAME,
        "to": ["ops@example.com"],
        "subject": SUBJECT,
        "text": "今日销售额：¥12,345\nSee the dashboard.",
        "html": "<p>今日销售额：<b>¥12,345</b></p>",
    }
    kwargs.update(overrides)
    return build_message(**kwargs)


def received(message):
    """The message as a mailbox parses the bytes sent over SMTP."""
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def test_required_headers_are_present():
    parsed = received(build())
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        assert parsed[name], name
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@example.com>")
    assert parsed["Date"].datetime.tzinfo is not None
    assert parsedate_to_datetime(str(parsed["Date"])).utcoffset().total_seconds() == 0


def test_chinese_sender_name_and_subject_round_trip():
    raw = build().as_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii() and b"=?utf-8?" in headers  # RFC 2047 encoded words
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["From"]) == f"{SENDER_NAME} <{SENDER}>"
    assert parsed["From"].addresses[0].display_name == SENDER_NAME
    assert parsed["From"].addresses[0].addr_spec == SENDER
    assert str(parsed["Subject"]) == SUBJECT
    assert str(parsed["To"]) == "ops@example.com"


def test_long_chinese_subject_is_folded_and_round_trips():
    subject = "华东区域销售看板订阅 " * 12
    raw = build(subject=subject.strip()).as_bytes()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert str(received(build(subject=subject.strip()))["Subject"]) == subject.strip()


def test_name_with_comma_and_quotes_stays_one_address():
    name = 'Reports, BI "Team"'
    parsed = received(build(sender_name=name))
    assert len(parsed["From"].addresses) == 1
    assert parsed["From"].addresses[0].display_name == name


def test_without_sender_name_from_is_the_bare_address():
    assert str(received(build(sender_name=""))["From"]) == SENDER


def test_several_recipients():
    parsed = received(build(to=["a@example.com", "b@example.org"]))
    assert [a.addr_spec for a in parsed["To"].addresses] == ["a@example.com", "b@example.org"]


def test_text_and_html_alternatives():
    parsed = received(build())
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "今日销售额：¥12,345" in parsed.get_body(("plain",)).get_content()
    assert "<b>¥12,345</b>" in parsed.get_body(("html",)).get_content()


def test_text_only_message():
    parsed = received(build(html=None))
    assert parsed.get_content_type() == "text/plain"
    assert "See the dashboard." in parsed.get_content()


def test_chinese_bodies_are_7bit_clean():
    raw = build().as_bytes()
    assert raw.isascii()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert "今日销售额：¥12,345" in parsed.get_body(("plain",)).get_content()


def test_line_endings_are_crlf_for_smtp():
    raw = build().as_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_given_message_id_is_kept():
    message_id = "<delivery-42.7f3a@example.com>"
    assert received(build(message_id=message_id))["Message-ID"] == message_id


def test_fresh_message_ids_differ():
    assert build()["Message-ID"] != build()["Message-ID"]


def test_extra_headers_are_added():
    parsed = received(build(headers={"Auto-Submitted": "auto-generated"}))
    assert parsed["Auto-Submitted"] == "auto-generated"


FORGERIES = [
    "x\r\nBcc: evil@example.com",
    "x\nBcc: evil@example.com",
    "x\rBcc: evil@example.com",
    "=?UTF-8?Q?=0A?=Bcc: x@y.com",
    "a\u2028b",
    "a\u2029b",
    "a\x00b",
    "a\tb\x0bc",
]


@pytest.mark.parametrize("value", FORGERIES)
@pytest.mark.parametrize("field", ["sender_name", "subject"])
def test_header_injection_is_refused(field, value):
    with pytest.raises(ValueError):
        build(**{field: value})


@pytest.mark.parametrize("value", FORGERIES[:4])
def test_header_injection_in_extra_headers_is_refused(value):
    with pytest.raises(ValueError):
        build(headers={"X-Report": value})


@pytest.mark.parametrize(
    "address",
    ["a@example.com, b@example.org", "a@example.com\r\nBcc: evil@example.com"],
)
def test_one_address_per_recipient(address):
    # Given as one address, "a, b" would be cut silently to "a" by smtplib.
    with pytest.raises(ValueError):
        build(to=[address])


def test_sender_address_with_line_break_is_refused():
    with pytest.raises(ValueError):
        build(sender_email="reports@example.com\r\nBcc: evil@example.com")
