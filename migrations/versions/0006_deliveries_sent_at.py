"""Deliveries: index on sent_at for the "last delivery" health line.

Revision ID: 0006_deliveries_sent_at
Revises: 0005_audit_range_indexes
Create Date: 2026-11-27
"""

from alembic import op

revision = "0006_deliveries_sent_at"
down_revision = "0005_audit_range_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_deliveries_sent_at", "deliveries", ["sent_at"])


def downgrade():
    op.drop_index("ix_deliveries_sent_at", table_name="deliveries")
