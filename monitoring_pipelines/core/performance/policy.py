"""What the performance check reads from a monitor's configuration: the checked metric, its
tolerances, the coverage a day needs and the significance a change must reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitoring_pipelines.core.performance.metrics import LOWER_IS_BETTER, METRICS, Kind

if TYPE_CHECKING:
    from monitoring_pipelines.core.config import MonitorConfig

DEFAULT_METRIC: dict[Kind, str] = {"label": "accuracy", "score": "mae"}
# Tolerances: an absolute drop for metrics in [0, 1], a rise relative to the reference for errors.
DEFAULT_TOLERANCE = {"drop": (0.05, 0.10), "rise": (0.10, 0.25)}


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
