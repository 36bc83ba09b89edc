"""The shared list tools: filter forms and their date range, and the registry of audit actions."""

from datetime import date

from werkzeug.datastructures import MultiDict
from wtforms import StringField

from webapp.audit import register_actions
from webapp.listing import DateRangeFilterForm

# The actions the design promises at least, recorded by auth, email_service and the notifier.
CONTRACT_ACTIONS = (
    "auth.login",
    "auth.login_failed",
    "auth.logout",
    "access.denied",
    "user.created",
    "email_settings.updated",
    "email_settings.tested",
    "token.created",
    "key.rotated",
)


class TopicFilterForm(DateRangeFilterForm):
    """A list filtered by topic and dates, as a feature package would declare one."""

    topic = StringField("Topic")


def test_a_filter_form_keeps_only_the_given_filters_as_query_values(app):
    query = MultiDict({"topic": "card:42", "since": "2024-02-01", "until": ""})
    with app.test_request_context("/?topic=card:42"):
        form = TopicFilterForm(formdata=query)
        assert form.validate()
        assert form.since.data == date(2024, 2, 1)
        assert form.active_filters() == {"topic": "card:42", "since": "2024-02-01"}


def test_a_date_range_refuses_an_end_before_its_start_and_implausible_dates(app):
    with app.test_request_context("/"):
        reversed_range = TopicFilterForm(
            formdata=MultiDict({"since": "2024-02-02", "until": "2024-02-01"})
        )
        assert not reversed_range.validate()
        assert reversed_range.errors == {"until": ["The end date is before the start date."]}
        too_late = TopicFilterForm(formdata=MultiDict({"until": "9999-12-31"}))
        assert not too_late.validate()
        assert too_late.errors == {"until": ["Enter a date between 2000-01-01 and 9998-12-31."]}


def test_every_list_words_its_date_errors_the_same(admin_client):
    for path in ("/admin/audit", "/admin/notifications"):
        page = admin_client.get(f"{path}?since=2024-02-02&until=2024-02-01")
        assert page.status_code == 200
        assert "The end date is before the start date." in page.get_data(as_text=True), path
        page = admin_client.get(f"{path}?since=1999-12-31").get_data(as_text=True)
        assert "Enter a date between 2000-01-01 and 9998-12-31." in page, path


def test_the_review_page_offers_every_action_the_packages_registered(admin_client):
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    datalist = page.split('<datalist id="known-actions">')[1].split("</datalist>")[0]
    for action in CONTRACT_ACTIONS + ("audit.exported", "delivery.resent", "auth.setup"):
        assert f'<option value="{action}">' in datalist, action


def test_an_unknown_action_is_a_clear_form_error_on_the_page_and_the_export(admin_client):
    response = admin_client.get("/admin/audit?action=report.rendered")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Unknown action: choose one from the list, such as user.updated." in page
    assert "Fix the filters above to see events." in page
    export = admin_client.get("/admin/audit.csv?action=report.rendered")
    assert export.status_code == 400
    assert "action: Unknown action" in export.get_data(as_text=True)


def test_an_action_a_package_registers_is_accepted_by_the_filter(app, admin_client):
    register_actions(app, ["report.rendered"])
    page = admin_client.get("/admin/audit?action=report.rendered").get_data(as_text=True)
    assert "Unknown action" not in page
    assert 'id="audit-no-match"' in page and "No events match these filters." in page
    assert '<option value="report.rendered">' in page
