"""Email Service settings: one row, the password stored only encrypted.

Revision ID: 0003_email_settings
Revises: 0002_audit_events
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_email_settings"
down_revision = "0002_audit_events"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "email_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("smtp_host", sa.String(length=253), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=4), nullable=False),
        sa.Column("sender_email", sa.String(length=254), nullable=False),
        sa.Column("sender_name", sa.String(length=100), nullable=False),
        sa.Column("login_name", sa.String(length=254), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(), nullable=True),
        sa.Column("password_changed_by", sa.String(length=254), nullable=True),
        sa.Column("test_email", sa.String(length=254), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("updated_by", sa.String(length=254), nullable=True),
        sa.CheckConstraint(
            "security IN ('none', 'ssl', 'tls')", name=op.f("ck_email_settings_security")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_settings")),
    )


def downgrade():
    op.drop_table("email_settings")
