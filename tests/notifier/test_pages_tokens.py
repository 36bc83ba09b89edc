"""The API tokens page: a new token is shown once, stored only hashed, and can be revoked."""

import hashlib
import re

from sqlalchemy import select

from webapp.extensions import db
from webapp.notifier.models import ApiToken
from webapp.notifier.tokens import create_token

from ..helpers import audit_summary, post_form

TOKEN_RE = re.compile(r'id="new-token-value" type="text" readonly value="(bin_[^"]+)"')


def tokens(app):
    with app.app_context():
        rows = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_empty_list_says_so(admin_client):
    page = admin_client.get("/admin/tokens").get_data(as_text=True)
    assert 'id="tokens-empty"' in page and "No API tokens yet." in page


def test_created_token_is_shown_once_and_stored_only_hashed(app, admin_client, admin):
    response = post_form(admin_client, "/admin/tokens", {"name": "task-scheduler"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    plaintext = TOKEN_RE.search(page).group(1)
    assert "it is shown only this once" in page
    assert response.headers["Cache-Control"] == "no-store"

    (row,) = tokens(app)
    assert row.name == "task-scheduler" and row.created_by == admin.email
    assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in (row.token_hash, row.prefix) and plaintext.startswith(row.prefix)
    assert audit_summary(app, "token.created") == [
        (admin.email, "task-scheduler", {"name": [None, "task-scheduler"]})
    ]

    # Never again: not on the list, not in a flash kept in the session cookie.
    again = admin_client.get("/admin/tokens").get_data(as_text=True)
    assert plaintext not in again and 'id="new-token"' not in again
    assert f"{row.prefix}…" in again and "task-scheduler" in again
    with admin_client.session_transaction() as session:
        assert plaintext not in repr(dict(session))


def test_name_is_validated(app, admin_client):
    for name, message in (
        ("", "Give the token a name."),
        ("bad/name", "Use 1–64 letters, digits, spaces, dots, dashes or underscores."),
        ("x" * 65, "Use 1–64 letters"),
    ):
        page = post_form(admin_client, "/admin/tokens", {"name": name}).get_data(as_text=True)
        assert message in page and 'id="new-token"' not in page
    post_form(admin_client, "/admin/tokens", {"name": "etl"})
    page = post_form(admin_client, "/admin/tokens", {"name": "etl"}).get_data(as_text=True)
    assert "A token named &#39;etl&#39; already exists." in page
    assert len(tokens(app)) == 1


def test_revoke_is_immediate_and_audited(app, admin_client, admin):
    with app.app_context():
        row, plaintext = create_token("report-renderer", "system")
        db.session.commit()
        token_id = row.id
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert app.test_client().get("/api/v1/notifications/x", headers=headers).status_code == 404

    page = admin_client.get("/admin/tokens").get_data(as_text=True)
    assert f'action="/admin/tokens/{token_id}/revoke"' in page
    response = post_form(admin_client, f"/admin/tokens/{token_id}/revoke", {})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/tokens"
    page = admin_client.get("/admin/tokens").get_data(as_text=True)
    assert "The token report-renderer is revoked" in page
    assert "revoked</span>" in page and f'action="/admin/tokens/{token_id}/revoke"' not in page
    assert tokens(app)[0].revoked_at is not None
    assert app.test_client().get("/api/v1/notifications/x", headers=headers).status_code == 403
    assert audit_summary(app, "token.revoked") == [
        (admin.email, "report-renderer", {"revoked": [False, True]})
    ]

    again = post_form(admin_client, f"/admin/tokens/{token_id}/revoke", {}, follow_redirects=True)
    assert "The token report-renderer was already revoked." in again.get_data(as_text=True)
    assert len(audit_summary(app, "token.revoked")) == 1


def test_revoke_of_an_unknown_token_is_404(admin_client):
    for token_id in ("999", "9" * 30):
        path = f"/admin/tokens/{token_id}/revoke"
        assert post_form(admin_client, path, {}).status_code == 404
