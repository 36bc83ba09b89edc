"""Login throttling: strangers cannot lock an account out, floods are refused before argon2."""

import pytest
from argon2 import PasswordHasher

from webapp.auth import throttle
from webapp.extensions import db
from webapp.notifier.models import Delivery, Notification

from ..helpers import add_user, audit_summary, csrf_token

EMAIL, PASSWORD = "root@example.com", "root-password-1234"


def attempt(app, email, password, address):
    """One login from ``address`` in a fresh browser; the response."""
    client = app.test_client()
    token = csrf_token(client)
    return client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.fixture
def sleeps(monkeypatch):
    """The slow-downs the login asked for, in seconds (recorded instead of slept)."""
    asked = []
    monkeypatch.setattr(throttle, "sleep", asked.append)
    return asked


@pytest.fixture
def password_checks(monkeypatch):
    """How many argon2 verifications ran (real ones, counted)."""
    calls = []
    verify = PasswordHasher.verify

    def counting(self, *args, **kwargs):
        calls.append(1)
        return verify(self, *args, **kwargs)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


def test_failures_from_many_addresses_never_lock_out_the_right_password(app, admin, sleeps):
    for n in range(30):
        assert attempt(app, admin.email, "wrong", f"10.0.0.{n + 1}").status_code == 200
    response = attempt(app, admin.email, admin.password, "10.0.1.1")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_an_account_failing_from_everywhere_is_slowed_down_by_a_bounded_delay(make_app, sleeps):
    app = make_app(LOGIN_DELAY_MAX=0.5)
    add_user(app, EMAIL, PASSWORD, "admin")
    for n in range(40):
        attempt(app, EMAIL, "wrong", f"10.0.0.{n + 1}")
    assert attempt(app, EMAIL, PASSWORD, "10.0.1.1").status_code == 302
    assert sleeps, "a login to an account failing from 40 addresses is slowed down"
    assert max(sleeps) == 0.5 and all(0 < s <= 0.5 for s in sleeps)
    assert len(sleeps) < 40  # the first failures cost nothing extra
    throttled = audit_summary(app, "auth.login_throttled")
    assert throttled == [("anonymous", EMAIL, {"throttle": [None, "account slowed down"]})]


def test_successful_logins_from_one_address_are_never_refused(app, admin):
    for _ in range(15):
        assert attempt(app, admin.email, admin.password, "10.0.0.1").status_code == 302


def test_one_address_failing_on_an_account_is_refused_before_the_password_check(
    app, admin, password_checks
):
    for _ in range(5):
        assert attempt(app, admin.email, "wrong", "10.0.0.1").status_code == 200
    checks = len(password_checks)
    refused = attempt(app, admin.email, admin.password, "10.0.0.1")
    again = attempt(app, admin.email, admin.password, "10.0.0.1")
    assert refused.status_code == again.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert len(password_checks) == checks  # refused without running argon2
    # Other addresses are untouched: the account is not locked.
    assert attempt(app, admin.email, admin.password, "10.0.0.2").status_code == 302
    throttled = audit_summary(app, "auth.login_throttled")
    assert throttled == [("anonymous", admin.email, {"throttle": [None, "account and address"]})]


def test_one_address_failing_on_many_accounts_is_refused(app, admin, password_checks):
    for n in range(10):
        attempt(app, f"guess{n}@example.com", "wrong", "10.0.0.1")
    checks = len(password_checks)
    refused = attempt(app, admin.email, admin.password, "10.0.0.1")
    assert refused.status_code == 429 and len(password_checks) == checks
    assert [c for _, _, c in audit_summary(app, "auth.login_throttled")] == [
        {"throttle": [None, "address"]}
    ]
    assert attempt(app, admin.email, admin.password, "10.0.0.2").status_code == 302


def _alerts(app):
    with app.app_context():
        rows = db.session.scalars(
            db.select(Notification).where(Notification.kind == "resource_alert")
        )
        return [
            (
                n.subject,
                n.created_by,
                sorted(
                    d.recipient
                    for d in db.session.scalars(
                        db.select(Delivery).where(Delivery.notification_id == n.id)
                    )
                ),
            )
            for n in rows
        ]


def test_an_account_failing_from_many_addresses_alerts_the_admins_once(app, admin, sleeps):
    for n in range(4):
        attempt(app, admin.email, "wrong", f"10.0.0.{n + 1}")
    assert _alerts(app) == []
    for n in range(4, 9):
        attempt(app, admin.email, "wrong", f"10.0.0.{n + 1}")
    assert _alerts(app) == [
        (f"Login attack: {admin.email} failed from 5 addresses", "system", [admin.email])
    ]


def test_unknown_emails_from_many_addresses_alert_nobody(app, admin, sleeps):
    for n in range(8):
        attempt(app, "nobody@example.com", "wrong", f"10.0.0.{n + 1}")
    assert _alerts(app) == []


def test_when_every_password_check_slot_is_taken_a_login_gets_503_with_retry_after(
    make_app,
):
    app = make_app(LOGIN_HASH_CONCURRENCY=1, LOGIN_HASH_WAIT=0.01)
    add_user(app, EMAIL, PASSWORD, "admin")
    slots = app.extensions["login_password_checks"].slots
    assert slots.acquire(blocking=False)  # a login flood holds the only slot
    try:
        busy = attempt(app, EMAIL, PASSWORD, "10.0.0.1")
    finally:
        slots.release()
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) > 0
    assert "Too many logins at once" in busy.get_data(as_text=True)
    assert attempt(app, EMAIL, PASSWORD, "10.0.0.1").status_code == 302
