"""The ``monitoring`` command: validate configuration, run the demo and backfills, and look
at alerts and incidents without opening the Dagster UI.

One module per group of commands (``config``, ``demo``, ``runs``, ``incidents``, ``review``,
``reports``, ``judge``, ``ops``, ``store``, ``web``, ``prune``); ``context`` holds what they
share.
"""

from __future__ import annotations

from typing import Any

import click

from monitoring_pipelines.cli.config import validate_config
from monitoring_pipelines.cli.context import Context, fail
from monitoring_pipelines.cli.demo import demo
from monitoring_pipelines.cli.incidents import alerts, incidents, mute
from monitoring_pipelines.cli.judge import judge
from monitoring_pipelines.cli.ops import otel, serve_metrics
from monitoring_pipelines.cli.prune import prune
from monitoring_pipelines.cli.reports import report
from monitoring_pipelines.cli.review import review
from monitoring_pipelines.cli.runs import alerting, backfill, costs
from monitoring_pipelines.cli.store import store
from monitoring_pipelines.cli.web import serve
from monitoring_pipelines.core.errors import ConfigError, MonitoringError, describe_fault

__all__ = ["main"]


class Commands(click.Group):
    """The command group. An error ends a command with one line on stderr, not a traceback:
    exit status 2 for a monitor file to fix, 1 for any other fault (a store it cannot open
    or write, a folder it cannot create, a database error)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("traceback"):
                raise
            click.echo(f"error: {_one_line(exc)}", err=True)
            ctx.exit(2 if isinstance(exc, ConfigError) else 1)


def _one_line(exc: Exception) -> str:
    text = describe_fault(exc)
    if isinstance(exc, ConfigError) and len(str(exc).splitlines()) > 1:
        return str(exc)  # a headline and one line per problem of the file
    if isinstance(exc, MonitoringError | OSError) or type(exc).__module__.startswith(
        ("sqlalchemy", "dagster")
    ):
        return text
    return f"{type(exc).__name__}: {text} (run with --traceback to see where)"


@click.group(cls=Commands)
@click.option(
    "--config",
    "config_path",
    envvar="MONITORING_CONFIG",
    help="Monitor file (default: $MONITORING_CONFIG or demo/monitors.yaml).",
)
@click.option("--traceback", is_flag=True, help="Show the traceback of an error.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, traceback: bool) -> None:
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
    report,
    judge,
    serve,
    prune,
    store,
):
    main.add_command(_command)
