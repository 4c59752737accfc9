"""Integrations at the edges: ``otel load`` brings OpenTelemetry GenAI spans into an
inference table, ``serve-metrics`` serves the latest results to Prometheus."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.core.errors import MonitoringError, describe_fault


@click.group()
def otel() -> None:
    """OpenTelemetry: load GenAI spans into an inference table a monitor reads."""


@otel.command("load")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--table", required=True, help="Inference table to write; created if absent.")
@click.option(
    "--warehouse-url",
    default=None,
    help="Default: the monitor file's warehouse_url, $MONITORING_WAREHOUSE_URL, or the "
    "embedded warehouse.",
)
@click.option("--chunk-rows", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@pass_context
def otel_load(
    ctx: Context, files: Sequence[Path], table: str, warehouse_url: str | None, chunk_rows: int
) -> None:
    """Load the GenAI spans of OTLP/JSON FILES (a Collector file exporter's JSON Lines, or
    OTLP/HTTP JSON bodies). A span already in the table (same trace and span id) is skipped."""
    from sqlalchemy import create_engine

    from monitoring_pipelines.core.integrations.otel import (
        load_spans,
        monitor_snippet,
        summarize_table,
    )
    from monitoring_pipelines.core.store.engine import redact_url

    url = warehouse_url or _warehouse_url(ctx)
    engine = create_engine(url)  # the warehouse as it is: no journal mode set, no folder made
    try:
        report = load_spans(files, engine, table, chunk_rows=chunk_rows)
        summary = summarize_table(engine, table)
    except MonitoringError as exc:
        fail(describe_fault(exc))
    finally:
        engine.dispose()
    click.echo(f"warehouse: {redact_url(url)}")
    for line in report.lines():
        click.echo(line)
    click.echo("\nA monitor over the table (save it, then `monitoring validate-config FILE`):\n")
    click.echo(monitor_snippet(summary), nl=False)


def _warehouse_url(ctx: Context) -> str:
    """The warehouse `validate-config` inspects: the monitor file's, else the environment's."""
    config_url = None
    if ctx.settings.config_path.exists():
        try:
            config_url = ctx.config().warehouse_url
        except MonitoringError as exc:
            fail(f"{exc}\n(or give --warehouse-url)")
    return config_url or ctx.settings.warehouse_url or ctx.settings.default_warehouse_url


@click.command("serve-metrics")
@click.option("--port", type=click.IntRange(0, 65535), default=9464, show_default=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="0.0.0.0 listens on every interface."
)
@pass_context
def serve_metrics(ctx: Context, port: int, host: str) -> None:
    """Serve the latest daily results for Prometheus at http://HOST:PORT/metrics, read from
    the result store on every scrape. Ctrl-C stops."""
    import signal

    from monitoring_pipelines.core.integrations.prometheus import serve
    from monitoring_pipelines.core.store.engine import redact_url

    monitors: list[str] = []
    if ctx.settings.config_path.exists():
        try:
            monitors = list(ctx.config().monitors)
        except MonitoringError as exc:
            click.echo(f"(monitor file not read, serving the store alone: {exc})", err=True)
    database = ctx.database()
    try:
        server, thread = serve(database.engine, host, port, monitors)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    click.echo(
        f"serving http://{host}:{server.server_port}/metrics from the result store "
        f"{redact_url(ctx.settings.store_url)}; Ctrl-C stops"
    )
    # Stop cleanly on Ctrl-C and on a service manager's SIGTERM, also when started from a
    # shell that ignores SIGINT for background jobs.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    click.echo("stopped")
