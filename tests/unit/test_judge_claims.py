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
    # Verdicts carry four decimals; the cap applies before rounding.
    assert bare.score <= round(offline.POLAR_CAP, 4) and "bare yes/no" in bare.rationale
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


def test_words_are_together_in_one_sentence_or_adjacent_ones_only() -> None:
    index = support.index(
        "Harrison is black. He tweeted an apology. The weather was fine all week. "
        "Rain came later. Kaminsky is white."
    )
    key = text.stem
    assert index.together(key("harrison"), key("black"))  # one sentence
    assert index.together(key("black"), key("apology"))  # adjacent sentences
    assert not index.together(key("harrison"), key("white"))  # four sentences apart
    assert not index.together(key("harrison"), key("purple"))  # not in the context
    # A word of more than MAX_PLACES sentences is beside nearly everything: it does not count
    # against a pair (and checking it would cost time in proportion to the context).
    common = support.index(" ".join(f"Item {i} is here." for i in range(support.MAX_PLACES + 1)))
    assert common.together(key("item"), "1")
    assert not support.index("Item one. Two. Three. Four is here.").together(key("item"), "4")


def test_a_relation_the_context_does_not_state_is_an_unsupported_pair() -> None:
    """Every word of "Harrison, who is white" is in the context, but not together."""
    context = (
        "Andrew Harrison, who is black, apologised on Sunday. The game ended late. "
        "Fans left the arena. Frank Kaminsky, who is white, accepted the apology."
    )
    swapped = offline.gather_evidence(None, context, "Andrew Harrison, who is white, apologised.")
    faithful = offline.gather_evidence(None, context, "Andrew Harrison, who is black, apologised.")
    assert all(not c.unsupported_words and not c.unsupported_names for c in swapped.claims)
    assert swapped.claims[0].unsupported_pairs > 0 == faithful.claims[0].unsupported_pairs
    column = offline.FEATURES.index("pair_support")
    assert swapped.features()[column] < faithful.features()[column] == 1.0
    assert JUDGE.judge(None, context, "Andrew Harrison, who is white, apologised.").score < (
        JUDGE.judge(None, context, "Andrew Harrison, who is black, apologised.").score
    )
    assert swapped.claims[0].unstated  # two words of the context, never said together
    answer = "Kaminsky ended the game."  # every word in the context, the relation not
    verdict = JUDGE.judge(None, context, answer)
    assert "never says 'Kaminsky' and 'ended' together" in verdict.rationale
    start, end = verdict.unsupported_span or (0, 0)
    assert answer[start:end] == "Kaminsky ended"


def test_unsupported_pairs_count_every_relation_the_context_lacks() -> None:
    context = "The museum opened in Oslo. It shows paintings by Munch."
    evidence = offline.gather_evidence(
        None, context, "The museum opened in Bergen and shows sculptures by Vigeland."
    )
    claim = evidence.claims[0]
    # Pairs of each content word with the next three: museum-opened, museum-shows and
    # opened-shows are said together (one sentence or adjacent ones); the nine pairs with
    # Bergen, sculptures or Vigeland, absent from the context, are not.
    assert claim.pairs == 12 and claim.unsupported_pairs == 9
    column = offline.FEATURES.index("unsupported_pairs")
    assert evidence.features()[column] == pytest.approx(np.log1p(9))


def test_copied_three_word_runs_and_specific_unsupported_words() -> None:
    context = "The committee approved the new budget on Monday after a long debate."
    copied = offline.gather_evidence(None, context, "The committee approved the new budget.")
    assert copied.claims[0].trigrams == copied.claims[0].copied_trigrams == 4
    reworded = offline.gather_evidence(
        None, context, "Lawmakers overwhelmingly endorsed the budget."
    )
    claim = reworded.claims[0]
    assert claim.copied_trigrams == 0 and claim.trigrams == 3
    # "overwhelmingly" and "Lawmakers" are long unsupported words; "endorsed" has 8 letters too
    assert claim.specific_unsupported == 3
    short = offline.gather_evidence(None, context, "The committee got the budget.")
    assert short.claims[0].specific_unsupported == 0 and short.claims[0].unsupported_words
    trigrams = offline.FEATURES.index("copied_trigrams")
    assert copied.features()[trigrams] == 1.0 > reworded.features()[trigrams] == 0.0


def test_a_question_in_the_answer_asks_and_states_nothing() -> None:
    context = "Titanic was directed by James Cameron."
    evidence = offline.gather_evidence(
        None, context, "Titanic was directed by James Cameron. Have you seen Avatar?"
    )
    assert [c.asking for c in evidence.claims] == [False, True]
    assert evidence.features()[offline.FEATURES.index("asking")] == 0.5
    quoted = offline.gather_evidence(None, context, 'Did you watch "Avatar"?')
    assert quoted.claims[0].asking


def test_a_number_is_contradicted_only_when_the_context_lacks_it() -> None:
    """A number the context has with another unit ("150,000 images" for "photos"), or an
    absent name beside a number of the passage, is not a contradicted number."""
    context = "Police seized 150,000 images from the school. The principal was 64 in 2015."
    unit = offline.gather_evidence(None, context, "Police seized 150,000 photos.")
    assert not any(c.contradicted_number for c in unit.claims)
    assert not offline.capped(unit)
    name = offline.gather_evidence(None, context, "The principal of Leeds was 64 in 2015.")
    assert not offline.capped(name)
    other = offline.gather_evidence(None, context, "The principal was 71 in 2015.")
    assert offline.capped(other)
    assert JUDGE.judge(None, context, "The principal was 71 in 2015.").score <= (
        offline.CONTRADICTED_CAP
    )


def test_a_contradicted_number_caps_a_short_answer_not_a_summary() -> None:
    """In a short answer the number is the answer; in a summary of several claims a number the
    context lacks is as often derived (rounded, summed) as invented: it lowers the score and
    is named, but does not flag the whole answer alone."""
    context = (
        "Police seized 147,600 images from the school in 2014. The principal, who is 64, "
        "denied the charges. He taught there for 30 years. The trial starts in May."
    )
    short = offline.gather_evidence(None, context, "Police seized 152,000 images.")
    assert len(short.claims) <= offline.CONTRADICTION_CLAIMS and offline.capped(short)
    summary = (
        "Police seized nearly 150,000 images from the school. The principal denied the "
        "charges. He taught there for 30 years. The trial starts in May."
    )
    evidence = offline.gather_evidence(None, context, summary)
    assert any(c.contradicted_number for c in evidence.claims)
    assert len(evidence.claims) > offline.CONTRADICTION_CLAIMS and not offline.capped(evidence)
    verdict = JUDGE.judge(None, context, summary)
    assert verdict.score > offline.CONTRADICTED_CAP and "150,000" in verdict.rationale
    assert JUDGE.judge(None, context, "Police seized 152,000 images.").score <= (
        offline.CONTRADICTED_CAP
    )


@pytest.mark.parametrize(
    ("answer", "personal"),
    [
        ("I think the tower is tall.", True),
        ("In my view the tower is tall.", True),
        ("Let Me Be is a song.", False),
        ("They played My Chemical Romance.", False),
    ],
)
def test_first_person_chat_is_told_from_titles(answer: str, personal: bool) -> None:
    """ "I think" is chat; a capitalised "Me" or "My" inside a sentence belongs to a title."""
    evidence = offline.gather_evidence(None, "The tower is tall.", answer)
    assert any(c.personal for c in evidence.claims) is personal


@pytest.mark.parametrize("wrong", ["Conservative.", "The Conservatives.", "Tories"])
def test_a_short_answer_the_context_lacks_scores_below_one_it_has_and_a_bare_no(
    wrong: str,
) -> None:
    """A claim too short for a three-word run was not copied from the context when the
    context lacks its words: it ranks under the supported answer and under a bare "no"
    (nothing checked) or with it, and a bare "no" under the supported answer."""
    context = (
        "The Royal Spa Centre was opened in 1972 by Harold Wilson of the Labour Party. "
        "It seats 200."
    )
    question = "In what political party was the man who opened the Royal Spa Centre?"
    supported = JUDGE.judge(question, context, "Labour.").score
    bare = JUDGE.judge(question, context, "no").score
    assert JUDGE.judge(question, context, wrong).score <= bare < supported
    copied = offline.FEATURES.index("copied_trigrams")
    assert offline.gather_evidence(question, context, wrong).features()[copied] == 0.0
    assert offline.gather_evidence(question, context, "Labour.").features()[copied] == 1.0


def test_unstated_claims_counts_claims_not_pairs() -> None:
    """The share of claims with a relation the context does not state: one claim with many
    such pairs weighs as one claim."""
    context = "Paris is the capital of France. The Seine flows through Paris."
    evidence = offline.gather_evidence(
        None, context, "Paris is the capital of France. The Seine flows through Berlin quickly."
    )
    share = evidence.features()[offline.FEATURES.index("unstated_claims")]
    assert [c.unsupported_pairs > 0 for c in evidence.claims] == [False, True]
    assert share == 0.5


def test_per_cent_spelled_out_is_a_percent_sign() -> None:
    keys = [t.key for t in text.tokens("a 50 per cent cut, 20 percent and 5%") if t.content]
    assert keys[0] == "50%" and "20%" in keys and "5%" in keys
    assert "per" not in keys and "cent" not in keys
    context = "Men over 35 had a 50 per cent lower chance."
    verdict = JUDGE.judge(None, context, "Men over 35 had a 50% lower chance.")
    assert verdict.unsupported_span is None


def test_an_answer_the_context_gives_beside_the_question_s_words_is_answering() -> None:
    """The other actor of the list is in the context, but not beside what was asked."""
    context = (
        "Heat was directed by Michael Mann. It starred Al Pacino. The cast was large. "
        "Many extras were hired. Robert De Niro starred in Ronin, filmed in Paris."
    )
    question = "Who was in Heat?"
    right = offline.gather_evidence(question, context, "Al Pacino")
    other = offline.gather_evidence(question, context, "Robert De Niro")
    absent = offline.gather_evidence(question, context, "Tom Cruise")
    column = offline.FEATURES.index("answering")
    assert right.features()[column] == 1.0
    assert other.features()[column] == 0.0 == absent.features()[column]
    assert offline.gather_evidence(None, context, "Robert De Niro").features()[column] == 1.0
