"""Login and logout: one message for every failure, safe redirects, throttling, revocation."""

import pytest

from ..helpers import add_user, post_form


def test_login_then_home(client, auth, admin):
    response = auth.login(admin.email, admin.password)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Ada Admin" in client.get("/").get_data(as_text=True)


def test_email_is_case_insensitive(client, auth, admin):
    response = auth.login(admin.email.upper(), admin.password)
    assert response.status_code == 302


def test_unknown_email_and_wrong_password_look_the_same(client, auth, admin):
    wrong_password = auth.login(admin.email, "not-the-password")
    unknown_email = auth.login("nobody@example.com", admin.password)
    assert wrong_password.status_code == unknown_email.status_code == 200
    for response in (wrong_password, unknown_email):
        assert "Email or password is incorrect." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still logged out


def test_inactive_user_cannot_log_in(app, client, auth):
    add_user(app, "gone@example.com", "a-long-password-1", active=False)
    response = auth.login("gone@example.com", "a-long-password-1")
    assert "Email or password is incorrect." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
    ],
)
def test_next_never_leaves_the_site(client, auth, admin, target):
    from urllib.parse import quote

    response = auth.login(admin.email, admin.password, next_path=quote(target, safe=""))
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_to_a_local_path_is_followed(client, auth, admin):
    response = auth.login(admin.email, admin.password, next_path="/admin/users?x=1")
    assert response.headers["Location"] == "/admin/users?x=1"


def test_session_is_cleared_before_login(client, auth, admin):
    with client.session_transaction() as session:
        session["planted"] = "by-an-attacker"
    auth.login(admin.email, admin.password)
    with client.session_transaction() as session:
        assert "planted" not in session


def test_logged_out_cookie_replayed_is_rejected(app, client, auth, admin):
    auth.login(admin.email, admin.password)
    stolen = client.get_cookie("bi_session").value
    assert client.get("/admin/users").status_code == 200
    auth.logout()
    replay = app.test_client()
    replay.set_cookie("bi_session", stolen)
    response = replay.get("/admin/users")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_logout_requires_post(admin_client):
    assert admin_client.get("/logout").status_code == 405
    assert admin_client.get("/").status_code == 200


def test_login_is_throttled_per_address(client, admin):
    for _ in range(10):
        post_form(client, "/login", {"email": f"x{_}@example.com", "password": "wrong"})
    response = post_form(client, "/login", {"email": admin.email, "password": admin.password})
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many attempts" in page and "Wait a minute" in page


def test_an_app_without_limits_leaves_the_next_app_limited(make_app, admin):
    make_app(RATELIMIT_ENABLED=False)  # as a test or a tool might make one
    client = make_app().test_client()
    for n in range(10):
        post_form(client, "/login", {"email": f"x{n}@example.com", "password": "wrong"})
    response = post_form(client, "/login", {"email": admin.email, "password": admin.password})
    assert response.status_code == 429


def test_cookie_flags(client, auth, admin):
    response = auth.login(admin.email, admin.password)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_cookie_is_secure_over_https(app, admin):
    client = app.test_client()
    page = client.get("https://localhost/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "https://localhost/login",
        data={"csrf_token": token, "email": admin.email, "password": admin.password},
        headers={"Referer": "https://localhost/login"},
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_csrf_missing_token_is_refused_and_changes_nothing(app, admin_client):
    from webapp.auth.models import User
    from webapp.extensions import db

    response = admin_client.post(
        "/admin/users/new",
        data={
            "email": "sneaky@example.com",
            "role": "admin",
            "password": "long-enough-pass",
            "confirm": "long-enough-pass",
        },
    )
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(User).where(User.email == "sneaky@example.com")) is None
