"""Where each monitor's alerts go: Slack (the monitor's channel) and PagerDuty (with the routing
key of the variable the monitor names), and what a configuration leaves nowhere to go
(README.md, "Alerting").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from monitoring_pipelines.core.config import AlertsConfig
from monitoring_pipelines.core.notify.pagerduty import PagerDutyNotifier


def pagerduty_key_names(alerts: Mapping[str, AlertsConfig]) -> set[str]:
    """The environment variables the monitors name for their PagerDuty routing keys."""
    return {c.pagerduty.routing_key_env for c in alerts.values() if c.pagerduty is not None}


def pagerduty_notifiers(
    alerts: Mapping[str, AlertsConfig], keys: Mapping[str, str], url: str | None = None
) -> dict[str, PagerDutyNotifier]:
    """Each paging monitor's PagerDuty notifier, holding the key its variable names.

    Monitors naming the same variable and endpoint share one notifier (one destination: a
    rate limit on that key pauses all of them). A monitor whose variable has no key gets none,
    and its pages wait in the outbox.

    Args:
        alerts: Each monitor's alerts section.
        keys: Routing key by variable name (the variables' values; kept out of every message).
        url: The Events API endpoint for every monitor (``PAGERDUTY_EVENTS_URL``); None: each
            monitor's ``alerts.pagerduty.url``.

    Returns:
        The notifier by monitor name.
    """
    shared: dict[tuple[str, str], PagerDutyNotifier] = {}
    notifiers: dict[str, PagerDutyNotifier] = {}
    for monitor, config in alerts.items():
        if config.pagerduty is None or not keys.get(config.pagerduty.routing_key_env):
            continue
        env, endpoint = config.pagerduty.routing_key_env, url or config.pagerduty.url
        if (env, endpoint) not in shared:
            shared[env, endpoint] = PagerDutyNotifier(keys[env], url=endpoint)
        notifiers[monitor] = shared[env, endpoint]
    return notifiers


def describe(monitor: str, config: AlertsConfig, is_set: Callable[[str], bool]) -> str:
    """Where ``monitor``'s alerts go, in one line naming its key's variable (never the key).

    Args:
        monitor: The monitor's name.
        config: Its alerts section.
        is_set: Whether an environment variable is set.
    """
    parts = [f"Slack {config.slack_channel}" if config.slack_channel else "no Slack channel"]
    if config.pagerduty is not None:
        env = config.pagerduty.routing_key_env
        severities = ", ".join(s.value for s in config.pagerduty.severities)
        state = "set" if is_set(env) else "not set here: its pages wait in the outbox"
        parts.append(f"PagerDuty ({severities}) with the routing key in ${env} ({state})")
    return f"{monitor}: " + "; ".join(parts)


def nowhere_warning(monitor: str, config: AlertsConfig) -> str | None:
    """A warning when some of ``monitor``'s alerts have no destination, else None."""
    if config.slack_channel:
        return None
    fate = "are marked undeliverable (only MONITORING_ALERTS_FILE, without a token, takes them)"
    if config.pagerduty is None:
        return (
            f"monitor '{monitor}' has nowhere to send alerts: no alerts.slack_channel and no "
            f"alerts.pagerduty; with SLACK_BOT_TOKEN its alerts {fate}"
        )
    severities = ", ".join(s.value for s in config.pagerduty.severities)
    return (
        f"monitor '{monitor}' has no alerts.slack_channel: only its pages ({severities}) reach "
        f"PagerDuty; with SLACK_BOT_TOKEN its other messages (warnings, updates, backfill "
        f"summaries) {fate}"
    )
