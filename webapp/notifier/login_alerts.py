"""Login-attack alerts: auth announces an account failing from many addresses; queue a
``resource_alert`` for the ``resource-alerts`` audience (every admin unless opted out)."""

from flask_babel import force_locale, gettext

from ..auth.signals import login_attack
from .outbox import enqueue

ALERT = "login_attack"  # data["alert"] of these notifications


def alert_wording(data):
    """``(subject, text)`` of a login-attack alert in the current language, from its data."""
    values = {key: data[key] for key in ("email", "addresses", "minutes")}
    subject = gettext("Login attack: %(email)s failed from %(addresses)s addresses", **values)
    text = gettext(
        "Logins to %(email)s failed from %(addresses)s different addresses within "
        "%(minutes)s minutes. The account is not locked: each address is throttled on its "
        "own, and logins to the account are slowed down while this lasts. The audit log "
        "lists every attempt (actions auth.login_failed and auth.login_throttled).",
        **values,
    )
    return subject, text


def queue_login_alert(_sender, email, addresses, minutes):
    """Queue the alert in the failed login's transaction (auth commits it)."""
    data = {"alert": ALERT, "email": email, "addresses": addresses, "minutes": minutes}
    with force_locale("en"):  # the stored copy; each recipient's is worded in their language
        subject, text = alert_wording(data)
    enqueue(kind="resource_alert", subject=subject, text=text, data=data, created_by="system")


def connect_login_alerts():
    """Receive auth's ``login_attack`` signal for the life of the process."""
    login_attack.connect(queue_login_alert, weak=False)
