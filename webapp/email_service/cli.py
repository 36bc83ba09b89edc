"""``flask rotate-key``: re-encrypt stored secrets under the newest key."""

import sys

import click
from flask.cli import with_appcontext

from ..audit.record import record_event
from ..extensions import db
from .encryption import UndecryptableSecret, rotate
from .models import EmailSettings


@click.command("rotate-key")
@with_appcontext
def rotate_key_command():
    """Re-encrypt every stored secret under the first key of SETTINGS_ENCRYPTION_KEYS."""
    rows = db.session.scalars(
        db.select(EmailSettings).where(EmailSettings.password_encrypted.is_not(None))
    ).all()
    try:
        for row in rows:
            row.password_encrypted = rotate(row.password_encrypted)
    except UndecryptableSecret:
        db.session.rollback()
        click.echo(
            "The stored SMTP password cannot be decrypted with any configured key; nothing "
            "was changed. Enter the password again on the Email Service page.",
            err=True,
        )
        sys.exit(1)
    record_event(
        "key.rotated", target="settings", changes={"reencrypted": [None, len(rows)]}, actor="system"
    )
    db.session.commit()
    click.echo(f"Re-encrypted {len(rows)} stored secret(s) under the newest key.")
