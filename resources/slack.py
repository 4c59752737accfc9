"""Slack, for alerts; without a token, alerts wait in the outbox."""

from __future__ import annotations

import dagster as dg

from monitoring_pipelines.core.notify.base import Notifier


class SlackResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Posts alerts with slack-sdk.

    Attributes:
        token: Bot token, from the environment only (``dg.EnvVar("SLACK_BOT_TOKEN")``);
            empty means Slack is not configured.
        base_url: Slack Web API base URL; set it to talk to another server (tests use a local
            one). Empty means Slack's own.
    """

    token: str = ""
    base_url: str = ""

    def get_notifier(self) -> Notifier | None:
        if not self.token:
            return None
        from monitoring_pipelines.core.notify.slack import SlackNotifier

        return SlackNotifier(self.token, base_url=self.base_url or None)
