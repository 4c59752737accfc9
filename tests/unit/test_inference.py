"""The shared inference helpers against scipy and published reference values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from monitoring_pipelines.core.stats.inference import (
    Z_95,
    benjamini_hochberg,
    two_sided_z,
    wilson_interval,
    wilson_interval_at,
)


@pytest.mark.parametrize(
    "p_values",
    [
        [0.01, 0.04, 0.03, 0.005, 0.2, 0.5, 0.04],  # unsorted, with a tie
        [0.9, 0.95, 1.0],  # adjusted values capped at 1
        [0.03],
    ],
)
def test_benjamini_hochberg_matches_scipy(p_values: list[float]) -> None:
    expected = stats.false_discovery_control(p_values, method="bh")
    assert np.allclose(benjamini_hochberg(p_values), expected, rtol=0, atol=1e-15)


def test_benjamini_hochberg_of_nothing_is_nothing() -> None:
    assert benjamini_hochberg([]).size == 0


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (the score interval).
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_the_published_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_at_a_confidence_level_matches_scipy() -> None:
    assert two_sided_z(0.95) == pytest.approx(Z_95, abs=1e-15)
    for successes, trials in ((0, 300), (7, 400), (399, 400), (400, 400)):
        expected = stats.binomtest(successes, trials).proportion_ci(0.98, method="wilson")
        got = wilson_interval_at(successes, trials, 0.98)
        assert (got.low, got.high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_exact_ends_pin_only_the_ends_the_formula_reaches_up_to_rounding() -> None:
    for trials in range(1, 200):
        assert wilson_interval(0, trials).low == 0.0
        assert wilson_interval(trials, trials).high == 1.0
        clipped = wilson_interval(0, trials, exact_ends=False)
        assert 0.0 <= clipped.low < 1e-15 and clipped.high == wilson_interval(0, trials).high
        for successes in (1, trials // 2):
            if 0 < successes < trials:
                assert wilson_interval(successes, trials, exact_ends=False) == wilson_interval(
                    successes, trials
                )
