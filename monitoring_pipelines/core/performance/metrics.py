"""Model performance once delayed labels arrive: the metrics of a day or period, from its
additive statistics (:mod:`.additive`), stored as result-store rows.

Classifiers get accuracy, macro and per-class F1, precision and recall, and AUCs of the
confidence; score models MAE, RMSE, bias and, for 0/1 labels, AUC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from monitoring_pipelines.core.dimensions import decode, dimensions
from monitoring_pipelines.core.performance.additive import (
    Auc,
    Confusion,
    ErrorSums,
    FloatArray,
    add_auc,
    per_class,
    roc_auc,
)

Kind = Literal["label", "score"]

METRICS: dict[Kind, tuple[str, ...]] = {
    "label": ("accuracy", "macro_f1", "auc", "confidence_auc"),
    "score": ("mae", "rmse", "auc"),
}
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
BOOTSTRAP_DRAWS = 200
# Dimensions naming the scope of stored statistics (a segment value); none: the whole partition.
SCOPE_KEYS = frozenset({"segment", "value"})


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
    errors: ErrorSums = field(default_factory=ErrorSums)
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
            add_auc(self.auc, other.auc),
            add_auc(self.confidence_auc, other.confidence_auc),
        )

    def per_class(self) -> dict[str, dict[str, float | None]]:
        classes = self.confusion.classes
        if not classes:
            return {}
        table = per_class(self.confusion.matrix())
        return {c: {k: _finite(v[i]) for k, v in table.items()} for i, c in enumerate(classes)}

    def value(self, metric: str) -> float | None:
        if metric == "accuracy":
            total = self.confusion.total
            correct = sum(n for (t, p), n in self.confusion.cells.items() if t == p)
            return correct / total if total else None
        if metric == "macro_f1":
            if not self.confusion.total:
                return None
            return float(np.nanmean(per_class(self.confusion.matrix())["f1"]))
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
    f1 = np.nanmean(per_class(draws)["f1"], axis=1)
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
        kind: ``label``: predictions and labels are class texts (see
            ``ingest.labels.label_text``), ``score`` is the model's probability for its
            predicted class. ``score``: both are numbers.
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
