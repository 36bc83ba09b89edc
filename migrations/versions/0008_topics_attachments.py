"""Topic catalogue with audiences, notification attachments, and the topic that reached
each delivery (for its one-click unsubscribe link).

Existing subscriptions keep working: their topics are registered with an empty audience
(every user); the system topics are registered for administrators.

Revision ID: 0008_topics_attachments
Revises: 0007_delivery_scale
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_topics_attachments"
down_revision = "0007_delivery_scale"
branch_labels = None
depends_on = None

SYSTEM = {"task-failures": "Task failures", "resource-alerts": "Server resource alerts"}
PREFIX_KINDS = {"card": "card", "page": "page", "task": "task"}


def upgrade():
    topics = op.create_table(
        "topics",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("url", sa.String(500)),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_topics")),
        sa.CheckConstraint(
            "kind IN ('card', 'page', 'task', 'system')", name=op.f("ck_topics_kind")
        ),
    )
    audience = op.create_table(
        "topic_audience",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "topic",
            sa.String(100),
            sa.ForeignKey(
                "topics.name", ondelete="CASCADE", name=op.f("fk_topic_audience_topic_topics")
            ),
            nullable=False,
        ),
        sa.Column("role", sa.String(10)),
        sa.Column("email", sa.String(254)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_audience")),
        sa.UniqueConstraint("topic", "role", "email", name=op.f("uq_topic_audience_topic")),
        sa.CheckConstraint(
            "(role IS NULL) <> (email IS NULL)", name=op.f("ck_topic_audience_one_of")
        ),
    )
    op.create_index(op.f("ix_topic_audience_topic"), "topic_audience", ["topic"])
    op.create_table(
        "notification_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "notification_id",
            sa.String(32),
            sa.ForeignKey(
                "notifications.id",
                ondelete="CASCADE",
                name=op.f("fk_notification_attachments_notification_id_notifications"),
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("inline", sa.Boolean(), nullable=False),
        sa.Column("content_id", sa.String(100)),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attachments")),
    )
    op.create_index(
        op.f("ix_notification_attachments_notification_id"),
        "notification_attachments",
        ["notification_id"],
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("topic", sa.String(100)))

    bind = op.get_bind()
    now = sa.func.now()
    names = bind.execute(sa.text("SELECT DISTINCT topic FROM subscriptions")).scalars().all()
    rows = [
        {"name": name, "title": name, "kind": PREFIX_KINDS.get(name.partition(":")[0], "card")}
        for name in names
        if name not in SYSTEM
    ]
    rows += [{"name": name, "title": title, "kind": "system"} for name, title in SYSTEM.items()]
    stamp = bind.execute(sa.select(now)).scalar()
    op.bulk_insert(topics, [{**row, "created_at": stamp, "updated_at": stamp} for row in rows])
    op.bulk_insert(audience, [{"topic": name, "role": "admin"} for name in SYSTEM])


def downgrade():
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("topic")
    op.drop_table("notification_attachments")
    op.drop_index("ix_topic_audience_topic", table_name="topic_audience")
    op.drop_table("topic_audience")
    op.drop_table("topics")
