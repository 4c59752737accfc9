"""Dagster definitions built from the monitor configuration (wiring only)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from assets import build_monitor_assets
from monitoring_pipelines.core.alerting.destinations import pagerduty_key_names
from monitoring_pipelines.core.artifacts import child
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.settings import Settings, url_secret, without_password
from monitoring_pipelines.executors import job_executor
from monitoring_pipelines.jobs import (
    WAREHOUSE_TAG,
    Kind,
    MonitorRun,
    monitor_runs,
    remote_judge,
    warehouse_tag,
)
from monitoring_pipelines.partitions import daily_partitions
from monitoring_pipelines.prune_job import prune_job
from monitoring_pipelines.schedules import monitor_schedule, prune_schedule
from monitoring_pipelines.sensors.alerting import alerting_sensor
from monitoring_pipelines.sensors.labels import labels_sensor
from resources import (
    JudgeResource,
    PagerDutyResource,
    ResultStoreResource,
    SlackResource,
    SliceStoreResource,
    WarehouseResource,
)

# Per-partition asset checks are a preview feature in Dagster 1.13; we rely on it knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

# Python's cyclic collector runs after every 700 new container objects by default, and each of
# its full passes walks the whole heap. Dagster builds a dozen objects per asset, check and job
# and keeps all of them, so at 500 monitors the default spent about 3 s of a 15 s load walking
# objects that live as long as the process. While the definitions are built the collector runs
# after 50,000 new objects; then they are frozen out of its passes (README.md, "A fleet of
# monitors").
GC_THRESHOLDS = (50_000, 20, 100)


@dataclass(frozen=True)
class Fleet:
    """The definitions of a monitor file and what each monitor runs (its schedules request
    them; ``monitoring backfill`` runs them for its days)."""

    definitions: dg.Definitions
    runs: Mapping[str, tuple[MonitorRun, ...]]

    def run(self, monitor: str, kind: Kind = Kind.DAILY) -> MonitorRun | None:
        """The monitor's run of ``kind``; None for a monitor without one (or unknown)."""
        return next((r for r in self.runs.get(monitor, ()) if r.kind is kind), None)

    def daily(self, monitor: str) -> MonitorRun:
        """The monitor's daily run (every monitor has one)."""
        run = self.run(monitor)
        if run is None:
            raise KeyError(f"no monitor {monitor!r} with a daily run")
        return run


def build_definitions(
    config: MonitorFile,
    settings: Settings,
    environ: Mapping[str, str],
    overrides: Mapping[str, dg.ConfigurableResource] | None = None,  # type: ignore[type-arg]
) -> dg.Definitions:
    """Assets, checks, schedules, the prune job, the sensors and resources for ``config``."""
    return build_fleet(config, settings, environ, overrides).definitions


def build_fleet(
    config: MonitorFile,
    settings: Settings,
    environ: Mapping[str, str],
    overrides: Mapping[str, dg.ConfigurableResource] | None = None,  # type: ignore[type-arg]
) -> Fleet:
    """The definitions of ``config`` (resources replaced by ``overrides``, e.g. a test's
    judge) and each monitor's runs.

    No monitor has a job of its own: its schedules request Dagster's asset job with the asset
    selection of each of its runs. Each job cost the load its resolution against the monitor's
    assets and its snapshot, about 40 % of it at 500 monitors (README.md, "A fleet of
    monitors").
    """
    assets: list[dg.AssetsDefinition] = []
    runs: dict[str, tuple[MonitorRun, ...]] = {}
    common = {WAREHOUSE_TAG: warehouse_tag(warehouse_url(config, settings))}
    for name, monitor in config.monitors.items():
        partitions_def = daily_partitions(monitor)
        family = build_monitor_assets(name, monitor, partitions_def, settings.web_url)
        assets += family
        keys = [k for a in family for k in a.keys]
        runs[name] = tuple(monitor_runs(name, monitor, keys, partitions_def, common))
    pruning = prune_job({name: monitor.retention for name, monitor in config.monitors.items()})
    schedules = [monitor_schedule(run) for each in runs.values() for run in each]
    definitions = dg.Definitions(
        assets=assets,
        jobs=[pruning],
        schedules=[*schedules, prune_schedule(pruning)],
        sensors=monitor_sensors(config, settings, assets, common),
        resources={**resources(config, settings, environ), **(overrides or {})},
        # The monitors' runs are of Dagster's asset job: by default it would start a process
        # per step, seconds of imports each.
        executor=job_executor(settings.executor),
    )
    return Fleet(definitions, runs)


def monitor_sensors(
    config: MonitorFile,
    settings: Settings,
    assets: list[dg.AssetsDefinition],
    run_tags: Mapping[str, str],
) -> list[dg.SensorDefinition]:
    """The alerting sensor and the labels sensor of ``config``'s monitors."""
    alerts = {name: monitor.alerts for name, monitor in config.monitors.items()}
    return [
        alerting_sensor(
            alerts,
            settings.dagster_url,
            report_keys(assets),
            settings.alerting_budget_s,
            web_url=settings.web_url,
            monitors=config.monitors,
            run_tags=run_tags,
        ),
        labels_sensor(config.monitors, run_tags),
    ]


@contextmanager
def collecting_rarely() -> Iterator[None]:
    """Raise the collector's thresholds to ``GC_THRESHOLDS`` (never lower them) for the block,
    then restore them and freeze what exists: the definitions live as long as the process, and
    a run's own garbage is collected as often as before, without walking them again."""
    before = gc.get_threshold()
    gc.set_threshold(*(max(b, t) for b, t in zip(before, GC_THRESHOLDS, strict=True)))
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.freeze()


def report_keys(assets: list[dg.AssetsDefinition]) -> dict[str, dg.AssetKey]:
    """Each monitor's daily report asset."""
    return {
        key.path[0]: key
        for a in assets
        for key in a.keys
        if len(key.path) == 2 and key.path[1] == Asset.DAILY_REPORT
    }


def warehouse_url(config: MonitorFile, settings: Settings) -> str:
    """The warehouse the monitors read: the monitor file's, the environment's, or the demo's."""
    return config.warehouse_url or settings.warehouse_url or settings.default_warehouse_url


def resources(
    config: MonitorFile, settings: Settings, environ: Mapping[str, str]
) -> dict[str, dg.ConfigurableResource]:  # type: ignore[type-arg]
    """Resources resolved from the configuration and the environment."""
    token: str | dg.EnvVar = dg.EnvVar("SLACK_BOT_TOKEN") if environ.get("SLACK_BOT_TOKEN") else ""
    warehouse = warehouse_url(config, settings)
    warehouse_key = "key 'warehouse_url'" if config.warehouse_url else "MONITORING_WAREHOUSE_URL"
    return {
        "warehouse": WarehouseResource(
            **database_fields(warehouse, environ, "MONITORING_WAREHOUSE_URL", warehouse_key),
            config_dir=str(settings.config_path.parent),
        ),
        "result_store": ResultStoreResource(
            **database_fields(
                settings.store_url, environ, "MONITORING_STORE_URL", "MONITORING_STORE_URL"
            )
        ),
        "slices": SliceStoreResource(base_dir=child(settings.artifacts, "slices")),
        "slack": SlackResource(
            token=token,
            base_url=settings.slack_api_url or "",
            alerts_file=str(settings.alerts_file or ""),
        ),
        "pagerduty": PagerDutyResource(
            routing_keys=pagerduty_keys(config, environ), url=settings.pagerduty_url or ""
        ),
        "judge": JudgeResource(api_key=judge_key(config, environ)),
    }


def database_fields(
    url: str, environ: Mapping[str, str], variable: str, where: str
) -> dict[str, str | dg.EnvVar]:
    """A database resource's ``url`` and ``password``: a password is read by Dagster from the
    variable that holds it (``dg.EnvVar``), so run storage and the UI hold only its name."""
    secret = url_secret(url, environ, variable, where)
    if secret.url_variable is not None:
        return {"url": dg.EnvVar(secret.url_variable)}
    if secret.password_variable is not None:
        return {"url": without_password(url), "password": dg.EnvVar(secret.password_variable)}
    return {"url": url}


def pagerduty_keys(config: MonitorFile, environ: Mapping[str, str]) -> dict[str, str]:
    """Each routing key the monitors name, read by Dagster from its variable (``dg.EnvVar``:
    the key itself is never in the definitions); variables not set are left out."""
    alerts = {name: m.alerts for name, m in config.monitors.items()}
    return {env: dg.EnvVar(env) for env in sorted(pagerduty_key_names(alerts)) if environ.get(env)}


def judge_key(config: MonitorFile, environ: Mapping[str, str]) -> str | dg.EnvVar:
    """The remote judge's API key, read by Dagster from the variable the monitors name."""
    return _one_secret(
        {
            m.llm.judge.openai.api_key_env
            for m in config.monitors.values()
            if m.llm is not None and remote_judge(m)
        },
        "llm.judge.openai.api_key_env",
        "one judge key serves every monitor",
        environ,
    )


def _one_secret(names: set[str], key: str, why: str, environ: Mapping[str, str]) -> str | dg.EnvVar:
    """``dg.EnvVar`` of the one variable named, when it is set; else empty (feature off)."""
    if len(names) > 1:
        raise ConfigError(
            f"monitors name different {key} variables ({', '.join(sorted(names))}); {why}"
        )
    if not names:
        return ""
    (env,) = names
    return dg.EnvVar(env) if environ.get(env) else ""


def load_definitions(environ: Mapping[str, str]) -> dg.Definitions:
    """Definitions of the monitor file named by the environment (``MONITORING_CONFIG``)."""
    return load_fleet(environ).definitions


def load_fleet(environ: Mapping[str, str]) -> Fleet:
    """Definitions and runs of the monitor file named by the environment."""
    settings = Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    return build_fleet(config, settings, environ)


# (environment, monitor file's state) -> definitions: Dagster asks for them once per job
# lookup and per run; they change only with the environment or the monitor file.
_loaded: dict[tuple[object, ...], dg.Definitions] = {}


def _monitor_file_state(environ: Mapping[str, str]) -> tuple[object, ...]:
    path = Settings.from_env(environ).config_path
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), stat.st_mtime_ns, stat.st_size)


@dg.definitions
def defs() -> dg.Definitions:
    import os

    key = (tuple(sorted(os.environ.items())), _monitor_file_state(os.environ))
    if key not in _loaded:
        if _loaded:
            _loaded.clear()
            # The replaced definitions are collected before the new ones are frozen: frozen
            # again, their cycles would stay until the process exits, at each reload.
            gc.unfreeze()
            gc.collect()
        with collecting_rarely():
            loaded = load_definitions(os.environ)
            loaded.get_repository_def()  # what Dagster builds from them next
        _loaded[key] = loaded
    return _loaded[key]
