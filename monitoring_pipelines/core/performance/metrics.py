"""Model performance once delayed labels arrive: metrics, their additive statistics, the check.

Every metric comes from statistics that add across rows and days (a confusion matrix, sums of
errors, AUC with its class counts), so a day is stored as those statistics and a reference
period is their sum over days, exactly as drift bins are. Everything is numpy; each metric is
tested against hand-computed values and scipy.

Classifiers (``prediction.type: label``) get accuracy, macro F1 (classes: every class seen as a
label or a prediction; a class with no true and no predicted rows cannot occur, one never
predicted scores F1 0) and per-class precision, recall and F1; with a score column holding the
model's probability for its predicted label, ``confidence_auc`` (how well it ranks correct above
wrong predictions) and, for two classes, the ROC ``auc``. Score models get MAE, RMSE, bias
(mean prediction minus label) and, when labels are 0/1, ``auc``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.checks import WHOLE, CheckOutcome, Finding, grade
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.dimensions import decode, dimensions

if TYPE_CHECKING:
    from monitoring_pipelines.core.config import MonitorConfig

Kind = Literal["label", "score"]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]

METRICS: dict[Kind, tuple[str, ...]] = {
    "label": ("accuracy", "macro_f1", "auc", "confidence_auc"),
    "score": ("mae", "rmse", "auc"),
}
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
DEFAULT_METRIC: dict[Kind, str] = {"label": "accuracy", "score": "mae"}
# Tolerances: an absolute drop for metrics in [0, 1], a rise relative to the reference for errors.
DEFAULT_TOLERANCE = {"drop": (0.05, 0.10), "rise": (0.10, 0.25)}
BOOTSTRAP_DRAWS = 200
# Dimensions naming the scope of stored statistics (a segment value); none: the whole partition.
SCOPE_KEYS = frozenset({"segment", "value"})


@dataclass(frozen=True)
class PerformancePolicy:
    """When a day's performance is compared with the reference, and what counts as a drop.

    Attributes:
        metric: The checked metric; None: accuracy for labels, MAE for scores.
        warn: Tolerance before a warning; None: 0.05 absolute drop (accuracy, F1, AUC) or
            0.10 relative rise (MAE, RMSE).
        critical: Tolerance before a critical failure; None: 0.10 drop or 0.25 rise.
        min_coverage: Labelled share of the day's rows below which the day is not evaluated.
        min_labelled: Labelled rows below which the day is not evaluated.
        reference_days: Without a reference label column, the first this many days from
            ``start_date`` are the baseline (pooled over those with ``min_coverage``).
        significance: One-sided p-value the change must reach (normal approximation with the
            standard errors of both sides), so noise on a small day does not page.
    """

    metric: str | None = None
    warn: float | None = None
    critical: float | None = None
    min_coverage: float = 0.10
    min_labelled: int = 200
    reference_days: int = 7
    significance: float = 0.01

    def metric_for(self, kind: Kind) -> str:
        metric = self.metric or DEFAULT_METRIC[kind]
        if metric not in METRICS[kind]:
            raise ValueError(
                f"performance.metric '{metric}' does not apply to {kind} predictions; "
                f"allowed: {', '.join(METRICS[kind])}"
            )
        return metric

    def tolerances(self, metric: str) -> tuple[float, float]:
        warn, critical = DEFAULT_TOLERANCE["rise" if metric in LOWER_IS_BETTER else "drop"]
        return (
            self.warn if self.warn is not None else warn,
            self.critical if self.critical is not None else critical,
        )


@dataclass(frozen=True)
class PerformanceSpec:
    """Everything the performance asset reads from a monitor's configuration."""

    kind: Kind
    prediction_column: str
    score_column: str | None = None
    reference_label_column: str | None = None
    policy: PerformancePolicy = PerformancePolicy()
    segments: tuple[str, ...] = ()

    @classmethod
    def for_monitor(cls, monitor: MonitorConfig) -> PerformanceSpec:
        """The spec of ``monitor``'s prediction, reference labels, policy and segments."""
        assert monitor.prediction is not None
        return cls(
            kind=monitor.prediction.type,
            prediction_column=monitor.prediction.column,
            score_column=monitor.prediction.score_column,
            reference_label_column=monitor.reference.label_column if monitor.reference else None,
            policy=PerformancePolicy(**monitor.performance.model_dump()),
            segments=tuple(monitor.segments),
        )


def label_text(values: Sequence[Any] | pd.Series | npt.NDArray[Any]) -> ObjectArray:
    """Class labels as the slice stores predictions: text, ``1.0`` as ``1``, None for null."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            out[i] = None
        elif isinstance(value, float) and value.is_integer():
            out[i] = str(int(value))
        elif isinstance(value, bytes):
            out[i] = value.decode("utf-8", errors="replace")
        else:
            out[i] = str(value)
    return out


# -- statistics that add up ---------------------------------------------------------------------


@dataclass(frozen=True)
class Confusion:
    """Counts of (true, predicted) class pairs."""

    cells: Mapping[tuple[str, str], int]

    @classmethod
    def of(cls, true: ObjectArray, predicted: ObjectArray) -> Confusion:
        pairs = pd.DataFrame({"t": true, "p": predicted}).value_counts()
        return cls({(str(t), str(p)): int(n) for (t, p), n in pairs.items()})

    def __add__(self, other: Confusion) -> Confusion:
        cells = dict(self.cells)
        for pair, n in other.cells.items():
            cells[pair] = cells.get(pair, 0) + n
        return Confusion(cells)

    @property
    def classes(self) -> list[str]:
        return sorted({c for pair in self.cells for c in pair})

    def matrix(self) -> npt.NDArray[np.int64]:
        """Rows: true class; columns: predicted class; in ``classes`` order."""
        index = {c: i for i, c in enumerate(self.classes)}
        out = np.zeros((len(index), len(index)), dtype=np.int64)
        for (t, p), n in self.cells.items():
            out[index[t], index[p]] += n
        return out

    @property
    def total(self) -> int:
        return sum(self.cells.values())


def _per_class(matrix: npt.NDArray[np.int64]) -> dict[str, FloatArray]:
    """Precision, recall and F1 per class (NaN where undefined) of one or many matrices."""
    tp = np.diagonal(matrix, axis1=-2, axis2=-1).astype(np.float64)
    predicted = matrix.sum(axis=-2).astype(np.float64)
    actual = matrix.sum(axis=-1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, np.nan)
        recall = np.where(actual > 0, tp / actual, np.nan)
        # 2tp / (2tp + fp + fn): 0 for a class never predicted correctly, as scikit-learn's
        # zero_division=0; NaN only when the class has neither labels nor predictions.
        f1 = np.where(predicted + actual > 0, 2 * tp / (predicted + actual), np.nan)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


@dataclass(frozen=True)
class ErrorSums:
    """Sums of (prediction - label) and its powers, for MAE, RMSE, bias and their errors."""

    n: int = 0
    error: float = 0.0
    absolute: float = 0.0
    squared: float = 0.0
    fourth: float = 0.0

    @classmethod
    def of(cls, predicted: FloatArray, label: FloatArray) -> ErrorSums:
        e = predicted - label
        sq = e * e
        return cls(
            len(e), float(e.sum()), float(np.abs(e).sum()), float(sq.sum()), float((sq * sq).sum())
        )

    def __add__(self, other: ErrorSums) -> ErrorSums:
        return ErrorSums(
            self.n + other.n,
            self.error + other.error,
            self.absolute + other.absolute,
            self.squared + other.squared,
            self.fourth + other.fourth,
        )

    @property
    def mae(self) -> float | None:
        return self.absolute / self.n if self.n else None

    @property
    def rmse(self) -> float | None:
        return math.sqrt(self.squared / self.n) if self.n else None

    @property
    def bias(self) -> float | None:
        return self.error / self.n if self.n else None

    def mae_se(self) -> float | None:
        if self.n < 2 or self.mae is None:
            return None
        return math.sqrt(max(self.squared / self.n - self.mae**2, 0.0) / self.n)

    def rmse_se(self) -> float | None:
        """Delta method: se(MSE) / (2 RMSE)."""
        if self.n < 2 or not self.rmse:
            return None
        mse = self.squared / self.n
        return math.sqrt(max(self.fourth / self.n - mse**2, 0.0) / self.n) / (2 * self.rmse)


@dataclass(frozen=True)
class Auc:
    """An ROC AUC with its class counts (pooled across days weighted by positives x negatives)."""

    value: float
    positives: int
    negatives: int

    def __add__(self, other: Auc) -> Auc:
        w1, w2 = self.positives * self.negatives, other.positives * other.negatives
        value = (self.value * w1 + other.value * w2) / (w1 + w2)
        return Auc(value, self.positives + other.positives, self.negatives + other.negatives)

    def se(self) -> float:
        """Hanley & McNeil (1982)."""
        a, n1, n0 = self.value, self.positives, self.negatives
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
        return math.sqrt(max(var, 0.0))


def midranks(values: FloatArray) -> FloatArray:
    """1-based ranks, ties sharing their average rank (scipy.stats.rankdata 'average')."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def roc_auc(scores: FloatArray, positive: BoolArray) -> Auc | None:
    """P(score of a positive > score of a negative) + half the ties; None without both classes.

    Rows with a NaN score are left out.
    """
    keep = ~np.isnan(scores)
    scores, positive = scores[keep], positive[keep]
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        return None
    u = midranks(scores)[positive].sum() - n1 * (n1 + 1) / 2.0
    return Auc(float(u / (n1 * n0)), n1, n0)


# -- one day's (or period's) performance ----------------------------------------------------------


@dataclass(frozen=True)
class PerformanceStats:
    """Performance statistics of some rows; additive, so days pool into a period.

    Attributes:
        kind: ``label`` or ``score`` predictions.
        rows: Rows (requests) considered; coverage is ``labelled / rows``.
        labelled: Rows with a label and a prediction.
        confusion: Class pairs (labels); errors: error sums (scores).
        auc: ROC AUC (two classes, or 0/1 labels of a score); confidence_auc: AUC of the
            confidence for telling correct from wrong predictions.
    """

    kind: Kind
    rows: int
    labelled: int
    confusion: Confusion = field(default_factory=lambda: Confusion({}))
    errors: ErrorSums = ErrorSums()
    auc: Auc | None = None
    confidence_auc: Auc | None = None

    @property
    def coverage(self) -> float:
        return self.labelled / self.rows if self.rows else 0.0

    def __add__(self, other: PerformanceStats) -> PerformanceStats:
        return PerformanceStats(
            self.kind,
            self.rows + other.rows,
            self.labelled + other.labelled,
            self.confusion + other.confusion,
            self.errors + other.errors,
            _add_auc(self.auc, other.auc),
            _add_auc(self.confidence_auc, other.confidence_auc),
        )

    def per_class(self) -> dict[str, dict[str, float | None]]:
        classes = self.confusion.classes
        if not classes:
            return {}
        table = _per_class(self.confusion.matrix())
        return {c: {k: _finite(v[i]) for k, v in table.items()} for i, c in enumerate(classes)}

    def value(self, metric: str) -> float | None:
        if metric == "accuracy":
            total = self.confusion.total
            correct = sum(n for (t, p), n in self.confusion.cells.items() if t == p)
            return correct / total if total else None
        if metric == "macro_f1":
            if not self.confusion.total:
                return None
            return float(np.nanmean(_per_class(self.confusion.matrix())["f1"]))
        if metric in ("auc", "confidence_auc"):
            auc = self.auc if metric == "auc" else self.confidence_auc
            return auc.value if auc else None
        if metric in ("mae", "rmse", "bias"):
            return getattr(self.errors, metric)  # type: ignore[no-any-return]
        raise ValueError(f"unknown performance metric '{metric}'")

    def standard_error(self, metric: str) -> float | None:
        value = self.value(metric)
        if value is None:
            return None
        if metric == "accuracy":
            return math.sqrt(value * (1 - value) / self.confusion.total)
        if metric == "macro_f1":
            return _macro_f1_se(self.confusion)
        if metric in ("auc", "confidence_auc"):
            auc = self.auc if metric == "auc" else self.confidence_auc
            return auc.se() if auc else None
        if metric == "mae":
            return self.errors.mae_se()
        if metric == "rmse":
            return self.errors.rmse_se()
        return None

    def metrics(self) -> dict[str, float | None]:
        """The headline metrics of this kind, plus rows, labelled rows and coverage."""
        names = METRICS[self.kind] + (("bias",) if self.kind == "score" else ())
        out: dict[str, float | None] = {
            "rows": float(self.rows),
            "labelled": float(self.labelled),
            "coverage": self.coverage,
        }
        return out | {m: self.value(m) for m in names}

    # -- storage as (name, dimensions) -> value, the result store's metrics rows --------------

    def to_rows(
        self, scope: Mapping[str, str] | None = None
    ) -> dict[tuple[str, str], float | None]:
        """The statistics as result-store rows; with ``scope`` (a segment: ``segment`` and
        ``value``), every row's dimensions carry it, so one partition holds many scopes."""
        scope = dict(scope or {})
        rows: dict[tuple[str, str], float | None] = {
            (k, dimensions(**scope)): v for k, v in self.metrics().items()
        }
        for cls, values in self.per_class().items():
            for k, v in values.items():
                rows[(k, dimensions(**scope, **{"class": cls}))] = v
        for (t, p), n in self.confusion.cells.items():
            rows[("confusion", dimensions(**scope, true=t, predicted=p))] = float(n)
        if self.kind == "score":
            for k in ("n", "error", "absolute", "squared", "fourth"):
                rows[("error_sums", dimensions(**scope, sum=k))] = float(getattr(self.errors, k))
        for name, auc in (("auc", self.auc), ("confidence_auc", self.confidence_auc)):
            if auc is not None:
                rows[(f"{name}_positives", dimensions(**scope))] = float(auc.positives)
                rows[(f"{name}_negatives", dimensions(**scope))] = float(auc.negatives)
        return rows

    @classmethod
    def from_rows(
        cls,
        kind: Kind,
        rows: Mapping[tuple[str, str], float | None],
        scope: Mapping[str, str] | None = None,
    ) -> PerformanceStats:
        """The statistics ``to_rows`` stored for ``scope`` (by default the whole partition);
        headline metrics are recomputed from them."""
        rows = scoped_rows(rows, scope)

        def get(name: str, dims: str = "") -> float:
            value = rows.get((name, dims))
            return float(value) if value is not None else 0.0

        cells = {}
        sums: dict[str, float] = {}
        for (name, dims), value in rows.items():
            if name == "confusion" and value:
                d = decode(dims)
                cells[(d["true"], d["predicted"])] = int(value)
            elif name == "error_sums" and value is not None:
                sums[decode(dims)["sum"]] = value
        errors = ErrorSums(
            int(sums.get("n", 0)),
            *(sums.get(k, 0.0) for k in ("error", "absolute", "squared", "fourth")),
        )
        aucs = {}
        for name in ("auc", "confidence_auc"):
            value = rows.get((name, ""))
            aucs[name] = (
                Auc(float(value), int(get(f"{name}_positives")), int(get(f"{name}_negatives")))
                if value is not None and get(f"{name}_positives") and get(f"{name}_negatives")
                else None
            )
        return cls(
            kind,
            int(get("rows")),
            int(get("labelled")),
            Confusion(cells),
            errors,
            aucs["auc"],
            aucs["confidence_auc"],
        )


def scoped_rows(
    rows: Mapping[tuple[str, str], float | None], scope: Mapping[str, str] | None = None
) -> dict[tuple[str, str], float | None]:
    """The rows of one scope (without ``scope``: the whole partition's), their dimensions
    without the scope's keys."""
    wanted = dict(scope or {})
    out: dict[tuple[str, str], float | None] = {}
    for (name, dims), value in rows.items():
        parsed = decode(dims)
        own = {k: parsed.pop(k) for k in SCOPE_KEYS & parsed.keys()}
        if own == wanted:
            out[(name, dimensions(**parsed))] = value
    return out


def _add_auc(a: Auc | None, b: Auc | None) -> Auc | None:
    if a is None or b is None:
        return a or b
    return a + b


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _macro_f1_se(confusion: Confusion) -> float:
    """Bootstrap (multinomial over the confusion cells, seeded) standard error of macro F1."""
    matrix = confusion.matrix()
    n = int(matrix.sum())
    rng = np.random.default_rng(20260901)
    draws = rng.multinomial(n, matrix.ravel() / n, size=BOOTSTRAP_DRAWS).reshape(
        (BOOTSTRAP_DRAWS, *matrix.shape)
    )
    f1 = np.nanmean(_per_class(draws)["f1"], axis=1)
    return float(np.std(f1, ddof=1))


def compute_performance(
    kind: Kind,
    rows: int,
    predicted: npt.NDArray[Any],
    label: npt.NDArray[Any],
    score: FloatArray | None = None,
) -> PerformanceStats:
    """Statistics of aligned labelled rows (predictions, labels and optional scores).

    Args:
        kind: ``label``: predictions and labels are class texts (see ``label_text``), ``score``
            is the model's probability for its predicted class. ``score``: both are numbers.
        rows: All rows of the period, labelled or not (for coverage).
        predicted: The predictions of the labelled rows; rows without one are left out.
        label: Their labels.
        score: For labels, the probability of the predicted class (0..1).
    """
    if kind == "label":
        keep = np.array(
            [p is not None and t is not None for p, t in zip(predicted, label, strict=True)],
            dtype=bool,
        )
        predicted, label = predicted[keep], label[keep]
        score = score[keep] if score is not None else None
        confusion = Confusion.of(label, predicted)
        auc = confidence_auc = None
        if score is not None and len(predicted):
            correct = predicted == label
            confidence_auc = roc_auc(score, correct)
            classes = confusion.classes
            if len(classes) == 2:
                positive = classes[1]  # the greater label, as scikit-learn; AUC is symmetric
                p_positive = np.where(predicted == positive, score, 1.0 - score)
                auc = roc_auc(p_positive, label == positive)
        return PerformanceStats(
            kind, rows, int(keep.sum()), confusion, auc=auc, confidence_auc=confidence_auc
        )
    predicted_f = np.asarray(predicted, dtype=np.float64)
    label_f = np.asarray(label, dtype=np.float64)
    keep = ~(np.isnan(predicted_f) | np.isnan(label_f))
    predicted_f, label_f = predicted_f[keep], label_f[keep]
    auc = None
    if len(label_f) and np.isin(label_f, (0.0, 1.0)).all():
        auc = roc_auc(predicted_f, label_f == 1.0)
    return PerformanceStats(
        kind, rows, int(keep.sum()), errors=ErrorSums.of(predicted_f, label_f), auc=auc
    )


# -- the baseline and the check ---------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """What a day is compared with.

    Attributes:
        stats: The reference's statistics, or None when there is none (yet).
        source: Where it comes from, for people.
        missing: Why there is none (when ``stats`` is None).
        in_period: The day is itself part of the reference period: not compared.
    """

    stats: PerformanceStats | None
    source: str
    missing: str | None = None
    in_period: bool = False


def pooled_baseline(
    days: Mapping[str, PerformanceStats], policy: PerformancePolicy, source: str
) -> Baseline:
    """The reference period's days pooled: those that reached ``min_coverage`` count."""
    usable = [s for s in days.values() if s.labelled and s.coverage >= policy.min_coverage]
    labelled = sum(s.labelled for s in usable)
    if not usable or labelled < policy.min_labelled:
        return Baseline(
            None,
            source,
            missing=f"the reference period ({source}) has {len(usable)} day(s) with coverage "
            f">= {policy.min_coverage:.0%} and {labelled} labelled rows "
            f"(needs {policy.min_labelled})",
        )
    pooled = usable[0]
    for s in usable[1:]:
        pooled = pooled + s
    return Baseline(pooled, f"{source}: {len(usable)} day(s), {labelled} labelled rows")


@dataclass(frozen=True)
class Comparison:
    """A day's (or a segment's) checked metric against the baseline.

    Attributes:
        metric: The checked metric; value: on the day; reference: in the baseline.
        warn, critical: Its tolerances.
        coverage, labelled, rows: The labelled share, labelled rows and all rows.
        summary: One line for people.
        evaluated: False while coverage, labelled rows or the baseline are not enough.
        delta: ``value - reference``.
        change: The move in the bad direction, compared with the tolerances: the drop
            (accuracy, F1, AUC) or the rise relative to the reference (MAE, RMSE).
        p_value: One-sided p-value of that move.
        p_adjusted: The p-value adjusted for multiple tests (segments), when it was.
        severity: Set when the check fails.
    """

    metric: str
    value: float | None
    reference: float | None
    warn: float
    critical: float
    coverage: float
    labelled: int
    rows: int = 0
    summary: str = ""
    evaluated: bool = False
    delta: float | None = None
    change: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    severity: Severity | None = None

    @property
    def bound(self) -> float | None:
        """The value at which the warn tolerance is reached."""
        if self.reference is None:
            return None
        if self.metric in LOWER_IS_BETTER:
            return self.reference * (1 + self.warn)
        return self.reference - self.warn

    def to_rows(
        self, scope: Mapping[str, str] | None = None
    ) -> dict[tuple[str, str], float | None]:
        dims = dimensions(**dict(scope or {}))
        rows = {(k, dims): getattr(self, k) for k in ("reference", "delta", "p_value")}
        if self.p_adjusted is not None:
            rows[("p_adjusted", dims)] = self.p_adjusted
        return rows


def compare(stats: PerformanceStats, baseline: Baseline, policy: PerformancePolicy) -> Comparison:
    """Compare a day with its baseline, or say why it is not evaluated yet."""
    metric = policy.metric_for(stats.kind)
    warn, critical = policy.tolerances(metric)
    value = stats.value(metric)
    reference = baseline.stats.value(metric) if baseline.stats else None
    base = Comparison(
        metric, value, reference, warn, critical, stats.coverage, stats.labelled, stats.rows
    )
    waiting = None
    if stats.coverage < policy.min_coverage or stats.labelled == 0:
        waiting = f"not evaluated yet: {_coverage(base)}; needs {policy.min_coverage:.0%}"
    elif stats.labelled < policy.min_labelled:
        waiting = f"not evaluated yet: {_coverage(base)}; needs {policy.min_labelled} labelled rows"
    elif value is None:
        waiting = f"not evaluated: {metric} is undefined ({_undefined(metric)}); {_coverage(base)}"
    elif baseline.in_period:
        waiting = (
            f"{metric} {value:.4f}, part of the reference ({baseline.source}); {_coverage(base)}"
        )
    elif baseline.stats is None or reference is None:
        waiting = "not evaluated yet: " + (
            baseline.missing or f"the reference ({baseline.source}) has no {metric}"
        )
    if waiting is not None:
        return replace(base, summary=waiting)
    assert value is not None and reference is not None and baseline.stats is not None
    lower_better = metric in LOWER_IS_BETTER
    delta = value - reference
    bad_move = delta if lower_better else -delta
    if lower_better:
        change = delta / reference if reference > 0 else (math.inf if delta > 0 else 0.0)
    else:
        change = bad_move
    p_value = _one_sided_p(bad_move, stats, baseline.stats, metric)
    measured = replace(base, evaluated=True, delta=delta, change=change, p_value=p_value)
    return judge(measured, policy)


def judge(
    comparison: Comparison, policy: PerformancePolicy, p_adjusted: float | None = None
) -> Comparison:
    """The verdict and summary of an evaluated comparison: a failure needs the change beyond
    the tolerance and its p-value (``p_adjusted`` when given) at most ``policy.significance``."""
    c = comparison
    assert c.evaluated and c.change is not None and c.p_value is not None
    assert c.value is not None and c.reference is not None and c.delta is not None
    p, p_name = (c.p_value, "p") if p_adjusted is None else (p_adjusted, "adjusted p")
    severity = grade(c.change, c.warn, c.critical) if p <= policy.significance else None
    lower_better = c.metric in LOWER_IS_BETTER
    tolerance = f"{c.warn:.0%} relative rise" if lower_better else f"{c.warn:g} drop"
    if severity is not None:
        verdict = f"{severity.value}: beyond the {tolerance} tolerance ({p_name} {p:.2g})"
    elif c.change < c.warn:
        verdict = f"within the {tolerance} tolerance"
    else:
        verdict = (
            f"beyond the {tolerance} tolerance but not significant "
            f"({p_name} {p:.2g} > {policy.significance:g})"
        )
    summary = (
        f"{c.metric} {c.value:.4f} vs reference {c.reference:.4f} ({c.delta:+.4f}): "
        f"{verdict}; {_coverage(c)}"
    )
    return replace(c, summary=summary, p_adjusted=p_adjusted, severity=severity)


def _coverage(c: Comparison) -> str:
    return f"coverage {c.coverage:.1%} ({c.labelled} of {c.rows} rows labelled)"


def _one_sided_p(
    bad_move: float, day: PerformanceStats, reference: PerformanceStats, metric: str
) -> float:
    se_day = day.standard_error(metric) or 0.0
    se_ref = reference.standard_error(metric) or 0.0
    se = math.hypot(se_day, se_ref)
    if se == 0.0:
        return 0.0 if bad_move > 0 else 1.0
    return 0.5 * math.erfc(bad_move / se / math.sqrt(2.0))


def _undefined(metric: str) -> str:
    if metric == "auc":
        return "needs two classes among labels and predictions and a score column"
    if metric == "confidence_auc":
        return "needs both correct and wrong predictions and a score column"
    return "no labelled rows"


def performance_check(comparison: Comparison) -> CheckOutcome:
    """The ``performance`` check: one finding once evaluated, none while it is not.

    A day not evaluated yet has no finding, so it neither fails nor counts as a passing day
    that would resolve an incident; its summary says why.
    """
    c = comparison
    metadata: dict[str, float | int | str] = {
        "metric": c.metric,
        "coverage": c.coverage,
        "labelled": c.labelled,
    }
    for key in ("value", "reference", "delta", "p_value"):
        number = getattr(c, key)
        if number is not None:
            metadata[key] = number
    if not c.evaluated:
        return CheckOutcome("performance", (), c.summary, metadata)
    finding = Finding(
        WHOLE, c.severity is None, c.severity or Severity.WARN, c.value, c.bound, c.summary
    )
    return CheckOutcome("performance", (finding,), c.summary, metadata)
