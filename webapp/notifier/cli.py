"""``flask notifier run|check-resources`` and ``flask token create``."""

import click
from flask import current_app
from flask.cli import AppGroup

from ..extensions import db
from .monitor import check_resources
from .tokens import check_name, create_token
from .worker import Worker

notifier_group = AppGroup("notifier", help="The delivery worker and the resource monitor.")
token_group = AppGroup("token", help="API tokens for the notification API.")


@notifier_group.command("run")
@click.option("--once", is_flag=True, help="Deliver everything due now, then exit.")
def run_command(once):
    """Run the delivery worker (stops cleanly on SIGTERM)."""
    worker = Worker(current_app._get_current_object())
    worker.install_signal_handlers()
    counts = worker.run(once=once)
    click.echo("Delivered: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@notifier_group.command("check-resources")
def check_resources_command():
    """One pass of the server resource monitor."""
    sent = check_resources()
    db.session.commit()
    click.echo("Resource check: " + (", ".join(f"{m} {e}" for m, e in sent) or "nothing to report"))


@token_group.command("create")
@click.argument("name")
def token_create_command(name):
    """Create an API token NAME and print it once."""
    problem = check_name(name)
    if problem:
        raise click.ClickException(problem)
    _, plaintext = create_token(name, "system")
    db.session.commit()
    click.echo(f"API token {name!r} (shown once, store it now):")
    click.echo(plaintext)
