"""``monitoring validate-config``: check a monitor file, and that its tables, columns and
references exist."""

from __future__ import annotations

from pathlib import Path

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.errors import MonitoringError


@click.command("validate-config")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--offline", is_flag=True, help="Check the file only; do not inspect the tables.")
@pass_context
def validate_config(ctx: Context, file: str | None, offline: bool) -> None:
    """Check a monitor file (and, unless --offline, that its tables, columns and references
    exist)."""
    path = Path(file) if file else ctx.settings.config_path
    try:
        config = load_config(path, ctx.environ)
    except MonitoringError as exc:
        fail(str(exc))
    problems: list[str] = []
    if not offline:
        problems = _source_problems(ctx, config, path.parent)
    if problems:
        fail(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))
    names = ", ".join(config.monitors)
    checked = "file only" if offline else "file, tables, columns and references"
    click.echo(f"{path}: OK ({len(config.monitors)} monitor(s): {names}; checked {checked})")


def _source_problems(ctx: Context, config: MonitorFile, config_dir: Path) -> list[str]:
    """Per monitor: its source table's missing columns, then its reference's (relative
    reference paths start at the monitor file's folder, as in the runs)."""
    from monitoring_pipelines.core.ingest.warehouse import reference_problems, source_problems
    from monitoring_pipelines.core.store.engine import make_engine

    url = config.warehouse_url or ctx.settings.warehouse_url or ctx.settings.default_warehouse_url
    engine = make_engine(url)
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
