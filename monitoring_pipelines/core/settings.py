"""Process environment, resolved in one place.

Everything else receives a :class:`Settings` value; nothing reads ``os.environ`` at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from sqlalchemy.engine import make_url

from monitoring_pipelines.core.artifacts import check_url, is_url
from monitoring_pipelines.core.errors import ConfigError

DEFAULT_HOME = ".monitoring"
DEFAULT_WEB_URL = "http://127.0.0.1:8080"
"""Where ``monitoring serve`` answers by default; alerts link reports and runbooks there."""
ExecutorKind = Literal["in_process", "multiprocess", "celery"]
"""How the steps of a monitor's run execute (``MONITORING_EXECUTOR``)."""
BROKER_VARIABLE = "MONITORING_CELERY_BROKER"
"""The Celery broker's URL (``redis://host:6379/0``), read by each process from its
environment, never stored."""
ALERTING_BUDGET_S = 15.0
"""Seconds an alerting pass may spend sending, well under the sensor's 30 s interval."""


@dataclass(frozen=True)
class Settings:
    """Paths and URLs that come from the environment, with the embedded defaults."""

    home: Path
    config_path: Path
    warehouse_url: str | None = field(repr=False)
    store_url: str = field(repr=False)
    dagster_url: str
    slack_api_url: str | None
    slack_token: str | None = field(default=None, repr=False)
    alerts_file: Path | None = None
    pagerduty_url: str | None = None
    alerting_budget_s: float = ALERTING_BUDGET_S
    web_url: str = DEFAULT_WEB_URL
    artifacts_url: str | None = None
    executor: ExecutorKind = "in_process"
    """Where slices, reports and fine-tuning sets go instead of ``home``: an fsspec URL such as
    ``s3://bucket/prefix`` (``MONITORING_ARTIFACTS_URL``)."""

    @property
    def artifacts(self) -> str:
        """The location of the files the product writes: the URL, or ``home``."""
        return self.artifacts_url or str(self.home)

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
            web_url=_http_url(env, "MONITORING_WEB_URL", DEFAULT_WEB_URL),
            artifacts_url=_artifacts_url(env, home),
            executor=_executor(env),
        )


@dataclass(frozen=True)
class UrlSecret:
    """Where the password of a database URL is read from: the variable holding the whole URL,
    or the one holding just its password. Resources take these names (as ``dagster.EnvVar``)
    instead of the password, so Dagster never stores or shows it."""

    url_variable: str | None = None
    password_variable: str | None = None


def url_secret(url: str, environ: Mapping[str, str], variable: str, where: str) -> UrlSecret:
    """Where the password of ``url`` comes from; nothing to hide when it carries none.

    Args:
        url: The URL as resolved from the environment and the monitor file.
        environ: The environment it was resolved from.
        variable: The variable that normally holds the URL (``MONITORING_STORE_URL``...).
        where: Where the URL is configured, for the error message.

    Raises:
        ConfigError: If the URL carries a password that no environment variable holds (it was
            written into the monitor file).
    """
    password = make_url(url).password
    if not password:
        return UrlSecret()
    holders = [variable, *sorted(k for k in environ if k != variable)]
    whole = [k for k in holders if environ.get(k) == url]
    if whole:
        return UrlSecret(url_variable=whole[0])
    part = [k for k in holders if environ.get(k) == password]
    if part:
        return UrlSecret(password_variable=part[0])
    raise ConfigError(
        f"{where}: the URL carries a password written in the monitor file; give it through "
        f"the environment instead (the whole URL as ${{{variable}}}, or the password as a "
        "variable such as ${DB_PASSWORD}), or leave it out for the driver to find "
        "(PGPASSWORD or ~/.pgpass for PostgreSQL)"
    )


def without_password(url: str) -> str:
    """``url`` with its password left out."""
    return make_url(url)._replace(password=None).render_as_string(hide_password=False)


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` put in (unchanged when ``password`` is empty)."""
    if not password:
        return url
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def _artifacts_url(env: Mapping[str, str], home: Path) -> str | None:
    """``MONITORING_ARTIFACTS_URL`` when it names an object store; a local folder given there
    (a path or ``file://``) is used as it is, None (``home``) when unset."""
    raw = (env.get("MONITORING_ARTIFACTS_URL") or "").strip()
    if not raw:
        return None
    if is_url(raw):
        return check_url(raw).rstrip("/")
    local = Path(raw.removeprefix("file://")).expanduser().resolve()
    return None if local == home else str(local)


def _executor(env: Mapping[str, str]) -> ExecutorKind:
    raw = (env.get("MONITORING_EXECUTOR") or "in_process").strip().lower().replace("-", "_")
    kinds: tuple[ExecutorKind, ...] = get_args(ExecutorKind)
    for kind in kinds:
        if raw == kind:
            if kind == "celery" and not env.get(BROKER_VARIABLE):
                raise ConfigError(
                    f"MONITORING_EXECUTOR=celery needs the broker's URL in {BROKER_VARIABLE}, "
                    "e.g. redis://127.0.0.1:6379/0"
                )
            return kind
    raise ConfigError(
        f"MONITORING_EXECUTOR={env.get('MONITORING_EXECUTOR')!r} is not an executor; expected "
        f"one of {', '.join(kinds)}"
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


def _http_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    scheme, _, rest = raw.partition("://")
    if scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise ConfigError(
            f"{name}={raw!r} is not an http(s) URL; expected e.g. https://monitoring.example.com"
        )
    return raw.rstrip("/")
