"""The fine-tuning dataset: reviewed corrections as JSONL, with lineage to the partition, the
model version and the judge's verdict."""

import dagster as dg

from assets.common import failure, numeric_metadata, reports_faults
from assets.parts import Part, part
from monitoring_pipelines.core.artifacts import ArtifactPath, sibling
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.hallucination.finetune import finetuning_records, write_jsonl
from monitoring_pipelines.core.hallucination.review import REVIEWED, ReviewQueue
from resources import ResultStoreResource, SliceStoreResource


def finetuning_path(slices_dir: str, monitor: str) -> ArtifactPath:
    """``$MONITORING_HOME/finetuning/<monitor>.jsonl``, beside the slices."""
    return sibling(slices_dir, "finetuning") / f"{monitor}.jsonl"


def make_finetuning_dataset(name: str) -> Part:
    @part(
        key=dg.AssetKey([name, Asset.FINETUNING_DATASET]),
        group_name=name,
        deps=[dg.AssetKey([name, Asset.FAITHFULNESS_SCORES])],
        description="Reviewers' corrections as chat-format JSONL for fine-tuning: deduplicated, "
        "obvious PII redacted, each record with its request id, partition, model version and "
        "judge score.",
    )
    @reports_faults(name)
    def finetuning_dataset(
        result_store: ResultStoreResource, slices: SliceStoreResource
    ) -> dg.MaterializeResult:
        """Every corrected review item of the monitor, written to one JSONL file."""
        try:
            items = ReviewQueue(result_store.results()).items(name, REVIEWED)
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
