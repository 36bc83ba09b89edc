"""The notification API: bearer tokens, every validation error, idempotency, status."""

import pytest
from sqlalchemy import event

from webapp.extensions import db
from webapp.notifier.models import ApiToken, Delivery, Subscription
from webapp.notifier.tokens import revoke_token

from ..helpers import add_user, audit_rows, new_api_token, register_topic

BODY = {
    "kind": "alert",
    "to": ["ops@example.com"],
    "subject": "Revenue alert",
    "text": "Revenue fell.",
}


def post(client, token, body, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/notifications", json=body, headers=headers, **kwargs)


def test_queue_returns_202_with_id_and_recipients(notifier_app, api_token):
    client = notifier_app.test_client()
    response = post(client, api_token, BODY)
    assert response.status_code == 202
    body = response.get_json()
    assert body["recipients"] == 1 and len(body["id"]) == 32
    status = client.get(
        f"/api/v1/notifications/{body['id']}", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert status.status_code == 200
    recipients = status.get_json()["recipients"]
    assert recipients == [
        {
            "recipient": "ops@example.com",
            "status": "queued",
            "attempts": 0,
            "last_error": None,
            "last_reply": None,
            "sent_at": None,
        }
    ]


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer bin_wrong"])
def test_no_or_unknown_token_is_401(notifier_app, api_token, header):
    client = notifier_app.test_client()
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/notifications", json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/notifications/x", headers=headers).status_code == 401


def test_revoked_token_is_403(notifier_app, api_token):
    with notifier_app.app_context():
        revoke_token(db.session.scalar(db.select(ApiToken)), "system")
        db.session.commit()
    assert post(notifier_app.test_client(), api_token, BODY).status_code == 403


def test_token_is_stored_only_hashed(notifier_app, api_token):
    import hashlib

    with notifier_app.app_context():
        row = db.session.scalar(db.select(ApiToken))
        dump = str(db.session.execute(db.text("SELECT * FROM api_tokens")).all())
    assert api_token not in dump
    assert row.token_hash == hashlib.sha256(api_token.encode()).hexdigest()


@pytest.mark.parametrize(
    "change,field,message",
    [
        ({"kind": "sms"}, "kind", "Must be one of"),
        ({"to": None, "topic": None}, "topic", "Give a topic"),
        ({"to": ["not-an-address"]}, "to", "is not one valid email address"),
        ({"to": ["a@x.com, b@y.com"]}, "to", "is not one valid email address"),
        ({"to": "ops@example.com"}, "to", "Must be a list"),
        ({"topic": "Card 42!"}, "topic", "Lower-case letters"),
        ({"topic": "card:42\n"}, "topic", "Lower-case letters"),  # fullmatch, not match + $
        ({"subject": "Hi\r\nBcc: evil@example.com"}, "subject", "line breaks"),
        ({"subject": "=?UTF-8?Q?=0A?=Bcc: x@y.com"}, "subject", '"=?"'),
        ({"subject": "x" * 201}, "subject", "At most 200 characters"),
        ({"subject": None}, "subject", "required"),
        ({"text": 42}, "text", "Must be a string"),
        ({"data": [1, 2]}, "data", "Must be a JSON object"),
        ({"priority": "high"}, "priority", "Unknown field"),
    ],
)
def test_bad_input_names_the_field(notifier_app, api_token, change, field, message):
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    response = post(notifier_app.test_client(), api_token, body)
    assert response.status_code == 400
    assert message in response.get_json()["errors"][field]
    with notifier_app.app_context():
        assert db.session.scalar(db.select(db.func.count(Delivery.id))) == 0


def test_not_json_and_too_large(notifier_app, api_token):
    client = notifier_app.test_client()
    headers = {"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"}
    response = client.post("/api/v1/notifications", data="{not json", headers=headers)
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["errors"]["body"]
    response = post(client, api_token, {**BODY, "text": "x" * 1_000_001})
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"text": "At most 1000000 characters."}
    huge = {**BODY, "text": "x" * (16 * 1024 * 1024)}
    response = post(client, api_token, huge)
    assert response.status_code == 413
    assert response.get_json()["errors"] == {"body": "The body is larger than 16 MB."}


def test_same_idempotency_key_queues_once(notifier_app, api_token):
    client = notifier_app.test_client()
    body = {**BODY, "idempotency_key": "report-42-2026-11-27"}
    first = post(client, api_token, body).get_json()
    second = post(client, api_token, {**body, "subject": "changed"}).get_json()
    assert first == second
    with notifier_app.app_context():
        assert db.session.scalar(db.select(db.func.count(Delivery.id))) == 1


def test_api_needs_no_csrf_but_the_site_does(notifier_app, api_token, admin):
    assert post(notifier_app.test_client(), api_token, BODY).status_code == 202
    # The same token is worth nothing to a cookie-authenticated form without CSRF.
    site = notifier_app.test_client().post(
        "/login",
        data={"email": admin.email, "password": admin.password},
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert site.status_code == 400


def test_fan_out_to_10000_subscribers_is_one_insert(notifier_app, api_token):
    from sqlalchemy import insert

    from webapp.auth.models import User

    register_topic(notifier_app, "page:sales-overview")
    with notifier_app.app_context():
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"s{n}@example.com",
                    "name": "",
                    "password_hash": "x",
                    "role": "member",
                    "active": True,
                }
                for n in range(10_000)
            ],
        )
        ids = db.session.scalars(db.select(User.id)).all()
        db.session.execute(
            insert(Subscription),
            [{"user_id": i, "topic": "page:sales-overview", "subscribed": True} for i in ids],
        )
        db.session.commit()
        statements = []
        engine = db.engine

        def count(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("INSERT INTO DELIVERIES"):
                statements.append(executemany)

        event.listen(engine, "before_cursor_execute", count)
    try:
        body = {
            "kind": "subscription",
            "topic": "page:sales-overview",
            "subject": "Weekly",
            "text": "Report",
        }
        response = post(notifier_app.test_client(), api_token, body)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 202 and response.get_json()["recipients"] == 10_000
    assert statements == [False]  # one INSERT … SELECT, no per-row inserts


def test_status_of_unknown_notification_is_404(notifier_app, api_token):
    response = notifier_app.test_client().get(
        "/api/v1/notifications/doesnotexist", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert response.status_code == 404


def test_token_cli_prints_once_and_audits(notifier_app):
    runner = notifier_app.test_cli_runner()
    result = runner.invoke(args=["token", "create", "etl scheduler"])
    assert result.exit_code == 0
    plaintext = result.output.strip().splitlines()[-1]
    assert plaintext.startswith("bin_")
    assert runner.invoke(args=["token", "create", "etl scheduler"]).exit_code != 0
    assert audit_rows(notifier_app, action="token.created")[0]["target"] == "etl scheduler"
    assert plaintext not in str(audit_rows(notifier_app))
    assert post(notifier_app.test_client(), plaintext, BODY).status_code == 202


def test_inactive_subscribers_are_skipped_by_the_api(notifier_app, api_token):
    register_topic(notifier_app, "card:7")
    active = add_user(notifier_app, "in@example.com", "password-long-1")
    inactive = add_user(notifier_app, "out@example.com", "password-long-1", active=False)
    with notifier_app.app_context():
        for user_id in (active, inactive):
            db.session.add(Subscription(user_id=user_id, topic="card:7"))
        db.session.commit()
    body = {"kind": "subscription", "topic": "card:7", "subject": "Card 7", "text": "Updated"}
    assert post(notifier_app.test_client(), api_token, body).get_json()["recipients"] == 1


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (b'{"kind": "alert", "to": ["a@example.com"], "subject": "\\ud800", "text": "t"}',
         "subject", "lone surrogate"),
        (b'{"kind": "alert", "to": ["a@example.com"], "subject": "s", "text": "a\\udfffb"}',
         "text", "lone surrogate"),
        (b'{"kind": "alert", "to": ["a@example.com"], "subject": "s", "text": "t", "data": '
         + b"[" * 100_000 + b"]" * 100_000 + b"}", "body", "nested too deeply"),
        (b'{"kind": "alert", "subject": "s", "text": "t", "data": {"\\ud800": 1}}',
         "data", "lone surrogate"),
        (b"\xff\xfe{}", "body", "not valid JSON"),
        (b"[1, 2]", "body", "Send one JSON object"),
    ],
)  # fmt: skip
def test_bodies_that_once_gave_a_500_get_a_400_naming_the_field(
    notifier_app, api_token, raw, field, message
):
    response = notifier_app.test_client().post(
        "/api/v1/notifications",
        data=raw,
        headers={"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert message in response.get_json()["errors"][field]


def test_a_token_reads_only_the_notifications_it_queued(notifier_app, api_token):
    queued = post(notifier_app.test_client(), api_token, BODY).get_json()["id"]
    other = new_api_token(notifier_app, "another-service")
    client = notifier_app.test_client()
    mine = client.get(
        f"/api/v1/notifications/{queued}", headers={"Authorization": f"Bearer {api_token}"}
    )
    theirs = client.get(
        f"/api/v1/notifications/{queued}", headers={"Authorization": f"Bearer {other}"}
    )
    assert mine.status_code == 200 and theirs.status_code == 404


def test_unknown_tokens_from_one_address_are_throttled(make_smtp_app, api_token):
    app = make_smtp_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    answers = [
        client.get("/api/v1/topics", headers={"Authorization": f"Bearer bin_guess{n}"}).status_code
        for n in range(22)
    ]
    assert answers[:20] == [401] * 20 and answers[20:] == [429, 429]
    # Another address is not affected, and a valid token still works from this one.
    other = client.get("/api/v1/topics", headers={"Authorization": "Bearer bin_x"},
                       environ_base={"REMOTE_ADDR": "127.0.0.2"})  # fmt: skip
    assert other.status_code == 401
    valid = client.get("/api/v1/topics", headers={"Authorization": f"Bearer {api_token}"})
    assert valid.status_code == 200


def test_guessing_tokens_at_healthz_spends_the_same_budget(make_smtp_app, api_token):
    app = make_smtp_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    for n in range(20):  # /healthz shows its details to a valid token: guesses are counted
        health = client.get("/healthz", headers={"Authorization": f"Bearer bin_guess{n}"})
        assert health.get_json() == {"status": "ok"}
    guess = client.get("/api/v1/topics", headers={"Authorization": "Bearer bin_guess"})
    assert guess.status_code == 429
    # Budget spent: a further guess at /healthz is not even looked up.
    details = client.get("/healthz", headers={"Authorization": "Bearer bin_one_more"})
    assert details.get_json() == {"status": "ok"}
