"""Who may see what: the login loader and ``admin_required``."""

import functools

from flask import abort, request, session
from flask_login import current_user, login_required

from ..database import write_transaction
from ..extensions import db, login_manager
from .models import LoginSession, User
from .signals import announce


@login_manager.user_loader
def load_user(user_id):
    """The logged-in user, only while their server-side session row still exists."""
    token = session.get("sid")
    if not token or not user_id.isdigit():
        return None
    # One query per request: the session row must exist and belong to this user.
    return db.session.scalar(
        db.select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.id == LoginSession.digest(token), User.id == int(user_id))
    )


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
