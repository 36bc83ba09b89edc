"""One-click unsubscribe: each subscriber's message carries its own signed link (RFC 8058),
the link works without a login, and every header is the recipient's own."""

import email
import email.policy
import re

from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from webapp.extensions import db
from webapp.notifier.models import Delivery, Subscription
from webapp.notifier.outbox import enqueue

from ..helpers import add_user, audit_summary, configure_service, register_topic, run_worker

LINK = re.compile(r"http://127\.0\.0\.1:5000/unsubscribe/[A-Za-z0-9_.-]+")


def queue(app, **fields):
    with app.app_context():
        values = {"kind": "subscription", "subject": "Daily sales", "text": "Sales rose."}
        notification, count = enqueue(created_by="token:test", **{**values, **fields})
        db.session.commit()
        return notification.id, count


def subscribe(app, email_address, topic, role="member"):
    user_id = add_user(app, email_address, "password-long-1", role=role)
    with app.app_context():
        db.session.add(Subscription(user_id=user_id, topic=topic))
        db.session.commit()
    return user_id


def received(server):
    """``{recipient: message}`` of what the server was sent."""
    messages = {}
    for m in server.messages:
        message = email.message_from_bytes(m.original_content, policy=email.policy.default)
        messages[str(message["To"])] = message
    return messages


def subscribed(app):
    with app.app_context():
        rows = db.session.execute(select(Subscription.user_id, Subscription.topic)).all()
        return set(rows)


def test_each_subscriber_gets_a_one_click_link_of_their_own(notifier_app, plain_server):
    configure_service(notifier_app, plain_server)
    register_topic(notifier_app, "card:42", "Daily sales")
    for name in ("ann", "bob"):
        subscribe(notifier_app, f"{name}@example.com", "card:42")
    queue(notifier_app, topic="card:42", to=["outsider@example.com"])
    assert run_worker(notifier_app)["sent"] == 3

    messages = received(plain_server)
    links = set()
    for name in ("ann", "bob"):
        message = messages[f"{name}@example.com"]
        (link,) = LINK.findall(message["List-Unsubscribe"])
        assert message["List-Unsubscribe"] == f"<{link}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # The footers carry the same link, in the text and in the HTML.
        assert link in message.get_body(("plain",)).get_content()
        assert f'href="{link}"' in message.get_body(("html",)).get_content()
        links.add(link)
    assert len(links) == 2
    # A named address follows no topic: nothing to unsubscribe from, so no link.
    outsider = messages["outsider@example.com"]
    assert outsider["List-Unsubscribe"] is None
    assert "/unsubscribe/" not in outsider.get_body(("plain",)).get_content()


def test_message_ids_are_the_stored_ones_whatever_the_subject_says(notifier_app, plain_server):
    configure_service(notifier_app, plain_server)
    # The old builder replaced a stand-in over the whole message; a subject holding it
    # made every recipient's message share one Message-ID.
    subject = "Report <id.placeholder@message.invalid> to.placeholder@recipient.invalid"
    queue(notifier_app, kind="alert", subject=subject, to=["a@example.com", "b@example.com"])
    run_worker(notifier_app)
    with notifier_app.app_context():
        stored = dict(db.session.execute(select(Delivery.recipient, Delivery.message_id)).all())
    messages = received(plain_server)
    assert {to: m["Message-ID"] for to, m in messages.items()} == stored
    assert len(set(stored.values())) == 2
    for to, message in messages.items():
        assert message["To"] == to and subject in message["Subject"]


def one_click_link(app, server, recipient):
    run_worker(app)
    return LINK.findall(received(server)[recipient]["List-Unsubscribe"])[0]


def test_one_click_post_without_a_cookie_unsubscribes_and_is_audited(notifier_app, plain_server):
    configure_service(notifier_app, plain_server)
    register_topic(notifier_app, "card:42", "Daily sales")
    user_id = subscribe(notifier_app, "ann@example.com", "card:42")
    queue(notifier_app, topic="card:42")
    path = one_click_link(notifier_app, plain_server, "ann@example.com").split(":5000", 1)[1]

    stranger = notifier_app.test_client()  # no session, no CSRF token: as a mail provider
    page = stranger.get(path)
    assert page.status_code == 200 and "Stop emailing" in page.get_data(as_text=True)
    assert subscribed(notifier_app) == {(user_id, "card:42")}  # a GET changes nothing

    response = stranger.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "no longer receives email about" in response.get_data(as_text=True)
    assert "Daily sales" in response.get_data(as_text=True)
    assert subscribed(notifier_app) == set()
    assert audit_summary(notifier_app, "subscription.unsubscribed") == [
        ("ann@example.com", "card:42", {"subscriber": ["ann@example.com", None]})
    ]
    # Twice is harmless, and the next notification skips her.
    assert stranger.post(path).status_code == 200
    assert queue(notifier_app, topic="card:42")[1] == 0


def test_an_admin_opts_out_of_a_system_topic_by_link(notifier_app, plain_server):
    configure_service(notifier_app, plain_server)
    admin_id = add_user(notifier_app, "root@example.com", "password-long-1", role="admin")
    queue(notifier_app, kind="task_failure", subject="ETL failed")
    path = one_click_link(notifier_app, plain_server, "root@example.com").split(":5000", 1)[1]
    assert notifier_app.test_client().post(path).status_code == 200
    assert subscribed(notifier_app) == {(admin_id, "task-failures")}  # the opt-out row
    assert queue(notifier_app, kind="task_failure", subject="ETL failed again")[1] == 0


def test_forged_or_rotated_links_are_refused(notifier_app, app):
    register_topic(notifier_app, "card:42")
    user_id = subscribe(notifier_app, "ann@example.com", "card:42")
    forged = URLSafeSerializer("another-secret-key", salt="notifier.unsubscribe")
    for token in (forged.dumps([user_id, "card:42"]), "garbage", "a" * 500):
        response = app.test_client().post(f"/unsubscribe/{token}")
        assert response.status_code == 404
        assert "This unsubscribe link is not valid" in response.get_data(as_text=True)
    assert subscribed(notifier_app) == {(user_id, "card:42")}
