"""Login sessions: when each was last used, for the idle timeout.

Revision ID: 0010_session_activity
Revises: 0009_audit_hmac
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_session_activity"
down_revision = "0009_audit_hmac"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("login_sessions") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(), nullable=True))
    # Existing logins count as last used when they began.
    op.execute("UPDATE login_sessions SET last_seen_at = created_at")
    with op.batch_alter_table("login_sessions") as batch:
        batch.alter_column("last_seen_at", existing_type=sa.DateTime(), nullable=False)


def downgrade():
    with op.batch_alter_table("login_sessions") as batch:
        batch.drop_column("last_seen_at")
