"""What the reviews feed back: the fine-tuning dataset, the judge's agreement with reviewers
and the hallucination rate against a business KPI.

Unpartitioned: each reads every reviewed item or every stored day so far. They run in the
monitor's review job (daily, after the day's judging) and from the UI at any time.
"""

from pathlib import Path

import dagster as dg

from assets.common import failure, numeric_metadata
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.hallucination.day import AnswerColumns
from monitoring_pipelines.core.hallucination.finetune import finetuning_records, write_jsonl
from monitoring_pipelines.core.hallucination.governance import (
    agreement,
    agreement_by_judge,
    review_pairs,
)
from monitoring_pipelines.core.hallucination.kpi_impact import kpi_impact
from monitoring_pipelines.core.hallucination.kpi_source import read_kpi
from monitoring_pipelines.core.hallucination.review import REVIEWED, ReviewQueue
from monitoring_pipelines.core.hallucination.store import RATE_ASSET, load_daily_rates
from resources import ResultStoreResource, SliceStoreResource, WarehouseResource

FINETUNING_ASSET = "finetuning_dataset"
AGREEMENT_ASSET = "judge_agreement"
KPI_ASSET = "hallucination_kpi_impact"
REVIEW_ASSETS = (FINETUNING_ASSET, AGREEMENT_ASSET, KPI_ASSET)


def build_review_assets(name: str, monitor: MonitorConfig) -> list[dg.AssetsDefinition]:
    """The review loop's assets when the monitor's answers are judged, else none."""
    if AnswerColumns.for_monitor(monitor) is None or monitor.llm is None:
        return []
    assets = [make_finetuning_dataset(name), make_judge_agreement(name)]
    if monitor.llm.kpi is not None:
        assets.append(make_kpi_impact(name, monitor))
    return assets


def finetuning_path(slices_dir: str, monitor: str) -> Path:
    """``$MONITORING_HOME/finetuning/<monitor>.jsonl``, beside the slices."""
    return Path(slices_dir).resolve().parent / "finetuning" / f"{monitor}.jsonl"


def make_finetuning_dataset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([name, FINETUNING_ASSET]),
        group_name=name,
        deps=[dg.AssetKey([name, "faithfulness_scores"])],
        description="Reviewers' corrections as chat-format JSONL for fine-tuning: deduplicated, "
        "obvious PII redacted, each record with its request id, partition, model version and "
        "judge score.",
    )
    def finetuning_dataset(
        result_store: ResultStoreResource, slices: SliceStoreResource
    ) -> dg.MaterializeResult:
        """Every corrected review item of the monitor, written to one JSONL file."""
        try:
            items = ReviewQueue(result_store.get_store()).items(name, REVIEWED)
        except MonitoringError as exc:
            raise failure(f"monitor '{name}': {exc}", monitor=name) from exc
        dataset = finetuning_records(items)
        path = finetuning_path(slices.base_dir, name)
        write_jsonl(dataset, path)
        values: dict[str, int] = {
            "records": len(dataset.records),
            "reviewed_items": len(items),
            "duplicates_dropped": dataset.duplicates_dropped,
            **{f"skipped_{reason}": n for reason, n in dataset.skipped.items()},
            **{f"redacted_{kind}": n for kind, n in dataset.redactions.items()},
        }
        digest = dataset.content_hash()
        metadata = numeric_metadata(values)
        metadata["path"] = dg.MetadataValue.path(str(path))
        metadata["sha256"] = dg.MetadataValue.text(digest)
        return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(digest[:16]))

    return finetuning_dataset


def make_judge_agreement(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([name, AGREEMENT_ASSET]),
        group_name=name,
        deps=[dg.AssetKey([name, "faithfulness_scores"])],
        description="Agreement between the judge and the reviewers (Cohen's kappa, confusion "
        "table), overall and per judge and prompt version.",
    )
    def judge_agreement(result_store: ResultStoreResource) -> dg.MaterializeResult:
        """Judge verdicts against reviewers' verdicts on every reviewed item."""
        try:
            items = ReviewQueue(result_store.get_store()).items(name, REVIEWED)
        except MonitoringError as exc:
            raise failure(f"monitor '{name}': {exc}", monitor=name) from exc
        pairs = review_pairs(items)
        overall = agreement(pairs)
        per_judge = agreement_by_judge(pairs)
        metadata = numeric_metadata(overall.metrics())
        lines = ["## All reviewed answers", "", overall.as_markdown()]
        for (judge, prompt), result in per_judge.items():
            lines += ["", f"## {judge} / prompt {prompt}", "", result.as_markdown()]
        metadata["agreement"] = dg.MetadataValue.md("\n".join(lines))
        metadata["judges"] = dg.MetadataValue.int(len(per_judge))
        if overall.reason:
            metadata["kappa_note"] = dg.MetadataValue.text(overall.reason)
        return dg.MaterializeResult(metadata=metadata)

    return judge_agreement


def make_kpi_impact(name: str, monitor: MonitorConfig) -> dg.AssetsDefinition:
    assert monitor.llm is not None and monitor.llm.kpi is not None
    kpi = monitor.llm.kpi

    @dg.asset(
        key=dg.AssetKey([name, KPI_ASSET]),
        group_name=name,
        deps=[dg.AssetKey([name, RATE_ASSET])],
        description=f"Lagged correlation and regression slope (with its confidence interval) "
        f"between the daily hallucination rate and {kpi.name} from table {kpi.table}.",
    )
    def hallucination_kpi_impact(
        result_store: ResultStoreResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """What a rise in the hallucination rate goes with in the KPI, some days later."""
        try:
            rates = load_daily_rates(result_store.get_store(), name)
            series = read_kpi(warehouse.engine, kpi)
        except MonitoringError as exc:
            raise failure(f"monitor '{name}': {exc}", monitor=name) from exc
        impact = kpi_impact(rates, series.values, max_lag_days=kpi.max_lag_days)
        metadata = numeric_metadata(
            {
                **impact.metrics(),
                "kpi_rows": series.rows,
                "kpi_rows_malformed": series.malformed,
            }
        )
        metadata["status"] = dg.MetadataValue.text(impact.status)
        metadata["finding"] = dg.MetadataValue.text(impact.sentence(kpi.name))
        metadata["lags"] = dg.MetadataValue.md(impact.lag_table_markdown())
        return dg.MaterializeResult(metadata=metadata)

    return hallucination_kpi_impact
