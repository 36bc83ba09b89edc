"""Role-based access: every admin URL refuses anonymous and member users."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from ..helpers import csrf_token

SAMPLE_ARGS = {
    "user_id": "1",
    "id": "1",
    "token_id": "1",
    "delivery_id": "1",
    "name": "task-failures",
}


def admin_rules(app):
    """Every /admin route, with sample values for its URL arguments."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: SAMPLE_ARGS[m.group(1)], rule.rule)
            yield rule, path


def test_there_are_admin_routes_to_check(app):
    assert len(list(admin_rules(app))) >= 5


def test_anonymous_is_sent_to_login_with_next(app, client):
    for rule, path in admin_rules(app):
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(path, method=method)
            if method == "GET":
                assert response.status_code == 302, path
                assert response.headers["Location"].startswith("/login?next=")
            else:
                # Without a session there is no CSRF token either: refused before anything runs.
                assert response.status_code == 400, (method, path)


def test_member_gets_access_denied_everywhere(app, member_client, admin):
    token = csrf_token(member_client)
    for rule, path in admin_rules(app):
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            data = {"csrf_token": token} if method == "POST" else None
            response = member_client.open(path, method=method, data=data)
            assert response.status_code == 403, (method, path)
            page = response.get_data(as_text=True)
            assert "Access denied" in page
            assert "max.member@example.com" in page


# Return addresses, not pages: the OAuth provider's redirect back, with no sign-in under
# way, sends the administrator to the settings page with a message.
RETURN_ADDRESSES = {"/admin/settings/email/oauth/callback": "/admin/settings/email"}


def test_admin_reaches_every_admin_page(app, admin_client, admin):
    for rule, path in admin_rules(app):
        if "GET" in rule.methods:
            response = admin_client.get(path)
            response.close()  # ends a streamed response (the CSV) as a real server would
            if path in RETURN_ADDRESSES:
                assert response.headers["Location"] == RETURN_ADDRESSES[path]
                continue
            assert response.status_code == 200, path
            assert response.headers["Cache-Control"] == "no-store"


def test_state_changing_routes_refuse_get(app, admin_client):
    rules = list(app.url_map.iter_rules())
    readable = {r.rule for r in rules if "GET" in r.methods}
    # A POST-only rule sharing its path with a read-only page (the settings form) is fine.
    post_only = [r for r in rules if "POST" in r.methods and r.rule not in readable]
    assert post_only, "expected POST-only routes such as /logout"
    for rule in post_only:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: SAMPLE_ARGS[m.group(1)], rule.rule)
        assert admin_client.get(path).status_code == 405, path


@pytest.mark.parametrize("path", ["/", "/admin/users", "/admin/settings"])
def test_anonymous_redirect_keeps_the_path(client, path):
    response = client.get(path)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == [path]


def test_home_shows_links_by_role(client, auth, admin, member):
    auth.login(member.email, member.password)
    page = client.get("/").get_data(as_text=True)
    assert "Enterprise Settings" not in page
    auth.logout()
    auth.login(admin.email, admin.password)
    page = client.get("/").get_data(as_text=True)
    assert "Administrator Settings" in page and 'href="/admin/users"' in page
