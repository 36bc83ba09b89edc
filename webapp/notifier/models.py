"""Notifier tables: topics, subscriptions, tokens, notifications, attachments, deliveries,
worker and monitor state."""

from ..extensions import db
from ..timeutil import utcnow

KINDS = ("subscription", "alert", "task_failure", "resource_alert")
STATUSES = ("queued", "sending", "sent", "retrying", "held", "dead")
SYSTEM_TOPICS = ("task-failures", "resource-alerts")
TOPIC_KINDS = ("card", "page", "task", "system")


class Topic(db.Model):
    """Something the platform sends mail about, and who may see and receive it."""

    __tablename__ = "topics"

    name = db.Column(db.String(100), primary_key=True)
    title = db.Column(db.String(200), nullable=False)
    url = db.Column(db.String(500))
    kind = db.Column(db.String(10), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    audience = db.relationship(
        "TopicAudience", cascade="all, delete-orphan", order_by="TopicAudience.id"
    )

    __table_args__ = (
        db.CheckConstraint("kind IN ('card', 'page', 'task', 'system')", name="kind"),
    )

    @property
    def roles(self):
        """The roles in the audience."""
        return [entry.role for entry in self.audience if entry.role]

    @property
    def users(self):
        """The user emails in the audience."""
        return [entry.email for entry in self.audience if entry.email]


class TopicAudience(db.Model):
    """One role or one user email allowed to see a topic; none at all means every user."""

    __tablename__ = "topic_audience"

    id = db.Column(db.Integer, primary_key=True)
    topic = db.Column(
        db.String(100),
        db.ForeignKey("topics.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    role = db.Column(db.String(10))
    email = db.Column(db.String(254))

    __table_args__ = (
        db.UniqueConstraint("topic", "role", "email"),
        db.CheckConstraint("(role IS NULL) <> (email IS NULL)", name="one_of"),
    )


class Subscription(db.Model):
    """A user's choice about a topic: subscribed, or (for system topics) opted out."""

    __tablename__ = "subscriptions"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(
        db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    topic = db.Column(db.String(100), nullable=False)
    subscribed = db.Column(db.Boolean, nullable=False, default=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        db.UniqueConstraint("user_id", "topic"),
        db.Index("ix_subscriptions_topic", "topic", "subscribed"),
    )


class ApiToken(db.Model):
    """A bearer token for the notification API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(64), nullable=False, unique=True)
    token_hash = db.Column(db.String(64), nullable=False, unique=True)
    prefix = db.Column(db.String(12), nullable=False)  # shown in lists to tell tokens apart
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    created_by = db.Column(db.String(254), nullable=False)
    revoked_at = db.Column(db.DateTime)
    last_used_at = db.Column(db.DateTime)

    def __repr__(self):
        return f"<ApiToken {self.name} {self.prefix}…>"


class Notification(db.Model):
    """One message handed to the notifier, fanned out into one delivery per recipient."""

    __tablename__ = "notifications"

    id = db.Column(db.String(32), primary_key=True)
    kind = db.Column(db.String(20), nullable=False)
    topic = db.Column(db.String(100))
    subject = db.Column(db.String(200), nullable=False)
    text = db.Column(db.Text, nullable=False, default="")
    html = db.Column(db.Text)
    data = db.Column(db.JSON)
    idempotency_key = db.Column(db.String(200), unique=True)
    created_by = db.Column(db.String(254), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    deliveries = db.relationship("Delivery", back_populates="notification", lazy="dynamic")
    attachments = db.relationship(
        "Attachment",
        order_by="Attachment.position",
        cascade="all, delete-orphan",
        lazy="selectin",
        # The bytes stay in the database until a message is built: the listings read
        # names and sizes only.
    )


class Attachment(db.Model):
    """A file or inline image of a notification, stored once for all its recipients."""

    __tablename__ = "notification_attachments"

    id = db.Column(db.Integer, primary_key=True)
    notification_id = db.Column(
        db.String(32),
        db.ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    position = db.Column(db.Integer, nullable=False)
    filename = db.Column(db.String(255), nullable=False)
    content_type = db.Column(db.String(100), nullable=False)
    inline = db.Column(db.Boolean, nullable=False, default=False)
    content_id = db.Column(db.String(100))
    size = db.Column(db.Integer, nullable=False)
    content = db.deferred(db.Column(db.LargeBinary, nullable=False))


class Delivery(db.Model):
    """One recipient of one notification, with its attempts and state."""

    __tablename__ = "deliveries"

    id = db.Column(db.Integer, primary_key=True)
    notification_id = db.Column(
        db.String(32), db.ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False
    )
    recipient = db.Column(db.String(254), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="SET NULL"))
    status = db.Column(db.String(10), nullable=False, default="queued")
    attempts = db.Column(db.Integer, nullable=False, default=0)
    next_attempt_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    lease_owner = db.Column(db.String(64))
    lease_expires_at = db.Column(db.DateTime)
    message_id = db.Column(db.String(255), nullable=False)  # kept across retries
    last_error = db.Column(db.String(40))
    last_reply = db.Column(db.String(300))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    sent_at = db.Column(db.DateTime)
    topic = db.Column(db.String(100))  # the topic that reached this recipient, if any

    notification = db.relationship("Notification", back_populates="deliveries")

    __table_args__ = (
        db.UniqueConstraint("notification_id", "recipient"),
        db.Index("ix_deliveries_due", "status", "next_attempt_at"),
        db.Index("ix_deliveries_created", "created_at"),
        db.Index("ix_deliveries_sent_at", "sent_at"),  # "last delivery" on the settings page
        db.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'retrying', 'held', 'dead')", name="status"
        ),
    )


class SendRate(db.Model):
    """Messages sent in one minute by all workers together, for ``max_per_minute``."""

    __tablename__ = "send_rate"

    minute = db.Column(db.DateTime, primary_key=True)
    sent = db.Column(db.Integer, nullable=False, default=0, server_default="0")


class WorkerHeartbeat(db.Model):
    """The last sign of life of each delivery worker, for /healthz."""

    __tablename__ = "worker_heartbeats"

    worker_id = db.Column(db.String(64), primary_key=True)
    hostname = db.Column(db.String(255), nullable=False)
    pid = db.Column(db.Integer, nullable=False)
    started_at = db.Column(db.DateTime, nullable=False)
    seen_at = db.Column(db.DateTime, nullable=False)


class ResourceThresholds(db.Model):
    """Limits of the server resource monitor, set by administrators."""

    __tablename__ = "resource_thresholds"

    id = db.Column(db.Integer, primary_key=True)
    disk_percent = db.Column(db.Float, nullable=False, default=90.0)
    memory_percent = db.Column(db.Float, nullable=False, default=90.0)
    load_per_core = db.Column(db.Float, nullable=False, default=2.0)
    cooldown_minutes = db.Column(db.Integer, nullable=False, default=30)


class ResourceAlertState(db.Model):
    """Whether a metric is above its threshold, and when it last alerted."""

    __tablename__ = "resource_alert_state"

    metric = db.Column(db.String(20), primary_key=True)
    alerting = db.Column(db.Boolean, nullable=False, default=False)
    since = db.Column(db.DateTime)  # when the current crossing began
    last_value = db.Column(db.Float)
    last_alert_at = db.Column(db.DateTime)
    checked_at = db.Column(db.DateTime)
