"""The topic catalogue: the platform registers topics, admins edit audiences, and only a
topic's audience may see, subscribe to and receive it."""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, update

from webapp.auth.models import User
from webapp.extensions import db
from webapp.notifier.models import Subscription, Topic

from ..helpers import add_user, audit_summary, post_form, register_topic

SALES = {
    "title": "Daily sales",
    "url": "https://bi.example.com/card/42",
    "kind": "card",
    "audience": {"roles": [], "users": []},
}


def put(app, token, name, body):
    return app.test_client().put(
        f"/api/v1/topics/{name}", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def notify(app, token, topic):
    body = {"kind": "subscription", "topic": topic, "subject": "Report", "text": "Numbers."}
    return app.test_client().post(
        "/api/v1/notifications", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def test_the_platform_registers_updates_and_lists_topics(notifier_app, api_token):
    response = put(notifier_app, api_token, "card:42", SALES)
    assert response.status_code == 201 and response.get_json() == {"name": "card:42", **SALES}
    changed = {**SALES, "title": "Daily sales (EMEA)", "audience": {"roles": ["admin"]}}
    response = put(notifier_app, api_token, "card:42", changed)
    assert response.status_code == 200
    listed = notifier_app.test_client().get(
        "/api/v1/topics", headers={"Authorization": f"Bearer {api_token}"}
    )
    topics = {t["name"]: t for t in listed.get_json()["topics"]}
    assert topics["card:42"]["title"] == "Daily sales (EMEA)"
    assert topics["card:42"]["audience"] == {"roles": ["admin"], "users": []}
    # The migration registered the system topics, for administrators.
    assert topics["task-failures"]["kind"] == "system"
    assert topics["resource-alerts"]["audience"] == {"roles": ["admin"], "users": []}
    assert [e[:2] for e in audit_summary(notifier_app, "topic.registered")] == [
        ("token:test-platform", "card:42")
    ]
    assert audit_summary(notifier_app, "topic.updated")[0][2] == {
        "roles": [[], ["admin"]],
        "title": ["Daily sales", "Daily sales (EMEA)"],
    }


@pytest.mark.parametrize(
    ("name", "change", "field", "message"),
    [
        ("Card 42", {}, "name", "Lower-case letters"),
        ("card:42", {"kind": "report"}, "kind", "Must be one of"),
        ("card:42", {"kind": "system"}, "kind", "Only task-failures and resource-alerts"),
        ("card:42", {"title": " "}, "title", "Must not be empty."),
        ("card:42", {"url": "javascript:alert(1)"}, "url", "https:// or http://"),
        ("card:42", {"audience": {"roles": ["owner"]}}, "audience.roles[0]", "Must be one of"),
        ("card:42", {"audience": {"users": ["not-mail"]}}, "audience.users", "valid email"),
        ("card:42", {"audience": {"groups": []}}, "audience.groups", "Unknown field."),
        ("card:42", {"owner": "x"}, "owner", "Unknown field."),
    ],
)
def test_bad_topics_are_refused_naming_the_field(
    notifier_app, api_token, name, change, field, message
):
    response = put(notifier_app, api_token, name, {**SALES, **change})
    assert response.status_code == 400
    assert message in response.get_json()["errors"][field]
    with notifier_app.app_context():
        assert db.session.scalar(select(Topic).where(Topic.kind == "card")) is None


def test_a_notification_to_an_unregistered_topic_says_how_to_register(notifier_app, api_token):
    response = notify(notifier_app, api_token, "card:404")
    assert response.status_code == 400
    message = response.get_json()["errors"]["topic"]
    assert "No topic 'card:404' is registered" in message
    assert "PUT /api/v1/topics/card:404" in message


def test_a_topic_outside_your_audience_is_hidden_and_refused(app, member_client, member):
    register_topic(app, "page:finance-salaries", "Salaries", kind="page", roles=["admin"])
    register_topic(app, "card:7", "Sales by region", users=[member.email])
    register_topic(app, "card:8", "Someone else's card", users=["boss@example.com"])
    page = member_client.get("/account/subscriptions").get_data(as_text=True)
    assert "Sales by region" in page
    assert "Salaries" not in page and "Someone else" not in page

    for topic in ("page:finance-salaries", "card:8"):
        response = post_form(member_client, "/account/subscriptions", {"topic": topic})
        assert f"There is no topic &#39;{topic}&#39; you can subscribe to." in response.get_data(
            as_text=True
        )
    with app.app_context():
        assert db.session.scalar(select(Subscription)) is None


def test_the_search_box_narrows_the_catalogue(app, member_client):
    register_topic(app, "card:1", "Revenue by month")
    register_topic(app, "page:ops", "Operations overview", kind="page")
    page = member_client.get("/account/subscriptions?q=REVENUE").get_data(as_text=True)
    assert 'id="catalogue-card:1"' in page and 'id="catalogue-page:ops"' not in page
    page = member_client.get("/account/subscriptions?q=100%25").get_data(as_text=True)
    assert 'id="catalogue-empty"' in page and "matches “100%”" in page


def test_a_demoted_user_stops_receiving_an_admins_only_topic(notifier_app, api_token, app):
    register_topic(notifier_app, "page:finance", "Finance", kind="page", roles=["admin"])
    boss = add_user(notifier_app, "boss@example.com", "password-long-1", role="admin")
    other = add_user(notifier_app, "cfo@example.com", "password-long-1", role="admin")
    with notifier_app.app_context():
        db.session.add_all(Subscription(user_id=u, topic="page:finance") for u in (boss, other))
        db.session.commit()
    assert notify(notifier_app, api_token, "page:finance").get_json()["recipients"] == 2
    with notifier_app.app_context():
        db.session.execute(update(User).where(User.id == boss).values(role="member"))
        db.session.commit()
    assert notify(notifier_app, api_token, "page:finance").get_json()["recipients"] == 1


def test_taking_a_user_off_the_audience_stops_their_mail(app, admin_client, member):
    register_topic(app, "card:7", "Sales", users=[member.email])
    with app.app_context():
        db.session.add(Subscription(user_id=member.id, topic="card:7"))
        db.session.commit()
    page = admin_client.get("/admin/topics").get_data(as_text=True)
    row = page.split('id="topic-card:7"')[1].split("</tr>")[0]
    assert member.email in row and ">1<" in row  # one subscriber

    response = post_form(
        admin_client,
        "/admin/topics/card:7",
        {"title": "Sales", "url": "", "kind": "card", "roles": "admin", "users": ""},
    )
    assert response.status_code == 302
    from webapp.notifier.outbox import enqueue

    with app.app_context():
        _, count = enqueue(kind="subscription", topic="card:7", subject="s", text="t",
                           created_by="test")  # fmt: skip
        db.session.rollback()
    assert count == 0
    assert audit_summary(app, "topic.updated")[0][2] == {
        "roles": [[], ["admin"]],
        "users": [[member.email], []],
    }


def test_admins_register_and_edit_topics_on_the_page(app, admin_client):
    response = post_form(
        admin_client,
        "/admin/topics",
        {"name": "Task:Nightly-ETL", "title": "Nightly ETL", "kind": "task", "users": ""},
    )
    assert response.status_code == 302
    page = admin_client.get("/admin/topics").get_data(as_text=True)
    assert "Registered task:nightly-etl." in page and "every user" in page

    bad = post_form(
        admin_client,
        "/admin/topics/task:nightly-etl",
        {"title": "", "kind": "system", "url": "ftp://x", "users": "a@example.com\nnope"},
    ).get_data(as_text=True)
    for message in (
        "Give the topic a title.",
        "Only task-failures and resource-alerts are system topics.",
        "Give an address starting with https:// or http://.",
        "&#39;nope&#39; is not one valid email address.",
    ):
        assert message in bad
    assert admin_client.get("/admin/topics/card:missing").status_code == 404


def test_members_cannot_reach_the_catalogue_admin(member_client):
    assert member_client.get("/admin/topics").status_code == 403


def test_the_migration_registers_the_topics_of_existing_subscriptions(app, member):
    with app.app_context():
        directory = app.extensions["migrate"].directory
        downgrade(directory=directory, revision="0007_delivery_scale")
        db.session.execute(
            Subscription.__table__.insert().values(
                user_id=member.id, topic="page:legacy", subscribed=True
            )
        )
        db.session.commit()
        upgrade(directory=directory)
        topic = db.session.get(Topic, "page:legacy")
        assert (topic.kind, topic.title, topic.audience) == ("page", "page:legacy", [])
        system = db.session.get(Topic, "task-failures")
        assert system.roles == ["admin"]
        db.session.remove()
