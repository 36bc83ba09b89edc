"""Audit: indexes for an actor or action filter combined with a date range.

Revision ID: 0005_audit_range_indexes
Revises: 0004_notifier
Create Date: 2026-11-27
"""

from alembic import op

revision = "0005_audit_range_indexes"
down_revision = "0004_notifier"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_audit_events_action_created", "audit_events", ["action", "created_at"])
    op.create_index("ix_audit_events_actor_created", "audit_events", ["actor", "created_at"])


def downgrade():
    op.drop_index("ix_audit_events_actor_created", table_name="audit_events")
    op.drop_index("ix_audit_events_action_created", table_name="audit_events")
