"""``monitoring report``: a day's HTML report rendered from the stored results, and the
reports a backfill (or the demo) writes for the days its incidents failed on."""

from __future__ import annotations

import sys
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.core.artifacts import ArtifactPath, child
from monitoring_pipelines.core.config import MonitorFile

if TYPE_CHECKING:
    from monitoring_pipelines.core.report.page import Report


@click.command("report")
@click.option("--monitor", required=True, help="The monitor.")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), required=True, help="The day (UTC).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write, '-' for standard output "
    "(default: $MONITORING_HOME/reports/<monitor>/<day>.html).",
)
@pass_context
def report(ctx: Context, monitor: str, day: datetime, out: Path | None) -> None:
    """Render a day's HTML report from the stored results (no Dagster run needed).

    The page shows what the result store holds for the day: run a backfill of the day first
    for a day never computed. Exits 2 for an unknown monitor or a day outside its partitions.
    """
    from monitoring_pipelines.backfill import BackfillRangeError
    from monitoring_pipelines.cli.runs import check_days

    config = ctx.config()
    if monitor not in config.monitors:
        fail(f"unknown monitor '{monitor}'; known: {', '.join(config.monitors)}")
    try:
        check_days(config, [monitor], [day.date()])
    except BackfillRangeError as exc:
        fail(str(exc))
    if out is not None and str(out) == "-":
        rendered = Renderer(ctx, config).render(monitor, day.date())
        sys.stdout.write(rendered.html)
        return
    written = write_reports(ctx, config, {(monitor, day.date().isoformat())}, out=out)
    for line in written:
        click.echo(f"report: {line.path} ({line.headline})")


@dataclass(frozen=True)
class Written:
    """A report written to disk."""

    monitor: str
    day: date
    path: ArtifactPath
    headline: str


class Renderer:
    """Renders reports of a monitor file's monitors, counting checks as the definitions
    declare them (built once)."""

    def __init__(self, ctx: Context, config: MonitorFile) -> None:
        from assets.daily_report import daily_checks
        from monitoring_pipelines.definitions import build_definitions, report_keys

        self.ctx, self.config = ctx, config
        defs = build_definitions(config, ctx.settings, ctx.environ)
        assets = list(defs.assets or [])
        self.report_keys = report_keys(assets)  # type: ignore[arg-type]
        self.checks = {m: daily_checks(m, assets) for m in config.monitors}  # type: ignore[arg-type]
        self.results = ctx.results()

    def render(self, monitor: str, day: date) -> Report:
        from monitoring_pipelines.core.report.inputs import load_report_inputs
        from monitoring_pipelines.core.report.page import render_report

        inputs = load_report_inputs(
            self.results,
            monitor,
            self.config.monitors[monitor],
            day,
            datetime.now(UTC),
            check_specs=self.checks[monitor],
        )
        return render_report(inputs)


def write_reports(
    ctx: Context,
    config: MonitorFile,
    days: Collection[tuple[str, str]],
    *,
    out: Path | None = None,
    instance: Any = None,
) -> list[Written]:
    """Write the report of each ``(monitor, day)`` under ``$MONITORING_HOME/reports`` (or to
    ``out``, for one day).

    Args:
        instance: A Dagster instance to record each written report on, as a materialization
            of the monitor's ``daily_report`` partition (no run), so the UI links it.
    """
    import dagster as dg

    from assets.daily_report import (
        report_metadata,
        report_path,
        report_url,
        reports_dir,
        write_report,
    )

    if not days:
        return []
    renderer = Renderer(ctx, config)
    folder = reports_dir(child(ctx.settings.artifacts, "slices"))
    written = []
    for monitor, day_text in sorted(days):
        if monitor not in config.monitors:
            continue
        day = date.fromisoformat(day_text)
        rendered = renderer.render(monitor, day)
        path = out if out is not None else report_path(folder, monitor, day)
        size = write_report(rendered.html, path)
        key = renderer.report_keys.get(monitor)
        if instance is not None and key is not None and out is None:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=day_text,
                    description="Written by the monitoring command from the stored results.",
                    metadata=report_metadata(
                        rendered, path, size, report_url(ctx.settings.web_url, monitor, day, path)
                    ),
                )
            )
        headline = rendered.summary_markdown.splitlines()[0].strip("*")
        written.append(Written(monitor, day, path, headline))
    return written


def write_run_reports(
    ctx: Context, config: MonitorFile, alerting: Any, last: Collection[tuple[str, str]]
) -> list[Written]:
    """After a backfill's alerting pass: write the report of every day its incidents failed
    on (``days_to_report``) and of each monitor's ``last`` day, record them on the Dagster
    instance and say where they are."""
    from assets.daily_report import reports_dir
    from monitoring_pipelines.core.alerting.incident_days import days_to_report

    today = datetime.now(UTC).date()
    days = {
        (monitor, day)
        for monitor, day in days_to_report(ctx.alerts(), alerting.ingest, alerting.checked)
        if monitor in config.monitors
        and config.monitors[monitor].has_day(date.fromisoformat(day), today)
    } | set(last)
    written = write_reports(ctx, config, days, instance=ctx.instance())
    echo_written(written, reports_dir(child(ctx.settings.artifacts, "slices")))
    return written


def echo_written(written: list[Written], reports: ArtifactPath) -> None:
    """Say where the reports are: one line per monitor with its days, and the newest file."""
    if not written:
        click.echo("reports: none written")
        return
    click.echo(
        f"reports: {len(written)} written under {reports}/<monitor>/<day>.html "
        "(the days incidents failed on, and the last day):"
    )
    by_monitor: dict[str, list[Written]] = {}
    for w in written:
        by_monitor.setdefault(w.monitor, []).append(w)
    for monitor, items in by_monitor.items():
        click.echo(f"  {monitor}: {' '.join(w.day.isoformat() for w in items)}")
    newest = max(written, key=lambda w: (w.day, w.monitor))
    click.echo(f"  open in a browser: {newest.path}")
