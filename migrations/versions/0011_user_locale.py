"""Users: their own language and time zone (none: the browser's and the defaults).

Revision ID: 0011_user_locale
Revises: 0010_session_activity
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_user_locale"
down_revision = "0010_session_activity"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("timezone")
        batch.drop_column("locale")
