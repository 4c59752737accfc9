"""Data quality of a day's slice with Great Expectations 1.x: the only module that imports it.

The expectation suite is derived from the reference profile (the :class:`ColumnSketch` of each
drift-tested column) and the monitor's configuration, as plain values (:class:`QualitySuite`).
:func:`validate_day` turns it into a GX ``ExpectationSuite`` on an ephemeral context, validates
the day batch by batch (memory stays bounded by :data:`BATCH_VALUES`) and returns plain values
(:class:`ExpectationResult`): no GX object leaves this module, and ``great_expectations`` is
imported only when a day is validated (about 2.5 s and 220 MB per process).

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
:data:`~monitoring_pipelines.core.quality.CRITICAL_FACTOR` times the allowed share, when a type
is wrong, or when the day has no rows.
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
import pandas as pd

from monitoring_pipelines.core.checks import CheckOutcome, Finding
from monitoring_pipelines.core.config import ChecksConfig, MonitorConfig, Severity
from monitoring_pipelines.core.fitting import ColumnPlan, sample_mask
from monitoring_pipelines.core.quality import CRITICAL_FACTOR
from monitoring_pipelines.core.sketch import OTHER, ColumnSketch
from monitoring_pipelines.core.slices import SliceStore
from monitoring_pipelines.core.slicing import ROW_KEY, TIMESTAMP, all_strings
from monitoring_pipelines.core.store.results import dimensions

if TYPE_CHECKING:  # pragma: no cover - typing only; the import is lazy at run time
    from great_expectations.core import ExpectationSuiteValidationResult

ExpectationKind = Literal["type", "nulls", "range", "categories", "row_count"]
ColumnKind = Literal["numeric", "categorical"]

# Values (rows x columns) validated at once: a day is read and validated batch by batch and the
# unexpected counts are added up, so memory is bounded whatever the day's volume. GX copies the
# batch per column expectation (about 90 bytes per value at peak, so some 360 MB), and each
# batch costs about 8 ms per expectation on top of the data, so batches are as large as this
# bound allows (200,000 rows of 20 columns).
BATCH_VALUES = 4_000_000
MIN_BATCH_ROWS = 10_000
MAX_BATCH_ROWS = 500_000
# Unexpected values kept as examples per expectation.
MAX_EXAMPLES = 5
# The subject of the table-level expectation (no column can be named with a colon suffix).
TABLE = "table"

# Type names as GX's pandas backend resolves them (numpy dtypes, then Python types).
NUMERIC_TYPES = ("float64", "float32", "int64", "int32", "int16", "int8", "float", "int")
TEXT_TYPES = ("str", "StringDtype")
# Text columns of strings only are validated with this dtype (GX then checks the dtype once).
TEXT_DTYPE = pd.StringDtype()  # as GX builds it from "StringDtype", whatever the storage


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
    if day_rows <= sample_rows:
        return store.batches(monitor, day, columns, batch_rows=rows), day_rows
    keep = partial(sample_mask, total=day_rows, wanted=sample_rows)
    sampled = store.batches(monitor, day, columns, batch_rows=rows, keep=keep)
    return _gathered(sampled, rows), day_rows


def _gathered(frames: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The frames concatenated into batches of at least ``rows`` rows (the last may be less)."""
    held: list[pd.DataFrame] = []
    size = 0
    for frame in frames:
        held.append(frame)
        size += len(frame)
        if size >= rows:
            yield pd.concat(held, ignore_index=True)
            held, size = [], 0
    if held:
        yield pd.concat(held, ignore_index=True)


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
    suite; run once per batch."""

    def __init__(self, expectations: tuple[ExpectationSpec, ...]) -> None:
        import great_expectations as gx
        import great_expectations.expectations as gxe
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
            name="data_quality", expectations=[_gx_expectation(gxe, s) for s in expectations]
        )
        if len(self._suite.expectations) != len(expectations):  # GX drops invalid ones
            raise ValueError("Great Expectations rejected part of the derived suite")

    def validate(self, frame: pd.DataFrame) -> dict[str, _Outcome]:
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result: ExpectationSuiteValidationResult = batch.validate(
            self._suite,
            result_format={"result_format": "BASIC", "partial_unexpected_count": MAX_EXAMPLES},
        )
        outcomes: dict[str, _Outcome] = {}
        for item in result.results:
            assert item.expectation_config is not None
            key = str(item.expectation_config.meta["key"])
            error = _exception_message(item.exception_info or {})
            outcomes[key] = _Outcome(bool(item.success), dict(item.result or {}), error)
        return outcomes


def _exception_message(info: Mapping[str, Any]) -> str | None:
    """GX's error, whether reported flat or per metric (``{metric_id: {...}}``)."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _gx_expectation(gxe: Any, spec: ExpectationSpec) -> Any:
    meta = {"key": spec.name}
    if spec.kind == "type":
        return gxe.ExpectColumnValuesToBeInTypeList(
            column=spec.column, type_list=list(spec.type_list), meta=meta
        )
    if spec.kind == "nulls":
        return gxe.ExpectColumnValuesToNotBeNull(column=spec.column, mostly=spec.mostly, meta=meta)
    if spec.kind == "range":
        return gxe.ExpectColumnValuesToBeBetween(
            column=spec.column,
            min_value=spec.min_value,
            max_value=spec.max_value,
            mostly=spec.mostly,
            meta=meta,
        )
    if spec.kind == "categories":
        return gxe.ExpectColumnValuesToBeInSet(
            column=spec.column, value_set=list(spec.value_set), mostly=spec.mostly, meta=meta
        )
    return gxe.ExpectTableRowCountToBeBetween(
        min_value=int(spec.min_value or 0),
        max_value=int(spec.max_value) if spec.max_value is not None else None,
        meta=meta,
    )


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
    """The suite's columns, with text columns typed so GX judges them in one step.

    A column whose values are all strings (or null) becomes pandas' ``string`` dtype, and GX
    checks its type from the dtype; any other object column stays as it is, and GX checks its
    values one by one and counts the others. (Checking a million strings one by one costs GX
    about 0.6 s per column; the dtype check costs nothing.)
    """
    missing = [c for c in suite.columns if c not in batch.columns]
    if missing:
        raise ValueError(f"the batch has no column {missing}")
    frame = batch[list(suite.columns)]
    converted = {
        c: frame[c].astype(TEXT_DTYPE)
        for c, kind in suite.columns.items()
        if kind == "categorical" and all_strings(frame[c])
    }
    return frame.assign(**converted) if converted else frame


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
