"""Login sessions end after an absolute lifetime or when idle; HTTPS answers carry HSTS."""

import pytest

from webapp.auth.models import LoginSession
from webapp.config import load
from webapp.extensions import db

from ..helpers import AuthActions, ManualClock, add_user

EMAIL, PASSWORD = "ada.admin@example.com", "admin-password-123"


@pytest.fixture
def clock():
    return ManualClock()


def logged_in(make_app, clock, **config):
    """An app on ``clock`` and a client logged in as an administrator."""
    app = make_app(CLOCK=clock, **config)
    add_user(app, EMAIL, PASSWORD, "admin")
    client = app.test_client()
    assert AuthActions(client).login(EMAIL, PASSWORD).status_code == 302
    return app, client


def session_rows(app):
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(LoginSession.id)))


def assert_sent_to_login(client, path="/admin/users"):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session has expired. Log in again." in page


def test_an_idle_session_ends_after_two_hours(make_app, clock):
    app, client = logged_in(make_app, clock)
    clock.advance(hours=1, minutes=59)
    assert client.get("/admin/users").status_code == 200
    clock.advance(hours=1, minutes=59)  # used a moment ago: still on
    assert client.get("/admin/users").status_code == 200
    stolen = client.get_cookie("bi_session").value
    clock.advance(hours=2)
    assert_sent_to_login(client)
    assert session_rows(app) == 0  # the row is gone: a copy of the cookie is worthless
    replay = app.test_client()
    replay.set_cookie("bi_session", stolen)
    assert replay.get("/admin/users").status_code == 302


def test_a_busy_session_still_ends_twelve_hours_after_login(make_app, clock):
    app, client = logged_in(make_app, clock)
    for _ in range(7):
        clock.advance(hours=1, minutes=40)
        assert client.get("/").status_code == 200
    clock.advance(hours=1)  # 12 h 40 min after the login, used 1 h ago
    assert_sent_to_login(client, "/")
    assert session_rows(app) == 0


def test_both_limits_are_configurable(make_app, clock):
    app, client = logged_in(make_app, clock, SESSION_IDLE_TIMEOUT=600, SESSION_LIFETIME=1800)
    clock.advance(minutes=9)
    assert client.get("/").status_code == 200
    clock.advance(minutes=11)
    assert_sent_to_login(client, "/")
    assert AuthActions(client).login(EMAIL, PASSWORD).status_code == 302
    for _ in range(3):
        clock.advance(minutes=9)
        assert client.get("/").status_code == 200
    clock.advance(minutes=4)  # 31 minutes after this login
    assert_sent_to_login(client, "/")


def test_the_limits_are_read_from_the_environment(tmp_path):
    config = load(
        str(tmp_path),
        {"SECRET_KEY": "k" * 40},
        environ={"SESSION_LIFETIME": "8h", "SESSION_IDLE_TIMEOUT": "30m"},
    )
    assert config["SESSION_LIFETIME"] == 8 * 3600 and config["SESSION_IDLE_TIMEOUT"] == 1800
    defaults = load(str(tmp_path), {"SECRET_KEY": "k" * 40}, environ={})
    assert defaults["SESSION_LIFETIME"] == 12 * 3600
    assert defaults["SESSION_IDLE_TIMEOUT"] == 2 * 3600


def test_https_answers_carry_hsts(client):
    response = client.get("https://localhost/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in client.get("http://localhost/login").headers


def test_hsts_behind_a_trusted_proxy_that_terminates_https(make_app):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    behind_proxy = make_app(TRUSTED_PROXIES=1).test_client()
    response = behind_proxy.get("/login", headers=forwarded)
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    # Without a trusted proxy the header is anyone's to forge: plain HTTP stays plain.
    direct = make_app().test_client()
    assert "Strict-Transport-Security" not in direct.get("/login", headers=forwarded).headers
