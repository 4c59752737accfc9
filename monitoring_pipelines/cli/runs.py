"""Commands that run the pipelines from the terminal: ``backfill`` a range of days,
``alerting run`` once, and ``costs stale`` to find the days a price change reprices."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import date, datetime

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.cli.operations import run_alerting, run_days
from monitoring_pipelines.core.config import MonitorFile


@click.command()
@click.option("--monitor", "monitors", multiple=True, help="Monitor(s); default: all.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Included.")
@click.option("--rebuild-reference", is_flag=True, help="Refit the reference first.")
@click.option("--no-alerting", is_flag=True, help="Do not run the alerting pass afterwards.")
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=lambda: min(os.cpu_count() or 1, 4),
    show_default="the number of cores, at most 4",
    help="Runs executing side by side, each in a warm worker process.",
)
@pass_context
def backfill(
    ctx: Context,
    monitors: Sequence[str],
    start: datetime,
    end: datetime,
    rebuild_reference: bool,
    no_alerting: bool,
    workers: int,
) -> None:
    """Materialize a range of days: one Dagster backfill per job, one run per monitor and day
    (shown in the UI), executed by --workers warm worker processes.

    Then the alerting pass runs, and the HTML report of every day an incident failed on and
    of the last day is written under $MONITORING_HOME/reports (the paths are printed).

    Exits 1 when a run failed or a monitor's days could not run (each is listed on stderr,
    one line each: monitor, day, asset, cause), 2 when the days are outside a monitor's
    partitions.
    """
    from monitoring_pipelines.backfill import BackfillRangeError, days_between, new_backfill_id
    from monitoring_pipelines.sensors.alerting_pass import mark_backfill_finished

    config = ctx.config()
    unknown = [m for m in monitors if m not in config.monitors]
    if unknown:
        fail(f"unknown monitor(s) {', '.join(unknown)}; known: {', '.join(config.monitors)}")
    chosen = list(monitors) or list(config.monitors)
    try:
        days = days_between(start.date(), end.date())
        check_days(config, chosen, days)
    except BackfillRangeError as exc:
        fail(str(exc))
    backfill_id = new_backfill_id()
    try:
        report = run_days(ctx, config, chosen, days, rebuild_reference, workers, backfill_id)
    finally:
        # Its one summary waits for this mark (or for 30 quiet minutes): no other run will come.
        mark_backfill_finished(ctx.alerts(), backfill_id)
    if not no_alerting:
        from monitoring_pipelines.cli.reports import write_run_reports

        alerting = run_alerting(ctx, config)
        write_run_reports(ctx, config, alerting, {(m, days[-1].isoformat()) for m in chosen})
    if report.failures or report.not_run:
        sys.exit(1)


def check_days(config: MonitorFile, monitors: Sequence[str], days: Sequence[date]) -> None:
    """Reject days outside the monitors' partitions before anything runs."""
    from monitoring_pipelines.backfill import check_range
    from monitoring_pipelines.partitions import daily_partitions

    check_range({m: daily_partitions(config.monitors[m]) for m in monitors}, days)


@click.group()
def alerting() -> None:
    """The alerting pass the sensor runs every 30 seconds."""


@alerting.command("run")
@click.option(
    "--replay",
    is_flag=True,
    help="Take the runs not alerted on yet day by day, in order, as if each day had been live "
    "(the clock at 01:00 UTC of the next morning): each morning's messages, not one backfill "
    "summary.",
)
@pass_context
def alerting_run(ctx: Context, replay: bool) -> None:
    """Ingest finished runs' check evaluations and deliver due alerts, once."""
    run_alerting(ctx, ctx.config(), replay=replay)


@click.group()
def costs() -> None:
    """LLM costs: the stored days a price-table change reprices."""


@costs.command("stale")
@click.option("--monitor", "monitors", multiple=True, help="Monitor(s); default: every LLM one.")
@click.option("--check", "fail_if_stale", is_flag=True, help="Exit 1 when a day would reprice.")
@pass_context
def costs_stale(ctx: Context, monitors: Sequence[str], fail_if_stale: bool) -> None:
    """The stored days whose cost the current price table changes, and the backfills to run."""
    from monitoring_pipelines.core.costs.repricing import stale_costs_report

    config = ctx.config()
    unknown = [m for m in monitors if m not in config.monitors]
    if unknown:
        fail(f"unknown monitor(s) {', '.join(unknown)}; known: {', '.join(config.monitors)}")
    text, stale = stale_costs_report(config, ctx.results(), list(monitors) or None)
    click.echo(text)
    if fail_if_stale and stale:
        sys.exit(1)
