"""Login-attack alerts: auth announces an account failing from many addresses; queue a
``resource_alert`` for the ``resource-alerts`` audience (every admin unless opted out)."""

from ..auth.signals import login_attack
from .outbox import enqueue

SUBJECT = "Login attack: {email} failed from {addresses} addresses"
TEXT = (
    "Logins to {email} failed from {addresses} different addresses within {minutes} minutes. "
    "The account is not locked: each address is throttled on its own, and logins to the "
    "account are slowed down while this lasts. The audit log lists every attempt "
    "(actions auth.login_failed and auth.login_throttled)."
)


def queue_login_alert(_sender, email, addresses, minutes):
    """Queue the alert in the failed login's transaction (auth commits it)."""
    values = {"email": email, "addresses": addresses, "minutes": minutes}
    enqueue(
        kind="resource_alert",
        subject=SUBJECT.format_map(values),
        text=TEXT.format_map(values),
        created_by="system",
    )


def connect_login_alerts():
    """Receive auth's ``login_attack`` signal for the life of the process."""
    login_attack.connect(queue_login_alert, weak=False)
