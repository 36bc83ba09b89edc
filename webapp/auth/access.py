"""Who may see what: the login loader, session expiry and ``admin_required``."""

import functools

from flask import abort, current_app, flash, request, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from ..database import write_transaction
from ..extensions import db, login_manager
from ..timeutil import utcnow
from .models import LoginSession, User
from .signals import announce

SESSION_EXPIRED = _l("Your session has expired. Log in again.")


@login_manager.user_loader
def load_user(user_id):
    """The logged-in user, only while their server-side session row exists and is current.

    A row past ``SESSION_LIFETIME`` since login, or ``SESSION_IDLE_TIMEOUT`` since its last
    use, is deleted and the request continues logged out (so it is sent to the login page).
    """
    token = session.get("sid")
    if not token or not user_id.isdigit():
        return None
    # One query per request: the session row must exist and belong to this user.
    row = db.session.execute(
        db.select(User, LoginSession)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.id == LoginSession.digest(token), User.id == int(user_id))
    ).first()
    if row is None:
        return None
    user, login = row
    now, config = utcnow(), current_app.config
    idle = config["SESSION_IDLE_TIMEOUT"]
    if login.expired(now, config["SESSION_LIFETIME"], idle):
        with write_transaction():
            db.session.execute(db.delete(LoginSession).where(LoginSession.id == login.id))
        session.clear()
        flash(str(SESSION_EXPIRED), "info")
        return None
    if login.stale(now, idle):
        with write_transaction():
            db.session.execute(
                db.update(LoginSession).where(LoginSession.id == login.id).values(last_seen_at=now)
            )
    return user


def admin_required(view):
    """Refuse a logged-in member with 403 (audited); use under ``@login_required``."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            with write_transaction():
                announce("access.denied", target=request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def admin_view(view):
    """``@login_required`` then ``@admin_required``: anonymous to login, member to 403."""
    return login_required(admin_required(view))
