"""The judge's agreement with reviewers, per judge and prompt version."""

import dagster as dg

from assets.common import failure, numeric_metadata, reports_faults
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.hallucination.governance import (
    agreement,
    agreement_by_judge,
    review_pairs,
)
from monitoring_pipelines.core.hallucination.review import REVIEWED, ReviewQueue
from resources import ResultStoreResource


def make_judge_agreement(name: str) -> Part:
    @part(
        key=dg.AssetKey([name, Asset.JUDGE_AGREEMENT]),
        group_name=name,
        deps=[dg.AssetKey([name, Asset.FAITHFULNESS_SCORES])],
        description="Agreement between the judge and the reviewers (Cohen's kappa, confusion "
        "table), overall and per judge and prompt version.",
    )
    @reports_faults(name)
    def judge_agreement(result_store: ResultStoreResource) -> dg.MaterializeResult:
        """Judge verdicts against reviewers' verdicts on every reviewed item."""
        try:
            items = ReviewQueue(result_store.results()).items(name, REVIEWED)
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
