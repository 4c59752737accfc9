"""Helpers shared by the asset factories: partition days, check results, metadata, and how
an asset's faults read."""

import functools
import inspect
import math
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar, cast

import dagster as dg
from sqlalchemy.exc import SQLAlchemyError

from monitoring_pipelines.core.catalog import CHECKS
from monitoring_pipelines.core.checks import CheckOutcome
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.errors import MonitoringError, describe_fault

if TYPE_CHECKING:
    from monitoring_pipelines.core.ingest.cleaning import Window

Body = TypeVar("Body", bound=Callable[..., Any])


def day_of(context: dg.AssetExecutionContext) -> date:
    """The UTC day of the partition being materialized."""
    return date.fromisoformat(context.partition_key)


def check_specs(
    names: Sequence[str], asset_key: dg.AssetKey, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """Dagster's specs of the named checks, described by their catalog entries."""
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset_key,
            description=CHECKS[name].spec_description,
            partitions_def=partitions_def,
        )
        for name in names
    ]


def check_result(outcome: CheckOutcome, asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    """A check outcome as Dagster's check result; its findings travel as JSON metadata."""
    metadata: dict[str, Any] = {
        "summary": dg.MetadataValue.text(outcome.summary),
        "findings": dg.MetadataValue.json([f.to_dict() for f in outcome.findings]),
        **numeric_metadata(outcome.metadata),
    }
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=(
            dg.AssetCheckSeverity.ERROR
            if outcome.severity is Severity.CRITICAL
            else dg.AssetCheckSeverity.WARN
        ),
        metadata=metadata,
        description=outcome.summary,
    )


MAX_CHECK_SUMMARY = 300  # characters of each check's summary in the materialization's metadata


def checked(
    asset_key: dg.AssetKey,
    metadata: Mapping[str, Any],
    outcomes: Sequence[CheckOutcome],
) -> dg.MaterializeResult:
    """The materialization with its checks' results. Dagster plots check metadata against run
    time only, so each check's verdict is also in the materialization's metadata, plotted and
    read per partition: ``failing checks`` (a count) and ``checks`` (each one's verdict)."""
    rows = []
    for o in outcomes:
        if not o.findings:
            state = "not evaluated"
        elif o.passed:
            state = "passed"
        else:
            state = f"FAILED ({o.severity.value})"
        summary = o.summary
        if len(summary) > MAX_CHECK_SUMMARY:
            summary = summary[: MAX_CHECK_SUMMARY - 1] + "…"
        rows.append(dg.TableRecord({"check": o.name, "verdict": state, "summary": summary}))
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, "string") for name in ("check", "verdict", "summary")]
    )
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "failing checks": dg.MetadataValue.int(sum(not o.passed for o in outcomes)),
            "checks": dg.MetadataValue.table(records=rows, schema=schema),
        },
        check_results=[check_result(o, asset_key) for o in outcomes],
    )


def numeric_metadata(values: Mapping[str, Any]) -> dict[str, dg.MetadataValue]:
    """Numbers become plottable metadata (six significant digits); text stays text; missing
    values are left out."""
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            if math.isfinite(value):
                out[key] = dg.MetadataValue.float(float(f"{value:.6g}"))
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out


def failure(message: str, **metadata: Any) -> dg.Failure:
    """An infrastructure fault (missing table, unreadable store) as a Dagster failure."""
    return dg.Failure(description=message, metadata=numeric_metadata(metadata))


def check_evaluation(
    outcome: CheckOutcome, asset_key: dg.AssetKey, partition: str
) -> dg.AssetCheckEvaluation:
    """A check outcome as the evaluation of a check of another asset of the run (one whose
    step will not run, e.g. after this step fails), with the metadata of :func:`check_result`."""
    result = check_result(outcome, asset_key)
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=outcome.summary,
        partition=partition,
    )


def reports_faults(monitor: str) -> Callable[[Body], Body]:
    """Make an asset body's infrastructure faults (a file or folder it cannot use, a store
    it cannot read or write, a database error) a Failure naming the monitor, the day, the
    asset, the object and the cause, instead of Dagster's "Error occurred while executing
    op". Goes between ``@dg.asset(...)`` and the body, which is named after the asset."""

    def decorate(body: Body) -> Body:
        def fault(exc: Exception, args: tuple[Any, ...]) -> dg.Failure:
            context = next((a for a in args if isinstance(a, dg.AssetExecutionContext)), None)
            day = context.partition_key if context and context.has_partition_key else None
            where = ", ".join([f"monitor '{monitor}'", *([day] if day else []), body.__name__])
            return failure(
                f"{where}: {describe_fault(exc)}",
                monitor=monitor,
                partition=day,
                asset=body.__name__,
            )

        if inspect.isgeneratorfunction(body):  # an asset that also yields other checks' results

            @functools.wraps(body)
            def guarded_steps(*args: Any, **kwargs: Any) -> Any:
                try:
                    yield from body(*args, **kwargs)
                except dg.Failure:
                    raise
                except (OSError, MonitoringError, SQLAlchemyError) as exc:
                    raise fault(exc, args) from exc

            guarded_steps.__signature__ = signature_of(body)  # type: ignore[attr-defined]
            return cast(Body, guarded_steps)

        @functools.wraps(body)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return body(*args, **kwargs)
            except dg.Failure:
                raise
            except (OSError, MonitoringError, SQLAlchemyError) as exc:
                raise fault(exc, args) from exc

        guarded.__signature__ = signature_of(body)  # type: ignore[attr-defined]
        return cast(Body, guarded)

    return decorate


# An asset body's signature by its code: every monitor's body of one asset has the same.
_signatures: dict[types.CodeType, inspect.Signature] = {}


def signature_of(body: Callable[..., Any]) -> inspect.Signature:
    """The body's signature with its annotations evaluated, computed once per asset kind.

    Dagster reads an asset function's signature about fifteen times while defining it (its
    context, resources, inputs and their types); a body advertising its ``__signature__``
    (which Dagster honours) saves most of that work, a fifth of the definitions' load with
    hundreds of monitors (README.md, "A fleet of monitors").
    """
    code = body.__code__
    if code not in _signatures:
        _signatures[code] = inspect.signature(body, eval_str=True)
    return _signatures[code]


def earlier_days_of(key: dg.AssetKey, first: int, last: int = 1) -> dg.AssetDep:
    """The dependency on ``key``'s partitions ``first`` to ``last`` days before the one being
    materialized (``last=0``: up to the same day): declared by an asset that reads a trailing
    window or its own history (a baseline, the month so far, the versions seen before), so that
    Dagster's asset backfills and ``monitoring backfill`` materialize those days first."""
    return dg.AssetDep(
        key,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-first, end_offset=-last, allow_nonexistent_upstream_partitions=True
        ),
    )


def rows_read_metadata(slices: Any, name: str, day: date) -> dict[str, dg.MetadataValue]:
    """What of the day an asset reading the slice read: every row, or on a pushed-down day
    (``source.pushdown``) the day's bounded deterministic sample, which the slice then is."""
    from monitoring_pipelines.core.profile.pushed_day import load_pushed

    pushed = load_pushed(slices.path(name, day))
    if pushed is None:
        return {"rows_read_from": dg.MetadataValue.text("every row of the day")}
    return {
        "rows_read_from": dg.MetadataValue.text(
            f"the day's sample: {pushed.sample_rows} of its {pushed.rows} rows (the day was "
            "pushed down; the sample is chosen by a hash of the request id, the same on reruns)"
        ),
        "sample_rows": dg.MetadataValue.int(pushed.sample_rows),
        "day_rows": dg.MetadataValue.int(pushed.rows),
    }


def slice_window(first: date) -> "Window":
    """The days the live slice's pull reads rows for, as of today (``first``: the monitor's
    start date)."""
    from datetime import UTC, datetime

    from monitoring_pipelines.core.ingest.cleaning import Window

    return Window.until(first, datetime.now(UTC).date())
