"""The ``monitoring`` command: validate configuration, run the demo and backfills, and look
at alerts and incidents without opening the Dagster UI."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from monitoring_pipelines.core.alerting.model import DeliveryStatus, IncidentStatus
from monitoring_pipelines.core.alerting.store import AlertStore
from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.settings import Settings

DEMO_START = date(2026, 9, 1)
# Written to a new DAGSTER_HOME that has no dagster.yaml (`make` copies the repository's).
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
"""


class Context:
    """Settings and lazily opened configuration and store for the commands."""

    def __init__(self, config_path: str | None) -> None:
        environ = dict(os.environ)
        if config_path:
            environ["MONITORING_CONFIG"] = config_path
        self.environ = environ
        self.settings = Settings.from_env(environ)
        self._store: AlertStore | None = None

    def config(self) -> MonitorFile:
        return load_config(self.settings.config_path, self.environ)

    def store(self) -> AlertStore:
        if self._store is None:
            self._store = AlertStore.connect(self.settings.store_url)
        return self._store

    def instance(self) -> Any:
        import dagster as dg

        home = os.environ.get("DAGSTER_HOME") or str(self.settings.home / "dagster")
        Path(home).mkdir(parents=True, exist_ok=True)
        instance_yaml = Path(home) / "dagster.yaml"
        if not instance_yaml.exists():
            instance_yaml.write_text(INSTANCE_YAML, encoding="utf-8")
        os.environ["DAGSTER_HOME"] = home
        return dg.DagsterInstance.get()


pass_context = click.make_pass_decorator(Context)


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
    ctx.obj = Context(config_path)


@main.command("validate-config")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--offline", is_flag=True, help="Check the file only; do not inspect the tables.")
@pass_context
def validate_config(ctx: Context, file: str | None, offline: bool) -> None:
    """Check a monitor file (and, unless --offline, that its tables and columns exist)."""
    path = Path(file) if file else ctx.settings.config_path
    try:
        config = load_config(path, ctx.environ)
    except MonitoringError as exc:
        _fail(str(exc))
    problems: list[str] = []
    if not offline:
        problems = _source_problems(ctx, config)
    if problems:
        _fail(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))
    names = ", ".join(config.monitors)
    checked = "file only" if offline else "file, tables and columns"
    click.echo(f"{path}: OK ({len(config.monitors)} monitor(s): {names}; checked {checked})")


def _source_problems(ctx: Context, config: MonitorFile) -> list[str]:
    from monitoring_pipelines.core.store.engine import make_engine
    from monitoring_pipelines.core.warehouse import source_problems

    url = config.warehouse_url or ctx.settings.warehouse_url or ctx.settings.default_warehouse_url
    engine = make_engine(url)
    try:
        return [p for name, m in config.monitors.items() for p in source_problems(name, m, engine)]
    finally:
        engine.dispose()


# -- demo ---------------------------------------------------------------------------------


@main.group()
def demo() -> None:
    """The demo: three systems with known injected incidents."""


@demo.command("generate")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=DEMO_START.isoformat())
@click.option("--days", type=click.IntRange(14, 366), default=60, show_default=True)
@click.option("--scale", type=click.FloatRange(0.01, 100), default=1.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@pass_context
def demo_generate(ctx: Context, start: datetime, days: int, scale: float, seed: int) -> None:
    """Write the demo's inference logs and reference tables into the warehouse."""
    _generate(ctx, start.date(), days, scale, seed)


def _generate(ctx: Context, start: date, days: int, scale: float, seed: int) -> Path:
    from monitoring_pipelines.demo import generate_demo

    url = ctx.settings.warehouse_url or ctx.settings.default_warehouse_url
    out = ctx.settings.home / "demo"
    summary = generate_demo(url, out, start=start, days=days, scale=scale, seed=seed)
    rows = ", ".join(f"{t} {n:,}" for t, n in summary.rows.items())
    click.echo(f"demo data: {rows}")
    click.echo(f"ground truth: {summary.ground_truth_path}")
    return Path(summary.ground_truth_path)


@demo.command("run")
@click.option("--days", type=click.IntRange(14, 366), default=60, show_default=True)
@click.option("--scale", type=click.FloatRange(0.01, 100), default=1.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@pass_context
def demo_run(ctx: Context, days: int, scale: float, seed: int) -> None:
    """Generate the demo data, backfill every day through Dagster, alert, and report."""
    import time

    from monitoring_pipelines.backfill import days_between

    started = time.perf_counter()
    truth = _generate(ctx, DEMO_START, days, scale, seed)
    config = ctx.config()
    report = _backfill(
        ctx,
        config,
        list(config.monitors),
        days_between(DEMO_START, DEMO_START + timedelta(days=days - 1)),
        rebuild_reference=True,
        workers=min(os.cpu_count() or 1, 4),
    )
    _alerting(ctx, config)
    _render_reports(ctx, config, DEMO_START + timedelta(days=days - 1))
    _report(ctx, truth)
    click.echo(
        f"\ndemo done in {time.perf_counter() - started:.0f} s "
        f"({report.runs} Dagster runs in {report.seconds:.0f} s). "
        "`make ui` opens the same history in the Dagster UI."
    )


def _render_reports(ctx: Context, config: MonitorFile, day: date) -> None:
    """Materialize each monitor's daily report for ``day`` (the alerting sensor does it for
    recent days; the demo's days are history)."""
    import dagster as dg

    from monitoring_pipelines.definitions import build_definitions, report_keys

    defs = build_definitions(config, ctx.settings, ctx.environ)
    keys = report_keys(list(defs.assets or []))  # type: ignore[arg-type]
    job = dg.define_asset_job(
        "demo_reports", selection=dg.AssetSelection.assets(*keys.values())
    )
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(
        "demo_reports"
    )
    result = resolved.execute_in_process(
        partition_key=day.isoformat(), instance=ctx.instance(), raise_on_error=False
    )
    for event in result.get_asset_materialization_events():
        path = event.materialization.metadata.get("report")
        if path is not None:
            click.echo(f"report: {path.value}")


@demo.command("report")
@pass_context
def demo_report(ctx: Context) -> None:
    """Incidents found next to the demo's injected events."""
    _report(ctx, ctx.settings.home / "demo" / "ground_truth.json")


def _report(ctx: Context, truth: Path) -> None:
    from monitoring_pipelines.core.groundtruth import compare, load_events
    from monitoring_pipelines.definitions import build_definitions

    if not truth.exists():
        _fail(f"no ground truth at {truth}: run `monitoring demo generate` first")
    events = load_events(truth)
    incidents = ctx.store().incidents()
    defs = build_definitions(ctx.config(), ctx.settings, ctx.environ)
    implemented = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    result = compare(events, incidents, implemented)
    click.echo("\ninjected event                  check               found")
    for match in result.matches:
        if not match.covered:
            state = "not monitored yet"
        elif match.found:
            state = ", ".join(
                f"#{i.id} {i.first_partition}..{i.last_failing_partition} ({i.status.value})"
                for i in match.incidents
            )
        else:
            state = "MISSED"
        click.echo(f"{match.event.id:<31} {match.event.check:<19} {state}")
    for incident in result.false_incidents:
        click.echo(
            f"{'(no event)':<31} {incident.check:<19} FALSE #{incident.id} "
            f"{incident.title} {incident.first_partition}..{incident.last_failing_partition}"
        )
    covered = [m for m in result.matches if m.covered]
    click.echo(
        f"\nfound {len(result.found)}/{len(covered)} events, missed {len(result.missed)}, "
        f"false incidents {len(result.false_incidents)}, duplicate incidents {result.duplicates}"
    )


# -- backfills and alerting ---------------------------------------------------------------


@main.command()
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
    help="Worker processes running partitions side by side.",
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
    """Materialize a range of days in this process, one Dagster run per monitor and day."""
    from monitoring_pipelines.backfill import days_between

    config = ctx.config()
    unknown = [m for m in monitors if m not in config.monitors]
    if unknown:
        _fail(f"unknown monitor(s) {', '.join(unknown)}; known: {', '.join(config.monitors)}")
    try:
        days = days_between(start.date(), end.date())
    except ValueError as exc:
        _fail(str(exc))
    _backfill(
        ctx, config, list(monitors) or list(config.monitors), days, rebuild_reference, workers
    )
    if not no_alerting:
        _alerting(ctx, config)


def _backfill(
    ctx: Context,
    config: MonitorFile,
    monitors: list[str],
    days: list[date],
    rebuild_reference: bool,
    workers: int,
) -> Any:
    from monitoring_pipelines.backfill import run_backfill
    from monitoring_pipelines.definitions import build_definitions

    store = ctx.store()
    instance = ctx.instance()  # also settles DAGSTER_HOME for the workers
    report = run_backfill(
        lambda: (build_definitions(config, ctx.settings, ctx.environ), instance),
        monitors,
        days,
        workers=workers,
        worker_env={**ctx.environ, "DAGSTER_HOME": os.environ["DAGSTER_HOME"]},
        rebuild_reference=rebuild_reference,
        has_reference=lambda m: store.reference_hash(m) is not None,
        progress=click.echo,
    )
    failed = f", {len(report.failed)} failed" if report.failed else ""
    click.echo(
        f"backfill {report.backfill_id}: {report.runs} runs in {report.seconds:.1f} s with "
        f"{report.workers} worker(s) ({report.seconds / max(report.runs, 1):.2f} s of wall "
        f"time per run{failed})"
    )
    return report


@main.group()
def alerting() -> None:
    """The alerting pass the sensor runs every 30 seconds."""


@alerting.command("run")
@pass_context
def alerting_run(ctx: Context) -> None:
    """Ingest finished runs' check evaluations and deliver due alerts, once."""
    _alerting(ctx, ctx.config())


def _alerting(ctx: Context, config: MonitorFile) -> None:
    from monitoring_pipelines.alerting import run_alerting

    notifier = None
    if ctx.settings.slack_token:
        from monitoring_pipelines.core.notify.slack import SlackNotifier

        notifier = SlackNotifier(ctx.settings.slack_token, base_url=ctx.settings.slack_api_url)
    alerts = {name: m.alerts for name, m in config.monitors.items()}
    report = run_alerting(ctx.instance(), ctx.store(), alerts, ctx.settings.dagster_url, notifier)
    click.echo(f"alerting: {report.summary()}")
    counts = Counter(a.status.value for a in ctx.store().alerts())
    click.echo(
        "outbox: "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        + ("" if not counts.get("suppressed") else " (older than the paging horizon: not sent)")
        + "; `monitoring alerts` lists them"
    )
    if notifier is None and report.delivery.waiting:
        click.echo("  (Slack is not configured: set SLACK_BOT_TOKEN; alerts wait in the outbox)")


# -- alerts and incidents -----------------------------------------------------------------


@main.command()
@click.option(
    "--status",
    type=click.Choice([s.value for s in DeliveryStatus]),
    multiple=True,
    help="Only these delivery states.",
)
@click.option("--monitor", default=None)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@pass_context
def alerts(ctx: Context, status: Sequence[str], monitor: str | None, limit: int) -> None:
    """Stored alerts (the outbox), newest last."""
    rows = ctx.store().alerts([DeliveryStatus(s) for s in status] or None, monitor)
    for alert in rows[-limit:]:
        note = alert.last_error or alert.reason or ""
        click.echo(
            f"#{alert.id:<4} {alert.status.value:<10} {alert.kind.value:<7} "
            f"{alert.severity.value:<8} {alert.partition:<10}  {alert.title}"
            + (f"\n       {note}" if note else "")
        )
    click.echo(f"{len(rows)} alert(s)" + (f", last {limit} shown" if len(rows) > limit else ""))


@main.group(invoke_without_command=True)
@click.option(
    "--status",
    type=click.Choice([s.value for s in IncidentStatus]),
    multiple=True,
    help="Only these states.",
)
@click.option("--monitor", default=None)
@click.pass_context
def incidents(click_ctx: click.Context, status: Sequence[str], monitor: str | None) -> None:
    """Incidents: list them, or `ack`/`resolve` one."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx: Context = click_ctx.obj
    rows = ctx.store().incidents([IncidentStatus(s) for s in status] or None, monitor)
    for i in rows:
        click.echo(
            f"#{i.id:<4} {i.status.value:<12} {i.severity.value:<8} "
            f"{i.first_partition}..{i.last_failing_partition} "
            f"({i.failing_partitions} failing)  {i.title}"
        )
    click.echo(f"{len(rows)} incident(s)")


@incidents.command("ack")
@click.argument("incident_id", type=int)
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@pass_context
def incidents_ack(ctx: Context, incident_id: int, who: str) -> None:
    """Acknowledge an open incident."""
    _change_incident(ctx, incident_id, IncidentStatus.ACKNOWLEDGED, who)


@incidents.command("resolve")
@click.argument("incident_id", type=int)
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@pass_context
def incidents_resolve(ctx: Context, incident_id: int, who: str) -> None:
    """Resolve an incident by hand."""
    _change_incident(ctx, incident_id, IncidentStatus.RESOLVED, who)


def _change_incident(ctx: Context, incident_id: int, status: IncidentStatus, who: str) -> None:
    store = ctx.store()
    incident = store.get_incident(incident_id)
    if incident is None:
        _fail(f"no incident #{incident_id}")
    if incident.status is IncidentStatus.RESOLVED:
        _fail(f"incident #{incident_id} is already resolved")
    fields: dict[str, Any] = {"status": status.value, "acknowledged_by": who}
    if status is IncidentStatus.RESOLVED:
        fields["resolved_at"] = datetime.now(UTC)
        fields["resolved_partition"] = incident.last_failing_partition
    with store.transaction() as conn:
        store.update_incident(conn, incident_id, **fields)
    click.echo(f"incident #{incident_id} {status.value} by {who}")


def _fail(message: str) -> Any:
    click.echo(message, err=True)
    sys.exit(2)


if __name__ == "__main__":
    main()
