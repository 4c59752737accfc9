"""``monitoring prune``: delete what is older than each monitor's ``retention`` keys."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context


@click.command("prune")
@click.option("--monitor", "monitors", multiple=True, help="Prune this monitor only (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The day retention counts back from, YYYY-MM-DD (default: today, UTC).",
)
@pass_context
def prune(ctx: Context, monitors: tuple[str, ...], dry_run: bool, today: datetime | None) -> None:
    """Delete each monitor's data older than its retention keys: slices, profiles, per-column
    results, resolved incidents with their alerts, and reports.

    Prints per monitor and kind the rows and files removed (or, with --dry-run, that would
    be), then the totals. Metrics, check results, open incidents and the reference are kept.
    Exits 2 for an unknown monitor.
    """
    from monitoring_pipelines.core.artifacts import artifact_path
    from monitoring_pipelines.core.retention.prune import describe, folders_under, prune_monitor
    from monitoring_pipelines.core.retention.rows import RetentionRepository

    config = ctx.config()
    unknown = [m for m in monitors if m not in config.monitors]
    if unknown:
        fail(f"unknown monitor '{unknown[0]}'; known: {', '.join(config.monitors)}")
    day = (today or datetime.now(UTC)).date()
    store = RetentionRepository(ctx.database())
    folders = folders_under(artifact_path(ctx.settings.artifacts))
    removed = []
    for name in monitors or tuple(config.monitors):
        retention = config.monitors[name].retention
        removed += prune_monitor(store, folders, name, retention, day, dry_run=dry_run)
    for line in describe(removed, dry_run=dry_run):
        click.echo(line)
