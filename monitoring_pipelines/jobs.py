"""Jobs: each monitor's daily job, its review job (the unpartitioned assets that read every
reviewed answer) and, with a remote judge, its hallucination job. A monitor's reference is
rebuilt by materializing its ``reference_profile`` asset (Dagster's asset job, by asset
selection: the UI's Materialize button, or ``monitoring backfill``), not by a job of its own:
each job costs the code location's load a snapshot (README.md, "A fleet of monitors").

Runs execute in process by default: a partition's steps are small and sequential, and a
process per step would cost seconds of imports each (measured in README.md, "Backfills"). The
production profile hands the steps to Celery workers instead (``MONITORING_EXECUTOR``,
``executors.py``). Every run carries its monitor and its warehouse as tags, which the run
queue's concurrency limits count.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from sqlalchemy.engine import make_url

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig


def daily_job_name(monitor: str) -> str:
    return f"{monitor}_daily"


def reference_key(monitor: str) -> dg.AssetKey:
    """The monitor's reference asset."""
    return dg.AssetKey([monitor, Asset.REFERENCE_PROFILE])


def hallucination_job_name(monitor: str) -> str:
    return f"{monitor}_hallucination"


def review_job_name(monitor: str) -> str:
    return f"{monitor}_review"


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
    """The tags of a monitor's job: the common ones (its warehouse), the monitor, ``extra``."""
    return {**common, MONITOR_TAG: monitor, **extra}


# The hallucination assets, judged in a job of their own when the judge is a remote server.
JUDGED = (Asset.FAITHFULNESS_SCORES, Asset.HALLUCINATION_RATE)


def remote_judge(monitor: MonitorConfig) -> bool:
    """Whether the monitor's answers are judged by a remote, paid, rate-limited server."""
    return monitor.llm is not None and monitor.llm.judge.backend in ("openai", "cascade")


def daily_job(
    monitor: str,
    *,
    has_reference: bool,
    judge_apart: bool = False,
    unpartitioned: Sequence[dg.AssetKey] = (),
    executor: dg.ExecutorDefinition = dg.in_process_executor,
    tags: Mapping[str, str] | None = None,
) -> UnresolvedAssetJobDefinition:
    """The monitor's daily assets; partitioned like them (Dagster infers it)."""
    # The daily report follows the alerting pass (it lists the recorded checks): the alerting
    # sensor requests it for recent partitions, so it is not part of the daily run.
    selection = dg.AssetSelection.groups(monitor) - dg.AssetSelection.assets(
        dg.AssetKey([monitor, Asset.DAILY_REPORT])
    )
    if judge_apart:
        # Minutes of remote calls per day would hold up every other check of the day (and a
        # backfill of them would share the server's rate limit), so they get their own job.
        selection -= dg.AssetSelection.assets(*(dg.AssetKey([monitor, a]) for a in JUDGED))
    if unpartitioned:
        # A job's assets share one partitioning; the review loop's assets have none.
        selection -= dg.AssetSelection.assets(*unpartitioned)
    if has_reference:
        # Subtracting a key that no asset supplies fails the job's resolution, so only a
        # monitor with a reference subtracts it.
        selection -= dg.AssetSelection.assets(dg.AssetKey([monitor, Asset.REFERENCE_PROFILE]))
    return dg.define_asset_job(
        daily_job_name(monitor),
        selection=selection,
        executor_def=executor,
        description=f"One UTC day of monitor '{monitor}': slice, profile, drift, metrics, checks.",
        tags=run_tags(monitor, tags or {}),
    )


def hallucination_job(
    monitor: str,
    executor: dg.ExecutorDefinition = dg.in_process_executor,
    tags: Mapping[str, str] | None = None,
) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        hallucination_job_name(monitor),
        selection=dg.AssetSelection.assets(*(dg.AssetKey([monitor, a]) for a in JUDGED)),
        executor_def=executor,
        description=f"Judge one UTC day of monitor '{monitor}''s LLM answers (remote judge).",
        tags=run_tags(monitor, tags or {}, judge="remote"),
    )


def review_job(
    monitor: str,
    keys: Sequence[dg.AssetKey],
    executor: dg.ExecutorDefinition = dg.in_process_executor,
    tags: Mapping[str, str] | None = None,
) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        review_job_name(monitor),
        selection=dg.AssetSelection.assets(*keys),
        executor_def=executor,
        description=f"Monitor '{monitor}''s review loop: the fine-tuning dataset from "
        "reviewers' corrections, the judge's agreement with reviewers, the KPI relation.",
        tags=run_tags(monitor, tags or {}),
    )
