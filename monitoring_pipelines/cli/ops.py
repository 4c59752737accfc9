"""Integrations at the edges: ``otel load`` and ``otel serve`` bring OpenTelemetry spans into an
inference table, ``serve-metrics`` serves the latest results to Prometheus."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.core.errors import MonitoringError, describe_fault
from monitoring_pipelines.core.integrations.span_rows import ColumnSpec, parse_columns


@click.group()
def otel() -> None:
    """OpenTelemetry: GenAI and HTTP server spans into an inference table a monitor reads."""


def _table_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--table``, ``--warehouse-url`` and ``--column``: where spans become rows, and how."""
    command = _column_option(command)
    command = click.option(
        "--warehouse-url",
        default=None,
        help="Default: the monitor file's warehouse_url, $MONITORING_WAREHOUSE_URL, or the "
        "embedded warehouse.",
    )(command)
    return click.option(
        "--table", required=True, help="Inference table to write; created if absent."
    )(command)


def _column_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--column",
        "columns",
        multiple=True,
        metavar="NAME=ATTRIBUTE[:TYPE]",
        help="Write span attribute ATTRIBUTE to column NAME (TYPE text, float or int; default "
        "text); added to an existing table that lacks it. Repeatable.",
    )(command)


def _parse_columns(texts: Sequence[str]) -> tuple[ColumnSpec, ...]:
    try:
        return parse_columns(texts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--column") from exc


@otel.command("load")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@_table_options
@click.option("--chunk-rows", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@pass_context
def otel_load(
    ctx: Context,
    files: Sequence[Path],
    table: str,
    warehouse_url: str | None,
    chunk_rows: int,
    columns: Sequence[str],
) -> None:
    """Load the GenAI and HTTP server spans of OTLP/JSON FILES (a Collector file exporter's
    JSON Lines, or OTLP/HTTP JSON bodies). A span already in the table (same trace and span
    id) is skipped."""
    from sqlalchemy import create_engine

    from monitoring_pipelines.core.integrations.otel import (
        load_spans,
        monitor_snippet,
        summarize_table,
    )
    from monitoring_pipelines.core.store.engine import redact_url

    specs = _parse_columns(columns)
    url = _existing_folder(warehouse_url or _warehouse_url(ctx))
    engine = create_engine(url)  # the warehouse as it is: no journal mode set, no folder made
    try:
        report = load_spans(files, engine, table, chunk_rows=chunk_rows, columns=specs)
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


@otel.command("serve")
@_table_options
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="0.0.0.0 listens on every interface."
)
@click.option("--port", type=click.IntRange(0, 65535), default=4318, show_default=True)
@click.option(
    "--max-pending-rows",
    type=click.IntRange(1, 10_000_000),
    default=50_000,
    show_default=True,
    help="Rows waiting for the warehouse above which requests are answered 429.",
)
@click.option(
    "--batch-rows",
    type=click.IntRange(1, 1_000_000),
    default=5_000,
    show_default=True,
    help="Rows per group commit at most.",
)
@click.option("--max-body-mb", type=click.FloatRange(0.001, 1024), default=16.0, show_default=True)
@click.option(
    "--retry-after", type=click.IntRange(1, 3600), default=1, show_default=True, metavar="SECONDS"
)
@pass_context
def otel_serve(
    ctx: Context,
    table: str,
    warehouse_url: str | None,
    host: str,
    port: int,
    columns: Sequence[str],
    max_pending_rows: int,
    batch_rows: int,
    max_body_mb: float,
    retry_after: int,
) -> None:
    """Receive spans live over OTLP/HTTP (POST /v1/traces, protobuf or JSON, gzip or not) and
    write them as `otel load` does. A request is answered 200 once its rows are committed.
    Counts at GET /status. Ctrl-C stops after committing what is queued."""
    import signal
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from monitoring_pipelines.core.integrations.otlp_receiver import (
        Receiver,
        ReceiverLimits,
        serve,
    )
    from monitoring_pipelines.core.store.engine import redact_url

    def log(line: str) -> None:
        click.echo(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {line}", err=True)

    specs = _parse_columns(columns)
    url = _existing_folder(warehouse_url or _warehouse_url(ctx))
    engine = create_engine(url, pool_pre_ping=True)
    limits = ReceiverLimits(
        max_body_bytes=int(max_body_mb * 2**20),
        max_pending_rows=max_pending_rows,
        batch_rows=batch_rows,
        retry_after_s=retry_after,
    )
    try:
        receiver = Receiver(engine, table, specs, limits, log)
    except MonitoringError as exc:
        engine.dispose()
        fail(describe_fault(exc))
    try:
        running = serve(receiver, host, port)
    except OSError as exc:
        receiver.close()
        engine.dispose()
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    mapped = ", ".join(f"{c.name}={c.attribute}:{c.type}" for c in specs)
    click.echo(
        f"receiving OTLP/HTTP spans at http://{host}:{running.port}/v1/traces into table "
        f"'{table}' of {redact_url(url)}"
        + (f" (columns {mapped})" if mapped else "")
        + f"; counts at http://{host}:{running.port}/status; Ctrl-C stops"
    )
    # Stop cleanly on Ctrl-C and on a service manager's SIGTERM.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    try:
        while running.thread.is_alive():
            running.thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("stopping: committing the queued spans", err=True)
        running.stop()
        engine.dispose()
    click.echo("stopped")


def _warehouse_url(ctx: Context) -> str:
    """The warehouse `validate-config` inspects: the monitor file's, else the environment's."""
    config_url = None
    if ctx.settings.config_path.exists():
        try:
            config_url = ctx.config().warehouse_url
        except MonitoringError as exc:
            fail(f"{exc}\n(or give --warehouse-url)")
    return config_url or ctx.settings.warehouse_url or ctx.settings.default_warehouse_url


def _existing_folder(url: str) -> str:
    """``url``, unless it is a SQLite file whose folder does not exist (SQLite's own error,
    "unable to open database file", does not say which file or why). The file is resolved as
    the warehouse reader resolves it (:func:`sqlite_path`)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from monitoring_pipelines.core.ingest.engine import sqlite_path

    try:
        parsed = make_url(url)
    except ArgumentError:  # a malformed URL: the engine reports it itself
        return url
    path = sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is not None and not path.parent.is_dir():
        fail(
            f"the warehouse {path}: its folder {path.parent} does not exist "
            "(create it, or give --warehouse-url or MONITORING_HOME)"
        )
    return url


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
