"""Statistics of labelled rows that add across rows and days: a confusion matrix, sums of
errors, an ROC AUC with its class counts; a reference period is their sum over days, exactly as
drift bins are."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class Confusion:
    """Counts of (true, predicted) class pairs."""

    cells: Mapping[tuple[str, str], int]

    @classmethod
    def of(cls, true: ObjectArray, predicted: ObjectArray) -> Confusion:
        import pandas as pd

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


def per_class(matrix: npt.NDArray[np.int64]) -> dict[str, FloatArray]:
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


def add_auc(a: Auc | None, b: Auc | None) -> Auc | None:
    if a is None or b is None:
        return a or b
    return a + b
