"""Account events, announced for the audit log (which sits below auth and subscribes)."""

from blinker import Namespace

_signals = Namespace()

#: Sent with ``action``, ``target``, ``changes`` and ``actor`` inside the transaction of
#: the change; a receiver that raises aborts the change.
account_event = _signals.signal("account-event")

#: Sent with ``email``, ``addresses`` and ``minutes`` when one account has drawn failed
#: logins from many addresses, once per window, inside the failed login's transaction.
#: The notifier connects to it to alert the ``resource-alerts`` audience (auth sits above
#: the notifier and cannot call it).
login_attack = _signals.signal("login-attack")


def announce(action, target="", changes=None, actor=None):
    """Announce an account or security event to every receiver (the audit log)."""
    account_event.send(action, target=target, changes=changes or {}, actor=actor)
