"""The alerting sensor: turns finished runs' failed checks into incidents and messages."""

from collections.abc import Mapping

import dagster as dg

from monitoring_pipelines.alerting import run_alerting
from monitoring_pipelines.core.config import AlertsConfig
from resources import ResultStoreResource, SlackResource

INTERVAL_S = 30


def alerting_sensor(alerts: Mapping[str, AlertsConfig], dagster_url: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="alerting",
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Reads check evaluations of finished runs, opens/updates/resolves "
        "incidents and sends alerts stored in the outbox.",
    )
    def alerting(
        context: dg.SensorEvaluationContext,
        result_store: ResultStoreResource,
        slack: SlackResource,
    ) -> dg.SkipReason:
        report = run_alerting(
            context.instance,
            result_store.get_store(),
            alerts,
            dagster_url,
            slack.get_notifier(),
        )
        if report.cursor:
            context.update_cursor(report.cursor)
        return dg.SkipReason(report.summary())

    return alerting
