"""The ``monitoring`` command: validate configuration, run the demo and backfills, and look
at alerts and incidents without opening the Dagster UI."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from monitoring_pipelines.core.alerting.model import DeliveryStatus, IncidentStatus
from monitoring_pipelines.core.alerting.store import AlertStore
from monitoring_pipelines.core.catalog import Asset
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
    from monitoring_pipelines.core.ingest.warehouse import source_problems
    from monitoring_pipelines.core.store.engine import make_engine

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
    """Generate the demo data, run every day through Dagster, replay the alerting as if the
    days had been live, and report what was found and sent."""
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
    if not ctx.settings.slack_token and not ctx.settings.alerts_file:
        # The demo's history is replayed day by day as if it had been live; its messages go to
        # a file (or to Slack with SLACK_BOT_TOKEN and a channel in the monitor file).
        messages = ctx.settings.home / "demo" / "messages.jsonl"
        messages.unlink(missing_ok=True)
        ctx.settings = replace(ctx.settings, alerts_file=messages)
    _alerting(ctx, config, replay=True)
    _render_reports(ctx, config, DEMO_START + timedelta(days=days - 1))
    _run_review_loop(ctx, config, list(config.monitors))
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

    from monitoring_pipelines.backfill import QUIET
    from monitoring_pipelines.definitions import build_definitions, report_keys

    defs = build_definitions(config, ctx.settings, ctx.environ)
    keys = report_keys(list(defs.assets or []))  # type: ignore[arg-type]
    job = dg.define_asset_job("demo_reports", selection=dg.AssetSelection.assets(*keys.values()))
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(
        "demo_reports"
    )
    result = resolved.execute_in_process(
        partition_key=day.isoformat(),
        instance=ctx.instance(),
        raise_on_error=False,
        run_config=QUIET,
    )
    for event in result.get_asset_materialization_events():
        path = event.materialization.metadata.get("report")
        if path is not None:
            click.echo(f"report: {path.value}")


def _run_review_loop(ctx: Context, config: MonitorFile, monitors: Sequence[str]) -> None:
    """Run the review job of each monitor that has one, through Dagster, and say what it
    produced: the fine-tuning set, the judge's agreement, the KPI relation."""
    from monitoring_pipelines.backfill import QUIET, first_error
    from monitoring_pipelines.definitions import build_definitions
    from monitoring_pipelines.jobs import review_job_name

    defs = build_definitions(config, ctx.settings, ctx.environ)
    names = {job.name for job in defs.jobs or []}
    for monitor in monitors:
        if review_job_name(monitor) not in names:
            continue
        job = defs.resolve_job_def(review_job_name(monitor))
        result = job.execute_in_process(
            instance=ctx.instance(), raise_on_error=False, run_config=QUIET
        )
        if not result.success:
            click.echo(f"{monitor}: review job failed: {first_error(result)}", err=True)
        for event in result.get_asset_materialization_events():
            meta = {k: v.value for k, v in event.materialization.metadata.items()}
            asset = event.asset_key.path[-1]
            if asset == Asset.FINETUNING_DATASET:
                click.echo(
                    f"{monitor}: fine-tuning set {meta['path']}: {meta['records']} record(s) "
                    f"from {meta['reviewed_items']} reviewed answer(s)"
                )
            elif asset == Asset.JUDGE_AGREEMENT:
                kappa = meta.get("kappa")
                said = f"kappa {kappa:.2f}" if isinstance(kappa, float) else meta.get("kappa_note")
                click.echo(f"{monitor}: judge vs reviewers over {meta['n']} review(s): {said}")
            elif asset == Asset.HALLUCINATION_KPI_IMPACT:
                click.echo(f"{monitor}: {meta['finding']}")


@demo.command("report")
@pass_context
def demo_report(ctx: Context) -> None:
    """Incidents found next to the demo's injected events."""
    _report(ctx, ctx.settings.home / "demo" / "ground_truth.json")


def _report(ctx: Context, truth: Path) -> None:
    from monitoring_pipelines.core.alerting.groundtruth import compare, load_events
    from monitoring_pipelines.definitions import build_definitions

    if not truth.exists():
        _fail(f"no ground truth at {truth}: run `monitoring demo generate` first")
    events = load_events(truth)
    incidents = ctx.store().incidents()
    defs = build_definitions(ctx.config(), ctx.settings, ctx.environ)
    implemented = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    result = compare(events, incidents, implemented)
    click.echo(f"\n{'injected event':<24} {'checks':<38} found")
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
        click.echo(f"{match.event.id:<24} {match.check:<38} {state}")
    for incident in result.false_incidents:
        click.echo(
            f"{'(no event)':<24} {incident.check:<38} FALSE #{incident.id} "
            f"{incident.title} {incident.first_partition}..{incident.last_failing_partition}"
        )
    covered = [m for m in result.matches if m.covered]
    click.echo(
        f"\nfound {len(result.found)}/{len(covered)} events, missed {len(result.missed)}, "
        f"false incidents {len(result.false_incidents)}, duplicate incidents {result.duplicates}"
    )
    _message_counts(ctx, result)


def _message_counts(ctx: Context, result: Any) -> None:
    """Messages sent per injected event: first messages (pages) and thread replies."""
    from monitoring_pipelines.core.alerting.model import AlertKind, Target

    sent = [a for a in ctx.store().alerts([DeliveryStatus.SENT]) if a.target is Target.SLACK]
    if not sent:
        return
    pages = Counter(a.incident_id for a in sent if a.kind is AlertKind.OPEN)
    replies = Counter(a.incident_id for a in sent if a.kind is not AlertKind.OPEN)
    where = ctx.settings.alerts_file or "Slack"
    click.echo(f"\n{'messages sent (' + str(where) + ')':<63} first  replies")
    matched: set[int | None] = set()
    for match in result.matches:
        if not match.covered:
            continue
        ids = {i.id for i in match.incidents}
        matched |= ids
        click.echo(
            f"{match.event.id:<63} {sum(pages[i] for i in ids):>5}  "
            f"{sum(replies[i] for i in ids):>7}"
        )
    false_pages = sum(n for i, n in pages.items() if i not in matched)
    other = sum(n for i, n in replies.items() if i not in matched)
    click.echo(f"false pages {false_pages}, other messages {other}")


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
    from monitoring_pipelines.sensors.alerting_pass import mark_backfill_finished

    report = _backfill(
        ctx, config, list(monitors) or list(config.monitors), days, rebuild_reference, workers
    )
    mark_backfill_finished(ctx.store(), report.backfill_id)  # its summary may go out now
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


def _alerting(ctx: Context, config: MonitorFile, *, replay: bool = False) -> Any:
    from monitoring_pipelines.sensors.alerting_pass import replay_alerting, run_alerting

    notifier, pagerduty = _notifiers(ctx, config)
    alerts = {name: m.alerts for name, m in config.monitors.items()}
    run = replay_alerting if replay else run_alerting
    report = run(
        ctx.instance(),
        ctx.store(),
        alerts,
        ctx.settings.dagster_url,
        notifier,
        pagerduty=pagerduty,
    )
    click.echo(f"alerting: {report.summary()}")
    counts = Counter(a.status.value for a in ctx.store().alerts())
    click.echo(
        "outbox: "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        + "; `monitoring alerts` lists them"
    )
    if notifier is None and report.delivery.waiting:
        click.echo(
            "  (Slack is not configured: set SLACK_BOT_TOKEN, or MONITORING_ALERTS_FILE to "
            "write the messages to a file; alerts wait in the outbox)"
        )
    _warn_notifiers(ctx)
    return report


def _notifiers(ctx: Context, config: MonitorFile) -> tuple[Any, Any]:
    """Slack (or the alerts file) and PagerDuty, as configured in the environment."""
    notifier: Any = None
    if ctx.settings.slack_token:
        from monitoring_pipelines.core.notify.slack import SlackNotifier

        notifier = SlackNotifier(ctx.settings.slack_token, base_url=ctx.settings.slack_api_url)
    elif ctx.settings.alerts_file:
        from monitoring_pipelines.core.notify.file import FileNotifier

        notifier = FileNotifier(ctx.settings.alerts_file)
    pagerduty: Any = None
    envs = {
        m.alerts.pagerduty.routing_key_env for m in config.monitors.values() if m.alerts.pagerduty
    }
    keys = [ctx.environ[e] for e in sorted(envs) if ctx.environ.get(e)]
    if keys:
        from monitoring_pipelines.core.notify.pagerduty import PagerDutyNotifier
        from resources.pagerduty import EVENTS_URL

        pagerduty = PagerDutyNotifier(keys[0], url=ctx.settings.pagerduty_url or EVENTS_URL)
    return notifier, pagerduty


def _warn_notifiers(ctx: Context) -> None:
    from monitoring_pipelines.sensors.alerting_pass import notifier_problems

    for problem in notifier_problems(ctx.store()):
        click.echo(f"WARNING: {problem}", err=True)


# -- costs --------------------------------------------------------------------------------


@main.group()
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
        _fail(f"unknown monitor(s) {', '.join(unknown)}; known: {', '.join(config.monitors)}")
    text, stale = stale_costs_report(config, ctx.store(), list(monitors) or None)
    click.echo(text)
    if fail_if_stale and stale:
        sys.exit(1)


# -- alerts and incidents -----------------------------------------------------------------


@main.group(invoke_without_command=True)
@click.option(
    "--status",
    type=click.Choice([s.value for s in DeliveryStatus]),
    multiple=True,
    help="Only these delivery states.",
)
@click.option("--monitor", default=None)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.pass_context
def alerts(
    click_ctx: click.Context, status: Sequence[str], monitor: str | None, limit: int
) -> None:
    """Stored alerts (the outbox), newest last; `retry` or `dismiss` failed ones."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx: Context = click_ctx.obj
    _warn_notifiers(ctx)
    rows = ctx.store().alerts([DeliveryStatus(s) for s in status] or None, monitor)
    for alert in rows[-limit:]:
        note = alert.last_error or alert.reason or ""
        target = "" if alert.target.value == "slack" else f" [{alert.target.value}]"
        click.echo(
            f"#{alert.id:<4} {alert.status.value:<10} {alert.kind.value:<7} "
            f"{alert.severity.value:<8} {alert.partition:<10}  {alert.title}{target}"
            + (f"\n       {note}" if note else "")
        )
    click.echo(f"{len(rows)} alert(s)" + (f", last {limit} shown" if len(rows) > limit else ""))


@alerts.command("retry")
@click.argument("alert_ids", type=int, nargs=-1)
@pass_context
def alerts_retry(ctx: Context, alert_ids: Sequence[int]) -> None:
    """Send failed alerts again (all of them without ids) on the next alerting pass."""
    changed = _settle_failed(ctx, alert_ids, status=DeliveryStatus.PENDING, attempts=0)
    click.echo(f"{changed} failed alert(s) will be sent again on the next alerting pass")


@alerts.command("dismiss")
@click.argument("alert_ids", type=int, nargs=-1)
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@pass_context
def alerts_dismiss(ctx: Context, alert_ids: Sequence[int], who: str) -> None:
    """Give up on failed alerts (all of them without ids): recorded, never sent."""
    changed = _settle_failed(
        ctx, alert_ids, status=DeliveryStatus.SUPPRESSED, reason=f"failed; dismissed by {who}"
    )
    click.echo(f"{changed} failed alert(s) dismissed")


def _settle_failed(ctx: Context, alert_ids: Sequence[int], **fields: Any) -> int:
    store = ctx.store()
    failed = {a.id: a for a in store.alerts([DeliveryStatus.FAILED])}
    unknown = [i for i in alert_ids if i not in failed]
    if unknown:
        _fail(
            f"not failed alert(s): {', '.join(map(str, unknown))}; "
            "see `monitoring alerts --status failed`"
        )
    for alert_id in alert_ids or list(failed):
        values = {k: (v.value if isinstance(v, DeliveryStatus) else v) for k, v in fields.items()}
        store.set_alert(alert_id, next_attempt_at=None, **values)
    return len(alert_ids or failed)


# -- mutes --------------------------------------------------------------------------------


@main.group()
def mute() -> None:
    """Mute windows: a monitor's alerts (of one check, one subject) recorded but not sent."""


@mute.command("add")
@click.option("--monitor", required=True)
@click.option("--check", default=None, help="Only this check (default: every check).")
@click.option("--subject", default=None, help="Only this subject, e.g. a column or latency:fast.")
@click.option("--for", "duration", default=None, help="How long: 30m, 12h, 2d, 1w.")
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), default=None, help="End (UTC)."
)
@click.option("--reason", required=True, help="Why: shown on every muted alert.")
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@pass_context
def mute_add(
    ctx: Context,
    monitor: str,
    check: str | None,
    subject: str | None,
    duration: str | None,
    until: datetime | None,
    reason: str,
    who: str,
) -> None:
    """Mute alerts from now until --until or for --for."""
    config = ctx.config()
    if monitor not in config.monitors:
        _fail(f"unknown monitor '{monitor}'; known: {', '.join(config.monitors)}")
    if (duration is None) == (until is None):
        _fail("give exactly one of --for (e.g. 2d) and --until (e.g. 2026-12-01T09:00)")
    start = datetime.now(UTC)
    end = until.replace(tzinfo=UTC) if until is not None else start + _duration(duration or "")
    if end <= start:
        _fail(f"--until {end:%Y-%m-%d %H:%M} UTC is in the past")
    added = ctx.store().add_mute(monitor, check, subject, start, end, reason, who)
    what = " ".join(x for x in (monitor, check, subject) if x)
    click.echo(f"mute #{added.id}: {what} until {end:%Y-%m-%d %H:%M} UTC ({reason})")


@mute.command("list")
@click.option("--all", "everything", is_flag=True, help="Also mutes that have ended.")
@pass_context
def mute_list(ctx: Context, everything: bool) -> None:
    """Mutes in force (or all of them)."""
    now = datetime.now(UTC)
    rows = ctx.store().mutes(None if everything else now)
    for m in rows:
        state = "in force" if m.starts_at <= now < m.ends_at else "ended"
        what = " ".join(x for x in (m.monitor, m.check, m.subject) if x)
        click.echo(
            f"#{m.id:<4} {what:<40} {m.starts_at:%Y-%m-%d %H:%M} .. {m.ends_at:%Y-%m-%d %H:%M} "
            f"UTC  {state}  by {m.created_by}: {m.reason}"
        )
    click.echo(f"{len(rows)} mute(s)")


@mute.command("remove")
@click.argument("mute_id", type=int)
@pass_context
def mute_remove(ctx: Context, mute_id: int) -> None:
    """End a mute now (kept in the list as ended)."""
    store = ctx.store()
    if not any(m.id == mute_id for m in store.mutes()):
        _fail(f"no mute #{mute_id}; see `monitoring mute list --all`")
    store.end_mute(mute_id, datetime.now(UTC))
    click.echo(f"mute #{mute_id} ended")


def _duration(text: str) -> timedelta:
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        _fail(f"--for '{text}': expected a positive number and a unit m, h, d or w (e.g. 2d)")
    return timedelta(**{units[unit]: int(number)})


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
    joined: dict[int, list[Any]] = {}
    for i in rows:
        if i.parent_id is not None:
            joined.setdefault(i.parent_id, []).append(i)
    roots = [i for i in rows if i.parent_id is None]
    for i in roots:
        click.echo(
            f"#{i.id:<4} {i.status.value:<12} {i.severity.value:<8} "
            f"{i.first_partition}..{i.last_failing_partition} "
            f"({i.failing_partitions} failing)  {i.title}"
        )
        for member in joined.get(i.id, []):
            click.echo(
                f"       + #{member.id} {member.check} {member.subject}".rstrip()
                + f" ({member.status.value}, {member.first_partition}.."
                f"{member.last_failing_partition})"
            )
    click.echo(
        f"{len(roots)} incident(s)"
        + (f" ({len(rows) - len(roots)} more checks joined them)" if len(rows) > len(roots) else "")
    )


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
    from monitoring_pipelines.core.alerting.manual import change_incident

    store = ctx.store()
    found = store.get_incident(incident_id)
    config = ctx.config().monitors.get(found.monitor) if found is not None else None
    try:
        change_incident(
            store, incident_id, status, who, config.alerts if config else None, datetime.now(UTC)
        )
    except MonitoringError as exc:
        _fail(str(exc))
    click.echo(
        f"incident #{incident_id} {status.value} by {who}; "
        "the alerting pass tells its thread (and PagerDuty)"
    )


def _fail(message: str) -> Any:
    click.echo(message, err=True)
    sys.exit(2)


# -- OpenTelemetry in, Prometheus out -------------------------------------------------------


@main.group()
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
    from monitoring_pipelines.core.integrations.otel import (
        load_spans,
        monitor_snippet,
        summarize_table,
    )
    from monitoring_pipelines.core.store.engine import make_engine, redact_url

    url = warehouse_url or _warehouse_url(ctx)
    engine = make_engine(url)
    try:
        report = load_spans(files, engine, table, chunk_rows=chunk_rows)
        summary = summarize_table(engine, table)
    except MonitoringError as exc:
        _fail(str(exc))
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
            _fail(f"{exc}\n(or give --warehouse-url)")
    return config_url or ctx.settings.warehouse_url or ctx.settings.default_warehouse_url


@main.command("serve-metrics")
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
    store = ctx.store()
    try:
        server, thread = serve(store.engine, host, port, monitors)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror}")
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


# -- the review queue of hallucination monitoring -------------------------------------------


@main.group()
def review() -> None:
    """The review queue: LLM answers the judge flagged (and an audit share of passing ones)."""


def _queue(ctx: Context) -> Any:
    from monitoring_pipelines.core.hallucination.review import ReviewQueue

    return ReviewQueue(ctx.store())


@review.command("list")
@click.option("--monitor", default=None)
@click.option(
    "--status",
    type=click.Choice(["pending", "approved", "corrected", "rejected"]),
    multiple=True,
    help="Only these states (default: all).",
)
@click.option(
    "--reason",
    type=click.Choice(["flagged", "audit"]),
    default=None,
    help="Only answers the judge flagged, or only the audit sample of passing ones.",
)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@pass_context
def review_list(
    ctx: Context, monitor: str | None, status: Sequence[str], reason: str | None, limit: int
) -> None:
    """Queued answers, oldest first."""
    from monitoring_pipelines.core.hallucination.review import ReviewStatus

    items = _queue(ctx).items(monitor, [ReviewStatus(s) for s in status] or None)
    items = [i for i in items if reason is None or i.reason.value == reason]
    for item in items[:limit]:
        scope = " ".join(
            f"{k}={v}" for k, v in (("intent", item.intent), ("article", item.article)) if v
        )
        click.echo(
            f"#{item.id:<5} {item.status.value:<9} {item.reason.value:<7} {item.monitor} "
            f"{item.partition} score {item.score:.2f}  {scope}\n"
            f"       {_clip(item.question or item.answer)}"
        )
    counts = Counter(item.status.value for item in items)
    detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    click.echo(
        f"{len(items)} item(s)"
        + (f": {detail}" if detail else "")
        + (f"; first {limit} shown" if len(items) > limit else "")
    )


@review.command("show")
@click.argument("item_id", type=int)
@pass_context
def review_show(ctx: Context, item_id: int) -> None:
    """An item in full: question, context, answer, the judge's score and rationale."""
    item = _review_item(ctx, item_id)
    lines = [
        f"review item #{item.id} ({item.status.value})",
        f"monitor:   {item.monitor}, day {item.partition}, request {item.request_id or '-'} "
        f"(key {item.request_key})",
        f"queued:    {_REASONS[item.reason.value]}",
        f"intent:    {item.intent or '-'}    article: {item.article or '-'}    "
        f"model: {item.model_version or '-'}",
        f"judge:     {item.judge} ({item.prompt_version}): score {item.score:.3f}",
        f"rationale: {item.rationale}",
        "",
        f"question:\n  {item.question or '(not logged)'}",
        f"context:\n  {item.context}",
        f"answer:\n  {item.answer}",
    ]
    if item.status.value != "pending":
        when = f"{item.reviewed_at:%Y-%m-%d %H:%M} UTC" if item.reviewed_at else ""
        lines += ["", f"{item.status.value} by {item.reviewer} {when}".rstrip()]
    if item.corrected_answer:
        lines.append(f"corrected answer:\n  {item.corrected_answer}")
    if item.note:
        lines.append(f"note: {item.note}")
    click.echo("\n".join(lines))


@review.command("approve")
@click.argument("item_id", type=int)
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@click.option("--note", default=None)
@pass_context
def review_approve(ctx: Context, item_id: int, who: str, note: str | None) -> None:
    """The answer was fine: the judge flagged it wrongly (a false positive)."""
    _record_review(ctx, item_id, "approved", who, note=note)


@review.command("correct")
@click.argument("item_id", type=int)
@click.option("--answer", "corrected", required=True, help="The answer the bot should have given.")
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@click.option("--note", default=None)
@pass_context
def review_correct(ctx: Context, item_id: int, corrected: str, who: str, note: str | None) -> None:
    """A hallucination: record the answer it should have been."""
    _record_review(ctx, item_id, "corrected", who, corrected=corrected, note=note)


@review.command("reject")
@click.argument("item_id", type=int)
@click.option("--note", default=None)
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@pass_context
def review_reject(ctx: Context, item_id: int, note: str | None, who: str) -> None:
    """A hallucination, confirmed, without a correction."""
    _record_review(ctx, item_id, "rejected", who, note=note)


@review.command("refresh")
@click.option("--monitor", "monitors", multiple=True, help="Only these monitors (default: all).")
@pass_context
def review_refresh(ctx: Context, monitors: Sequence[str]) -> None:
    """Run the review jobs now (the schedule runs them daily at 03:30 UTC): the fine-tuning
    dataset from the corrections, the judge's agreement with reviewers, the KPI relation."""
    config = ctx.config()
    _known_monitors(config, monitors)
    _run_review_loop(ctx, config, list(monitors) or list(config.monitors))


def _known_monitors(config: MonitorFile, monitors: Sequence[str]) -> None:
    unknown = [m for m in monitors if m not in config.monitors]
    if unknown:
        _fail(f"unknown monitor(s) {', '.join(unknown)}; configured: {', '.join(config.monitors)}")


@review.command("export")
@click.option("--monitor", required=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The JSONL file to write (replaced atomically).",
)
@pass_context
def review_export(ctx: Context, monitor: str, out: Path) -> None:
    """Write the corrected answers as a chat-format fine-tuning JSONL (PII redacted); the
    same records as the monitor's finetuning_dataset asset."""
    from monitoring_pipelines.core.hallucination.finetune import finetuning_records, write_jsonl
    from monitoring_pipelines.core.hallucination.review import REVIEWED

    _known_monitors(ctx.config(), [monitor])
    items = _queue(ctx).items(monitor, REVIEWED)
    dataset = finetuning_records(items)
    try:
        write_jsonl(dataset, out)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    skipped = ", ".join(f"{n} {reason}" for reason, n in dataset.skipped.items() if n)
    redacted = ", ".join(f"{n} {kind}" for kind, n in dataset.redactions.items() if n)
    click.echo(
        f"{out}: {len(dataset.records)} record(s) from {len(items)} reviewed item(s) of "
        f"'{monitor}'; {dataset.duplicates_dropped} duplicate(s) dropped"
        + (f"; skipped: {skipped}" if skipped else "")
        + (f"; redacted: {redacted}" if redacted else "")
    )


@review.command("agreement")
@click.option("--monitor", required=True)
@pass_context
def review_agreement(ctx: Context, monitor: str) -> None:
    """How far the judge agrees with the reviewers: confusion table and Cohen's kappa, per
    judge and prompt version."""
    from monitoring_pipelines.core.hallucination.governance import (
        agreement,
        agreement_by_judge,
        review_pairs,
    )
    from monitoring_pipelines.core.hallucination.review import REVIEWED

    _known_monitors(ctx.config(), [monitor])
    pairs = review_pairs(_queue(ctx).items(monitor, REVIEWED))
    click.echo(f"all reviewed answers of '{monitor}'\n{agreement(pairs).as_markdown()}")
    for (judge, prompt), result in agreement_by_judge(pairs).items():
        click.echo(f"\n{judge} / prompt {prompt}\n{result.as_markdown()}")


_REASONS = {
    "flagged": "flagged by the judge (score under the threshold)",
    "audit": "audit sample: the judge passed it; is it really fine?",
}


def _review_item(ctx: Context, item_id: int) -> Any:
    from monitoring_pipelines.core.hallucination.review import ReviewError

    try:
        return _queue(ctx).get(item_id)
    except ReviewError as exc:
        _fail(str(exc))


def _record_review(
    ctx: Context,
    item_id: int,
    status: str,
    who: str,
    *,
    corrected: str | None = None,
    note: str | None = None,
) -> None:
    from monitoring_pipelines.core.hallucination.review import ReviewError, ReviewStatus

    try:
        item = _queue(ctx).review(
            item_id, ReviewStatus(status), who, corrected_answer=corrected, note=note
        )
    except ReviewError as exc:
        _fail(str(exc))
    click.echo(f"review item #{item.id} {item.status.value} by {item.reviewer}")


def _clip(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


if __name__ == "__main__":
    main()
