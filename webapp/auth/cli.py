"""``flask create-user``: make an account from the command line."""

import click
from flask.cli import with_appcontext

from ..extensions import db
from ..validators import has_control_characters, normalized_address
from .forms import MIN_PASSWORD
from .models import ROLES, User
from .signals import announce


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin or member")
@click.option("--name", default="", help="Display name.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted (hidden, twice) when not given.",
)
@with_appcontext
def create_user_command(email, role, name, password):
    """Create a user with EMAIL and a role."""
    try:
        email = normalized_address(email)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if len(name) > 100 or has_control_characters(name):
        raise click.ClickException("The name must be one line of at most 100 characters.")
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"The password must have at least {MIN_PASSWORD} characters.")
    if db.session.scalar(db.select(User.id).where(User.email == email)) is not None:
        raise click.ClickException(f"A user with the email {email} already exists.")
    user = User(email=email, name=name.strip(), role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    changes = {"name": [None, user.name], "role": [None, role], "password": "set"}
    announce("user.created", target=email, changes=changes, actor="system")
    db.session.commit()
    click.echo(f"Created {role} {email}.")
