"""The ``prune`` job: ``monitoring prune`` as a Dagster run, for the daily schedule."""

from collections.abc import Mapping
from datetime import UTC, date, datetime

import dagster as dg

from monitoring_pipelines.core.config import RetentionConfig
from resources import ResultStoreResource, SliceStoreResource

PRUNE_JOB = "prune"


class PruneRunConfig(dg.Config):
    """What one prune run does.

    Attributes:
        today: The day retention counts back from, ``YYYY-MM-DD``; empty: the run's UTC day.
        dry_run: Count what would be removed, remove nothing.
    """

    today: str = ""
    dry_run: bool = False


def prune_job(retention: Mapping[str, RetentionConfig]) -> dg.JobDefinition:
    """One op that prunes every monitor of ``retention`` and logs what went."""

    @dg.op(name="prune_monitors")
    def prune_monitors(
        context: dg.OpExecutionContext,
        config: PruneRunConfig,
        result_store: ResultStoreResource,
        slices: SliceStoreResource,
    ) -> dg.Output[None]:
        """Deletes each monitor's data older than its retention keys."""
        from monitoring_pipelines.core.artifacts import artifact_path, sibling
        from monitoring_pipelines.core.retention.prune import Folders, describe, prune_monitor
        from monitoring_pipelines.core.retention.rows import RetentionRepository

        try:
            today = date.fromisoformat(config.today) if config.today else datetime.now(UTC).date()
        except ValueError as exc:
            raise dg.Failure(f"today '{config.today}' is not a date like 2026-01-31") from exc
        folders = Folders(
            slices=artifact_path(slices.base_dir), reports=sibling(slices.base_dir, "reports")
        )
        store = RetentionRepository(result_store.database())
        removed = []
        for name, keys in retention.items():
            removed += prune_monitor(store, folders, name, keys, today, dry_run=config.dry_run)
        lines = describe(removed, dry_run=config.dry_run)
        for line in lines:
            context.log.info(line)
        return dg.Output(
            None,
            metadata={
                "today": today.isoformat(),
                "rows": sum(r.rows for r in removed),
                "files": sum(r.files for r in removed),
                "bytes": sum(r.bytes for r in removed),
                "summary": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines)),
            },
        )

    @dg.job(
        name=PRUNE_JOB,
        description="Deletes each monitor's slices, profiles, per-column results, resolved "
        "incidents and reports older than its retention keys (as `monitoring prune`).",
    )
    def prune() -> None:
        prune_monitors()

    return prune
