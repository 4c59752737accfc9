"""The on-call commands: ``alerts`` (the outbox: list, retry, dismiss), ``mute`` (windows in
which alerts are recorded but not sent) and ``incidents`` (list, ack, resolve)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.cli.operations import warn_notifiers
from monitoring_pipelines.core.alerting.model import DeliveryStatus, IncidentStatus
from monitoring_pipelines.core.errors import MonitoringError, StoreError


@click.group(invoke_without_command=True)
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
    warn_notifiers(ctx)
    rows = ctx.alerts().alerts([DeliveryStatus(s) for s in status] or None, monitor)
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
    store = ctx.alerts()
    failed = {a.id: a for a in store.alerts([DeliveryStatus.FAILED])}
    unknown = [i for i in alert_ids if i not in failed]
    if unknown:
        fail(
            f"not failed alert(s): {', '.join(map(str, unknown))}; "
            "see `monitoring alerts --status failed`"
        )
    for alert_id in alert_ids or list(failed):
        values = {k: (v.value if isinstance(v, DeliveryStatus) else v) for k, v in fields.items()}
        store.set_alert(alert_id, next_attempt_at=None, **values)
    return len(alert_ids or failed)


# -- mutes --------------------------------------------------------------------------------


@click.group()
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
        fail(f"unknown monitor '{monitor}'; known: {', '.join(config.monitors)}")
    if (duration is None) == (until is None):
        fail("give exactly one of --for (e.g. 2d) and --until (e.g. 2026-12-01T09:00)")
    start = datetime.now(UTC)
    end = until.replace(tzinfo=UTC) if until is not None else start + _duration(duration or "")
    if end <= start:
        fail(f"--until {end:%Y-%m-%d %H:%M} UTC is in the past")
    added = ctx.alerts().add_mute(monitor, check, subject, start, end, reason, who)
    what = " ".join(x for x in (monitor, check, subject) if x)
    click.echo(f"mute #{added.id}: {what} until {end:%Y-%m-%d %H:%M} UTC ({reason})")


@mute.command("list")
@click.option("--all", "everything", is_flag=True, help="Also mutes that have ended.")
@pass_context
def mute_list(ctx: Context, everything: bool) -> None:
    """Mutes in force (or all of them)."""
    now = datetime.now(UTC)
    rows = ctx.alerts().mutes(None if everything else now)
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
    store = ctx.alerts()
    if not any(m.id == mute_id for m in store.mutes()):
        fail(f"no mute #{mute_id}; see `monitoring mute list --all`")
    store.end_mute(mute_id, datetime.now(UTC))
    click.echo(f"mute #{mute_id} ended")


def _duration(text: str) -> timedelta:
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        fail(f"--for '{text}': expected a positive number and a unit m, h, d or w (e.g. 2d)")
    return timedelta(**{units[unit]: int(number)})


@click.group(invoke_without_command=True)
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
    rows = ctx.alerts().incidents([IncidentStatus(s) for s in status] or None, monitor)
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

    store = ctx.alerts()
    found = store.get_incident(incident_id)
    config = ctx.config().monitors.get(found.monitor) if found is not None else None
    try:
        change_incident(
            store, incident_id, status, who, config.alerts if config else None, datetime.now(UTC)
        )
    except StoreError:
        raise  # the store's fault, not the request's: one line and exit 1 (cli/__init__.py)
    except MonitoringError as exc:
        fail(str(exc))
    click.echo(
        f"incident #{incident_id} {status.value} by {who}; "
        "the alerting pass tells its thread (and PagerDuty)"
    )
