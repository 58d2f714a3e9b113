"""Operator commands under `flask --app wsgi ...`: tokens, stats rebuilds, StatsDLQ replay."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .bootstrap import Container


def container() -> Container:
    return current_app.extensions["tradeapp"]  # type: ignore[no-any-return]


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, default=str))


@click.command("token")
@click.argument("user")
@click.option("--lifetime", default=3600, show_default=True, help="seconds the token is valid")
@with_appcontext  # `flask` pushes one itself; app.test_cli_runner() and other groups do not
def token(user: str, lifetime: int) -> None:
    """Print an access token for USER from the embedded issuer (local use only)."""
    from .services.auth import USER_ID

    if not USER_ID.fullmatch(user):
        raise click.BadParameter("letters, digits and . _ @ + : - only (at most 128)", param_hint="USER")
    issuer = container().issuer
    if issuer is None:
        raise click.ClickException("tokens come from Cognito here (TRADEAPP_AUTH=cognito)")
    click.echo(issuer.issue(user, lifetime=lifetime))


stats_cli = AppGroup("stats", help="Rebuild stats from trades.")


@stats_cli.command("rebuild")
@click.argument("user")
def rebuild(user: str) -> None:
    """Rebuild USER's stats now and print a summary."""
    record = container().stats.rebuild(user)
    echo_json({"userId": user, "revision": record.revision, "trades": record.trade_count})


@stats_cli.command("rebuild-all")
def rebuild_all() -> None:
    """Rebuild every user's stats, page by page, and print the summary."""
    report = container().stats.rebuild_all()
    echo_json(report.as_dict())
    if report.failures:
        raise SystemExit(1)


dlq_cli = AppGroup("dlq", help="The stats dead-letter queue (StatsDLQ).")


@dlq_cli.command("replay")
@click.option("--dry-run", is_flag=True, help="change nothing; list the users it would rebuild")
def replay(dry_run: bool) -> None:
    """Rebuild the users of each failed stream batch; delete a message once its rebuilds succeed."""
    app = container()
    reports = app.stats.replay(app.dead_letters(), app.stream(), dry_run=dry_run)
    for report in reports:
        echo_json(report)
    click.echo(f"{len(reports)} message(s){' (dry run: nothing changed)' if dry_run else ''}")
    if any(r.get("action") in ("kept", "left") for r in reports):
        raise SystemExit(1)


images_cli = AppGroup("images", help="Trade screenshots.")


@images_cli.command("cleanup")
@click.option("--delete", is_flag=True, help="remove orphans and clear stale references (default: dry run)")
def cleanup(delete: bool) -> None:
    """List objects no trade references, pending uploads over 24 h old, and references whose
    object is missing; with --delete, remove the first two and clear the last."""
    report = container().images.cleanup(delete=delete).as_dict()
    for name in ("orphanKeys", "stalePendingKeys", "staleReferenceKeys"):
        for key in report[name]:
            click.echo(f"{name[:-4]}: {key}")
    click.echo(
        f"orphans {report['orphans']}, stale pending {report['stalePending']}, "
        f"stale references {report['staleReferences']}"
        + ("" if delete else " (dry run: nothing changed; --delete to clean)")
    )


trades_cli = AppGroup("trades", help="Data tools: export and integrity check.")


@trades_cli.command("export")
@click.argument("user")
def export(user: str) -> None:
    """Print USER's trades as JSON Lines, exactly as stored (decimals as exact strings)."""
    for line in container().audit.export(user):
        click.echo(line)


@trades_cli.command("check")
@click.argument("user", required=False)
def check(user: str | None) -> None:
    """Report every malformed trade of USER (or of everyone, page by page); changes nothing."""
    found = 0
    for report in container().audit.check(user):
        found += 1
        echo_json(report)
    click.echo(f"{found} malformed trade(s)", err=True)
    if found:
        raise SystemExit(1)


auth_cli = AppGroup("auth", help="Sessions and tokens.")


@auth_cli.command("revoke")
@click.argument("user")
def revoke(user: str) -> None:
    """Refuse every access token USER holds now (a security incident). In production, also run
    `aws cognito-idp admin-user-global-sign-out` so that refresh tokens stop working too."""
    at = container().sessions.revoke(user)
    echo_json({"userId": user, "tokensValidAfter": at})


def init_app(app: Flask) -> None:
    app.cli.add_command(token)
    app.cli.add_command(stats_cli)
    app.cli.add_command(dlq_cli)
    app.cli.add_command(images_cli)
    app.cli.add_command(auth_cli)
    app.cli.add_command(trades_cli)
