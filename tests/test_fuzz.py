"""Property-based fuzzing: whatever a form, an API body or a list filter holds, the answer
is never a 5xx (2,000+ generated cases per run)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import new_api_token, settings_values


def fuzz(examples):
    """Hypothesis settings for ``examples`` requests to the app."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,  # every run starts from the strategies, not from a local cache
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Text a browser can send: any character but lone surrogates, which no form encodes.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
ODD_NUMBERS = st.one_of(
    st.integers(-(10**6), 10**420).map(str),
    st.sampled_from(["", " ", "0", "-1", "65536", "1e9", "nan", "inf", "0x19", "２５", "9" * 400]),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def fuzz_app(make_app):
    """An app without CSRF or rate limits, whose SMTP checks give up at once."""
    return make_app(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False, SMTP_TIMEOUT=0.3)


@pytest.fixture
def fuzz_client(fuzz_app, admin):
    """An administrator's client, logged in once for all of a test's examples."""
    client = fuzz_app.test_client()
    client.post("/login", data={"email": admin.email, "password": admin.password})
    return client


@fuzz(500)
@given(data=st.data())
def test_the_email_settings_form_never_fails(fuzz_client, data):
    # Hosts are loopback, or text that is no host name: nothing is looked up in DNS.
    host = data.draw(st.one_of(st.sampled_from(["127.0.0.1", "::1", "localhost"]),
                               TEXT.map(lambda t: t + " !")))  # fmt: skip
    values = settings_values(smtp_host=host, smtp_port=data.draw(ODD_NUMBERS))
    for field in ("sender_email", "sender_name", "login_name", "test_email", "security",
                  "max_connections", "max_per_minute", "version", "password"):  # fmt: skip
        if data.draw(st.booleans()):
            values[field] = data.draw(TEXT | ODD_NUMBERS)
    path = data.draw(st.sampled_from(["/admin/settings/email", "/admin/settings/email/test"]))
    response = fuzz_client.post(path, data=values, headers={"Accept": "application/json"})
    assert response.status_code < 500, (path, values)


@pytest.fixture
def token(fuzz_app):
    return new_api_token(fuzz_app, "fuzz")


NOTIFICATION = {"kind": "alert", "to": ["ops@example.com"], "subject": "s", "text": "t"}
FIELDS = [*NOTIFICATION, "topic", "html", "data", "idempotency_key", "attachments", "extra"]


@fuzz(600)
@given(data=st.data())
def test_notification_bodies_never_fail(fuzz_app, token, data):
    body = dict(NOTIFICATION)
    for field in data.draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        body[field] = data.draw(JSON_VALUES)
    if data.draw(st.booleans()):
        body["attachments"] = [
            data.draw(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "filename",
                            "content_type",
                            "content_base64",
                            "inline",
                            "content_id",
                            "size",
                        ]
                    ),
                    JSON_VALUES | st.sampled_from(["image/png", "text/csv", "aGVsbG8=", "x.csv"]),
                )
            )  # fmt: skip
        ]
    raw = json.dumps(body).encode() if data.draw(st.booleans()) else data.draw(st.binary())
    response = fuzz_app.test_client().post(
        "/api/v1/notifications",
        data=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code < 500, raw[:500]
    assert response.status_code in (202, 400, 413)


@fuzz(300)
@given(name=TEXT, body=JSON_VALUES)
def test_topic_bodies_never_fail(fuzz_app, token, name, body):
    response = fuzz_app.test_client().put(
        "/api/v1/topics/" + (name.replace("/", "") or "x"),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 201, 400, 404, 405)


FILTERS = {
    "/admin/audit": ["actor", "action", "since", "until", "page"],
    "/admin/audit.csv": ["actor", "action", "since", "until"],
    "/admin/notifications": ["status", "kind", "recipient", "since", "until", "page"],
    "/admin/subscriptions": ["topic", "user", "page"],
    "/account/subscriptions": ["q"],
}


@fuzz(600)
@given(data=st.data())
def test_list_filters_never_fail(fuzz_client, data):
    path = data.draw(st.sampled_from(sorted(FILTERS)))
    query = {name: data.draw(TEXT | ODD_NUMBERS) for name in FILTERS[path]
             if data.draw(st.booleans())}  # fmt: skip
    response = fuzz_client.get(path, query_string=query)
    assert response.status_code < 500, (path, query)
