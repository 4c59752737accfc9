"""Data quality of a day's slice with Great Expectations 1.x: the only module that imports it.

The expectation suite is derived from the reference profile (the :class:`ColumnSketch` of each
drift-tested column) and the monitor's configuration, as plain values (:class:`QualitySuite`).
:func:`validate_day` turns it into a GX ``ExpectationSuite`` on an ephemeral context (one GX
expectation per rule, over all of its columns, with its verdict per column), validates the day
batch by batch (memory stays bounded by :data:`BATCH_VALUES`) and returns plain values
(:class:`ExpectationResult`, one per column and rule): no GX object leaves this module, and
``great_expectations`` is imported only when a day is validated (about 2.5 s and 220 MB per
process).

The rules (defaults in :class:`QualityRules`; ``checks.*`` keys override them):

* **type**: numeric columns hold numbers (a float or int dtype, or numbers value by value),
  categorical columns hold strings. Critical when broken: the slice was written for another
  configuration.
* **nulls**: at most ``max(reference null share + checks.null_share_margin,
  checks.max_null_share)`` of the rows are null (the reference's nulls include its unparseable
  and infinite values, which the slice also turns into nulls).
* **range** (numeric): values lie within the reference's minimum and maximum widened on each
  side by ``checks.range_margin`` times the reference's range (times ``|min|``, or 1 when it is
  0, for a constant column); at most ``checks.max_out_of_range_share`` of the non-null values
  may lie outside (GX ``mostly``).
* **categories** (categorical): values are among the reference's categories; at most
  ``checks.max_unseen_category_share`` of the non-null values may be unseen. Not evaluated when
  the reference folded rare categories into ``(other)`` (its vocabulary is then incomplete).
* **row_count**: with ``checks.max_rows``, the day has at most that many rows (the minimum,
  ``checks.min_rows``, is the volume check's; unset: no row-count expectation
  bound) rows.

A failing expectation is a warning; it is critical when its unexpected share reaches
:data:`~monitoring_pipelines.core.ingest.live_checks.CRITICAL_FACTOR` times the allowed share,
when a type is wrong, or when the day has no rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.types import union_categoricals

from monitoring_pipelines.core.checks import CheckOutcome, Finding
from monitoring_pipelines.core.config import ChecksConfig, MonitorConfig, Severity
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.ingest.cleaning import ROW_KEY, TIMESTAMP, all_strings
from monitoring_pipelines.core.ingest.live_checks import CRITICAL_FACTOR
from monitoring_pipelines.core.ingest.slice_store import SliceStore
from monitoring_pipelines.core.profile.fitting import ColumnPlan, sample_mask
from monitoring_pipelines.core.profile.sketch import OTHER, ColumnSketch

if TYPE_CHECKING:  # pragma: no cover - typing only; the import is lazy at run time
    from great_expectations.core import ExpectationSuiteValidationResult

ExpectationKind = Literal["type", "nulls", "range", "categories", "row_count"]
ColumnKind = Literal["numeric", "categorical"]

# Values (rows x columns) validated at once: a day is read and validated batch by batch and the
# unexpected counts are added up, so memory is bounded whatever the day's volume. Each batch is
# one GX validation with a fixed cost (about 40 ms), so batches are as large as this bound
# allows (200,000 rows of 20 columns).
BATCH_VALUES = 4_000_000
MIN_BATCH_ROWS = 10_000
MAX_BATCH_ROWS = 500_000
# Unexpected values kept as examples per expectation.
MAX_EXAMPLES = 5
# The subject of the table-level expectation (no column can be named with a colon suffix).
TABLE = "table"

# Accepted type names: a column's dtype, or else (an object column) each value's Python type.
NUMERIC_TYPES = ("float64", "float32", "int64", "int32", "int16", "int8", "float", "int")
TEXT_TYPES = ("str", "StringDtype")


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the data-quality rules (documented defaults; ``checks.*`` overrides).

    Attributes:
        min_rows: Fewest rows a day may have (``checks.min_rows``).
        max_rows: Most rows a day may have (``checks.max_rows``; None: no upper bound).
        max_null_share: Null share every column may have whatever its reference.
        null_share_margin: Null share allowed above the reference's.
        range_margin: The reference's range widened by this fraction of it on each side.
        max_out_of_range_share: Share of non-null values allowed outside the widened range.
        max_unseen_category_share: Share of non-null values allowed outside the vocabulary.
    """

    min_rows: int = 1
    max_rows: int | None = None
    max_null_share: float = 0.01
    null_share_margin: float = 0.02
    range_margin: float = 0.1
    max_out_of_range_share: float = 0.01
    max_unseen_category_share: float = 0.01

    @classmethod
    def from_checks(cls, checks: ChecksConfig) -> QualityRules:
        """The rules of a monitor: configured keys where present, defaults otherwise."""
        defaults = cls()
        values = {
            name: getattr(checks, name, getattr(defaults, name))
            for name in cls.__dataclass_fields__
        }
        return cls(**values)


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of the suite, in plain values.

    Attributes:
        kind: What is expected (``type``, ``nulls``, ``range``, ``categories``, ``row_count``).
        column: The column; None for ``row_count``.
        expected: What is expected, in words (shown in findings).
        allowed_share: Share of unexpected values tolerated (GX ``mostly`` is one minus it).
        type_list: Accepted type names (``type``).
        min_value: Lower bound (``range``: of values; ``row_count``: of rows).
        max_value: Upper bound, or None for none.
        value_set: Accepted values (``categories``).
    """

    kind: ExpectationKind
    column: str | None
    expected: str
    allowed_share: float = 0.0
    type_list: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    value_set: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The finding's subject: ``<column>:<kind>`` (``table:row_count`` for the table)."""
        return f"{self.column or TABLE}:{self.kind}"

    @property
    def mostly(self) -> float:
        return 1.0 - self.allowed_share


@dataclass(frozen=True)
class QualitySuite:
    """The expectations of one monitor and the columns they read.

    Attributes:
        expectations: One per rule and column, then the row count.
        columns: Columns validated, by kind (numeric or categorical).
        notes: Expectations that could not be derived, and why.
    """

    expectations: tuple[ExpectationSpec, ...]
    columns: Mapping[str, ColumnKind]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpectationResult:
    """The verdict of one expectation on a whole day.

    Attributes:
        name: ``<column>:<kind>``, the finding's subject.
        kind: The expectation's kind.
        column: The column, or None for the row count.
        success: Whether the day meets it (all batches' counts added up).
        observed: The unexpected share (null share for ``nulls``), the row count, or the
            column's dtype for a type judged by dtype; None when nothing was evaluated.
        unexpected_count: Values breaking it (None for the row count or a dtype verdict).
        unexpected_share: ``unexpected_count`` over the values considered (all rows for
            ``nulls``, non-null values otherwise); None when none were considered.
        considered: Values considered (rows for ``nulls``, non-null values otherwise).
        allowed_share: Share tolerated (None for the row count).
        expected: What was expected, in words.
        examples: A few unexpected values, as text.
        batches_failed: Batches GX itself judged failing (its verdict on a single batch).
        error: GX's error message when the expectation could not be evaluated.
    """

    name: str
    kind: ExpectationKind
    column: str | None
    success: bool
    observed: float | int | str | None
    unexpected_count: int | None
    unexpected_share: float | None
    considered: int
    allowed_share: float | None
    expected: str
    examples: tuple[str, ...] = ()
    batches_failed: int = 0
    error: str | None = None


@dataclass(frozen=True)
class QualityReport:
    """One day's validation.

    Attributes:
        results: One per expectation of the suite, in its order.
        rows: Rows validated (all of the day, or a uniform sample of ``day_rows``).
        batches: Batches validated (one GX validation each).
        seconds: Wall time of the validation (suite building included, import excluded).
        notes: The suite's notes (expectations that could not be derived).
    """

    results: tuple[ExpectationResult, ...]
    rows: int
    batches: int
    seconds: float
    notes: tuple[str, ...] = ()
    day_rows: int | None = None
    """Rows of the day when only a uniform sample of them (``rows``) was validated."""

    @property
    def failed(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]


# -- the suite, from the reference and the configuration -------------------------------------


def derive_suite(monitor: MonitorConfig, reference: Mapping[str, ColumnSketch]) -> QualitySuite:
    """The expectations of ``monitor``'s drift-tested columns (features and prediction),
    derived from their reference sketches, plus the daily row-count band."""
    rules = QualityRules.from_checks(monitor.checks)
    plan = ColumnPlan.for_monitor(monitor)
    columns: dict[str, ColumnKind] = {c: "numeric" for c in plan.numeric}
    columns.update({c: "categorical" for c in plan.categorical})
    expectations: list[ExpectationSpec] = []
    notes: list[str] = []
    for column, kind in columns.items():
        sketch = reference.get(column)
        expectations.append(_type_spec(column, kind))
        expectations.append(_null_spec(column, sketch, rules))
        if sketch is None:
            notes.append(f"{column}: no reference sketch; only type and nulls are checked")
            continue
        if kind == "numeric":
            spec, note = _range_spec(column, sketch, rules)
        else:
            spec, note = _category_spec(column, sketch, rules)
        if spec is not None:
            expectations.append(spec)
        if note:
            notes.append(note)
    if rules.max_rows is not None:
        # The lower end is the volume check's: one problem, one incident.
        expectations.append(_row_count_spec(rules))
    return QualitySuite(tuple(expectations), columns, tuple(notes))


def _type_spec(column: str, kind: ColumnKind) -> ExpectationSpec:
    if kind == "numeric":
        return ExpectationSpec("type", column, "numbers", type_list=NUMERIC_TYPES)
    return ExpectationSpec("type", column, "strings", type_list=TEXT_TYPES)


def _null_spec(column: str, sketch: ColumnSketch | None, rules: QualityRules) -> ExpectationSpec:
    reference_share = 0.0
    if sketch is not None:
        total = sketch.n + sketch.n_missing + sketch.n_nonfinite
        reference_share = (sketch.n_missing + sketch.n_nonfinite) / total if total else 0.0
    allowed = min(1.0, max(reference_share + rules.null_share_margin, rules.max_null_share))
    return ExpectationSpec(
        "nulls",
        column,
        f"at most {allowed:.2%} nulls (reference {reference_share:.2%} + margin "
        f"{rules.null_share_margin:.2%}, at least {rules.max_null_share:.2%})",
        allowed_share=allowed,
    )


def _range_spec(
    column: str, sketch: ColumnSketch, rules: QualityRules
) -> tuple[ExpectationSpec | None, str | None]:
    if sketch.lo is None or sketch.hi is None:
        return None, f"{column}: the reference has no finite values; range not checked"
    width = sketch.hi - sketch.lo
    if width <= 0:
        width = abs(sketch.lo) or 1.0
    low = sketch.lo - rules.range_margin * width
    high = sketch.hi + rules.range_margin * width
    allowed = rules.max_out_of_range_share
    return (
        ExpectationSpec(
            "range",
            column,
            f"values within [{low:.6g}, {high:.6g}] (reference min {sketch.lo:.6g} and max "
            f"{sketch.hi:.6g} widened by {rules.range_margin:g} of the range); at most "
            f"{allowed:.2%} outside",
            allowed_share=allowed,
            min_value=low,
            max_value=high,
        ),
        None,
    )


def _category_spec(
    column: str, sketch: ColumnSketch, rules: QualityRules
) -> tuple[ExpectationSpec | None, str | None]:
    vocabulary = tuple(sketch.categories or ())
    if not vocabulary:
        return None, f"{column}: the reference has no categories; categories not checked"
    if OTHER in vocabulary:
        return None, (
            f"{column}: the reference has more than {len(vocabulary) - 1} categories (rare ones "
            f"folded into {OTHER}); categories not checked"
        )
    allowed = rules.max_unseen_category_share
    shown = ", ".join(vocabulary[:8]) + (" ..." if len(vocabulary) > 8 else "")
    return (
        ExpectationSpec(
            "categories",
            column,
            f"values among the reference's {len(vocabulary)} categories ({shown}); at most "
            f"{allowed:.2%} unseen",
            allowed_share=allowed,
            value_set=vocabulary,
        ),
        None,
    )


def _row_count_spec(rules: QualityRules) -> ExpectationSpec:
    assert rules.max_rows is not None
    return ExpectationSpec(
        "row_count",
        None,
        f"at most {rules.max_rows} rows",
        min_value=0.0,
        max_value=float(rules.max_rows),
    )


# -- validation with Great Expectations ------------------------------------------------------


def batch_rows(suite: QualitySuite) -> int:
    """Rows per validated batch: :data:`BATCH_VALUES` spread over the suite's columns."""
    rows = BATCH_VALUES // max(1, len(suite.columns))
    return max(MIN_BATCH_ROWS, min(MAX_BATCH_ROWS, rows))


def day_batches(
    store: SliceStore, monitor: str, day: date, suite: QualitySuite, sample_rows: int
) -> tuple[Iterator[pd.DataFrame], int]:
    """The batches :func:`validate_day` reads for a day of the slice store, and the day's
    rows: a day of more than ``sample_rows`` rows is sampled by key hash as it is read, and
    the sampled rows are gathered into full batches again (each batch is one GX validation,
    whose fixed cost is most of a small batch's)."""
    day_rows = store.rows(monitor, day)
    columns = [TIMESTAMP, ROW_KEY, *suite.columns]
    rows = batch_rows(suite)
    # Text as categoricals: nulls, set membership and GX's batch fingerprint then work on
    # integer codes (half the validation time of object strings at 100,000 rows).
    read = partial(
        store.batches,
        monitor,
        day,
        columns,
        batch_rows=rows,
        categorical=[c for c, kind in suite.columns.items() if kind == "categorical"],
    )
    if day_rows <= sample_rows:
        return read(), day_rows
    keep = partial(sample_mask, total=day_rows, wanted=sample_rows)
    return _gathered(read(keep=keep), rows), day_rows


def _gathered(frames: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The frames concatenated into batches of at least ``rows`` rows (the last may be less)."""
    held: list[pd.DataFrame] = []
    size = 0
    for frame in frames:
        held.append(frame)
        size += len(frame)
        if size >= rows:
            yield _concatenated(held)
            held, size = [], 0
    if held:
        yield _concatenated(held)


def _concatenated(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after another; categorical columns stay categorical over the union of
    the frames' categories (``pd.concat`` would make them object columns)."""
    whole = pd.concat(frames, ignore_index=True)
    for column in frames[0].columns:
        if isinstance(frames[0][column].dtype, pd.CategoricalDtype):
            parts = [f[column] for f in frames]
            whole[column] = pd.Series(union_categoricals(parts, ignore_order=True))
    return whole


def validate_day(
    suite: QualitySuite,
    batches: Iterable[pd.DataFrame],
    *,
    day_rows: int | None = None,
    sample_rows: int | None = None,
) -> QualityReport:
    """Validate a day, batch by batch, against ``suite`` with Great Expectations.

    One ephemeral GX context and suite (built once per process) serve every batch; each batch is
    one GX validation, and the unexpected counts of all batches are added up while memory
    holds one batch. A day of more than ``sample_rows`` rows (``day_rows``, from the slice's
    metadata) is validated on a uniform sample of about ``sample_rows`` rows chosen by the
    rows' key hash (batches then need the ``__key`` column): unexpected shares are then
    estimates (at 100,000 rows a 1 % share is known within about 0.06 points); the row count
    is the day's. A day without rows is validated as an empty frame.
    """
    _import_gx()  # before the clock: the import is a per-process cost, not a per-day one
    started = time.perf_counter()
    run = _gx_run(suite.expectations)
    tallies = {spec.name: _Tally() for spec in suite.expectations}
    sampling = day_rows is not None and sample_rows is not None and day_rows > sample_rows
    rows = 0
    count = 0
    for batch in _nonempty(batches, suite):
        if sampling:
            assert day_rows is not None and sample_rows is not None
            keys = batch[ROW_KEY].to_numpy(dtype=np.uint64)
            batch = batch[sample_mask(keys, day_rows, sample_rows)]
            if batch.empty:
                continue
        frame = _prepared(batch, suite)
        rows += len(frame)
        count += 1
        for key, outcome in run.validate(frame).items():
            tallies[key].add(outcome)
    counted = day_rows if day_rows is not None else rows
    results = tuple(
        _verdict(spec, tallies[spec.name], counted if spec.kind == "row_count" else rows)
        for spec in suite.expectations
    )
    return QualityReport(
        results=results,
        rows=rows,
        batches=count,
        seconds=time.perf_counter() - started,
        notes=suite.notes,
        day_rows=day_rows if sampling else None,
    )


def _import_gx() -> None:
    import great_expectations  # noqa: F401


@lru_cache(maxsize=16)
def _gx_run(expectations: tuple[ExpectationSpec, ...]) -> _GxRun:
    """The GX objects of a suite, built once per process: a backfill validates many days
    against the same suite, and building them costs about 0.3 s."""
    return _GxRun(expectations)


class _GxRun:
    """The GX objects of one suite: an ephemeral context, a dataframe batch definition and the
    suite; run once per batch.

    Each rule is one GX expectation over all of its columns (:func:`_gx_classes`): GX's
    built-in column expectations cost about 7 ms each before reading a value and copy the
    batch for each column, so the 60 built-in expectations of a 20-column monitor took 0.9 s
    on 100,000 rows where these five take about 0.1 s; the verdicts are per column all the
    same.
    """

    def __init__(self, expectations: tuple[ExpectationSpec, ...]) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            progress_bars=ProgressBarsConfig(globally=False),
            analytics_enabled=False,
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        self._batch_definition = (
            context.data_sources.add_pandas("monitoring")
            .add_dataframe_asset("day_slice")
            .add_batch_definition_whole_dataframe("batch")
        )
        # The suite is validated against each batch directly: a validation definition would
        # also serialize the suite and every result into the ephemeral context's stores, which
        # nothing reads (the product stores the tallied report itself).
        self._suite = gx.ExpectationSuite(
            name="data_quality", expectations=_gx_suite(_gx_classes(), expectations)
        )

    def validate(self, frame: pd.DataFrame) -> dict[str, _Outcome]:
        """GX's verdict on one batch, per expectation spec (``<column>:<kind>``)."""
        from great_expectations.validator.v1_validator import Validator

        # One validator per batch reads the dataframe once (``Batch.validate`` would build
        # the batch, and fingerprint the frame, a second time).
        validator = Validator(
            self._batch_definition,
            result_format={"result_format": "BASIC", "partial_unexpected_count": MAX_EXAMPLES},
            batch_parameters={"dataframe": frame},
        )
        result: ExpectationSuiteValidationResult = validator.validate_expectation_suite(self._suite)
        outcomes: dict[str, _Outcome] = {}
        for item in result.results:
            config = item.expectation_config
            assert config is not None
            kind = str(config.meta["kind"])
            error = _exception_message(item.exception_info or {})
            if kind == "row_count":
                outcomes[f"{TABLE}:{kind}"] = _Outcome(
                    bool(item.success), dict(item.result or {}), error
                )
                continue
            details = (item.result or {}).get("details") or {}
            for column in config.kwargs["columns"]:
                detail = dict(details.get(column) or {})
                success = bool(detail.pop("success", False)) and error is None
                outcomes[f"{column}:{kind}"] = _Outcome(success, detail, error)
        return outcomes


def _exception_message(info: Mapping[str, Any]) -> str | None:
    """GX's error, whether reported flat or per metric (``{metric_id: {...}}``)."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _gx_suite(classes: Mapping[str, Any], expectations: Iterable[ExpectationSpec]) -> list[Any]:
    """The GX expectations of a suite's specs: one per rule over all its columns, in the
    specs' order of first appearance, then the row count."""
    by_kind: dict[ExpectationKind, list[ExpectationSpec]] = {}
    for spec in expectations:
        by_kind.setdefault(spec.kind, []).append(spec)
    built: list[Any] = []
    for kind, specs in by_kind.items():
        meta = {"kind": kind}
        columns = [str(s.column) for s in specs]
        allowed = [s.allowed_share for s in specs]
        if kind == "type":
            built.append(
                classes["type"](
                    columns=columns, type_lists=[list(s.type_list) for s in specs], meta=meta
                )
            )
        elif kind == "nulls":
            built.append(classes["nulls"](columns=columns, allowed_shares=allowed, meta=meta))
        elif kind == "range":
            built.append(
                classes["range"](
                    columns=columns,
                    min_values=[s.min_value for s in specs],
                    max_values=[s.max_value for s in specs],
                    allowed_shares=allowed,
                    meta=meta,
                )
            )
        elif kind == "categories":
            built.append(
                classes["categories"](
                    columns=columns,
                    value_sets=[list(s.value_set) for s in specs],
                    allowed_shares=allowed,
                    meta=meta,
                )
            )
        else:
            (spec,) = specs
            built.append(
                classes["row_count"](
                    min_value=int(spec.min_value or 0),
                    max_value=int(spec.max_value) if spec.max_value is not None else None,
                    meta=meta,
                )
            )
    return built


@lru_cache(maxsize=1)
def _gx_classes() -> dict[str, Any]:
    """The suite's GX expectations and their metrics, defined once per process on first use
    (GX registers both by name; this module does not import GX until a day is validated).

    Each metric counts one rule over all of its columns in one pass (:func:`type_counts`,
    :func:`null_counts`, :func:`range_counts`, :func:`category_counts`); each expectation
    judges every column's counts against its allowed share, as GX's ``mostly`` does, and
    reports them per column under ``details``.
    """
    from great_expectations.core.metric_domain_types import MetricDomainTypes
    from great_expectations.execution_engine.pandas_execution_engine import (
        PandasExecutionEngine,
    )
    from great_expectations.expectations.core.expect_table_row_count_to_be_between import (
        ExpectTableRowCountToBeBetween,
    )
    from great_expectations.expectations.expectation import BatchExpectation
    from great_expectations.expectations.metrics.metric_provider import metric_value
    from great_expectations.expectations.metrics.table_metric_provider import (
        TableMetricProvider,
    )

    def counting_metric(name: str, keys: tuple[str, ...], count: Any) -> None:
        def pandas(
            cls: Any,
            execution_engine: Any,
            metric_domain_kwargs: dict[str, Any],
            metric_value_kwargs: dict[str, Any],
            metrics: dict[str, Any],
            runtime_configuration: dict[str, Any],
        ) -> dict[str, dict[str, Any]]:
            frame, _, _ = execution_engine.get_compute_domain(
                metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
            )
            return dict(count(frame, *(metric_value_kwargs[k] for k in keys)))

        type(
            f"Metric_{name.rsplit('.', 1)[-1]}",
            (TableMetricProvider,),
            {
                "metric_name": name,
                "value_keys": keys,
                "_pandas": metric_value(engine=PandasExecutionEngine)(pandas),
            },
        )

    counting_metric("monitoring.column_type_counts", ("columns", "type_lists"), type_counts)
    counting_metric("monitoring.column_null_counts", ("columns",), null_counts)
    counting_metric(
        "monitoring.column_range_counts", ("columns", "min_values", "max_values"), range_counts
    )
    counting_metric("monitoring.column_category_counts", ("columns", "value_sets"), category_counts)

    def judged(self: Any, metrics: dict[str, Any], *_: Any, **__: Any) -> dict[str, Any]:
        (name,) = self.metric_dependencies
        counts: Mapping[str, Mapping[str, Any]] = metrics[name]
        shares = getattr(self, "allowed_shares", None) or [0.0] * len(self.columns)
        details = {
            c: _judged(counts[c], share) for c, share in zip(self.columns, shares, strict=True)
        }
        return {
            "success": all(d["success"] for d in details.values()),
            "result": {
                "observed_value": {c: d.get("unexpected_share") for c, d in details.items()},
                "details": details,
            },
        }

    def expectation(name: str, metric: str, fields: dict[str, Any], doc: str) -> Any:
        keys = ("columns", *fields)
        return type(
            name,
            (BatchExpectation,),
            {
                "__doc__": doc,
                "__annotations__": {"columns": list[str], **fields},
                "__module__": __name__,
                "metric_dependencies": (metric,),
                "success_keys": keys,
                "args_keys": keys,
                "_validate": judged,
            },
        )

    return {
        "type": expectation(
            "ExpectColumnsToHoldTypes",
            "monitoring.column_type_counts",
            {"type_lists": list[list[str]]},
            "Each column's dtype, or else each of its non-null values, is of a listed type.",
        ),
        "nulls": expectation(
            "ExpectColumnNullSharesToBeAtMost",
            "monitoring.column_null_counts",
            {"allowed_shares": list[float]},
            "Each column has at most its allowed share of nulls.",
        ),
        "range": expectation(
            "ExpectColumnValuesToBeWithinRanges",
            "monitoring.column_range_counts",
            {
                "min_values": list[float | None],
                "max_values": list[float | None],
                "allowed_shares": list[float],
            },
            "Each column's numbers lie within its bounds, but for an allowed share of them.",
        ),
        "categories": expectation(
            "ExpectColumnValuesToBeInSets",
            "monitoring.column_category_counts",
            {"value_sets": list[list[str]], "allowed_shares": list[float]},
            "Each column's values are in its set, but for an allowed share of them.",
        ),
        "row_count": ExpectTableRowCountToBeBetween,
    }


def _judged(counts: Mapping[str, Any], allowed_share: float) -> dict[str, Any]:
    """One column's counts with GX's ``mostly`` verdict (a dtype verdict passes through)."""
    if "unexpected_count" not in counts:
        return dict(counts)
    considered = int(counts["element_count"]) - int(counts["missing_count"])
    unexpected = int(counts["unexpected_count"])
    return {
        **counts,
        "unexpected_share": unexpected / considered if considered else None,
        "success": _mostly(considered, unexpected, 1.0 - allowed_share),
    }


# -- counting: the GX metrics' work, one pass per rule over all its columns -------------------


def type_counts(
    frame: pd.DataFrame, columns: list[str], type_lists: list[list[str]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per column: a verdict on its dtype (``observed_value``, ``success``) when the dtype
    decides (any but object, or an object column of strings only where strings are listed),
    else its non-null values whose Python type is not listed."""
    for column, type_list in zip(columns, type_lists, strict=True):
        values = frame[column]
        dtype = values.dtype
        if "str" in type_list and all_strings(values):
            yield column, {"observed_value": "str", "success": True}
            continue
        if isinstance(dtype, pd.CategoricalDtype):  # judged by its values, one by one
            values = values.astype(object)
        elif not pd.api.types.is_object_dtype(dtype):
            name = "StringDtype" if isinstance(dtype, pd.StringDtype) else str(dtype)
            yield column, {"observed_value": name, "success": name in type_list}
            continue
        null = values.isna().to_numpy(dtype=bool)
        names = values.map(lambda v: type(v).__name__).to_numpy(dtype=object)
        wrong = ~null & ~np.isin(names, type_list)
        yield column, _counted(values, int(null.sum()), wrong)


def null_counts(frame: pd.DataFrame, columns: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per column: its nulls among all rows."""
    for column in columns:
        null = frame[column].isna().to_numpy(dtype=bool)
        yield column, _counted(frame[column], 0, null)


def range_counts(
    frame: pd.DataFrame,
    columns: list[str],
    min_values: list[float | None],
    max_values: list[float | None],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per column: its numbers outside [min, max] (an unset bound is open). Nulls and values
    that are not numbers are not considered (the nulls and type rules count those)."""
    for column, low, high in zip(columns, min_values, max_values, strict=True):
        raw = frame[column]
        if raw.dtype.kind in "fiub":
            numbers = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            numbers = pd.to_numeric(raw, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        outside = np.zeros(len(numbers), dtype=bool)
        if low is not None:
            outside |= numbers < low
        if high is not None:
            outside |= numbers > high
        missing = int(np.isnan(numbers).sum())  # NaN compares false: never outside
        yield column, _counted(pd.Series(numbers), missing, outside)


def category_counts(
    frame: pd.DataFrame, columns: list[str], value_sets: list[list[str]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per column: its non-null values outside the set."""
    for column, value_set in zip(columns, value_sets, strict=True):
        values = frame[column]
        null = values.isna().to_numpy(dtype=bool)
        unseen = ~null & ~values.isin(value_set).to_numpy(dtype=bool)
        yield column, _counted(values, int(null.sum()), unseen)


def _counted(values: pd.Series, missing: int, unexpected: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """GX's counts of a column rule: the values considered (all but ``missing`` of them), the
    ``unexpected`` ones among them (a mask over ``values``), the first few as examples."""
    first = np.flatnonzero(unexpected)[:MAX_EXAMPLES]
    return {
        "element_count": len(values),
        "missing_count": missing,
        "unexpected_count": int(np.count_nonzero(unexpected)),
        "partial_unexpected_list": [_plain(v) for v in values.iloc[first]],
    }


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (GX results are JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _nonempty(batches: Iterable[pd.DataFrame], suite: QualitySuite) -> Iterator[pd.DataFrame]:
    """The batches, or one empty frame of the suite's columns when there are none."""
    seen = False
    for batch in batches:
        seen = True
        yield batch
    if not seen:
        yield pd.DataFrame(
            {
                c: pd.Series(dtype="float64" if k == "numeric" else object)
                for c, k in suite.columns.items()
            }
        )


def _prepared(batch: pd.DataFrame, suite: QualitySuite) -> pd.DataFrame:
    """The suite's columns of the batch."""
    missing = [c for c in suite.columns if c not in batch.columns]
    if missing:
        raise ValueError(f"the batch has no column {missing}")
    return batch[list(suite.columns)]


# -- adding batches up ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """GX's result for one expectation on one batch."""

    success: bool
    result: Mapping[str, Any]
    error: str | None


@dataclass
class _Tally:
    """An expectation's counts over the batches seen so far."""

    elements: int = 0
    missing: int = 0
    unexpected: int = 0
    counted: bool = False
    observed: Any = None
    all_passed: bool = True
    batches_failed: int = 0
    examples: list[str] = field(default_factory=list)
    error: str | None = None

    def add(self, outcome: _Outcome) -> None:
        if not outcome.success:
            self.batches_failed += 1
        if outcome.error is not None:
            self.error = self.error or outcome.error
            return
        result = outcome.result
        if "unexpected_count" in result:
            self.counted = True
            self.elements += int(result.get("element_count") or 0)
            self.missing += int(result.get("missing_count") or 0)
            self.unexpected += int(result.get("unexpected_count") or 0)
            for value in result.get("partial_unexpected_list") or []:
                text = _as_text(value)
                if text not in self.examples and len(self.examples) < MAX_EXAMPLES:
                    self.examples.append(text)
        else:
            self.observed = result.get("observed_value")
            self.all_passed &= outcome.success


def _verdict(spec: ExpectationSpec, tally: _Tally, rows: int) -> ExpectationResult:
    base = ExpectationResult(
        name=spec.name,
        kind=spec.kind,
        column=spec.column,
        success=False,
        observed=None,
        unexpected_count=None,
        unexpected_share=None,
        considered=0,
        allowed_share=spec.allowed_share,
        expected=spec.expected,
        batches_failed=tally.batches_failed,
    )
    if tally.error is not None:
        return replace(base, error=tally.error)
    if spec.kind == "row_count":
        low = spec.min_value or 0.0
        high = math.inf if spec.max_value is None else spec.max_value
        return replace(
            base, success=low <= rows <= high, observed=rows, considered=rows, allowed_share=None
        )
    if not tally.counted:  # a type judged by the column's dtype
        observed = None if tally.observed is None else str(tally.observed)
        return replace(base, success=tally.all_passed, observed=observed, considered=rows)
    considered = tally.elements - tally.missing
    share = tally.unexpected / considered if considered else None
    return replace(
        base,
        success=_mostly(considered, tally.unexpected, spec.mostly),
        observed=share,
        unexpected_count=tally.unexpected,
        unexpected_share=share,
        considered=considered,
        examples=tuple(tally.examples),
    )


def _mostly(considered: int, unexpected: int, mostly: float) -> bool:
    """GX's own rule for ``mostly`` (vacuously true when nothing is considered)."""
    if considered == 0:
        return True
    return (float(considered) - float(unexpected)) / float(considered) >= mostly


def _as_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)[:60]


# -- the check --------------------------------------------------------------------------------


def quality_check(report: QualityReport) -> CheckOutcome:
    """The ``data_quality`` check: one finding per expectation (subject ``<column>:<kind>``),
    failing ones first, so an incident opened by a failing expectation resolves when it
    passes again."""
    findings = [_finding(r) for r in report.results]
    findings.sort(key=lambda f: f.passed)
    failed = [f.subject for f in findings if not f.passed]
    if failed:
        summary = f"{len(failed)} of {len(findings)} expectations failed: {', '.join(failed)}"
    else:
        summary = f"all {len(findings)} expectations met on {report.rows} rows"
    if report.day_rows is not None:
        summary += f" (a uniform sample of the day's {report.day_rows} rows)"
    metadata: dict[str, float | int | str] = {
        "expectations_evaluated": len(findings),
        "expectations_failed": len(failed),
        "rows": report.rows,
    }
    if report.day_rows is not None:
        metadata["sampled_from_rows"] = report.day_rows
    if report.notes:
        metadata["not_checked"] = "; ".join(report.notes)
    return CheckOutcome("data_quality", tuple(findings), summary, metadata)


def _finding(r: ExpectationResult) -> Finding:
    if r.error is not None:
        summary = f"{r.name}: could not be evaluated ({r.error[:200]}); expected {r.expected}"
        return Finding(r.name, False, Severity.WARN, None, r.allowed_share, summary)
    if r.kind == "row_count":
        rows = int(r.observed or 0)
        severity = Severity.CRITICAL if rows == 0 else Severity.WARN
        verdict = "as expected" if r.success else "outside the band"
        summary = f"{rows} rows, {verdict} ({r.expected})"
        return Finding(r.name, r.success, severity, float(rows), None, summary)
    if r.unexpected_share is None and r.unexpected_count is None:  # dtype verdict
        verdict = "ok" if r.success else f"expected {r.expected}"
        summary = f"{r.name}: dtype {r.observed} ({verdict})"
        return Finding(r.name, r.success, Severity.CRITICAL, None, 0.0, summary)
    share = r.unexpected_share or 0.0
    allowed = r.allowed_share or 0.0
    if r.kind == "type":
        severity = Severity.CRITICAL
    else:
        critical = share >= min(1.0, CRITICAL_FACTOR * allowed) and share > allowed
        severity = Severity.CRITICAL if critical else Severity.WARN
    what = {
        "type": "values of another type",
        "nulls": "nulls",
        "range": "values out of range",
        "categories": "unseen categories",
    }[r.kind]
    summary = (
        f"{r.name}: {r.unexpected_count} {what} of {r.considered} ({share:.2%}; "
        f"{'<=' if r.success else '>'} {allowed:.2%}); expected {r.expected}"
    )
    if r.examples and not r.success:
        summary += f"; e.g. {', '.join(r.examples)}"
    return Finding(r.name, r.success, severity, share, allowed, summary)


def quality_values(report: QualityReport) -> dict[str, float | int | None]:
    """The numbers to plot per partition: counts, time, and per column the null share and the
    largest unexpected share among its type, range and category expectations."""
    values: dict[str, float | int | None] = {
        "expectations_evaluated": len(report.results),
        "expectations_failed": len(report.failed),
        "rows_validated": report.rows,
        "batches": report.batches,
        "validation_seconds": report.seconds,
    }
    for r in report.results:
        if r.column is None or r.unexpected_share is None:
            continue
        if r.kind == "nulls":
            values[f"null_share/{r.column}"] = r.unexpected_share
        else:
            key = f"unexpected_share/{r.column}"
            current = values.get(key)
            values[key] = max(r.unexpected_share, float(current or 0.0))
    return values


def quality_metrics(report: QualityReport) -> dict[tuple[str, str], float | None]:
    """The result store's rows: the totals, and per expectation its unexpected count and share
    (dimensions ``column`` and ``expectation``)."""
    rows: dict[tuple[str, str], float | None] = {
        ("expectations_evaluated", ""): float(len(report.results)),
        ("expectations_failed", ""): float(len(report.failed)),
        ("rows_validated", ""): float(report.rows),
        ("validation_seconds", ""): report.seconds,
    }
    for r in report.results:
        dims = dimensions(column=r.column or TABLE, expectation=r.kind)
        rows[("passed", dims)] = 1.0 if r.success else 0.0
        if r.unexpected_count is not None:
            rows[("unexpected_count", dims)] = float(r.unexpected_count)
            rows[("unexpected_share", dims)] = r.unexpected_share
    return rows
