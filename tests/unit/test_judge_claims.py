"""The offline judge claim by claim: sentences and glued words, stems, units within a sentence,
negation, the weakest claim in the rationale and its span; the metrics of ``judge eval``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from monitoring_pipelines.core.judge import OfflineJudge, offline, support, text
from monitoring_pipelines.core.judge.claims import split
from monitoring_pipelines.core.judge.evaluation import LabelledRow, auroc, within_strata

JUDGE = OfflineJudge()


def test_sentences_end_at_punctuation_even_without_a_space_and_glued_words_split() -> None:
    tokens = text.tokens("It ran in the 19th century.First for Women is new.Tom HanksTom Hanks")
    assert [t.sentence for t in tokens if t.surface in ("century", "First", "Women")] == [0, 1, 1]
    assert [t.surface for t in tokens][-4:] == ["Tom", "Hanks", "Tom", "Hanks"]
    claims = split(text.tokens("Paris is big. It is old, but the tower is newer than the city."))
    assert len(claims) == 2


def test_stems_match_inflections_and_demonyms() -> None:
    for a, b in (("Korea", "Korean"), ("starred", "star"), ("China", "Chinese"),
                 ("directed", "director"), ("Italy", "Italian")):  # fmt: skip
        assert text.stem(text.fold(a)) == text.stem(text.fold(b)), (a, b)
    verdict = JUDGE.judge(None, "The shop sells Korean food.", "It sells food from Korea.")
    assert verdict.score >= 0.7 and verdict.unsupported_span is None


def test_a_sentence_copied_word_for_word_is_supported() -> None:
    """The number-unit check read across sentences: "in 1941. Hundreds of" made the copied
    sentence's 1941 look like it had the unit "Hundreds" and scored it 0.145."""
    context = "He moved to Paris in 1941. Hundreds of people came to see him. He was 30."
    verdict = JUDGE.judge(None, context, "He moved to Paris in 1941. Hundreds of people came.")
    assert verdict.score >= 0.9 and verdict.unsupported_span is None
    index = support.index(context)
    assert ("1941", text.stem("hundreds")) not in index.units


def test_answers_of_function_words_are_not_certain() -> None:
    """A bare "No, they are not." or a title of stopwords scored exactly 1.0."""
    context = "Both bands are from Seattle. The song Let It Be is by the Beatles."
    bare = JUDGE.judge("Are they from different cities?", context, "No, they are not.")
    assert bare.score <= offline.POLAR_CAP and "bare yes/no" in bare.rationale
    title = JUDGE.judge("Which song?", context, "Let Me Be")
    assert title.score < JUDGE.judge("Which song?", context, "Let It Be").score
    assert title.unsupported_span == (4, 6) and "unsupported: 'Me'" in title.rationale
    assert JUDGE.judge("Q?", context, "Thanks, happy to help!").score == 1.0


def test_the_weakest_claim_is_named_with_its_span() -> None:
    context = (
        "The Oberoi Group is a hotel company with its head office in Delhi. It runs 30 hotels. "
        "The group was founded in 1934."
    )
    answer = "The Oberoi Group has its head office in Delhi. It was founded in 1952 by Jones."
    verdict = JUDGE.judge(None, context, answer)
    assert "weakest claim 'It was founded in 1952 by Jones'" in verdict.rationale
    start, end = verdict.unsupported_span or (0, 0)
    assert answer[start:end] == "1952 by Jones"
    assert verdict.score < 0.7  # 1952 stands where the passage says 1934


def test_a_negation_the_passage_lacks_is_reported() -> None:
    context = "Tom Hanks starred in That Thing You Do. It was released in 1996."
    verdict = JUDGE.judge(None, context, "Tom Hanks did not star in That Thing You Do.")
    assert "negation disagrees" in verdict.rationale
    plain = JUDGE.judge(None, context, "Tom Hanks starred in That Thing You Do.")
    assert plain.score > verdict.score


def test_auroc_matches_scipy_with_ties_and_strata_pool_pairs() -> None:
    rng = np.random.default_rng(5)
    risk = rng.integers(0, 6, 300).astype(float)
    labels = (rng.random(300) < 0.4).astype(int)
    u = mannwhitneyu(risk[labels == 1], risk[labels == 0]).statistic
    expected = u / (labels.sum() * (len(labels) - labels.sum()))
    assert auroc(list(risk), list(labels)) == pytest.approx(expected)
    assert auroc([0.1, 0.2], [1, 1]) is None
    rows = [LabelledRow(None, "c", "a " * n, y, {}) for n, y in ((1, 0), (1, 1), (20, 0), (20, 1))]
    # Within strata, a higher risk for each hallucinated answer: 1.0; overall it is not.
    assert within_strata([0.1, 0.2, 0.5, 0.6], rows) == 1.0
    assert auroc([0.1, 0.2, 0.5, 0.6], [0, 1, 0, 1]) == 0.75
