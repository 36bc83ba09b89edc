"""The review page and CSV export: filters, pagination, escaping, formula neutralisation."""

import csv
import io

from ..helpers import audit_rows


def _fill(record, n, action="user.updated", actor="system"):
    for i in range(n):
        record(action, target=f"t{i}@example.com", actor=actor)


def test_empty_state(admin_client, app):
    # Logging in records one event; read the page through a fresh filter-free view first.
    page = admin_client.get("/admin/audit?action=key.rotated").get_data(as_text=True)
    assert 'id="audit-no-match"' in page and "No events match these filters." in page


def test_empty_log_says_so(app, client, admin):
    from webapp.auth.models import LoginSession, User
    from webapp.extensions import db

    # A session made directly, so that not even a login event exists.
    with app.app_context():
        token = LoginSession.start(db.session.get(User, admin.id))
        db.session.commit()
    with client.session_transaction() as session:
        session.update({"_user_id": str(admin.id), "_fresh": True, "sid": token})
    page = client.get("/admin/audit").get_data(as_text=True)
    assert 'id="audit-empty"' in page and "No events have been recorded yet." in page


def test_newest_first_and_pages_of_fifty(admin_client, record):
    _fill(record, 120)
    first = admin_client.get("/admin/audit").get_data(as_text=True)
    assert first.count("<tr>") - 1 == 50  # header row excluded
    assert first.index("t119@example.com") < first.index("t118@example.com")
    third = admin_client.get("/admin/audit?page=3").get_data(as_text=True)
    assert "t0@example.com" in third and "t119@example.com" not in third
    assert "page 3 of 3" in third


def test_filters_combine_and_stay_in_the_links(admin_client, record):
    _fill(record, 60, action="user.updated", actor="alice@example.com")
    _fill(record, 5, action="user.created", actor="alice@example.com")
    _fill(record, 7, action="user.updated", actor="bob@example.com")
    page = admin_client.get("/admin/audit?actor=alice@example.com&action=user.updated").get_data(
        as_text=True
    )
    assert "60 events match" in page
    assert "bob@example.com" not in page
    assert "page=2&amp;actor=alice@example.com&amp;action=user.updated" in page
    assert 'href="/admin/audit.csv?actor=alice@example.com&amp;action=user.updated"' in page


def test_date_filters(admin_client, record, app):
    from datetime import timedelta

    _fill(record, 3)
    # The filters are UTC dates, like the stored times: take them from the rows themselves
    # (the machine's local date differs from the UTC one for hours every day).
    times = [row["created_at"] for row in audit_rows(app, action="user.updated")]
    first, last = times[0].date(), times[-1].date()
    assert "3 events match" in admin_client.get(
        f"/admin/audit?action=user.updated&since={first}"
    ).get_data(as_text=True)
    assert "No events match" in admin_client.get(
        f"/admin/audit?since={last + timedelta(days=1)}"
    ).get_data(as_text=True)
    assert "3 events match" in admin_client.get(
        f"/admin/audit?action=user.updated&until={last}"
    ).get_data(as_text=True)
    assert "No events match" in admin_client.get(
        f"/admin/audit?action=user.updated&until={first - timedelta(days=1)}"
    ).get_data(as_text=True)


def test_bad_filters_get_a_clear_message(admin_client):
    response = admin_client.get("/admin/audit?since=yesterday&until=2020-01-01")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Not a valid date value." in page and "Fix the filters" in page
    reversed_range = admin_client.get("/admin/audit?since=2021-01-02&until=2021-01-01")
    assert "The end date is before the start date." in reversed_range.get_data(as_text=True)
    assert admin_client.get("/admin/audit.csv?since=nope").status_code == 400
    assert admin_client.get("/admin/audit?page=abc").status_code == 200


def test_changes_read_old_to_new_and_user_text_is_escaped(admin_client, record):
    record(
        "user.updated", target="<script>alert(1)</script>", changes={"role": ["member", "admin"]}
    )
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<span class="old">member</span> → <span class="new">admin</span>' in page


def _csv(client, query=""):
    response = client.get("/admin/audit.csv" + query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_csv_columns_and_content(admin_client, record):
    record("user.updated", target="kim@example.com", changes={"role": ["member", "admin"]})
    rows = _csv(admin_client, "?action=user.updated")
    assert rows[0] == ["time", "actor", "action", "target", "changes", "ip"]
    assert len(rows) == 2
    time, actor, action, target, changes, ip = rows[1]
    assert time.endswith("Z") and actor == "system" and action == "user.updated"
    assert target == "kim@example.com" and changes == '{"role": ["member", "admin"]}'


def test_csv_neutralises_formulas_and_line_breaks(admin_client, record):
    for target in ('=HYPERLINK("http://evil")', "+1+2", "-3", "@SUM(A1)", "two\r\nlines"):
        record("user.updated", target=target)
    rows = _csv(admin_client, "?action=user.updated")
    targets = {row[3] for row in rows[1:]}
    assert targets == {'\'=HYPERLINK("http://evil")', "'+1+2", "'-3", "'@SUM(A1)", "two\\r\\nlines"}
    assert len(rows) == 6  # no row was forged by the line break


def test_csv_neutralises_pipes_and_fullwidth_formula_signs(admin_client, record):
    starts = ("|calc!A0", "＝SUM(1)", "＋1", "－1", "＠SUM(A1)")
    for target in starts:
        record("user.updated", target=target)
    rows = _csv(admin_client, "?action=user.updated")
    assert {row[3] for row in rows[1:]} == {"'" + target for target in starts}
    assert rows[1][1] == "system"  # other cells are left as they are


def test_csv_export_is_audited(app, admin_client, admin):
    _csv(admin_client, "?action=auth.login")
    event = audit_rows(app, action="audit.exported")[0]
    assert event["actor"] == admin.email
    assert event["changes"] == {"action": [None, "auth.login"]}


def test_members_get_403_on_both_routes(member_client):
    assert member_client.get("/admin/audit").status_code == 403
    assert member_client.get("/admin/audit.csv").status_code == 403


def test_odd_query_strings_get_messages_not_errors(admin_client):
    for query in ("page=%C2%B2", "until=9999-12-31", "actor=a%00b", "action=x%0Ay"):
        response = admin_client.get(f"/admin/audit?{query}")
        assert response.status_code == 200, query
    assert "Enter a date between 2000-01-01 and 9998-12-31." in admin_client.get(
        "/admin/audit?until=9999-12-31"
    ).get_data(as_text=True)
    assert admin_client.get("/admin/users/99999999999999999999").status_code == 404
