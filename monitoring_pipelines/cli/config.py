"""``monitoring validate-config``: check a monitor file, and that its tables, columns and
references exist."""

from __future__ import annotations

from pathlib import Path

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.errors import ConfigError, MonitoringError
from monitoring_pipelines.core.settings import url_secret


@click.command("validate-config")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--offline", is_flag=True, help="Check the file only; do not inspect the tables.")
@pass_context
def validate_config(ctx: Context, file: str | None, offline: bool) -> None:
    """Check a monitor file (and, unless --offline, that its tables, columns and references
    exist), and say where each monitor's alerts go."""
    path = Path(file) if file else ctx.settings.config_path
    try:
        config = load_config(path, ctx.environ)
    except MonitoringError as exc:
        fail(str(exc))
    problems = _secret_problems(ctx, config)
    if not offline and not problems:
        problems = _source_problems(ctx, config, path.parent)
    if problems:
        fail(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))
    names = ", ".join(config.monitors)
    checked = "file only" if offline else "file, tables, columns and references"
    click.echo(f"{path}: OK ({len(config.monitors)} monitor(s): {names}; checked {checked})")
    _destinations(ctx, config)


def _destinations(ctx: Context, config: MonitorFile) -> None:
    """Each monitor's destinations (the variable of a PagerDuty key, never the key), and a
    warning for each monitor whose alerts, or some of them, have nowhere to go."""
    from monitoring_pipelines.core.alerting.destinations import describe, nowhere_warning

    def is_set(env: str) -> bool:
        return bool(ctx.environ.get(env))

    click.echo("alert destinations:")
    for name, monitor in config.monitors.items():
        click.echo(f"  {describe(name, monitor.alerts, is_set)}")
    if not (ctx.settings.slack_token or ctx.settings.alerts_file):
        click.echo(
            "  (neither SLACK_BOT_TOKEN nor MONITORING_ALERTS_FILE is set here: Slack messages "
            "wait in the outbox)"
        )
    for name, monitor in config.monitors.items():
        warning = nowhere_warning(name, monitor.alerts)
        if warning:
            click.echo(f"WARNING: {warning}", err=True)


def _secret_problems(ctx: Context, config: MonitorFile) -> list[str]:
    """A password written into the monitor file, which Dagster would store with every run."""
    if config.warehouse_url is None:
        return []
    try:
        url_secret(
            config.warehouse_url, ctx.environ, "MONITORING_WAREHOUSE_URL", "key 'warehouse_url'"
        )
    except ConfigError as exc:
        return [str(exc)]
    return []


def _warehouse_source(ctx: Context, config: MonitorFile) -> str:
    if config.warehouse_url:
        return "key 'warehouse_url'"
    return "MONITORING_WAREHOUSE_URL" if ctx.settings.warehouse_url else "the embedded warehouse"


def _source_problems(ctx: Context, config: MonitorFile, config_dir: Path) -> list[str]:
    """Per monitor: its source table's missing columns, then its reference's (relative
    reference paths start at the monitor file's folder, as in the runs)."""
    from monitoring_pipelines.core.ingest.engine import warehouse_engine
    from monitoring_pipelines.core.ingest.warehouse import reference_problems, source_problems

    url = config.warehouse_url or ctx.settings.warehouse_url or ctx.settings.default_warehouse_url
    try:
        engine = warehouse_engine(url)
    except MonitoringError as exc:
        return [f"{_warehouse_source(ctx, config)}: {exc}"]
    try:
        return [
            problem
            for name, monitor in config.monitors.items()
            for problem in (
                *source_problems(name, monitor, engine),
                *reference_problems(name, monitor, engine, config_dir),
            )
        ]
    finally:
        engine.dispose()
