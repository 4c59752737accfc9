"""The report's page builders on hand-made stored rows: the performance section (labelled
tables, the confusion matrix), the hallucination and canary sections, the check count and the
page's frame (every table captioned, in a box that scrolls sideways)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.hallucination.governance import ReviewPair, agreement
from monitoring_pipelines.core.performance.additive import Confusion, ErrorSums
from monitoring_pipelines.core.performance.metrics import PerformanceStats
from monitoring_pipelines.core.report import html as h
from monitoring_pipelines.core.report.canary import canary_section
from monitoring_pipelines.core.report.checks import CheckRow, tally
from monitoring_pipelines.core.report.hallucination import ReviewState, hallucination_section
from monitoring_pipelines.core.report.page import ReportInputs, render_report
from monitoring_pipelines.core.report.performance import MAX_CLASSES, performance_section
from monitoring_pipelines.core.report.safety import safety_section

DAY = date(2026, 3, 10)
DAYS = [DAY - timedelta(days=i) for i in range(27, -1, -1)]
NOW = datetime(2026, 3, 11, 1, tzinfo=UTC)


def captions(html: str) -> list[str]:
    return re.findall(r"<caption>([^<]*)</caption>", html)


def tables(html: str) -> list[str]:
    return re.findall(r"<table>.*?</table>", html, re.S)


def matrix_rows(html: str) -> dict[str, list[str]]:
    """The confusion matrix as {actual class: cells}."""
    table = next(t for t in tables(html) if "Confusion matrix" in t)
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th>(.*?)</tr>', table)
    return {name: re.findall(r"<td>([^<]*)</td>", cells) for name, cells in rows}


# -- performance ----------------------------------------------------------------------------


def performance_rows() -> dict[tuple[str, str], float | None]:
    """A day as the performance asset stores it: 3 classes, and two values of segment
    ``channel`` whose own statistics and comparison carry the segment in their dimensions."""
    cells = {
        ("pos", "pos"): 40,
        ("pos", "neg"): 10,
        ("neg", "neg"): 30,
        ("neg", "pos"): 5,
        ("neutral", "neutral"): 10,
        ("neutral", "pos"): 5,
    }
    stats = PerformanceStats("label", 200, 100, Confusion(cells))
    rows = stats.to_rows()
    rows |= {("reference", ""): 0.9, ("delta", ""): -0.1, ("p_value", ""): 0.003}
    for value, n in (("web", 60), ("app", 40)):
        scope = {"segment": "channel", "value": value}
        part = PerformanceStats("label", n * 2, n, Confusion({("pos", "pos"): n}))
        rows |= part.to_rows(scope)
        rows[("reference", dimensions(**scope))] = 0.95
        rows[("delta", dimensions(**scope))] = 0.05
        rows[("p_adjusted", dimensions(**scope))] = 0.5
    return rows


def test_performance_tables_are_captioned_and_the_matrix_has_actual_rows() -> None:
    html = performance_section(DAY, performance_rows(), "label", "accuracy")
    found = captions(html)
    assert len(found) == len(tables(html)) == 4  # overall, per class, matrix, one segment
    assert found[0].startswith(f"Performance of the predictions of {DAY}")
    assert found[1].startswith(f"Per class on {DAY}")
    assert found[2].startswith(f"Confusion matrix of {DAY}: rows are the actual")
    assert found[3].startswith(f"Performance per value of segment channel on {DAY}: accuracy")
    assert "<td>accuracy (checked)</td><td>0.8</td><td>0.9</td><td>-0.1</td><td>0.003</td>" in html
    # Header: the corner says which way is which; predicted classes in the actual order.
    assert '<th scope="col">actual ↓ / predicted →</th>' in html
    rows = matrix_rows(html)
    assert list(rows) == ["pos", "neg", "neutral"]  # by support: 50, 35, 15
    # Columns: pos, neg, neutral, total; each cell a count and its share of the row.
    assert rows["pos"] == ["40 (80.0%)", "10 (20.0%)", "0 (0.0%)", "50"]
    assert rows["neg"] == ["5 (14.3%)", "30 (85.7%)", "0 (0.0%)", "35"]
    assert rows["neutral"] == ["5 (33.3%)", "0 (0.0%)", "10 (66.7%)", "15"]
    segment = tables(html)[3]
    assert "<td>web</td><td>120</td><td>60</td><td>50.0%</td><td>1</td><td>0.95</td>" in segment
    assert "100 of 200 predictions labelled so far (50.0% coverage)" in html


def test_a_confusion_matrix_of_many_classes_sums_the_rest() -> None:
    cells = {(f"c{i:02d}", f"c{(i + 1) % 20:02d}"): 100 - i for i in range(20)}
    stats = PerformanceStats("label", 2000, 1810, Confusion(cells))
    html = performance_section(DAY, stats.to_rows(), "label", "accuracy")
    rows = matrix_rows(html)
    assert len(rows) == MAX_CLASSES + 1 and list(rows)[-1] == "8 other classes"
    total = sum(int(cells_[-1].replace(",", "")) for cells_ in rows.values())
    assert total == stats.confusion.total


def test_score_models_get_their_metrics_and_no_matrix() -> None:
    errors = ErrorSums.of(np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0]))
    stats = PerformanceStats("score", 3, 3, errors=errors)
    html = performance_section(DAY, stats.to_rows(), "score", "mae")
    assert "<td>mae (checked)</td><td>0.5</td>" in html
    assert "Confusion matrix" not in html


def test_no_performance_rows_says_no_data() -> None:
    assert "no data: no performance results stored for" in performance_section(DAY, {})


# -- hallucination ----------------------------------------------------------------------------


def rate_rows(rate: float, *, rise: bool = False) -> dict[tuple[str, str], float | None]:
    rows: dict[tuple[str, str], float | None] = {
        ("judge", dimensions(judge="offline", prompt_version="v1")): 0.7,
        ("hallucination_rate", ""): rate,
        ("ci_low", ""): rate - 0.02,
        ("ci_high", ""): rate + 0.03,
        ("scored", ""): 200.0,
        ("flagged", ""): rate * 200,
        ("baseline_rate", ""): 0.05,
    }
    for scope, value, r in (
        ("intent", "billing", 0.3),
        ("intent", "refund", 0.02),
        ("article", "kb-1", 0.25),
        ("article", "<kb-2>", 0.0),
    ):
        dims = dimensions(**{scope: value})
        rows |= {
            ("hallucination_rate", dims): r,
            ("ci_low", dims): max(r - 0.05, 0.0),
            ("ci_high", dims): r + 0.05,
            ("scored", dims): 50.0,
            ("flagged", dims): r * 50,
            ("rise", dims): 1.0 if rise and r > 0.2 else 0.0,
            ("p_adjusted", dims): 0.001 if rise and r > 0.2 else 0.8,
        }
    return rows


def review() -> ReviewState:
    pairs = (
        [ReviewPair(True, True, "offline", "v1")] * 12
        + [ReviewPair(True, False, "offline", "v1")] * 3
        + [ReviewPair(False, False, "offline", "v1")] * 10
    )
    return ReviewState(
        pending=7,
        day_statuses={"pending": 4, "corrected": 2},
        agreement=agreement(pairs),
        judge="offline / prompt v1",
    )


def test_hallucination_section_gives_the_rate_by_intent_and_article_and_the_review() -> None:
    history = {d: rate_rows(0.05) for d in DAYS[:-1]} | {DAY: rate_rows(0.15, rise=True)}
    page = h.Page()
    html = hallucination_section(DAY, DAYS, history, review(), page)
    assert page.plots == 1
    assert (
        f"{DAY}: 30 of 200 scored answers under the threshold 0.7 of judge offline (prompt v1); "
        "hallucination rate 15.0% (95 % interval 13.0% to 18.0%); baseline 5.0%" in html
    )
    found = captions(html)
    assert found[0].startswith(f"Hallucination rate by intent on {DAY}")
    assert found[1].startswith(f"Hallucination rate by article on {DAY}")
    by_intent = tables(html)[0]
    assert by_intent.index("billing") < by_intent.index("refund")  # highest rate first
    assert (
        '<tr class="warn"><td>billing</td><td>50</td><td>15</td><td>30.0%</td>'
        "<td>25.0% to 35.0%</td>" in by_intent
    )
    assert "&lt;kb-2&gt;" in tables(html)[1] and "<kb-2>" not in html
    assert "Review queue: 7 answer(s) of any day waiting for a reviewer; 6 answer(s) of " in html
    assert "(2 corrected, 4 pending)" in html
    agreement_table = tables(html)[2]
    assert '<th scope="row">judge: flagged</th><td>12</td><td>3</td>' in agreement_table
    assert '<th scope="row">judge: passed</th><td>0</td><td>10</td>' in agreement_table
    assert "on the 25 answer(s) reviewed so far" in found[2]
    assert "Cohen&#x27;s kappa 0.76" in html


def test_hallucination_section_without_reviews_or_rates_says_so() -> None:
    html = hallucination_section(DAY, DAYS, {}, ReviewState(), h.Page())
    assert "no data: no hallucination rate stored for" in html
    assert "no reviewed answers yet" in html


# -- output safety ----------------------------------------------------------------------------


def safety_rows(any_leak: float) -> dict[tuple[str, str], float | None]:
    rows: dict[tuple[str, str], float | None] = {("missing_answers", ""): 3.0}
    scopes = {
        "": any_leak,
        dimensions(intent="billing"): any_leak * 2,
        dimensions(intent="<script>x</script>"): 0.0,
        dimensions(model="chat-large"): any_leak,
    }
    for dims, share in scopes.items():
        rows |= {
            ("answers", dims): 400.0,
            ("leak_ratio_email", dims): share,
            ("leak_ratio_phone", dims): 0.0,
            ("leak_ratio_card", dims): 0.0,
            ("leak_ratio_any", dims): share,
            ("refusal_ratio", dims): 0.03,
            ("answer_words_p50", dims): 42.0,
            ("answer_words_p95", dims): 118.0,
        }
    rows[("refusal_patterns", dimensions(version="abc"))] = 12.0
    return rows


def test_safety_section_gives_the_days_shares_by_intent_and_model_and_their_history() -> None:
    history = {d: safety_rows(0.0) for d in DAYS[:-1]} | {DAY: safety_rows(0.01)}
    page = h.Page()
    html = safety_section(DAY, DAYS, history, page)
    assert page.plots == 1
    assert (
        f"{DAY}: 400 answers; leaking email 1.00%, phone 0.00%, card 0.00%, any 1.00%; "
        "declining 3.00%; answer length p50 42 and p95 118 words; 3 rows without an answer "
        "(not measured)" in html
    )
    (by_scope,) = tables(html)
    assert captions(html)[0].startswith(f"answers of {DAY} per intent and per model")
    assert '<tr class="fail"><td>intent</td><td>billing</td><td>400</td><td>2.00%</td>' in by_scope
    assert "<td>model</td><td>chat-large</td>" in by_scope
    assert "&lt;script&gt;" in by_scope and "<script>" not in html
    assert "version" not in by_scope  # the refusal patterns' fingerprint is no scope


def test_safety_section_without_results_says_so() -> None:
    html = safety_section(DAY, DAYS, {}, h.Page())
    assert f"no data: no output-safety results stored for {DAY}" in html


# -- canary -----------------------------------------------------------------------------------


def canary_rows(code: float) -> dict[tuple[str, str], float | None]:
    pair = dimensions(baseline="v1", candidate="v2")
    return {
        ("verdict_code", pair): code,
        ("baseline_rows", pair): 900.0,
        ("candidate_rows", pair): 100.0,
        ("p95_baseline_ms", pair): 120.0,
        ("p95_candidate_ms", pair): 190.0,
        ("p95_increase_ms", pair): 70.0,
        ("p95_increase_ci_low_ms", pair): 50.0,
        ("p95_increase_ci_high_ms", pair): 90.0,
        ("error_rate_baseline", pair): 0.01,
        ("error_rate_candidate", pair): 0.012,
        ("error_rate_increase", pair): 0.002,
        ("error_rate_increase_ci_low", pair): -0.01,
        ("error_rate_increase_ci_high", pair): 0.014,
        ("error_rate_p_value", pair): 0.6,
        ("version_rows", dimensions(version="v1")): 900.0,
        ("version_rows", dimensions(version="v2")): 100.0,
    }


def test_canary_section_gives_the_verdict_and_each_figure_with_its_interval() -> None:
    html = canary_section(DAY, canary_rows(2.0), "roll back v2 (vs v1): p95 +70 ms")
    assert f"{DAY}: candidate v2 against baseline v1: roll back (100 against 900 rows)" in html
    assert "roll back v2 (vs v1): p95 +70 ms" in html
    assert (
        "<td>p95 latency (ms)</td><td>120</td><td>190</td><td>+70</td><td>+50 to +90</td><td>-</td>"
        in html
    )
    assert "<td>error rate</td><td>1.00%</td><td>1.20%</td><td>+0.20%</td>" in html
    assert len(captions(html)) == len(tables(html)) == 2
    assert '<th scope="col">98% interval</th>' in html  # the level the comparison decides at
    assert "<td>v1</td><td>900</td>" in html


def test_a_day_without_a_canary_says_so() -> None:
    # The stored rows of a day one version served: no pair of versions, no verdict.
    html = canary_section(DAY, {("version_rows", dimensions(version="v1")): 10.0})
    assert "no canary (one model version served the day)" in html
    assert "no data" in canary_section(DAY, {})


# -- the check count --------------------------------------------------------------------------


SPECS = ("volume", "feature_drift", "latency_slo", "error_rate", "performance")


def rows() -> list[CheckRow]:
    return [
        CheckRow("volume", "", True, "critical", "1000 rows"),
        CheckRow("feature_drift", "amount", False, "critical", "amount drifted"),
        CheckRow("feature_drift", "channel", True, "warn", "ok"),
        CheckRow("latency_slo", "", False, "warn", "p95 over"),
        CheckRow("run_failure", "performance", False, "critical", "the run failed"),
    ]


def test_the_count_is_the_declared_checks_and_says_which_were_not_evaluated() -> None:
    counted = tally(rows(), SPECS)
    assert counted.total == 5
    assert [s.name for s in counted.failed] == ["feature_drift", "latency_slo"]
    assert counted.passed == ("volume",)
    assert counted.not_evaluated == ("error_rate", "performance")
    assert [s.name for s in counted.other_failed] == ["run_failure"]
    assert counted.headline(DAY) == (
        f"2 of 5 checks failed on {DAY}; 2 not evaluated; also failed: run_failure"
    )
    # Without the declared checks, those with a result are counted (run_failure too).
    assert tally(rows()).total == 4


def test_the_page_headline_counts_the_declared_checks() -> None:
    inputs = ReportInputs("shop", DAY, "", NOW, checks=rows(), check_specs=SPECS)
    html = render_report(inputs).html
    assert f"2 of 5 checks failed on {DAY}; 2 not evaluated" in html
    assert "not evaluated on this day: error_rate, performance" in html
    assert "passed: volume" in html


@pytest.mark.parametrize(
    ("specs", "expected"),
    [(("volume",), f"all 1 check passed on {DAY}"), (("volume", "x"), "1 of 2 checks passed")],
)
def test_headline_when_nothing_failed(specs: tuple[str, ...], expected: str) -> None:
    ok = [CheckRow("volume", "", True, "critical", "fine")]
    assert tally(ok, specs).headline(DAY).startswith(expected)


# -- the page ---------------------------------------------------------------------------------


def full_inputs() -> ReportInputs:
    return ReportInputs(
        monitor="bot",
        day=DAY,
        description="",
        generated_at=NOW,
        metrics={
            Asset.PERFORMANCE: {DAY: performance_rows()},
            Asset.HALLUCINATION_RATE: {DAY: rate_rows(0.1)},
            Asset.CANARY_COMPARISON: {DAY: canary_rows(1.0)},
            Asset.OUTPUT_SAFETY: {DAY: safety_rows(0.01)},
        },
        assets=frozenset(
            {
                Asset.PERFORMANCE,
                Asset.HALLUCINATION_RATE,
                Asset.CANARY_COMPARISON,
                Asset.OUTPUT_SAFETY,
            }
        ),
        performance_kind="label",
        performance_metric="accuracy",
        review=review(),
    )


def test_every_table_of_a_page_is_captioned_and_scrolls_in_its_own_box() -> None:
    html = render_report(full_inputs()).html
    found = tables(html)
    assert len(found) >= 8
    assert len(captions(html)) == len(found) == html.count('<div class="scroll"><table>')
    assert all(c.strip() for c in captions(html))
    assert ".scroll{max-width:100%;overflow-x:auto" in html
    for anchor in ("performance", "hallucination", "output-safety", "canary"):
        assert f'<a href="#{anchor}">' in html and f'<section id="{anchor}">' in html


def test_sections_follow_the_monitors_assets() -> None:
    inputs = ReportInputs("m", DAY, "", NOW, assets=frozenset({Asset.SERVICE_METRICS}))
    html = render_report(inputs).html
    assert '<section id="hallucination">' not in html and '<section id="canary">' not in html
    assert '<section id="service">' in html
