"""``flask create-user`` through the real CLI runner."""

from webapp.auth.models import User
from webapp.extensions import db


def _user(app, email):
    with app.app_context():
        return db.session.scalar(db.select(User).where(User.email == email))


def test_create_admin_with_password(app, runner):
    result = runner.invoke(
        args=[
            "create-user",
            "New@Example.com",
            "--role",
            "admin",
            "--name",
            "New",
            "--password",
            "pw-long-enough-1",
        ]
    )
    assert result.exit_code == 0, result.output
    user = _user(app, "new@example.com")
    assert user.role == "admin" and user.name == "New"
    assert user.password_hash.startswith("$argon2id$")


def test_prompts_hidden_and_confirmed(app, runner):
    result = runner.invoke(
        args=["create-user", "p@example.com", "--role", "member"],
        input="pw-long-enough-1\npw-long-enough-1\n",
    )
    assert result.exit_code == 0, result.output
    assert "pw-long-enough-1" not in result.output
    assert "Repeat for confirmation" in result.output
    with app.app_context():
        assert _user(app, "p@example.com").check_password("pw-long-enough-1")


def test_duplicate_email_fails_clearly(app, runner, member):
    result = runner.invoke(
        args=[
            "create-user",
            member.email.upper(),
            "--role",
            "member",
            "--password",
            "pw-long-enough-1",
        ]
    )
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_malformed_email_fails_clearly(runner):
    result = runner.invoke(
        args=["create-user", "no-at-sign", "--role", "member", "--password", "pw-long-enough-1"]
    )
    assert result.exit_code != 0
    assert "valid email address" in result.output


def test_two_addresses_refused(runner):
    result = runner.invoke(
        args=[
            "create-user",
            "a@x.com, b@y.com",
            "--role",
            "member",
            "--password",
            "pw-long-enough-1",
        ]
    )
    assert result.exit_code != 0
    assert "exactly one email address" in result.output


def test_bad_role_refused(app, runner):
    result = runner.invoke(
        args=["create-user", "r@example.com", "--role", "owner", "--password", "pw-long-enough-1"]
    )
    assert result.exit_code == 2  # click's usage error
    assert "Invalid value for '--role': 'owner' is not one of 'admin', 'member'." in result.output
    assert _user(app, "r@example.com") is None


def test_production_hash_parameters(make_app):
    app = make_app(ARGON2_PARAMS={"time_cost": 3, "memory_cost": 65536, "parallelism": 4})
    with app.app_context():
        user = User(email="h@example.com", role="member")
        user.set_password("pw-long-enough-1")
        assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
