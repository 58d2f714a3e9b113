"""Operator commands under `flask --app wsgi ...`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@click.command("token")
@click.argument("user")
@click.option("--lifetime", default=3600, show_default=True, help="seconds the token is valid")
@with_appcontext  # `flask` pushes one itself; app.test_cli_runner() and other groups do not
def token(user: str, lifetime: int) -> None:
    """Print an access token for USER from the embedded issuer (local use only)."""
    issuer = current_app.extensions["tradeapp"].issuer
    if issuer is None:
        raise click.ClickException("tokens come from Cognito here (TRADEAPP_AUTH=cognito)")
    click.echo(issuer.issue(user, lifetime=lifetime))


def init_app(app: Flask) -> None:
    app.cli.add_command(token)
