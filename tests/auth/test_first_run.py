"""First run: secrets generated once, and a setup link that works exactly once."""

import os
import re
import stat

from webapp.auth.first_run import print_setup_link, setup_link

from ..helpers import post_form


def _token(app):
    with app.app_context():
        return setup_link().split("token=")[1]


def test_secrets_are_generated_once_with_mode_0600(make_app, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SETTINGS_ENCRYPTION_KEYS", raising=False)
    first = make_app()
    second = make_app()
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 40
    for name in ("secret_key", "settings_encryption_keys"):
        path = os.path.join(first.instance_path, name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_secret_from_environment_wins(make_app, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-0123456789")
    assert make_app().config["SECRET_KEY"] == "from-the-environment-0123456789"


def test_setup_link_is_printed_while_no_admin_exists(app, capsys):
    print_setup_link(app)
    err = capsys.readouterr().err
    assert re.search(r"/setup\?token=[\w-]{40,}", err)


def test_setup_creates_first_admin_once(app, client, capsys):
    token = _token(app)
    assert client.get("/setup?token=wrong").status_code == 404
    assert client.get(f"/setup?token={token}").status_code == 200
    response = post_form(
        client,
        f"/setup?token={token}",
        {
            "email": "Root@Example.com",
            "name": "Root",
            "password": "first-admin-password",
            "confirm": "first-admin-password",
        },
    )
    assert response.status_code == 302
    assert client.get(f"/setup?token={token}").status_code == 404
    login = post_form(
        client, "/login", {"email": "root@example.com", "password": "first-admin-password"}
    )
    assert login.status_code == 302
    assert client.get("/admin/users").status_code == 200
    print_setup_link(app)
    assert "setup?token" not in capsys.readouterr().err


def test_setup_is_gone_once_any_admin_exists(app, client, admin):
    token = _token(app)
    assert client.get(f"/setup?token={token}").status_code == 404


def test_setup_rejects_bad_input(app, client):
    token = _token(app)
    response = post_form(
        client,
        f"/setup?token={token}",
        {"email": "not-an-email", "password": "short", "confirm": "other"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter a valid email address" in page
    assert "Field must be between 12 and 256 characters long." in page


def test_no_default_admin_exists(app):
    from webapp.auth.models import User
    from webapp.extensions import db

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_setup_with_an_email_a_member_has_is_a_400_naming_the_field(app, client, member):
    token = _token(app)
    response = post_form(
        client,
        f"/setup?token={token}",
        {
            "email": member.email.upper(),
            "name": "Root",
            "password": "first-admin-password",
            "confirm": "first-admin-password",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    email_input = re.search(r'<input[^>]*id="email"[^>]*>', page).group(0)
    under_email = page.split(email_input, 1)[1].split("<label", 1)[0]
    assert "is-invalid" in email_input
    assert "A user with this email already exists." in under_email
    assert client.get(f"/setup?token={token}").status_code == 200  # the link still works
