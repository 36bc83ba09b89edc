"""Each account and security event lands in the audit log with who, what and where."""

from ..helpers import audit_rows, post_form


def test_login_logout_and_failure_are_recorded(app, client, auth, admin):
    auth.login(admin.email, "wrong-password-xyz")
    auth.login(admin.email, admin.password)
    auth.logout()
    failed, login, logout = (
        audit_rows(app, action=a) for a in ("auth.login_failed", "auth.login", "auth.logout")
    )
    assert failed[0]["target"] == admin.email and failed[0]["actor"] == "anonymous"
    assert "wrong-password-xyz" not in str(failed)
    assert login[0]["actor"] == admin.email and login[0]["ip"] == "127.0.0.1"
    assert logout[0]["actor"] == admin.email


def test_user_agent_is_recorded(app, client, admin):
    client.environ_base["HTTP_USER_AGENT"] = "AuditTest/1.0"
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    assert audit_rows(app, action="auth.login")[0]["user_agent"] == "AuditTest/1.0"


def test_access_denied_is_recorded(app, member_client):
    assert member_client.get("/admin/audit").status_code == 403
    denied = audit_rows(app, action="access.denied")
    assert denied[0]["target"] == "/admin/audit" and denied[0]["actor"] == "max.member@example.com"


def test_user_created_and_updated_record_old_and_new(app, admin_client, admin):
    post_form(
        admin_client,
        "/admin/users/new",
        {
            "email": "kim@example.com",
            "name": "Kim",
            "role": "member",
            "password": "CANARY-pw-1234",
            "confirm": "CANARY-pw-1234",
        },
    )
    created = audit_rows(app, action="user.created")[0]
    assert created["target"] == "kim@example.com" and created["actor"] == admin.email
    assert created["changes"]["role"] == [None, "member"]
    assert created["changes"]["password"] == "set"
    kim = created["changes"]
    assert "CANARY" not in str(kim)
    from webapp.auth.models import User
    from webapp.extensions import db

    with app.app_context():
        kim_id = db.session.scalar(db.select(User.id).where(User.email == "kim@example.com"))
    post_form(
        admin_client, f"/admin/users/{kim_id}", {"name": "Kim Lee", "role": "admin", "active": "y"}
    )
    updated = audit_rows(app, action="user.updated")[0]
    assert updated["changes"] == {"name": ["Kim", "Kim Lee"], "role": ["member", "admin"]}


def test_cli_user_creation_is_recorded_as_system(app, runner):
    runner.invoke(
        args=[
            "create-user",
            "cli@example.com",
            "--role",
            "member",
            "--password",
            "pw-long-enough-1",
        ]
    )
    event = audit_rows(app, action="user.created")[0]
    assert event["actor"] == "system" and event["target"] == "cli@example.com"


def test_first_run_setup_is_recorded(app, client):
    from webapp.auth.first_run import setup_link

    with app.app_context():
        token = setup_link().split("token=")[1]
    post_form(
        client,
        f"/setup?token={token}",
        {
            "email": "root@example.com",
            "password": "first-admin-pass",
            "confirm": "first-admin-pass",
        },
    )
    event = audit_rows(app, action="auth.setup")[0]
    assert event["target"] == "root@example.com" and event["changes"] == {"role": [None, "admin"]}


def test_password_canary_is_nowhere(app, admin_client, tmp_path):
    canary = "CANARY-9f8e7d6c5b4a"
    post_form(
        admin_client,
        "/admin/users/new",
        {"email": "c@example.com", "role": "member", "password": canary, "confirm": canary},
    )
    post_form(admin_client, "/login", {"email": "c@example.com", "password": canary})
    assert canary not in str(audit_rows(app))
    assert canary not in admin_client.get("/admin/audit").get_data(as_text=True)
    assert canary not in admin_client.get("/admin/audit.csv").get_data(as_text=True)


def test_secret_values_are_refused_by_the_recorder(app):
    import pytest

    from webapp.audit.record import record_event

    with app.test_request_context(), pytest.raises(ValueError) as excinfo:
        record_event("user.updated", changes={"password": ["old-secret", "new-secret"]})
    assert "new-secret" not in str(excinfo.value)


def test_proxy_headers_are_ignored_unless_configured(make_app, admin):
    app = make_app()
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    assert audit_rows(app, action="auth.login")[-1]["ip"] == "127.0.0.1"
    proxied = make_app(TRUSTED_PROXIES=1)
    client = proxied.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    post_form(client, "/login", {"email": admin.email, "password": admin.password})
    assert audit_rows(app, action="auth.login")[-1]["ip"] == "203.0.113.9"
