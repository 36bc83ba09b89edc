"""Login throttling: failures per address and per account from one address, a bounded
slow-down per account, the login-attack alert, and a cap on password checks at once.

Only failures count, so nobody can lock an account by failing on it from elsewhere: a
correct password from an address with no failures is never throttled, only slowed down
(by at most ``LOGIN_DELAY_MAX``) while the account keeps failing from many places. What
a flood can still cause is a 503 with ``Retry-After`` when every password-check slot is
taken: that is capacity, the same for every account, and it ends with the flood.
Counters live in the Flask-Limiter storage, shared by every app process with ``redis://``.
"""

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from time import sleep

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItemPerSecond

from ..database import write_transaction
from ..extensions import limiter
from ..validators import address_key
from .signals import announce, login_attack

# An account's failures in the alert window past this many slow each login to it down,
# DELAY_STEP seconds more per failure, up to LOGIN_DELAY_MAX.
FREE_FAILURES = 10
DELAY_STEP = 0.1
CHECK_NICENESS = 10  # password checks yield the CPU to pages (0 = same priority)
COUNTED = 1_000_000  # the window counters' ceiling: they count, they never refuse


class PasswordChecksBusy(Exception):
    """Every password-check slot stayed taken for ``LOGIN_HASH_WAIT`` seconds."""


def _email():
    return address_key(request.form.get("email"))[:254]


def _address():
    return get_remote_address() or ""


def _failed(_response):
    return g.get("login_failed", False)


def _window(amount):
    return RateLimitItemPerSecond(amount, max(1, int(current_app.config["LOGIN_ALERT_WINDOW"])))


def _first_in_window(*identifiers):
    return limiter.limiter.hit(_window(1), *identifiers)


def _count(*identifiers):
    return COUNTED - limiter.limiter.get_window_stats(_window(COUNTED), *identifiers).remaining


def note_throttled(reason, *identifiers):
    """Record ``auth.login_throttled`` once per window for ``reason`` and ``identifiers``."""
    if _first_in_window("login-throttled", reason, *identifiers):
        with write_transaction():
            announce(
                "auth.login_throttled",
                target=_email(),
                changes={"throttle": [None, reason]},
                actor="anonymous",
            )


def limit_failures(view):
    """Refuse (429, before any password check) a login from an address that failed too
    often (``LOGIN_RATE_LIMIT``), or failed too often on this account
    (``LOGIN_PAIR_RATE_LIMIT``). Only requests marked by ``record_failure`` are counted.
    """
    view = limiter.limit(
        lambda: current_app.config["LOGIN_PAIR_RATE_LIMIT"],
        methods=["POST"],
        key_func=lambda: f"{_email()}|{get_remote_address()}",
        scope="login-failures-account-address",
        deduct_when=_failed,
        on_breach=lambda _limit: note_throttled("account and address", _email(), _address()),
    )(view)
    return limiter.limit(
        lambda: current_app.config["LOGIN_RATE_LIMIT"],
        methods=["POST"],
        scope="login-failures-address",
        deduct_when=_failed,
        on_breach=lambda _limit: note_throttled("address", _address()),
    )(view)


def slow_down(email):
    """Sleep a bounded time when ``email`` keeps failing; returns the seconds slept.

    Call it inside a password-check slot (so sleepers hold few server threads) and before
    any database query (so the sleep holds no lock).
    """
    if not limiter.enabled:
        return 0.0
    failures = _count("login-account-failures", email)
    delay = min(current_app.config["LOGIN_DELAY_MAX"], DELAY_STEP * (failures - FREE_FAILURES))
    if delay <= 0:
        return 0.0
    note_throttled("account slowed down", email)
    sleep(delay)
    return delay


def record_failure(email, known):
    """Count a failed login; alert once per window when ``known`` account ``email`` has
    failed from ``LOGIN_ALERT_ADDRESSES`` addresses. Call inside the failure's transaction.
    """
    g.login_failed = True  # Flask-Limiter then deducts the address and pair limits
    if not limiter.enabled:
        return
    limiter.limiter.hit(_window(COUNTED), "login-account-failures", email)
    if _first_in_window("login-failing-address", email, _address()):
        limiter.limiter.hit(_window(COUNTED), "login-failing-addresses", email)
    addresses = _count("login-failing-addresses", email)
    config = current_app.config
    if (
        known
        and addresses >= config["LOGIN_ALERT_ADDRESSES"]
        and _first_in_window("login-attack-alerted", email)
    ):
        minutes = round(config["LOGIN_ALERT_WINDOW"] / 60)
        login_attack.send(
            current_app._get_current_object(), email=email, addresses=addresses, minutes=minutes
        )


def _lower_priority():
    # argon2's lane threads inherit this niceness: under a login flood the CPU goes to
    # pages first, password checks get what is left (Linux; elsewhere a no-op).
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)


class PasswordChecks:
    """At most ``size`` password checks at once, on threads of a lower CPU priority."""

    def __init__(self, size):
        self.slots = threading.BoundedSemaphore(size)
        self.pool = ThreadPoolExecutor(
            size, thread_name_prefix="password-check", initializer=_lower_priority
        )

    def run(self, function, *args):
        """``function(*args)`` on a password-check thread; its result."""
        return self.pool.submit(function, *args).result()


def register_password_checks(app):
    """Give ``app`` its ``LOGIN_HASH_CONCURRENCY`` password-check slots."""
    app.extensions["login_password_checks"] = PasswordChecks(
        max(1, app.config["LOGIN_HASH_CONCURRENCY"])
    )


@contextlib.contextmanager
def password_check_slot():
    """Hold a password-check slot and yield the function that runs a check in it.

    argon2 costs 64 MiB and ~0.2 s of CPU. Waits at most ``LOGIN_HASH_WAIT`` seconds for
    a slot, then raises ``PasswordChecksBusy``: a flood of logins gets quick refusals
    instead of a queue that holds every server thread and starves the pages.
    """
    checks = current_app.extensions["login_password_checks"]
    if not checks.slots.acquire(timeout=current_app.config["LOGIN_HASH_WAIT"]):
        raise PasswordChecksBusy
    try:
        yield checks.run
    finally:
        checks.slots.release()
