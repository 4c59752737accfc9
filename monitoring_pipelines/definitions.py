"""Dagster definitions built from the monitor configuration (wiring only)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import dagster as dg

from assets import build_monitor_assets
from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.jobs import daily_job, reference_job
from monitoring_pipelines.labels_sensor import labels_sensor
from monitoring_pipelines.partitions import daily_partitions
from monitoring_pipelines.schedules import daily_schedule
from monitoring_pipelines.sensors import alerting_sensor
from resources import ResultStoreResource, SlackResource, SliceStoreResource, WarehouseResource

# Per-partition asset checks are a preview feature in Dagster 1.13; we rely on it knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def build_definitions(
    config: MonitorFile, settings: Settings, environ: Mapping[str, str]
) -> dg.Definitions:
    """Assets, checks, jobs, schedules, the alerting sensor and resources for ``config``."""
    assets: list[dg.AssetsDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for name, monitor in config.monitors.items():
        partitions_def = daily_partitions(monitor)
        assets += build_monitor_assets(name, monitor, partitions_def)
        job = daily_job(name, has_reference=monitor.reference is not None)
        jobs.append(job)
        schedules.append(daily_schedule(job))
        if monitor.reference is not None:
            jobs.append(reference_job(name))
    alerts = {name: monitor.alerts for name, monitor in config.monitors.items()}
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=[
            alerting_sensor(alerts, settings.dagster_url, report_keys(assets)),
            labels_sensor(config.monitors),
        ],
        resources=resources(config, settings, environ),
    )


def report_keys(assets: list[dg.AssetsDefinition]) -> dict[str, dg.AssetKey]:
    """Each monitor's daily report asset."""
    return {
        key.path[0]: key
        for a in assets
        for key in a.keys
        if len(key.path) == 2 and key.path[1] == "daily_report"
    }


def resources(
    config: MonitorFile, settings: Settings, environ: Mapping[str, str]
) -> dict[str, dg.ConfigurableResource]:  # type: ignore[type-arg]
    """Resources resolved from the configuration and the environment."""
    token: str | dg.EnvVar = dg.EnvVar("SLACK_BOT_TOKEN") if environ.get("SLACK_BOT_TOKEN") else ""
    return {
        "warehouse": WarehouseResource(
            url=config.warehouse_url or settings.warehouse_url or settings.default_warehouse_url,
            config_dir=str(settings.config_path.parent),
        ),
        "result_store": ResultStoreResource(url=settings.store_url),
        "slices": SliceStoreResource(base_dir=str(settings.home / "slices")),
        "slack": SlackResource(token=token, base_url=settings.slack_api_url or ""),
    }


def load_definitions(environ: Mapping[str, str]) -> dg.Definitions:
    """Definitions of the monitor file named by the environment (``MONITORING_CONFIG``)."""
    settings = Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    return build_definitions(config, settings, environ)


@dg.definitions
def defs() -> dg.Definitions:
    import os

    return load_definitions(os.environ)
