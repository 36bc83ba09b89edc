"""First run without default credentials: a one-time setup link while no admin exists."""

import contextlib
import hmac
import os
import secrets
import sys

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from ..config import read_or_create_secret
from ..extensions import db
from .models import User

TOKEN_FILE = "setup_token"  # noqa: S105 (a file name, not a secret)


def admin_exists():
    """True once any administrator account exists (active or not)."""
    return db.session.scalar(db.select(User.id).where(User.role == "admin").limit(1)) is not None


def _token():
    return read_or_create_secret(
        current_app.instance_path, TOKEN_FILE, lambda: secrets.token_urlsafe(32)
    )


def setup_link():
    """The absolute setup link, creating its token on first use."""
    return f"{current_app.config['BASE_URL']}/setup?token={_token()}"


def token_matches(candidate):
    """True when ``candidate`` is the current setup token (compared in constant time)."""
    path = os.path.join(current_app.instance_path, TOKEN_FILE)
    if not candidate or not os.path.exists(path):
        return False
    return hmac.compare_digest(candidate.encode(), _token().encode())


def discard_token():
    """Remove the setup token once the first administrator exists."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(current_app.instance_path, TOKEN_FILE))


def print_setup_link(app):
    """Print the setup link to stderr while no administrator exists (schema permitting)."""
    with app.app_context():
        try:
            needed = not admin_exists()
        except SQLAlchemyError:  # schema not created yet: init-db comes first
            db.session.rollback()
            return
        finally:
            db.session.remove()
        if needed:
            print(
                "\n  No administrator exists yet. Create the first one here (works once):\n"
                f"  {setup_link()}\n",
                file=sys.stderr,
                flush=True,
            )
