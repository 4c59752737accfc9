"""The daily HTML report of a monitor: drift, trends, performance, hallucination, canary,
service, cost, quality.

The page is built from the result store only (never from raw data) and written to
``$MONITORING_HOME/reports/<monitor>/<day>.html`` (or under ``MONITORING_ARTIFACTS_URL``); the
asset's metadata links it.
"""

import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

import dagster as dg

from assets.common import day_of, failure, reports_faults
from assets.parts import Part, part
from monitoring_pipelines.core.artifacts import ArtifactPath, sibling, storage_errors, write_bytes
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.report.inputs import load_report_inputs
from monitoring_pipelines.core.report.page import Report, render_report
from resources import ResultStoreResource, SliceStoreResource

REPORTED = (
    Asset.FEATURE_DRIFT,
    Asset.WINDOW_DRIFT,
    Asset.SERVICE_METRICS,
    Asset.TOKEN_COSTS,
    Asset.DATA_QUALITY,
    Asset.PERFORMANCE,
    Asset.HALLUCINATION_RATE,
    Asset.CANARY_COMPARISON,
)


def report_upstream(name: str, built: Iterable[dg.AssetKey]) -> list[dg.AssetKey]:
    """The monitor's daily assets the report follows, among the keys built."""
    keys = set(built)
    return [dg.AssetKey([name, a]) for a in REPORTED if dg.AssetKey([name, a]) in keys]


def daily_checks(name: str, assets: Iterable[Part]) -> list[str]:
    """The names of the checks of monitor ``name``'s partitioned assets: what the Dagster UI
    lists for one of its days, and what the report's headline counts."""
    return sorted(
        key.name
        for a in assets
        if a.partitions_def is not None
        for key in a.check_keys
        if key.asset_key.path[0] == name
    )


def make_daily_report(
    name: str,
    monitor: MonitorConfig,
    partitions_def: dg.PartitionsDefinition,
    upstream: Sequence[dg.AssetKey],
    checks: Sequence[str] | None = None,
    web_url: str | None = None,
) -> Part:
    """The ``<monitor>/daily_report`` asset.

    Args:
        name: The monitor's name.
        monitor: Its configuration (description, SLOs, budget).
        partitions_def: Its daily partitions.
        upstream: The monitor's daily assets the report reads the results of
            (``report_upstream`` picks them from the assets built).
        checks: The names of the checks of its daily assets (``daily_checks``), which the
            headline counts; None to count those with a recorded result.
        web_url: The web server (``monitoring serve``) whose page of the report the metadata
            links; ``None``: the file's ``file://`` URL.
    """
    reported = frozenset(key.path[-1] for key in upstream)
    specs = tuple(checks) if checks is not None else None

    @part(
        key=[name, Asset.DAILY_REPORT],
        group_name=name,
        partitions_def=partitions_def,
        deps=list(upstream),
        kinds={"html"},
        description="The day's HTML report (drift with distributions and trends, performance "
        "with the confusion matrix, hallucination, canary, service, cost, quality), built from "
        "the result store.",
    )
    @reports_faults(name)
    def daily_report(
        context: dg.AssetExecutionContext,
        result_store: ResultStoreResource,
        slices: SliceStoreResource,
    ) -> dg.MaterializeResult:
        day = day_of(context)
        try:
            inputs = load_report_inputs(
                result_store.results(), name, monitor, day, datetime.now(UTC), reported, specs
            )
        except StoreError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        report = render_report(inputs)
        path = report_path(reports_dir(slices.base_dir), name, day)
        try:
            size = write_report(report.html, path)
        except (OSError, StoreError) as exc:
            raise failure(
                f"monitor '{name}', {day}: cannot write the report to {path}: {exc}", monitor=name
            ) from exc
        url = report_url(web_url, name, day, path)
        return dg.MaterializeResult(metadata=report_metadata(report, path, size, url))

    return daily_report


def report_metadata(
    report: Report, path: ArtifactPath, size: int, url: str
) -> dict[str, dg.MetadataValue]:
    """What a report's materialization records (the asset's, and the CLI's runless one)."""
    return {
        "report": dg.MetadataValue.path(str(path)),
        "report_url": dg.MetadataValue.url(url),
        "plots": dg.MetadataValue.int(report.plots),
        "bytes": dg.MetadataValue.int(size),
        "summary": dg.MetadataValue.md(report.summary_markdown),
    }


def report_url(web_url: str | None, monitor: str, day: date, path: ArtifactPath) -> str:
    """The report's page on the web server, or its file (its URL) when there is no server."""
    if not web_url:
        return path.as_uri() if isinstance(path, Path) else str(path)
    return f"{web_url.rstrip('/')}/reports/{quote(monitor, safe='')}/{day.isoformat()}"


def reports_dir(slices_dir: str) -> ArtifactPath:
    """``$MONITORING_HOME/reports``, beside the slices (``$MONITORING_HOME/slices``)."""
    return sibling(slices_dir, "reports")


def report_path(reports: ArtifactPath, monitor: str, day: date) -> ArtifactPath:
    """Where a day's report lives: ``<reports>/<monitor>/<day>.html``."""
    return reports / monitor / f"{day.isoformat()}.html"


def write_report(html: str, path: ArtifactPath) -> int:
    """Write the page atomically (a temporary file renamed over the old one, one upload to an
    object store); its bytes."""
    data = html.encode("utf-8")
    if not isinstance(path, Path):
        with storage_errors(path, "write the report"):
            write_bytes(path, data)
        return len(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(data)
