"""Enterprise Settings → Users: list, create, change role, deactivate, last-admin rule."""

import pytest

from webapp.auth.models import User
from webapp.extensions import db

from ..helpers import add_user, post_form


def _user(app, email):
    with app.app_context():
        return db.session.scalar(db.select(User).where(User.email == email))


def test_list_shows_every_user(admin_client, member):
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert "ada.admin@example.com" in page and "max.member@example.com" in page


def test_create_user(app, admin_client):
    response = post_form(
        admin_client,
        "/admin/users/new",
        {
            "email": "Zoe@Example.com",
            "name": "Zoë 张",
            "role": "member",
            "password": "zoe-password-123",
            "confirm": "zoe-password-123",
        },
    )
    assert response.status_code == 302
    user = _user(app, "zoe@example.com")
    assert user.name == "Zoë 张" and user.role == "member" and user.active


def test_create_user_validation_keeps_values(app, admin_client, member):
    response = post_form(
        admin_client,
        "/admin/users/new",
        {
            "email": member.email,
            "name": "Evil\r\nName",
            "role": "root",
            "password": "p",
            "confirm": "q",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "already exists" in page
    assert "Line breaks and control characters are not allowed." in page
    assert "Not a valid choice" in page
    assert "The passwords do not match." in page
    assert 'value="max.member@example.com"' in page


def test_change_role_and_deactivate(app, client, auth, admin, member):
    auth.login(admin.email, admin.password)
    response = post_form(client, f"/admin/users/{member.id}", {"name": "Max", "role": "admin"})
    assert response.status_code == 302
    user = _user(app, member.email)
    assert user.role == "admin" and not user.active  # checkbox absent = deactivated


def test_deactivated_user_is_logged_out_at_once(app, admin, member):
    member_browser = app.test_client()
    post_form(member_browser, "/login", {"email": member.email, "password": member.password})
    assert member_browser.get("/").status_code == 200
    admin_browser = app.test_client()
    post_form(admin_browser, "/login", {"email": admin.email, "password": admin.password})
    post_form(admin_browser, f"/admin/users/{member.id}", {"name": "Max", "role": "member"})
    assert member_browser.get("/").status_code == 302


def test_last_active_admin_cannot_be_demoted_or_deactivated(app, admin_client, admin):
    for data in (
        {"name": "Ada", "role": "member", "active": "y"},
        {"name": "Ada", "role": "admin"},
    ):
        response = post_form(admin_client, f"/admin/users/{admin.id}", data)
        assert response.status_code == 200
        assert "last active administrator" in response.get_data(as_text=True)
    user = _user(app, admin.email)
    assert user.role == "admin" and user.active


def test_an_admin_can_be_demoted_when_another_remains(app, admin_client, admin):
    add_user(app, "second@example.com", "second-password-1", role="admin")
    response = post_form(
        admin_client, f"/admin/users/{admin.id}", {"name": "Ada", "role": "member", "active": "y"}
    )
    assert response.status_code == 302
    assert _user(app, admin.email).role == "member"
    assert admin_client.get("/admin/users").status_code == 403


def test_unknown_user_is_404(admin_client):
    assert admin_client.get("/admin/users/9999").status_code == 404


@pytest.mark.parametrize("name", ["Admin\u202e", "Ma\u200bx", "\u2066IT\u2069 Support"])
def test_display_names_refuse_invisible_characters(app, admin_client, member, name):
    # U+202E shows what follows backwards; U+200B and the isolates hide in plain sight.
    response = post_form(
        admin_client, f"/admin/users/{member.id}", {"name": name, "role": "member", "active": "y"}
    )
    assert (
        "Invisible characters (direction marks, zero-width spaces) are not allowed."
        in response.get_data(as_text=True)
    )
    assert _user(app, member.email).name == "Max Member"
