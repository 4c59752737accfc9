"""The data-quality suite of a monitor, derived from its reference profile, in plain values.

Its rules (type, nulls, range, categories, row count) come from the reference's column sketches
and the ``checks.*`` configuration (README.md, "Data quality").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from monitoring_pipelines.core.config import ChecksConfig, MonitorConfig
from monitoring_pipelines.core.profile.fitting import ColumnPlan
from monitoring_pipelines.core.profile.sketch import OTHER, ColumnSketch

ExpectationKind = Literal["type", "nulls", "range", "categories", "row_count"]
ColumnKind = Literal["numeric", "categorical"]

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
        answered_only: ``nulls`` of a column the model writes (the prediction, its score):
            only requests the service answered are considered, as a failed request has no
            answer (its failure is the error-rate check's finding, not a second one).
    """

    kind: ExpectationKind
    column: str | None
    expected: str
    allowed_share: float = 0.0
    type_list: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    value_set: tuple[str, ...] = ()
    answered_only: bool = False

    @property
    def name(self) -> str:
        """The finding's subject: ``<column>:<kind>`` (``table:row_count`` for the table)."""
        return f"{self.column or TABLE}:{self.kind}"

    @property
    def mostly(self) -> float:
        return 1.0 - self.allowed_share


@dataclass(frozen=True)
class StatusRule:
    """Which requests failed: the service's status column and its error statuses (None: HTTP
    codes 500-599), as the error-rate check reads them (``service.*``)."""

    column: str
    error_statuses: tuple[str | int, ...] | None = None


@dataclass(frozen=True)
class QualitySuite:
    """The expectations of one monitor and the columns they read.

    Attributes:
        expectations: One per rule and column, then the row count.
        columns: Columns validated, by kind (numeric or categorical).
        notes: Expectations that could not be derived, and why.
        status: The requests that failed, when the monitor has a status column (the
            ``answered_only`` rules leave them out).
    """

    expectations: tuple[ExpectationSpec, ...]
    columns: Mapping[str, ColumnKind]
    notes: tuple[str, ...] = ()
    status: StatusRule | None = None


def derive_suite(monitor: MonitorConfig, reference: Mapping[str, ColumnSketch]) -> QualitySuite:
    """The expectations of ``monitor``'s drift-tested columns (features and prediction),
    derived from their reference sketches, plus the daily row-count band."""
    rules = QualityRules.from_checks(monitor.checks)
    plan = ColumnPlan.for_monitor(monitor)
    columns: dict[str, ColumnKind] = {c: "numeric" for c in plan.numeric}
    columns.update({c: "categorical" for c in plan.categorical})
    status = _status_rule(monitor)
    answers = _answer_columns(monitor) if status is not None else set()
    expectations: list[ExpectationSpec] = []
    notes: list[str] = []
    for column, kind in columns.items():
        sketch = reference.get(column)
        expectations.append(_type_spec(column, kind))
        expectations.append(_null_spec(column, sketch, rules, answered_only=column in answers))
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
    return QualitySuite(tuple(expectations), columns, tuple(notes), status)


def _status_rule(monitor: MonitorConfig) -> StatusRule | None:
    service = monitor.service
    if service is None or service.status_column is None:
        return None
    errors = service.error_statuses
    return StatusRule(service.status_column, tuple(errors) if errors is not None else None)


def _answer_columns(monitor: MonitorConfig) -> set[str]:
    """The columns the model writes: a failed request leaves them empty."""
    if monitor.prediction is None:
        return set()
    return {c for c in (monitor.prediction.column, monitor.prediction.score_column) if c}


def _type_spec(column: str, kind: ColumnKind) -> ExpectationSpec:
    if kind == "numeric":
        return ExpectationSpec("type", column, "numbers", type_list=NUMERIC_TYPES)
    return ExpectationSpec("type", column, "strings", type_list=TEXT_TYPES)


def _null_spec(
    column: str, sketch: ColumnSketch | None, rules: QualityRules, *, answered_only: bool = False
) -> ExpectationSpec:
    reference_share = 0.0
    if sketch is not None:
        total = sketch.n + sketch.n_missing + sketch.n_nonfinite
        reference_share = (sketch.n_missing + sketch.n_nonfinite) / total if total else 0.0
    allowed = min(1.0, max(reference_share + rules.null_share_margin, rules.max_null_share))
    among = " of the answered requests" if answered_only else ""
    return ExpectationSpec(
        "nulls",
        column,
        f"at most {allowed:.2%} nulls{among} (reference {reference_share:.2%} + margin "
        f"{rules.null_share_margin:.2%}, at least {rules.max_null_share:.2%})",
        allowed_share=allowed,
        answered_only=answered_only,
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
