"""PagerDuty Events API v2, for the severities configured to page."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from pydantic import Field

from monitoring_pipelines.core.alerting.destinations import pagerduty_notifiers
from monitoring_pipelines.core.config import AlertsConfig
from monitoring_pipelines.core.notify.pagerduty import EVENTS_URL, PagerDutyNotifier

__all__ = ["EVENTS_URL", "PagerDutyResource"]


class PagerDutyResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Triggers and resolves PagerDuty incidents, each monitor's with its own routing key.

    Attributes:
        routing_keys: Routing key by the name of the variable holding it, from the environment
            only (each value ``dg.EnvVar`` of a monitor's ``alerts.pagerduty.routing_key_env``);
            empty: PagerDuty is off.
        url: The Events API endpoint for every monitor (``PAGERDUTY_EVENTS_URL``, for tests);
            empty: each monitor's ``alerts.pagerduty.url``.
    """

    routing_keys: dict[str, str] = Field(default_factory=dict)
    url: str = ""

    def get_notifiers(self, alerts: Mapping[str, AlertsConfig]) -> dict[str, PagerDutyNotifier]:
        """Each paging monitor's notifier (monitors whose key is not set are left out)."""
        return pagerduty_notifiers(alerts, self.routing_keys, self.url or None)
