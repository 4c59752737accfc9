"""``monitoring demo``: generate the demo's data, run it end to end, and report what was found;
the work itself is in :mod:`monitoring_pipelines.demo.run`."""

from __future__ import annotations

from datetime import datetime

import click

from monitoring_pipelines.cli.context import Context, pass_context
from monitoring_pipelines.demo.events import MIN_DAYS
from monitoring_pipelines.demo.generate import DEFAULT_START


@click.group()
def demo() -> None:
    """The demo: three systems with known injected incidents."""


@demo.command("generate")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=DEFAULT_START.isoformat())
@click.option("--days", type=click.IntRange(MIN_DAYS, 366), default=60, show_default=True)
@click.option("--scale", type=click.FloatRange(0.01, 100), default=1.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@pass_context
def demo_generate(ctx: Context, start: datetime, days: int, scale: float, seed: int) -> None:
    """Write the demo's inference logs and reference tables into the warehouse."""
    from monitoring_pipelines.demo.run import generate

    generate(ctx, start.date(), days, scale, seed)


@demo.command("run")
@click.option("--days", type=click.IntRange(MIN_DAYS, 366), default=60, show_default=True)
@click.option("--scale", type=click.FloatRange(0.01, 100), default=1.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@pass_context
def demo_run(ctx: Context, days: int, scale: float, seed: int) -> None:
    """Generate the demo data, run every day through Dagster, replay the alerting as if the
    days had been live, and report what was found and sent."""
    from monitoring_pipelines.demo.run import run_demo

    run_demo(ctx, days, scale, seed)


@demo.command("report")
@pass_context
def demo_report(ctx: Context) -> None:
    """Incidents found next to the demo's injected events."""
    from monitoring_pipelines.demo.run import report

    report(ctx, ctx.settings.home / "demo" / "ground_truth.json")
