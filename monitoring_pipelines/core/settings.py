"""Process environment, resolved in one place.

Everything else receives a :class:`Settings` value; nothing reads ``os.environ`` at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitoring_pipelines.core.errors import ConfigError

DEFAULT_HOME = ".monitoring"
ALERTING_BUDGET_S = 15.0
"""Seconds an alerting pass may spend sending, well under the sensor's 30 s interval."""


@dataclass(frozen=True)
class Settings:
    """Paths and URLs that come from the environment, with the embedded defaults."""

    home: Path
    config_path: Path
    warehouse_url: str | None
    store_url: str
    dagster_url: str
    slack_api_url: str | None
    slack_token: str | None = field(default=None, repr=False)
    alerts_file: Path | None = None
    pagerduty_url: str | None = None
    alerting_budget_s: float = ALERTING_BUDGET_S

    @property
    def default_warehouse_url(self) -> str:
        return f"sqlite:///{self.home / 'warehouse.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("MONITORING_HOME") or DEFAULT_HOME).expanduser().resolve()
        config_path = Path(env.get("MONITORING_CONFIG") or "demo/monitors.yaml").expanduser()
        return cls(
            home=home,
            config_path=config_path.resolve(),
            warehouse_url=env.get("MONITORING_WAREHOUSE_URL") or None,
            store_url=env.get("MONITORING_STORE_URL") or f"sqlite:///{home / 'results.db'}",
            dagster_url=(env.get("MONITORING_DAGSTER_URL") or "http://localhost:3000").rstrip("/"),
            slack_api_url=env.get("SLACK_API_URL") or None,
            slack_token=env.get("SLACK_BOT_TOKEN") or None,
            alerts_file=Path(env["MONITORING_ALERTS_FILE"]).expanduser().resolve()
            if env.get("MONITORING_ALERTS_FILE")
            else None,
            pagerduty_url=env.get("PAGERDUTY_EVENTS_URL") or None,
            alerting_budget_s=_seconds(env, "MONITORING_ALERTING_BUDGET_S", ALERTING_BUDGET_S),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} is not a number of seconds above 0; expected e.g. 15")
    return value
