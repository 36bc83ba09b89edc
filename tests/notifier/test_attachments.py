"""Charts inline and data attached: through the API, a real SMTP server, and the byte-for-byte
parts a mail client would show."""

import base64
import email
import email.policy
import io
import zipfile

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.notifier.models import Attachment, Delivery, Subscription

from ..helpers import add_user, configure_service, register_topic, run_worker

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
XLSX_NAME = "销售日报.xlsx"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes():
    """A real zip, as an XLSX file is."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "xl/worksheets/sheet1.xml", "<sheetData>" + "<row/>" * 500 + "</sheetData>"
        )
    return buffer.getvalue()


def upload(filename, content_type, content, **extra):
    return {
        "filename": filename,
        "content_type": content_type,
        "content_base64": base64.b64encode(content).decode(),
        **extra,
    }


def post(app, token, body):
    return app.test_client().post(
        "/api/v1/notifications", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def report(**extra):
    return {
        "kind": "subscription",
        "to": ["ops@example.com"],
        "subject": "Daily sales 日报",
        "text": "Today's sales are attached.",
        "html": '<p>Sales by region:</p><img src="cid:chart1" alt="chart">',
        **extra,
    }


def received(server):
    return [
        email.message_from_bytes(m.original_content, policy=email.policy.default)
        for m in server.messages
    ]


def test_inline_chart_and_files_arrive_byte_for_byte(notifier_app, api_token, plain_server):
    configure_service(notifier_app, plain_server)
    xlsx, csv = xlsx_bytes(), "region,sales\n华东,1200\n".encode()
    attachments = [
        upload("chart.png", "image/png", PNG, inline=True, content_id="chart1"),
        upload(XLSX_NAME, XLSX_TYPE, xlsx),
        upload("sales.csv", "text/csv", csv),
    ]
    response = post(notifier_app, api_token, report(attachments=attachments))
    assert response.status_code == 202
    assert run_worker(notifier_app)["sent"] == 1

    (message,) = received(plain_server)
    # multipart/mixed › multipart/related › multipart/alternative, as mail clients expect.
    assert message.get_content_type() == "multipart/mixed"
    related = message.get_payload()[0]
    assert related.get_content_type() == "multipart/related"
    assert related.get_payload()[0].get_content_type() == "multipart/alternative"

    html = message.get_body(("html",)).get_content()
    assert '<img src="cid:chart1"' in html
    (image,) = [part for part in message.walk() if part["Content-ID"] == "<chart1>"]
    assert image.get_content() == PNG and image.get_content_disposition() == "inline"
    files = {p.get_filename(): p.get_payload(decode=True) for p in message.iter_attachments()}
    assert files == {XLSX_NAME: xlsx, "sales.csv": csv}
    (table,) = [p for p in message.iter_attachments() if p.get_filename() == "sales.csv"]
    assert table.get_content() == csv.decode()  # it says charset=utf-8

    raw = plain_server.messages[0].original_content
    assert b"filename*=utf-8''%E9%94%80%E5%94%AE%E6%97%A5%E6%8A%A5.xlsx" in raw  # RFC 2231
    text = message.get_body(("plain",)).get_content()
    assert XLSX_NAME in text and "sales.csv" in text  # the files are listed
    assert XLSX_NAME in html and "chart.png" not in html.split("Attached files")[-1]


def test_an_image_the_html_does_not_show_is_shown_by_the_template(
    notifier_app, api_token, plain_server
):
    configure_service(notifier_app, plain_server)
    body = report(html=None, attachments=[upload("c.png", "image/png", PNG, inline=True,
                                                 content_id="c9")])  # fmt: skip
    assert post(notifier_app, api_token, body).status_code == 202
    run_worker(notifier_app)
    (message,) = received(plain_server)
    assert 'src="cid:c9"' in message.get_body(("html",)).get_content()


def test_files_are_stored_once_for_every_recipient(notifier_app, api_token):
    register_topic(notifier_app, "card:42", "Daily sales")
    with notifier_app.app_context():
        for n in range(3):
            user_id = add_user(notifier_app, f"u{n}@example.com", "password-long-1")
            db.session.add(Subscription(user_id=user_id, topic="card:42"))
        db.session.commit()
    body = report(
        to=None, topic="card:42", attachments=[upload(XLSX_NAME, XLSX_TYPE, xlsx_bytes())]
    )
    assert post(notifier_app, api_token, body).get_json()["recipients"] == 3
    with notifier_app.app_context():
        assert db.session.scalar(select(func.count(Attachment.id))) == 1
        assert db.session.scalar(select(func.count(Delivery.id))) == 3


def test_the_delivery_log_and_status_show_names_and_sizes(notifier_app, api_token, admin_client):
    body = report(attachments=[upload(XLSX_NAME, XLSX_TYPE, b"PK\x03\x04" + b"x" * 2044)])
    notification_id = post(notifier_app, api_token, body).get_json()["id"]
    status = notifier_app.test_client().get(
        f"/api/v1/notifications/{notification_id}",
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert status.get_json()["attachments"] == [
        {"filename": XLSX_NAME, "content_type": XLSX_TYPE, "size": 2048}
    ]
    page = admin_client.get("/admin/notifications").get_data(as_text=True)
    assert f"{XLSX_NAME} · 2.0 kB" in page


@pytest.mark.parametrize(
    ("attachment", "field", "message"),
    [
        (upload("a.exe", "application/x-msdownload", b"MZ"), "attachments[0].content_type",
         "Must be one of: PNG"),
        (upload("a.png", "image/png", b"<html>"), "attachments[0].content_base64",
         "The content is not a PNG file."),
        ({**upload("a.csv", "text/csv", b"x"), "content_base64": "!!notbase64"},
         "attachments[0].content_base64", "Not valid base64."),
        (upload("a.csv", "text/csv", b""), "attachments[0].content_base64", "The file is empty."),
        (upload("invoice\u202eslx.exe", "text/csv", b"x"), "attachments[0].filename",
         "without control or invisible characters"),
        (upload("", "text/csv", b"x"), "attachments[0].filename", "Give a file name"),
        (upload("a.pdf", "application/pdf", b"%PDF-1.7", inline=True, content_id="p"),
         "attachments[0].inline", "Only PNG, JPEG and GIF images can be inline."),
        (upload("a.png", "image/png", PNG, inline=True), "attachments[0].content_id",
         "An inline image needs a content_id"),
        (upload("a.png", "image/png", PNG, inline=True, content_id="a b"),
         "attachments[0].content_id", "An inline image needs a content_id"),
        ({**upload("a.csv", "text/csv", b"x"), "size": 3}, "attachments[0].size", "Unknown field."),
        ({**upload("a.csv", "text/csv", b"x"), "inline": "yes"}, "attachments[0].inline",
         "Must be true or false."),
    ],
)  # fmt: skip
def test_bad_attachments_are_refused_naming_the_field(
    notifier_app, api_token, attachment, field, message
):
    response = post(notifier_app, api_token, report(attachments=[attachment]))
    assert response.status_code == 400
    assert message in response.get_json()["errors"][field]
    with notifier_app.app_context():
        assert db.session.scalar(select(func.count(Delivery.id))) == 0


def test_two_inline_images_cannot_share_a_content_id(notifier_app, api_token):
    image = upload("a.png", "image/png", PNG, inline=True, content_id="same")
    response = post(notifier_app, api_token, report(attachments=[image, image]))
    assert response.status_code == 400
    assert (
        "share the content_id 'same'" in response.get_json()["errors"]["attachments[1].content_id"]
    )


def test_path_and_unsafe_characters_leave_the_file_name(notifier_app, api_token):
    body = report(attachments=[upload("..\\..\\reports/Q3: 销售?.csv", "text/csv", b"a,b\n")])
    assert post(notifier_app, api_token, body).status_code == 202
    with notifier_app.app_context():
        assert db.session.scalar(select(Attachment.filename)) == "Q3_ 销售_.csv"


def test_more_than_25_files_or_10_mb_is_refused(notifier_app, api_token):
    many = [upload(f"f{n}.txt", "text/plain", b"x") for n in range(26)]
    response = post(notifier_app, api_token, report(attachments=many))
    assert response.status_code == 400
    assert response.get_json()["errors"]["attachments"] == "At most 25 items."

    big = b"PK\x03\x04" + bytes(5 * 1024 * 1024)
    two = [upload("a.xlsx", XLSX_TYPE, big), upload("b.xlsx", XLSX_TYPE, big)]
    response = post(notifier_app, api_token, report(attachments=two))
    assert response.status_code == 413
    assert response.get_json()["errors"] == {
        "attachments": "The attachments add up to more than 10 MB."
    }
    with notifier_app.app_context():
        assert db.session.scalar(select(func.count(Attachment.id))) == 0


def test_a_chunked_body_is_capped_too(notifier_app, api_token):
    # No Content-Length: Werkzeug counts what it reads and stops at API_MAX_BODY.
    body = io.BytesIO(b'{"kind": "alert", "text": "' + b"x" * (17 * 1024 * 1024) + b'"}')
    response = notifier_app.test_client().post(
        "/api/v1/notifications",
        input_stream=body,
        headers={
            "Authorization": f"Bearer {api_token}",
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert "larger than 16 MB" in response.get_json()["errors"]["body"]
