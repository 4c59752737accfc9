"""What ``monitoring demo run`` does, step by step: generate the demo's data, backfill every
day through Dagster, replay the alerting as if the days had been live, write the reports of the
incidents' days, run the review loops, and compare the incidents found with the injected events."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from monitoring_pipelines.cli.context import Context, fail
from monitoring_pipelines.cli.operations import run_alerting, run_days, run_review_loop
from monitoring_pipelines.cli.reports import write_run_reports
from monitoring_pipelines.core.alerting.model import DeliveryStatus
from monitoring_pipelines.demo.generate import DEFAULT_START, generate_demo


def generate(ctx: Context, start: date, days: int, scale: float, seed: int) -> Path:
    """Write the demo's inference logs and reference tables into the warehouse.

    Returns:
        The ground-truth file describing the injected events.
    """
    url = ctx.settings.warehouse_url or ctx.settings.default_warehouse_url
    out = ctx.settings.home / "demo"
    summary = generate_demo(url, out, start=start, days=days, scale=scale, seed=seed)
    rows = ", ".join(f"{t} {n:,}" for t, n in summary.rows.items())
    click.echo(f"demo data: {rows}")
    click.echo(f"ground truth: {summary.ground_truth_path}")
    return Path(summary.ground_truth_path)


def run_demo(ctx: Context, days: int, scale: float, seed: int) -> None:
    """Generate ``days`` of demo data, run them through Dagster, replay the alerting, write
    the reports of every day an incident failed on and of the last day, run the review loops
    and report what was found and sent."""
    from monitoring_pipelines.backfill import BackfillRangeError, check_range, days_between
    from monitoring_pipelines.partitions import daily_partitions

    started = time.perf_counter()
    last = DEFAULT_START + timedelta(days=days - 1)
    config = ctx.config()
    try:
        check_range(
            {name: daily_partitions(m) for name, m in config.monitors.items()},
            days_between(DEFAULT_START, last),
        )
    except BackfillRangeError as exc:
        fail(f"{exc}; run fewer --days, or move end_date in {ctx.settings.config_path}")
    truth = generate(ctx, DEFAULT_START, days, scale, seed)
    backfilled = run_days(
        ctx,
        config,
        list(config.monitors),
        days_between(DEFAULT_START, last),
        rebuild_reference=True,
        workers=min(os.cpu_count() or 1, 4),
    )
    if not ctx.settings.slack_token and not ctx.settings.alerts_file:
        # The demo's history is replayed day by day as if it had been live; its messages go to
        # a file (or to Slack with SLACK_BOT_TOKEN and a channel in the monitor file).
        messages = ctx.settings.home / "demo" / "messages.jsonl"
        messages.unlink(missing_ok=True)
        ctx.settings = replace(ctx.settings, alerts_file=messages)
    alerting = run_alerting(ctx, config, replay=True)
    run_review_loop(ctx, config, list(config.monitors))
    # After the review loop, so that the reports show its queue and the judge's agreement.
    write_run_reports(ctx, config, alerting, {(m, last.isoformat()) for m in config.monitors})
    report(ctx, truth)
    click.echo(
        f"\ndemo done in {time.perf_counter() - started:.0f} s "
        f"({backfilled.runs} Dagster runs in {backfilled.seconds:.0f} s). "
        "`make ui` opens the same history in the Dagster UI."
    )


def report(ctx: Context, truth: Path) -> None:
    """Print the incidents found next to the injected events of ``truth``, then the messages
    sent per event; exit 2 when ``truth`` does not exist."""
    from monitoring_pipelines.core.alerting.groundtruth import compare, load_events
    from monitoring_pipelines.definitions import build_definitions

    if not truth.exists():
        fail(f"no ground truth at {truth}: run `monitoring demo generate` first")
    events = load_events(truth)
    incidents = ctx.alerts().incidents()
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

    sent = [a for a in ctx.alerts().alerts([DeliveryStatus.SENT]) if a.target is Target.SLACK]
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
