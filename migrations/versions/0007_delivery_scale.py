"""Delivery at scale: parallel sessions and a per-minute limit on the Email Service, and a
shared per-minute send counter.

Revision ID: 0007_delivery_scale
Revises: 0006_deliveries_sent_at
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_delivery_scale"
down_revision = "0006_deliveries_sent_at"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("email_settings") as batch:
        batch.add_column(
            sa.Column("max_connections", sa.Integer(), nullable=False, server_default="4")
        )
        batch.add_column(
            sa.Column("max_per_minute", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "send_rate",
        sa.Column("minute", sa.DateTime(), primary_key=True),
        sa.Column("sent", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade():
    op.drop_table("send_rate")
    with op.batch_alter_table("email_settings") as batch:
        batch.drop_column("max_per_minute")
        batch.drop_column("max_connections")
