"""Slack (or a file of messages), for alerts; without either, alerts wait in the outbox."""

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
        alerts_file: Without a token, append the messages to this JSON-lines file instead
            (``MONITORING_ALERTS_FILE``); empty: alerts wait in the outbox.
    """

    token: str = ""
    base_url: str = ""
    alerts_file: str = ""

    def get_notifier(self) -> Notifier | None:
        if self.token:
            from monitoring_pipelines.core.notify.slack import SlackNotifier

            return SlackNotifier(self.token, base_url=self.base_url or None)
        if self.alerts_file:
            from monitoring_pipelines.core.notify.file import FileNotifier

            return FileNotifier(self.alerts_file)
        return None
