"""PagerDuty Events API v2, for the severities configured to page."""

from __future__ import annotations

import dagster as dg

from monitoring_pipelines.core.notify.pagerduty import EVENTS_URL, PagerDutyNotifier

__all__ = ["EVENTS_URL", "PagerDutyResource"]


class PagerDutyResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Triggers and resolves PagerDuty incidents.

    Attributes:
        routing_key: The integration's routing key, from the environment only
            (``dg.EnvVar`` of ``alerts.pagerduty.routing_key_env``); empty: PagerDuty is off.
        url: The Events API endpoint (``PAGERDUTY_EVENTS_URL`` overrides it for tests).
    """

    routing_key: str = ""
    url: str = EVENTS_URL

    def get_notifier(self) -> PagerDutyNotifier | None:
        if not self.routing_key:
            return None
        return PagerDutyNotifier(self.routing_key, url=self.url or EVENTS_URL)
