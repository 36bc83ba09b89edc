"""Company mail domains (.local, .test, .internal, IDNA) are addresses like any other."""

import pytest

from webapp.validators import normalized_address

from .helpers import post_form, settings_values

COMPANY = ["admin@corp.local", "ops@mail.test", "bi@corp.internal", "报表@例子.公司"]


@pytest.mark.parametrize("address", COMPANY[:3])
def test_internal_domains_are_accepted_without_dns(address):
    assert normalized_address(address.upper()) == address


def test_idna_domain_is_accepted_in_ascii_form():
    with pytest.raises(ValueError, match="Internationalized characters"):
        normalized_address(COMPANY[3])  # a non-ASCII mailbox name needs SMTPUTF8
    assert normalized_address("bi@例子.公司") == "bi@xn--fsqu00a.xn--55qx5d"


@pytest.mark.parametrize(
    "address", ["admin@localhost", "admin@intranet", "a b@corp.local", "a@corp.local.", "a@@b.c"]
)
def test_malformed_or_dotless_addresses_stay_refused(address):
    with pytest.raises(ValueError, match="Enter"):
        normalized_address(address)


def test_create_user_on_a_local_domain(app, runner):
    result = runner.invoke(
        args=[
            "create-user",
            "admin@corp.local",
            "--role",
            "admin",
            "--password",
            "pw-long-enough-1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "admin@corp.local" in result.output


def test_sender_and_test_email_on_a_local_domain(admin_client):
    data = settings_values(
        smtp_host="mail.corp.local",
        smtp_port="587",
        security="tls",
        sender_email="bi@corp.local",
        test_email="ops@mail.test",
        password=None,
        enabled=None,  # disabled: Save checks no connection
    )
    response = post_form(admin_client, "/admin/settings/email", data)
    assert response.status_code == 302, response.get_data(as_text=True)


def test_api_accepts_company_recipients(make_app):
    from webapp.extensions import db
    from webapp.notifier.tokens import create_token

    app = make_app()
    with app.app_context():
        _, token = create_token("platform", "system")
        db.session.commit()
    body = {"kind": "alert", "to": COMPANY[:3], "subject": "Disk", "text": "Disk full."}
    response = app.test_client().post(
        "/api/v1/notifications", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 202 and response.get_json()["recipients"] == 3
