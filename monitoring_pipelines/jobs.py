"""What each monitor runs: its daily assets, with a remote judge its judged assets, and its
review loop (the unpartitioned assets that read every reviewed answer). Each is a run of
Dagster's asset job by asset selection, requested by a schedule of the monitor's
(``schedules.py``) or by ``monitoring backfill``; a reference is rebuilt by materializing its
``reference_profile`` asset. No monitor has a job of its own: each job costs the code location's
load its resolution and its snapshot, about 40 % of the load at 500 monitors (README.md, "A
fleet of monitors").

Runs execute in process by default: a partition's steps are small and sequential, and a
process per step would cost seconds of imports each (measured in README.md, "Backfills"). The
production profile hands the steps to Celery workers instead (``MONITORING_EXECUTOR``,
``executors.py``). Every run carries its monitor and its warehouse as tags, which the run
queue's concurrency limits count.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import dagster as dg
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from sqlalchemy.engine import make_url

from monitoring_pipelines.core.catalog import REVIEW_ASSETS, Asset
from monitoring_pipelines.core.config import MonitorConfig

# The job every monitor's runs are of (hidden from the UI's Jobs list; a run shows its assets).
ASSET_JOB = IMPLICIT_ASSET_JOB_NAME


class Kind(StrEnum):
    """Which of a monitor's runs."""

    DAILY = "daily"  # one UTC day: slice, profile, drift, metrics, checks
    HALLUCINATION = "hallucination"  # one UTC day's answers judged by a remote judge
    REVIEW = "review"  # the review loop: reads every reviewed answer (no partition)


@dataclass(frozen=True)
class MonitorRun:
    """One of a monitor's runs: the assets it materializes (with their checks), the days it is
    partitioned by (None: not partitioned) and its tags."""

    monitor: str
    kind: Kind
    keys: tuple[dg.AssetKey, ...]
    partitions: dg.PartitionsDefinition | None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``<monitor>_<kind>``, e.g. ``sentiment_daily``: its schedule is ``<name>_schedule``."""
        return f"{self.monitor}_{self.kind}"


def reference_key(monitor: str) -> dg.AssetKey:
    """The monitor's reference asset."""
    return dg.AssetKey([monitor, Asset.REFERENCE_PROFILE])


MONITOR_TAG = "monitor"
WAREHOUSE_TAG = "warehouse"
_TAG_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")
_TAG_MAX = 63


def warehouse_tag(url: str) -> str:
    """A short, stable name of the warehouse at ``url`` for the ``warehouse`` run tag: its
    backend, host, port and database (an SQLite file by its name), never its user or password.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = (parsed.database or "memory").rsplit("/", 1)[-1]
        parts = ["sqlite", database]
    else:
        parts = [parsed.get_backend_name(), parsed.host or "local", str(parsed.port or "")]
        parts.append(parsed.database or "")
    text = _TAG_CHARS.sub("-", "-".join(p for p in parts if p)).strip("-")
    if len(text) > _TAG_MAX:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        text = f"{text[: _TAG_MAX - 9]}-{digest}"
    return text


def run_tags(monitor: str, common: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The tags of a monitor's run: the common ones (its warehouse), the monitor, ``extra``."""
    return {**common, MONITOR_TAG: monitor, **extra}


# The hallucination assets, judged in a run of their own when the judge is a remote server.
JUDGED = (Asset.FAITHFULNESS_SCORES, Asset.HALLUCINATION_RATE)


def remote_judge(monitor: MonitorConfig) -> bool:
    """Whether the monitor's answers are judged by a remote, paid, rate-limited server."""
    return monitor.llm is not None and monitor.llm.judge.backend in ("openai", "cascade")


def monitor_runs(
    name: str,
    monitor: MonitorConfig,
    keys: Iterable[dg.AssetKey],
    partitions: dg.PartitionsDefinition,
    common: Mapping[str, str] | None = None,
) -> list[MonitorRun]:
    """The runs of monitor ``name``, whose assets are ``keys`` and whose days ``partitions``.

    The daily run has every daily asset but the daily report, which follows the alerting pass
    (it lists the recorded checks: the alerting sensor requests it), the reference (rebuilt
    from its asset) and, with a remote judge, the judged assets: minutes of remote calls per day
    would hold up every other check of the day, so they run apart, later.
    """
    owned = sorted(k for k in keys if k.path[0] == name)
    reviewing = tuple(k for k in owned if k.path[-1] in REVIEW_ASSETS)
    judged = tuple(k for k in owned if k.path[-1] in JUDGED) if remote_judge(monitor) else ()
    apart = {reference_key(name), dg.AssetKey([name, Asset.DAILY_REPORT]), *reviewing, *judged}
    tags = run_tags(name, common or {})
    runs = [
        MonitorRun(name, Kind.DAILY, tuple(k for k in owned if k not in apart), partitions, tags)
    ]
    if judged:
        runs.append(
            MonitorRun(name, Kind.HALLUCINATION, judged, partitions, {**tags, "judge": "remote"})
        )
    if reviewing:
        runs.append(MonitorRun(name, Kind.REVIEW, reviewing, None, tags))
    return runs


def asset_job(defs: dg.Definitions, keys: Iterable[dg.AssetKey]) -> dg.JobDefinition:
    """Dagster's asset job for ``keys`` (of one partitioning), subset to them and their checks:
    what a run of a ``MonitorRun`` executes, for running one in this process."""
    chosen = set(keys)
    job = defs.resolve_implicit_job_def_def_for_assets(chosen)
    if job is None:
        raise KeyError(f"no asset job holds {sorted(k.to_user_string() for k in chosen)}")
    return job.get_subset(asset_selection=chosen)
