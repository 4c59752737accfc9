"""The ``monitoring`` command: validate configuration, run the demo and backfills, and look
at alerts and incidents without opening the Dagster UI.

One module per group of commands (``config``, ``demo``, ``runs``, ``incidents``, ``review``,
``ops``); ``context`` holds what they share.
"""

from __future__ import annotations

import click

from monitoring_pipelines.cli.config import validate_config
from monitoring_pipelines.cli.context import Context, fail
from monitoring_pipelines.cli.demo import demo
from monitoring_pipelines.cli.incidents import alerts, incidents, mute
from monitoring_pipelines.cli.ops import otel, serve_metrics
from monitoring_pipelines.cli.review import review
from monitoring_pipelines.cli.runs import alerting, backfill, costs
from monitoring_pipelines.core.errors import MonitoringError

__all__ = ["main"]


@click.group()
@click.option(
    "--config",
    "config_path",
    envvar="MONITORING_CONFIG",
    help="Monitor file (default: $MONITORING_CONFIG or demo/monitors.yaml).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Monitoring pipelines for ML and LLM systems: see README.md."""
    try:
        ctx.obj = Context(config_path)
    except MonitoringError as exc:  # a malformed setting in the environment
        fail(str(exc))


for _command in (
    validate_config,
    demo,
    backfill,
    alerting,
    costs,
    alerts,
    mute,
    incidents,
    otel,
    serve_metrics,
    review,
):
    main.add_command(_command)
