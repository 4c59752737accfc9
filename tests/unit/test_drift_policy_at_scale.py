"""The alert policy at production volume: a million rows a day.

Under the defaults a 0.01-sd mean shift never opens an incident, while a 0.1-sd shift and a
10 % move of category mass open one once they have persisted for the default window (2 of 3
days), and not before.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from monitoring_pipelines.core.alerting.policy import Point, opening_partition
from monitoring_pipelines.core.config import AlertsConfig, DriftConfig, Severity
from monitoring_pipelines.core.drift.engine import compute_drift, drift_check
from monitoring_pipelines.core.profile.sketch import (
    CategoricalSketchBuilder,
    ColumnSketch,
    NumericSketchBuilder,
    fit_categories,
    fit_numeric_edges,
)

ROWS = 1_000_000
CONFIG = DriftConfig()
POLICY = AlertsConfig().policy_for("feature_drift")
CATEGORIES = np.array(["a", "b", "c", "d", "e"], dtype=object)
BASE_MIX = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
START = date(2026, 9, 1)


def keys(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**63, size=n, dtype=np.uint64)


@pytest.fixture(scope="module")
def reference() -> dict[str, ColumnSketch]:
    rng = np.random.default_rng(0)
    values = rng.normal(0.0, 1.0, ROWS)
    numeric = NumericSketchBuilder(
        "x", fit_numeric_edges(values, CONFIG.bins), CONFIG.p_value_sample
    )
    numeric.add(values, keys(rng, ROWS))
    labels = rng.choice(CATEGORIES, size=ROWS, p=BASE_MIX)
    categorical = CategoricalSketchBuilder("c", fit_categories(labels), CONFIG.p_value_sample)
    categorical.add(labels, keys(rng, ROWS))
    return {"x": numeric.build(), "c": categorical.build()}


def day_verdicts(
    reference: dict[str, ColumnSketch], seed: int, shift_sd: float, mass_moved: float
) -> dict[str, bool]:
    """One day of a million rows; returns column -> drifted."""
    rng = np.random.default_rng(seed)
    numeric = NumericSketchBuilder("x", reference["x"].edges, CONFIG.p_value_sample)  # type: ignore[arg-type]
    numeric.add(rng.normal(shift_sd, 1.0, ROWS), keys(rng, ROWS))
    mix = BASE_MIX.copy()
    mix[0] -= mass_moved
    mix[3] += mass_moved
    categorical = CategoricalSketchBuilder(
        "c", reference["c"].categories or (), CONFIG.p_value_sample
    )
    categorical.add(rng.choice(CATEGORIES, size=ROWS, p=mix), keys(rng, ROWS))
    current = {"x": numeric.build(), "c": categorical.build()}
    results = compute_drift(reference, current, {"x": "feature", "c": "feature"}, CONFIG)
    outcome = drift_check("feature_drift", results, CONFIG.fdr)
    return {f.subject: not f.passed for f in outcome.findings}


def incident_opens_on(verdicts: list[bool]) -> int | None:
    """The day (index) the default policy opens an incident, if it does."""
    timeline: dict[str, Point] = {}
    for i, drifted in enumerate(verdicts):
        partition = (START + timedelta(days=i)).isoformat()
        timeline[partition] = Point(passed=not drifted, severity=Severity.WARN)
        if drifted and opening_partition(timeline, partition, POLICY) is not None:
            return i
    return None


def test_a_tiny_shift_never_alerts_at_a_million_rows(reference: dict[str, ColumnSketch]) -> None:
    days = [day_verdicts(reference, seed, shift_sd=0.01, mass_moved=0.002) for seed in range(1, 8)]
    assert [d["x"] for d in days] == [False] * 7
    assert [d["c"] for d in days] == [False] * 7
    assert incident_opens_on([d["x"] or d["c"] for d in days]) is None


def test_a_real_shift_alerts_once_it_has_persisted(reference: dict[str, ColumnSketch]) -> None:
    days = [day_verdicts(reference, seed, shift_sd=0.1, mass_moved=0.1) for seed in range(11, 14)]
    assert [d["x"] for d in days] == [True, True, True]
    assert [d["c"] for d in days] == [True, True, True]
    # Persistence: the first drifted day alone does not open an incident; the second does.
    assert incident_opens_on([days[0]["x"]]) is None
    assert incident_opens_on([d["x"] for d in days]) == 1
    assert incident_opens_on([d["c"] for d in days]) == 1


def test_p_values_come_from_a_bounded_sample(reference: dict[str, ColumnSketch]) -> None:
    rng = np.random.default_rng(99)
    numeric = NumericSketchBuilder("x", reference["x"].edges, CONFIG.p_value_sample)  # type: ignore[arg-type]
    numeric.add(rng.normal(0.0, 1.0, ROWS), keys(rng, ROWS))
    [result] = compute_drift(
        {"x": reference["x"]}, {"x": numeric.build()}, {"x": "feature"}, CONFIG
    )
    assert result.rows == ROWS
    assert result.p_value_rows == CONFIG.p_value_sample
