"""The alerting sensor: turns finished runs' failed checks into incidents and messages."""

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from monitoring_pipelines.core.alerting.delivery import DeliveryPolicy
from monitoring_pipelines.core.alerting.incident_days import days_to_report
from monitoring_pipelines.core.config import AlertsConfig, MonitorConfig
from monitoring_pipelines.core.settings import ALERTING_BUDGET_S
from monitoring_pipelines.sensors.alerting_pass import notifier_problems, run_alerting
from resources import PagerDutyResource, ResultStoreResource, SlackResource

INTERVAL_S = 30


class NotifierDown(Exception):
    """Alerts cannot be delivered: the tick fails so the UI shows it."""


def alerting_sensor(
    alerts: Mapping[str, AlertsConfig],
    dagster_url: str,
    reports: Mapping[str, dg.AssetKey] | None = None,
    budget_s: float = ALERTING_BUDGET_S,
    web_url: str | None = None,
    monitors: Mapping[str, MonitorConfig] | None = None,
    run_tags: Mapping[str, str] | None = None,
) -> dg.SensorDefinition:
    """The alerting pass every 30 s; it also requests the daily report of every recent
    partition whose checks it has just recorded, so the report lists them, and of every day
    an incident it opened or updated failed on, however old (a backfill's incidents).

    A pass sends for at most ``budget_s`` seconds (``MONITORING_ALERTING_BUDGET_S``); what is
    left waits for the next tick. With ``monitors``, only days that are their partitions get a
    report (a failed reference build is dated with the day it ran, which has no report yet).
    The report runs carry ``run_tags`` (the warehouse) besides the monitor, as the monitors'
    jobs do, for the run queue's limits.
    """
    reports = dict(reports or {})
    policy = DeliveryPolicy(pass_budget_s=budget_s)

    @dg.sensor(
        name="alerting",
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Reads check evaluations of finished runs, opens/updates/resolves "
        "incidents, sends alerts stored in the outbox, and requests the daily report of "
        "recent partitions whose checks it recorded and of the days its incidents failed on.",
        asset_selection=dg.AssetSelection.assets(*reports.values()) if reports else None,
    )
    def alerting(
        context: dg.SensorEvaluationContext,
        result_store: ResultStoreResource,
        slack: SlackResource,
        pagerduty: PagerDutyResource,
    ) -> dg.SensorResult:
        store = result_store.alerts()
        report = run_alerting(
            context.instance,
            store,
            alerts,
            dagster_url,
            slack.get_notifier(),
            pagerduty=pagerduty.get_notifiers(alerts),
            policy=policy,
            web_url=web_url,
        )
        if report.cursor:
            context.update_cursor(report.cursor)
        incident = days_to_report(store, report.ingest, report.checked) if reports else set()
        requests = report_requests(
            report.checked,
            reports,
            alerts,
            report.cursor or "",
            incident=incident,
            monitors=monitors,
            run_tags=run_tags,
        )
        problems = notifier_problems(store)
        if problems and not requests:
            # A failed tick is what the UI shows in red on the sensor's page and in the
            # sensor list: a notifier that is down must not look like quiet.
            raise NotifierDown("; ".join(problems))
        for problem in problems:
            context.log.error(problem)
        if report.delivery.undeliverable:
            context.log.warning(
                f"{len(report.delivery.undeliverable)} alert(s) undeliverable (a monitor without "
                "alerts.slack_channel): `monitoring alerts --status undeliverable`"
            )
        return dg.SensorResult(
            run_requests=requests,
            skip_reason=None if requests else dg.SkipReason(report.summary()),
        )

    return alerting


def report_requests(
    checked: set[tuple[str, str]],
    reports: Mapping[str, dg.AssetKey],
    alerts: Mapping[str, AlertsConfig],
    cursor: str,
    today: date | None = None,
    incident: Collection[tuple[str, str]] = (),
    monitors: Mapping[str, MonitorConfig] | None = None,
    run_tags: Mapping[str, str] | None = None,
) -> list[dg.RunRequest]:
    """Runs of ``<monitor>/daily_report`` for the recent partitions just checked and for the
    ``incident`` days (``days_to_report``), whatever their age; other history is rendered on
    demand (materialize the report's partitions from the UI, or ``monitoring report``). With
    ``monitors``, days that are not one of the monitor's partitions are left out."""
    today = today or datetime.now(UTC).date()
    requests = []
    for monitor, partition in sorted({*checked, *incident}):
        key = reports.get(monitor)
        config = alerts.get(monitor)
        if key is None or config is None:
            continue
        horizon = today - timedelta(days=config.paging_horizon_days)
        recent = (monitor, partition) in checked and date.fromisoformat(partition) >= horizon
        if not recent and (monitor, partition) not in incident:
            continue
        known = (monitors or {}).get(monitor)
        if known is not None and not known.has_day(date.fromisoformat(partition), today):
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"report:{monitor}:{partition}:{cursor}",
                asset_selection=[key],
                partition_key=partition,
                tags={**(run_tags or {}), "monitor": monitor},
            )
        )
    return requests
