"""What moved in a drifted column, in its own units: the mean in reference standard deviations
for a number, the share of the category that moved most for a label.

Read from the same sketches the drift scores come from, stored beside them, and said in alerts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from monitoring_pipelines.core.profile.sketch import ColumnSketch

MAX_LABEL = 60  # characters of a category named in a message
SPREAD_CHANGE = 1.25  # a standard deviation this many times larger (or smaller) is said too


@dataclass(frozen=True)
class Shift:
    """The plain-terms change of one column between the reference and a partition.

    Attributes:
        kind: ``mean`` (a numeric column) or ``share`` (a categorical one).
        reference: The reference's mean, or the category's share of its rows (0 to 1).
        current: The partition's mean, or the category's share of its rows.
        reference_sd: The reference's standard deviation (numeric).
        current_sd: The partition's standard deviation (numeric).
        category: The category whose share moved most (categorical).
    """

    kind: Literal["mean", "share"]
    reference: float
    current: float
    reference_sd: float | None = None
    current_sd: float | None = None
    category: str | None = None

    @property
    def in_sd(self) -> float | None:
        """The change of the mean in reference standard deviations (None when it has none)."""
        if self.kind != "mean" or not self.reference_sd:
            return None
        return (self.current - self.reference) / self.reference_sd

    @property
    def points(self) -> float | None:
        """The change of the share in percentage points."""
        return (self.current - self.reference) * 100 if self.kind == "share" else None

    def describe(self) -> str:
        """``mean 0.35 → 0.41 (+0.4 sd)`` or ``mortgage 10 % → 25 % (+15 points)``."""
        if self.kind == "share":
            label = _label(self.category or "")
            points = self.points or 0.0
            return (
                f"{label} {_pct(self.reference)} → {_pct(self.current)} "
                f"({points:+.{_digits(points)}f} points)"
            )
        text = f"mean {_num(self.reference)} → {_num(self.current)}"
        sd = self.in_sd
        if sd is not None:
            text += f" ({sd:+.{_digits(sd)}f} sd)"
        ref_sd, cur_sd = self.reference_sd, self.current_sd
        if ref_sd and cur_sd is not None:
            ratio = cur_sd / ref_sd
            if ratio >= SPREAD_CHANGE or ratio <= 1 / SPREAD_CHANGE:
                text += f", sd {_num(ref_sd)} → {_num(cur_sd)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "current": self.current,
            "reference_sd": self.reference_sd,
            "current_sd": self.current_sd,
            "category": self.category,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Shift:
        kind = data["kind"]
        if kind not in ("mean", "share"):
            raise ValueError(f"a drift shift is of kind mean or share, not {kind!r}")
        return cls(
            kind=kind,
            reference=float(data["reference"]),
            current=float(data["current"]),
            reference_sd=_opt(data.get("reference_sd")),
            current_sd=_opt(data.get("current_sd")),
            category=data.get("category"),
        )


def shift_between(reference: ColumnSketch, current: ColumnSketch) -> Shift | None:
    """The shift of ``current`` from ``reference`` (None when either has no values)."""
    if reference.n == 0 or current.n == 0:
        return None
    if current.kind == "numeric":
        if not (math.isfinite(reference.mean) and math.isfinite(current.mean)):
            return None
        return Shift(
            "mean", reference.mean, current.mean, _finite(reference.std), _finite(current.std)
        )
    ref_share = _shares(reference)
    cur_share = _shares(current)
    labels = sorted(set(ref_share) | set(cur_share))
    moved = max(labels, key=lambda c: (abs(cur_share.get(c, 0.0) - ref_share.get(c, 0.0)), c))
    return Shift("share", ref_share.get(moved, 0.0), cur_share.get(moved, 0.0), category=moved)


def _shares(sketch: ColumnSketch) -> dict[str, float]:
    total = sketch.n
    return {
        c: int(n) / total
        for c, n in zip(sketch.categories or (), sketch.counts, strict=True)
        if n > 0
    }


def _label(category: str) -> str:
    flat = " ".join(category.replace("\x00", " ").split())
    return flat if len(flat) <= MAX_LABEL else flat[: MAX_LABEL - 1] + "…"


def _pct(share: float) -> str:
    pct = share * 100
    if pct == 0 or pct >= 10:
        return f"{pct:.0f} %"
    return f"{pct:.1f} %" if pct >= 1 else f"{pct:.2g} %"


def _digits(value: float) -> int:
    """One decimal, two below 0.1, so a small but real move does not read as +0.0."""
    return 2 if abs(value) < 0.1 else 1


def _num(value: float) -> str:
    """A value in its column's units, with three significant digits."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.3g}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
