"""The resource alerts page: thresholds saved with an audited diff, and the monitor's state."""

import re

import pytest

from webapp.extensions import db
from webapp.notifier.models import ResourceThresholds
from webapp.notifier.monitor import check_resources

from ..helpers import audit_summary, post_form

PATH = "/admin/settings/email/resource-alerts"
DEFAULTS = {
    "disk_percent": "90",
    "memory_percent": "90",
    "load_per_core": "2",
    "cooldown_minutes": "30",
}


def shown(page, name):
    """The value the form shows in the input ``name``."""
    return re.search(rf'<input [^>]*name="{name}"[^>]*value="([^"]*)"', page).group(1)


def stored(app):
    with app.app_context():
        row = db.session.get(ResourceThresholds, 1)
        if row is None:
            return None
        return {
            "disk_percent": row.disk_percent,
            "memory_percent": row.memory_percent,
            "load_per_core": row.load_per_core,
            "cooldown_minutes": row.cooldown_minutes,
        }


def test_defaults_are_shown_before_the_first_save(app, admin_client):
    page = admin_client.get(PATH).get_data(as_text=True)
    assert float(shown(page, "disk_percent")) == 90 and float(shown(page, "load_per_core")) == 2
    assert shown(page, "cooldown_minutes") == "30"
    assert 'id="resource-state-empty"' in page
    assert stored(app) is None


def test_first_save_creates_the_row_and_records_old_and_new(app, admin_client, admin):
    values = {**DEFAULTS, "disk_percent": "85.5", "cooldown_minutes": "60"}
    response = post_form(admin_client, PATH, values)
    assert response.status_code == 302 and response.headers["Location"] == PATH
    assert stored(app) == {
        "disk_percent": 85.5,
        "memory_percent": 90.0,
        "load_per_core": 2.0,
        "cooldown_minutes": 60,
    }
    assert audit_summary(app, "resource_thresholds.updated") == [
        (
            admin.email,
            "resource-alerts",
            {"cooldown_minutes": [30, 60], "disk_percent": [90.0, 85.5]},
        )
    ]
    page = admin_client.get(PATH).get_data(as_text=True)
    assert "Resource alert thresholds saved." in page and shown(page, "disk_percent") == "85.5"

    post_form(admin_client, PATH, {**values, "load_per_core": "0.5"})
    assert stored(app)["load_per_core"] == 0.5
    assert audit_summary(app, "resource_thresholds.updated")[1][2] == {"load_per_core": [2.0, 0.5]}


def test_saving_the_same_values_changes_nothing(app, admin_client):
    response = post_form(admin_client, PATH, DEFAULTS, follow_redirects=True)
    assert "Nothing changed." in response.get_data(as_text=True)
    assert audit_summary(app, "resource_thresholds.updated") == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("disk_percent", "0", "Number must be between 1 and 100."),
        ("disk_percent", "101", "Number must be between 1 and 100."),
        ("memory_percent", "", "Enter a number."),
        ("memory_percent", "nan", "Number must be between 1 and 100."),
        ("load_per_core", "0.05", "Number must be between 0.1 and 100."),
        ("load_per_core", "lots", "Not a valid float value."),
        ("cooldown_minutes", "1441", "Number must be between 1 and 1440."),
        ("cooldown_minutes", "2.5", "Not a valid integer value."),
    ],
)
def test_bad_values_get_a_clear_message(app, admin_client, field, value, message):
    response = post_form(admin_client, PATH, {**DEFAULTS, field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page and "Please correct the highlighted fields." in page
    assert stored(app) is None and audit_summary(app, "resource_thresholds.updated") == []


def test_monitor_state_is_listed(app, admin_client):
    with app.app_context():
        check_resources({"disk": 95.0, "memory": 40.0, "load": 0.5})
        db.session.commit()
    page = admin_client.get(PATH).get_data(as_text=True)
    state = page.split('id="resource-state"')[1].split("</table>")[0]
    disk = state.split(">Disk usage</td>")[1].split("</tr>")[0]
    assert "95%" in disk and "alerting" in disk and "never" not in disk
    memory = state.split(">Memory usage</td>")[1].split("</tr>")[0]
    assert "40%" in memory and "normal" in memory and "never" in memory
    assert state.index(">Memory usage<") < state.index(">Load per CPU core<")
