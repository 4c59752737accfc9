"""Wilson intervals, the exact rise test and weighted rates, against scipy and by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, fisher_exact

from monitoring_pipelines.core.hallucination.proportions import rise_p_value
from monitoring_pipelines.core.hallucination.rates import ScoreRow, compute_rates
from monitoring_pipelines.core.hallucination.sampling import ALL_ANSWERS
from monitoring_pipelines.core.stats.inference import wilson_interval


@pytest.mark.parametrize(
    ("flagged", "n"), [(0, 1), (0, 20), (1, 20), (3, 20), (10, 20), (20, 20), (37, 412), (5, 7)]
)
def test_wilson_matches_scipy(flagged: int, n: int) -> None:
    ci = binomtest(flagged, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(flagged, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_by_hand() -> None:
    # 3 of 20: p = 0.15, z^2 = 3.8415; centre (0.15 + 0.09604) / 1.19207 = 0.20639,
    # half-width 1.96 sqrt(0.006375 + 0.0024009) / 1.19207 = 0.15403.
    low, high = wilson_interval(3, 20)
    assert low == pytest.approx(0.05236, abs=5e-5)
    assert high == pytest.approx(0.36042, abs=5e-5)


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="within"):
        wilson_interval(5, 4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("k", "n", "k0", "n0"),
    [(12, 19, 14, 280), (2, 20, 14, 280), (0, 15, 3, 100), (15, 15, 0, 50), (30, 500, 300, 7000)],
)
def test_rise_p_value_is_fishers_exact_test(k: int, n: int, k0: int, n0: int) -> None:
    _, expected = fisher_exact([[k, n - k], [k0, n0 - k0]], alternative="greater")
    assert rise_p_value(k, n, k0, n0) == pytest.approx(expected, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(0, 6000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
)
def test_rise_p_value_matches_scipy_on_any_table(
    day: tuple[int, int], baseline: tuple[int, int]
) -> None:
    (k, n), (k0, n0) = day, baseline
    _, expected = fisher_exact([[k, n - k], [k0, n0 - k0]], alternative="greater")
    assert rise_p_value(k, n, k0, n0) == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_the_exact_test_is_not_fooled_by_a_small_day() -> None:
    # 4 of 11 against a 5.5% baseline: the z-test says p = 5e-5, the exact test about 0.004.
    p = rise_p_value(4, 11, 11, 200)
    assert 1e-3 < p < 1e-2


def test_rates_weight_intents_back_to_their_size() -> None:
    # billing: 900 answers, 10 scored, 1 flagged; account: 100 answers, 10 scored, 5 flagged.
    rows = [ScoreRow("billing", "KB-1", i < 1, 900) for i in range(10)]
    rows += [ScoreRow("account", "KB-9", i < 5, 100) for i in range(10)]
    rates = compute_rates(rows)
    overall = rates.overall
    # weights 90 and 10: (90 * 1 + 10 * 5) / (90 * 10 + 10 * 10) = 0.14, not the sample's 0.3
    assert overall.rate == pytest.approx(0.14)
    assert overall.n_effective == pytest.approx(1000**2 / (10 * 90**2 + 10 * 10**2))
    assert (overall.scored, overall.flagged) == (20, 6)
    by_intent = {r.value: r for r in rates.intents}
    assert by_intent["account"].rate == 0.5 and by_intent["account"].n_effective == 10
    ci = binomtest(5, 10).proportion_ci(method="wilson")
    assert (by_intent["account"].low, by_intent["account"].high) == pytest.approx((ci.low, ci.high))
    assert [r.subject for r in rates.articles] == ["article=KB-1", "article=KB-9"]


def test_no_scores_no_rates() -> None:
    rates = compute_rates([])
    assert rates.overall.scored == 0 and rates.intents == () and rates.articles == ()


def test_a_log_without_intents_or_articles_has_the_overall_rate_only() -> None:
    rates = compute_rates([ScoreRow(ALL_ANSWERS, None, i < 2, 50) for i in range(10)])
    assert rates.intents == () and rates.articles == () and rates.overall.rate == 0.2
    some = compute_rates([ScoreRow("a", "KB-1" if i else None, False, 50) for i in range(10)])
    assert [r.subject for r in some.articles] == ["article=(missing article)", "article=KB-1"]
