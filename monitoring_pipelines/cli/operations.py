"""The operations several commands (and the demo) run: a backfill of days through Dagster, an
alerting pass with the configured notifiers, and the monitors' review loops; each says what it
did on the terminal."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from monitoring_pipelines.cli.context import Context
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import AlertsConfig, MonitorFile

if TYPE_CHECKING:
    from sqlalchemy import Engine


def run_days(
    ctx: Context,
    config: MonitorFile,
    monitors: list[str],
    days: list[date],
    rebuild_reference: bool,
    workers: int,
    backfill_id: str | None = None,
) -> Any:
    """Materialize ``days`` of ``monitors``, one Dagster run per monitor and day; each failed
    step and each monitor's days that could not run get one line on stderr.

    Returns:
        The backfill's report (its id, runs, failures and timing).
    """
    from monitoring_pipelines.backfill import run_backfill
    from monitoring_pipelines.core.errors import MonitoringError
    from monitoring_pipelines.core.ingest.engine import warehouse_engine
    from monitoring_pipelines.definitions import build_fleet

    instance = dagster_environment(ctx)
    url = config.warehouse_url or ctx.settings.warehouse_url or ctx.settings.default_warehouse_url
    try:
        engine = warehouse_engine(url)
    except MonitoringError:
        engine = None  # the runs fail and say why
    try:
        report = run_backfill(
            lambda: (build_fleet(config, ctx.settings, ctx.environ), instance),
            monitors,
            days,
            workers=workers,
            rebuild_reference=rebuild_reference,
            has_reference=lambda m: reference_is_current(ctx, config, m, engine),
            progress=lambda line: click.echo(line, err=True),
            backfill_id=backfill_id,
        )
    finally:
        if engine is not None:
            engine.dispose()
    problems = [
        f"{len(report.failed)} failed" if report.failed else "",
        f"{len(report.not_run)} monitor(s) not run" if report.not_run else "",
    ]
    said = "".join(f", {p}" for p in problems if p)
    click.echo(
        f"backfill {report.backfill_id}: {report.runs} runs in {report.seconds:.1f} s with "
        f"{report.workers} worker(s) ({report.seconds / max(report.runs, 1):.2f} s of wall "
        f"time per run{said})"
    )
    return report


def dagster_environment(ctx: Context) -> Any:
    """The Dagster instance, with this process's environment set to the command's: the code
    location loaded here and the run workers started from here read the same settings."""
    instance = ctx.instance()  # also settles DAGSTER_HOME
    os.environ.update(ctx.environ)
    return instance


def reference_is_current(
    ctx: Context, config: MonitorFile, monitor: str, engine: Engine | None
) -> bool:
    """Whether ``monitor``'s stored reference was fitted from its reference as it is now (the
    source's fingerprint, core/profile/reference_source.py, read through the warehouse
    ``engine``); says so when it changed."""
    from monitoring_pipelines.core.errors import MonitoringError
    from monitoring_pipelines.core.profile.reference_source import reference_fingerprint

    store = ctx.results()
    if engine is None or store.reference_hash(monitor) is None:
        return False
    try:
        now = reference_fingerprint(
            engine, config.monitors[monitor], ctx.settings.config_path.parent
        )
    except MonitoringError:
        return False  # the reference run fails and says why
    if store.reference_source(monitor) == now:
        return True
    click.echo(f"{monitor}: its reference or the settings it is fitted with changed; refitting it")
    return False


def run_alerting(ctx: Context, config: MonitorFile, *, replay: bool = False) -> Any:
    """Ingest finished runs' check evaluations and deliver due alerts, once.

    Args:
        ctx: The command's context.
        config: The monitor file.
        replay: Replay the history day by day as if it had been live (the demo).

    Returns:
        The alerting pass's report.
    """
    from monitoring_pipelines.core.alerting.delivery import DeliveryPolicy
    from monitoring_pipelines.sensors.alerting_pass import replay_alerting, run_alerting

    alerts = {name: m.alerts for name, m in config.monitors.items()}
    notifier, pagerduty = _notifiers(ctx, alerts)
    args = (ctx.instance(), ctx.alerts(), alerts, ctx.settings.dagster_url, notifier)
    if replay:
        report = replay_alerting(*args, pagerduty=pagerduty, web_url=ctx.settings.web_url)
    else:
        policy = DeliveryPolicy(pass_budget_s=ctx.settings.alerting_budget_s)
        report = run_alerting(
            *args, pagerduty=pagerduty, policy=policy, web_url=ctx.settings.web_url
        )
    click.echo(f"alerting: {report.summary()}")
    counts = Counter(a.status.value for a in ctx.alerts().alerts())
    click.echo(outbox_line(counts))
    if notifier is None and report.delivery.waiting:
        click.echo(
            "  (Slack is not configured: set SLACK_BOT_TOKEN, or MONITORING_ALERTS_FILE to "
            "write the messages to a file; alerts wait in the outbox)"
        )
    if report.delivery.undeliverable:
        click.echo(
            f"WARNING: {len(report.delivery.undeliverable)} alert(s) undeliverable: a monitor "
            "without alerts.slack_channel (`monitoring alerts --status undeliverable`, "
            "`monitoring validate-config`)",
            err=True,
        )
    warn_notifiers(ctx)
    return report


def outbox_line(counts: Mapping[str, int]) -> str:
    """``outbox: 3 sent, 1 pending; ...`` or ``outbox: empty`` (no alert stored yet)."""
    if not any(counts.values()):
        return "outbox: empty (no alert stored)"
    held = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n)
    return f"outbox: {held}; `monitoring alerts` lists them"


def _notifiers(ctx: Context, alerts: Mapping[str, AlertsConfig]) -> tuple[Any, Any]:
    """Slack (or the alerts file), and each paging monitor's PagerDuty notifier with the
    routing key its variable holds, as configured in the environment."""
    notifier: Any = None
    if ctx.settings.slack_token:
        from monitoring_pipelines.core.notify.slack import SlackNotifier

        notifier = SlackNotifier(ctx.settings.slack_token, base_url=ctx.settings.slack_api_url)
    elif ctx.settings.alerts_file:
        from monitoring_pipelines.core.notify.file import FileNotifier

        notifier = FileNotifier(ctx.settings.alerts_file)
    from monitoring_pipelines.core.alerting.destinations import (
        pagerduty_key_names,
        pagerduty_notifiers,
    )

    keys = {env: ctx.environ[env] for env in pagerduty_key_names(alerts) if ctx.environ.get(env)}
    return notifier, pagerduty_notifiers(alerts, keys, ctx.settings.pagerduty_url)


def warn_notifiers(ctx: Context) -> None:
    """Warn on stderr about a notifier whose last delivery failed and about given-up alerts."""
    from monitoring_pipelines.sensors.alerting_pass import notifier_problems

    for problem in notifier_problems(ctx.alerts()):
        click.echo(f"WARNING: {problem}", err=True)


def run_review_loop(ctx: Context, config: MonitorFile, monitors: Sequence[str]) -> None:
    """Run the review loop of each monitor that has one, through Dagster, and say what it
    produced: the fine-tuning set, the judge's agreement, the KPI relation."""
    from monitoring_pipelines.dagster_runs import DagsterRuns
    from monitoring_pipelines.definitions import build_fleet
    from monitoring_pipelines.jobs import ASSET_JOB, Kind
    from monitoring_pipelines.run_failures import step_failures

    fleet = build_fleet(config, ctx.settings, ctx.environ)
    chosen = [r for m in monitors if (r := fleet.run(m, Kind.REVIEW)) is not None]
    if not chosen:
        return
    with DagsterRuns(dagster_environment(ctx), workers=1) as runs:
        for review in chosen:
            run_id = runs.create(ASSET_JOB, None, review.keys, review.tags)
            runs.launch(run_id)
            (result,) = runs.wait([run_id])
            if not result.success:
                failed = step_failures(result.events)
                said = f"{failed[0].asset}: {failed[0].cause}" if failed else "see the run"
                click.echo(f"{review.monitor}: review run failed: {said}", err=True)
            _say_review(review.monitor, result.events)


def _say_review(monitor: str, events: Sequence[Any]) -> None:
    """What a review run produced, one line per asset a person reads."""
    for event in events:
        if not event.is_step_materialization:
            continue
        materialization = event.step_materialization_data.materialization
        meta = {k: v.value for k, v in materialization.metadata.items()}
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
