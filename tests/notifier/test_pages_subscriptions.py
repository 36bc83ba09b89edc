"""Subscription pages: your own topics, system-topic opt-outs, and the administrators' overview."""

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.notifier.models import Subscription

from ..helpers import add_user, audit_summary, post_form, register_topic

TOPICS = {
    "card:42": "Daily sales",
    "card:5": "Card five",
    "card:7": "Card seven",
    "page:sales-overview": "Sales overview",
    "task:nightly-etl": "Nightly ETL",
}


@pytest.fixture(autouse=True)
def catalogue(app):
    """The topics these tests subscribe to, registered for every user."""
    for name, title in TOPICS.items():
        register_topic(app, name, title, kind=name.partition(":")[0])


def subscriptions(app):
    """``{(user_id, topic): subscribed}`` for every stored row."""
    with app.app_context():
        rows = db.session.scalars(select(Subscription))
        return {(row.user_id, row.topic): row.subscribed for row in rows}


def row_id(app, user_id, topic):
    with app.app_context():
        query = select(Subscription.id).where(
            Subscription.user_id == user_id, Subscription.topic == topic
        )
        return db.session.scalar(query)


def table(page):
    """The overview table's HTML."""
    return page.split('id="subscriptions-table"')[1].split("</table>")[0]


def subscribe(app, user_id, topic, subscribed=True):
    with app.app_context():
        db.session.add(Subscription(user_id=user_id, topic=topic, subscribed=subscribed))
        db.session.commit()


# -- /account/subscriptions ------------------------------------------------------------


def test_member_adds_and_removes_a_topic(app, member_client, member):
    page = member_client.get("/account/subscriptions").get_data(as_text=True)
    assert 'id="my-topics-empty"' in page
    catalogue = page.split('id="catalogue"')[1].split("</ul>")[0]
    assert "Daily sales" in catalogue and "Sales overview" in catalogue
    assert "task-failures" not in catalogue  # system topics are for administrators
    assert 'id="system-topics"' not in page

    response = post_form(member_client, "/account/subscriptions", {"topic": "card:42"})
    assert response.status_code == 302 and response.headers["Location"] == "/account/subscriptions"
    assert subscriptions(app) == {(member.id, "card:42"): True}
    page = member_client.get("/account/subscriptions").get_data(as_text=True)
    assert "You are subscribed to card:42." in page
    mine = page.split('id="my-topics"')[1].split("</ul>")[0]
    assert "Daily sales" in mine and "card:42" in mine
    assert 'id="catalogue-card:42"' not in page  # no longer offered

    subscription_id = row_id(app, member.id, "card:42")
    page = member_client.get("/account/subscriptions").get_data(as_text=True)
    assert f'name="subscription_id" value="{subscription_id}"' in page
    response = post_form(
        member_client, "/account/subscriptions/remove", {"subscription_id": subscription_id}
    )
    assert response.status_code == 302
    assert subscriptions(app) == {}
    page = member_client.get("/account/subscriptions").get_data(as_text=True)
    assert "You are no longer subscribed to card:42." in page and 'id="my-topics-empty"' in page
    assert audit_summary(app, "subscription.updated") == [
        (member.email, "card:42", {"subscriber": [None, member.email]}),
        (member.email, "card:42", {"subscriber": [member.email, None]}),
    ]


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("", "Pick a topic from the list."),
        ("card 42", "There is no topic &#39;card 42&#39; you can subscribe to."),
        ("card:99", "There is no topic &#39;card:99&#39; you can subscribe to."),
        ("x" * 101, "you can subscribe to."),
        ("task-failures", "task-failures is a system topic for administrators"),
        ("resource-alerts", "members cannot subscribe to it."),
    ],
)
def test_member_topic_is_validated(app, member_client, topic, message):
    response = post_form(member_client, "/account/subscriptions", {"topic": topic})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page and "Please correct the highlighted fields." in page
    assert subscriptions(app) == {} and audit_summary(app, "subscription.updated") == []


def test_a_topic_twice_is_refused(app, member_client, member):
    post_form(member_client, "/account/subscriptions", {"topic": "page:sales-overview"})
    page = post_form(
        member_client, "/account/subscriptions", {"topic": "page:sales-overview"}
    ).get_data(as_text=True)
    assert f"{member.email} is already subscribed to page:sales-overview." in page
    assert len(audit_summary(app, "subscription.updated")) == 1


def test_member_cannot_opt_into_a_system_topic_by_posting(app, member_client):
    response = post_form(
        member_client,
        "/account/subscriptions/system",
        {"topic": "task-failures", "choice": "in"},
        follow_redirects=True,
    )
    assert "task-failures is a system topic for administrators" in response.get_data(as_text=True)
    assert subscriptions(app) == {} and audit_summary(app, "subscription.updated") == []


def test_admin_system_topic_form_is_validated(app, admin_client):
    for data in ({"topic": "card:1", "choice": "out"}, {"topic": "task-failures", "choice": "x"}):
        response = post_form(admin_client, "/account/subscriptions/system", data)
        page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Not a valid choice." in page
    assert subscriptions(app) == {}


def test_nobody_removes_another_users_topic(app, member_client, admin):
    subscribe(app, admin.id, "card:7")
    subscription_id = row_id(app, admin.id, "card:7")
    for sent in (subscription_id, 999, "abc", "", "1" * 30):
        response = post_form(
            member_client,
            "/account/subscriptions/remove",
            {"subscription_id": sent},
            follow_redirects=True,
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "That subscription no longer exists; nothing was removed." in page
    assert subscriptions(app) == {(admin.id, "card:7"): True}


def test_admin_opts_out_of_a_system_topic_and_back_in(app, admin_client, admin):
    page = admin_client.get("/account/subscriptions").get_data(as_text=True)
    system = page.split('id="system-topics"')[1]
    assert system.count("subscribed by default") == 2

    response = post_form(
        admin_client, "/account/subscriptions/system", {"topic": "task-failures", "choice": "out"}
    )
    assert response.status_code == 302
    assert subscriptions(app) == {(admin.id, "task-failures"): False}
    page = admin_client.get("/account/subscriptions").get_data(as_text=True)
    assert "You opted out of task-failures." in page
    opted = page.split('id="system-task-failures"')[1].split("</li>")[0]
    assert "opted out" in opted and "Opt back in" in opted

    post_form(
        admin_client, "/account/subscriptions/system", {"topic": "task-failures", "choice": "in"}
    )
    assert subscriptions(app) == {}
    assert audit_summary(app, "subscription.updated") == [
        (admin.email, "task-failures", {"opted_out": [None, admin.email]}),
        (admin.email, "task-failures", {"opted_out": [admin.email, None]}),
    ]


def test_admin_adding_a_system_topic_is_told_it_is_default(app, admin_client, admin):
    page = post_form(admin_client, "/account/subscriptions", {"topic": "resource-alerts"})
    assert "administrators get it by default" in page.get_data(as_text=True)
    assert subscriptions(app) == {}


# -- /admin/subscriptions --------------------------------------------------------------


def test_admin_overview_empty_then_filtered(app, admin_client, admin, member):
    page = admin_client.get("/admin/subscriptions").get_data(as_text=True)
    assert 'id="subscriptions-empty"' in page
    subscribe(app, member.id, "card:42")
    subscribe(app, member.id, "page:sales-overview")
    subscribe(app, admin.id, "card:42")
    subscribe(app, admin.id, "resource-alerts", subscribed=False)

    page = admin_client.get("/admin/subscriptions").get_data(as_text=True)
    assert "4 rows; page 1 of 1." in page
    assert "opted out</span>" in page and ">Clear opt-out</button>" in page
    page = admin_client.get("/admin/subscriptions?topic=CARD:42").get_data(as_text=True)
    assert "2 rows match" in page and "page:sales-overview" not in table(page)
    page = admin_client.get(f"/admin/subscriptions?user={member.email}").get_data(as_text=True)
    assert "2 rows match" in page and "resource-alerts" not in table(page)
    page = admin_client.get(f"/admin/subscriptions?topic=card:42&user={member.email}")
    assert "1 row match" in page.get_data(as_text=True)
    page = admin_client.get("/admin/subscriptions?topic=card:99").get_data(as_text=True)
    assert 'id="subscriptions-no-match"' in page
    page = admin_client.get("/admin/subscriptions?user=a%00b").get_data(as_text=True)
    assert "Line breaks and control characters are not allowed." in page
    assert "Fix the filters above to see subscriptions." in page


def test_admin_overview_pages_keep_the_filter(app, admin_client, member):
    with app.app_context():
        db.session.add_all(Subscription(user_id=member.id, topic=f"card:{i}") for i in range(60))
        db.session.commit()
    page = admin_client.get(f"/admin/subscriptions?user={member.email}").get_data(as_text=True)
    assert "60 rows match; page 1 of 2." in page
    assert f"page=2&amp;user={member.email}" in page


def test_admin_adds_a_subscription_for_a_user(app, admin_client, admin, member):
    add_user(app, "gone@example.com", "gone-password-123", active=False)
    page = admin_client.get("/admin/subscriptions").get_data(as_text=True)
    assert member.email in page and "gone@example.com" not in page  # only active users

    response = post_form(
        admin_client, "/admin/subscriptions", {"user": str(member.id), "topic": "task:nightly-etl"}
    )
    assert response.status_code == 302
    assert subscriptions(app) == {(member.id, "task:nightly-etl"): True}
    page = admin_client.get("/admin/subscriptions").get_data(as_text=True)
    assert f"{member.email} is subscribed to task:nightly-etl." in page
    assert audit_summary(app, "subscription.updated") == [
        (admin.email, "task:nightly-etl", {"subscriber": [None, member.email]})
    ]


@pytest.mark.parametrize(
    ("who", "topic", "message"),
    [
        ("nobody", "card:1", "Choose an active user."),
        ("inactive", "card:1", "Choose an active user."),
        ("member", "bad topic", "No topic &#39;bad topic&#39; is registered."),
        ("member", "task-failures", "members cannot subscribe to it."),
        ("admin", "task-failures", "administrators get it by default"),
        ("member", "card:5", "is already subscribed to card:5."),
    ],
)
def test_admin_form_is_validated(app, admin_client, admin, member, who, topic, message):
    subscribe(app, member.id, "card:5")
    user_ids = {
        "nobody": "0",
        "inactive": str(add_user(app, "gone@example.com", "gone-password-123", active=False)),
        "member": str(member.id),
        "admin": str(admin.id),
    }
    response = post_form(
        admin_client, "/admin/subscriptions", {"user": user_ids[who], "topic": topic}
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert subscriptions(app) == {(member.id, "card:5"): True}


def test_admin_removes_a_subscription_and_an_opt_out(app, admin_client, admin, member):
    subscribe(app, member.id, "card:42")
    subscribe(app, admin.id, "task-failures", subscribed=False)
    page = admin_client.get("/admin/subscriptions?topic=card:42").get_data(as_text=True)
    assert 'action="/admin/subscriptions/remove?page=1&amp;topic=card:42"' in page
    response = post_form(
        admin_client,
        "/admin/subscriptions/remove?page=1&topic=card:42",
        {"subscription_id": row_id(app, member.id, "card:42")},
    )
    assert response.headers["Location"] == "/admin/subscriptions?topic=card:42&page=1"
    post_form(
        admin_client,
        "/admin/subscriptions/remove",
        {"subscription_id": row_id(app, admin.id, "task-failures")},
    )
    assert subscriptions(app) == {}
    page = admin_client.get("/admin/subscriptions").get_data(as_text=True)
    assert f"Removed the opt-out of task-failures for {admin.email}." in page
    assert audit_summary(app, "subscription.updated") == [
        (admin.email, "card:42", {"subscriber": [member.email, None]}),
        (admin.email, "task-failures", {"opted_out": [admin.email, None]}),
    ]
    again = post_form(
        admin_client, "/admin/subscriptions/remove", {"subscription_id": "1"}, follow_redirects=True
    )
    page = again.get_data(as_text=True)
    assert "That subscription no longer exists; nothing was removed." in page
