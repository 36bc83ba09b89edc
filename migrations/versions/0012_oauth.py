"""OAuth 2.0 for SMTP: the login method, the app registration, and the encrypted client
secret and refresh token.

Revision ID: 0012_oauth
Revises: 0011_user_locale
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_oauth"
down_revision = "0011_user_locale"
branch_labels = None
depends_on = None

COLUMNS = (
    ("auth_method", sa.String(10), "password"),
    ("oauth_tenant", sa.String(100), ""),
    ("oauth_client_id", sa.String(100), ""),
    ("oauth_flow", sa.String(12), "application"),
)
OPTIONAL = (
    ("oauth_secret_encrypted", sa.Text()),
    ("oauth_refresh_encrypted", sa.Text()),
    ("oauth_account", sa.String(254)),
    ("oauth_signed_in_at", sa.DateTime()),
)


def upgrade():
    with op.batch_alter_table("email_settings") as batch:
        for name, kind, default in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        for name, kind in OPTIONAL:
            batch.add_column(sa.Column(name, kind))


def downgrade():
    with op.batch_alter_table("email_settings") as batch:
        for name, _ in reversed(OPTIONAL):
            batch.drop_column(name)
        for name, _, _ in reversed(COLUMNS):
            batch.drop_column(name)
