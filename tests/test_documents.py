"""Document mode: sentences in several scripts, windows packed to the model's limit, the combination rule, evidence
that points at the deciding sentence, and claims checked one by one."""

from __future__ import annotations

import numpy as np
import pytest

from contradiction.errors import UserError
from contradiction.inference.documents import (
    CONTRADICTION,
    ENTAILMENT,
    NEUTRAL,
    DocumentChecker,
    Thresholds,
    combine,
    consistency,
    decide,
    pack,
)
from contradiction.inference.predictor import Predictor
from contradiction.inference.sentences import split_sentences
from contradiction.labels import LABELS

# Written for these tests: (language, text, its sentences)
SENTENCES = [
    (
        "en",
        "Dr. Smith moved to Boston in 2019. He works for the city, e.g. on its parks! Does he like it? Very much.",
        [
            "Dr. Smith moved to Boston in 2019.",
            "He works for the city, e.g. on its parks!",
            "Does he like it?",
            "Very much.",
        ],
    ),
    (
        "de",
        "Die Bahn fährt um 8.30 Uhr ab. Sie kommt z. B. in Köln an. Dort steigen viele Leute um.",
        ["Die Bahn fährt um 8.30 Uhr ab.", "Sie kommt z. B. in Köln an.", "Dort steigen viele Leute um."],
    ),
    (
        "zh",
        "图书馆每天早上九点开门。周一不开放！孩子们可以免费借书。",
        ["图书馆每天早上九点开门。", "周一不开放！", "孩子们可以免费借书。"],
    ),
    (
        "ar",
        "افتتحت المكتبة عام 1932. هل هي مفتوحة يوم الاثنين؟ لا، إنها مغلقة.",
        ["افتتحت المكتبة عام 1932.", "هل هي مفتوحة يوم الاثنين؟", "لا، إنها مغلقة."],
    ),
    (
        "hi",
        "पुस्तकालय सुबह नौ बजे खुलता है। सोमवार को यह बंद रहता है।",
        ["पुस्तकालय सुबह नौ बजे खुलता है।", "सोमवार को यह बंद रहता है।"],
    ),
    (
        "ru",
        "Библиотека открывается в 9 ч. утра. В понедельник она закрыта.",
        ["Библиотека открывается в 9 ч. утра.", "В понедельник она закрыта."],
    ),
    (
        "el",
        "Η βιβλιοθήκη ανοίγει στις εννέα. Είναι κλειστή τη Δευτέρα; Όχι.",
        ["Η βιβλιοθήκη ανοίγει στις εννέα.", "Είναι κλειστή τη Δευτέρα;", "Όχι."],
    ),
]


@pytest.mark.parametrize(("language", "text", "expected"), SENTENCES, ids=[case[0] for case in SENTENCES])
def test_sentences_in_several_scripts_with_their_offsets(language: str, text: str, expected: list[str]) -> None:
    spans = split_sentences("  " + text + "\n", language)
    assert [s.text for s in spans] == expected
    assert all(("  " + text + "\n")[s.start : s.end] == s.text for s in spans)


@pytest.mark.slow
def test_thai_which_marks_no_sentence_end_is_split_all_the_same() -> None:
    text = "ห้องสมุดเปิดทุกวันตอนเก้าโมงเช้า วันจันทร์ห้องสมุดปิด เด็กยืมหนังสือได้ฟรี"
    spans = split_sentences(text, "th")
    assert len(spans) >= 2  # sentencex alone gives one: Thai has no full stop
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert "".join(s.text for s in spans).replace(" ", "") == text.replace(" ", "")  # all of it, in order


def test_blank_text_has_no_sentences() -> None:
    assert split_sentences(" \n\u200b ") == []


def test_pack_fills_each_window_and_overlaps_by_one() -> None:
    assert pack([3, 3, 3, 3, 3], budget=7) == [(0, 2), (1, 3), (2, 4), (3, 5)]
    assert pack([3, 3, 3, 3, 3], budget=7, overlap=0) == [(0, 2), (2, 4), (4, 5)]
    assert pack([9, 2, 2], budget=7) == [(0, 1), (1, 3)]  # a piece over the budget is a window alone
    assert pack([2, 2, 2, 2], budget=100, max_pieces=2) == [(0, 2), (1, 3), (2, 4)]
    assert pack([1], budget=5) == [(0, 1)]


def _probs(*rows: tuple[float, float, float]) -> np.ndarray:
    return np.array(rows)  # entailment, neutral, contradiction: LABELS' order


def test_the_score_is_the_best_window_s_support() -> None:
    # (1 + the largest P(entailment) - P(contradiction) of a window) / 2, and the window that gives it
    assert consistency(_probs((0.1, 0.8, 0.1), (0.7, 0.2, 0.1), (0.2, 0.7, 0.1))) == (pytest.approx(0.8), 1)
    assert consistency(_probs((1.0, 0.0, 0.0))) == (1.0, 0)  # a window entails it for sure
    assert consistency(_probs((0.0, 0.0, 1.0), (0.0, 0.1, 0.9))) == (pytest.approx(0.05), 1)  # all contradict
    assert consistency(_probs((0.1, 0.8, 0.1), (0.05, 0.9, 0.05)))[0] == pytest.approx(0.5)  # none leans


def test_the_rule() -> None:
    assert LABELS == ("entailment", "neutral", "contradiction")
    rule = Thresholds(supported=0.6, contradicted=0.8)
    # one window supports the claim enough: entailment, decided by that window, with its score
    assert decide(_probs((0.1, 0.8, 0.1), (0.7, 0.2, 0.1), (0.2, 0.7, 0.1)), rule) == (
        ENTAILMENT,
        1,
        pytest.approx(0.8),
    )
    # support is looked for in every window: one that supports it wins over another that contradicts it
    assert decide(_probs((0.6, 0.3, 0.1), (0.05, 0.05, 0.9)), rule)[:2] == (ENTAILMENT, 0)
    # no window supports it and one is sure of contradiction: contradiction, decided by that window
    assert decide(_probs((0.1, 0.8, 0.1), (0.05, 0.05, 0.9), (0.1, 0.1, 0.8)), rule)[:2] == (CONTRADICTION, 1)
    # a contradiction under `contradicted`, and support under `supported`: neutral, the best-supporting window shown
    assert decide(_probs((0.3, 0.1, 0.6), (0.35, 0.45, 0.2)), rule)[:2] == (NEUTRAL, 1)
    # the thresholds decide: the same windows are entailed under a lower bar
    assert decide(_probs((0.35, 0.45, 0.2)), Thresholds(supported=0.55))[0] == ENTAILMENT
    assert decide(_probs((0.35, 0.45, 0.2)), Thresholds(supported=0.6))[0] == NEUTRAL
    assert combine(["entailment", "entailment"]) == "entailment"
    assert combine(["entailment", "neutral"]) == "neutral"
    assert combine(["neutral", "contradiction", "entailment"]) == "contradiction"


def test_the_served_thresholds_are_sensible() -> None:
    served = Thresholds()
    assert 0.5 < served.supported < 1  # entailment needs a window that leans towards it
    assert 0.5 < served.contradicted <= 1  # contradiction needs a window sure of it
    with pytest.raises(ValueError, match="supported"):
        Thresholds(supported=1.5)


@pytest.fixture(scope="module")
def predictor(make_predictor) -> Predictor:
    return make_predictor(max_length=96, fast=False)


def keyword_probabilities(premises, hypotheses) -> np.ndarray:
    """A stand-in model that reads: for a claim that something ("museum", "shop") is open, a premise with that
    word in capitals and CLOSED contradicts it, one with OPEN entails it; anything else is neutral. How sure it is
    falls with the premise's other words, so that the sentence alone is surer than a window around it."""
    rows = []
    for premise, hypothesis in zip(premises, hypotheses, strict=True):
        sure = 0.85 + 0.15 / len(premise.split())
        about = [word for word in ("museum", "shop") if word in hypothesis and word.upper() in premise]
        if "open" in hypothesis and about and "CLOSED" in premise:
            rows.append((0.0, 1 - sure, sure))
        elif "open" in hypothesis and about and "OPEN" in premise:
            rows.append((sure, 1 - sure, 0.0))
        else:
            rows.append((0.1, 0.8, 0.1))
    return np.array(rows, dtype=np.float32)


FILLER = [
    "The river runs past the old mill.",
    "Two bakers sell bread on the square.",
    "A bus leaves every hour.",
    "The school has a small garden.",
    "Tourists visit the castle in summer.",
    "The bridge was painted blue.",
    "An orchestra plays on Fridays.",
    "The market sells fish and cheese.",
    "Cyclists ride along the canal.",
]


def test_windows_fit_the_model_exactly_and_nothing_is_cut(predictor: Predictor) -> None:
    checker = DocumentChecker(predictor, keyword_probabilities, max_sentences=None)  # as many as fit
    document = " ".join(FILLER * 3)
    claim = "The museum is open."
    plan = checker.plan(document, claim)
    assert len(plan.window_spans) > 3
    counts = predictor.token_counts([w.text for w in plan.window_spans], [claim] * len(plan.window_spans))
    assert all(total == read <= predictor.max_length for read, total in counts)  # no window is cut
    # packed to the limit: each window but the last would be over it with its next sentence
    for (i, j), (_, total) in zip(plan.windows[:-1], counts, strict=False):
        longer = document[plan.pieces[i].start : plan.pieces[j].end]
        assert predictor.token_counts([longer], [claim])[0][1] > predictor.max_length > total - 1
    # consecutive windows share one sentence, and together they cover every sentence
    assert all(b[0] == a[1] - 1 for a, b in zip(plan.windows, plan.windows[1:], strict=False))
    assert plan.windows[0][0] == 0 and plan.windows[-1][1] == len(plan.pieces)


def test_a_sentence_longer_than_a_window_is_cut_into_pieces_that_fit(predictor: Predictor) -> None:
    long = " ".join(f"word{i}" for i in range(200)) + "."
    checker = DocumentChecker(predictor, keyword_probabilities)
    plan = checker.plan("Short one. " + long, "A claim.")
    assert len(plan.pieces) > 3
    assert plan.pieces[0].text == "Short one."
    assert "".join(p.text for p in plan.pieces[1:]).replace(" ", "") == long.replace(" ", "")
    counts = predictor.token_counts([w.text for w in plan.window_spans], ["A claim."] * len(plan.window_spans))
    assert all(total <= predictor.max_length for _, total in counts)


def test_the_evidence_points_at_the_deciding_sentence(predictor: Predictor) -> None:
    decisive = "On Mondays the MUSEUM is CLOSED all day."
    sentences = FILLER[:4] + [decisive] + FILLER[4:]
    document = "  ".join(sentences)
    checker = DocumentChecker(predictor, keyword_probabilities, max_sentences=3)
    result = checker.check(document, "The museum is open on Mondays.")
    assert result.label == "contradiction"
    (claim,) = result.claims
    assert claim.evidence is not None and claim.evidence.text == decisive
    assert document[claim.evidence.start : claim.evidence.end] == decisive
    assert claim.window.start <= claim.evidence.start < claim.evidence.end <= claim.window.end
    window = document[claim.window.start : claim.window.end]  # the probabilities are those of the deciding window
    assert claim.probabilities["contradiction"] == pytest.approx(keyword_probabilities([window], [claim.text])[0][2])
    assert result.windows > 1 and result.pairs > result.windows  # the window's sentences were read alone too


def test_several_claims_are_checked_one_by_one(predictor: Predictor) -> None:
    document = "这座博物馆 MUSEUM 周一 CLOSED。 " + " ".join(FILLER[:5]) + " The SHOP is OPEN every day."
    result = DocumentChecker(predictor, keyword_probabilities, split="always").check(
        document, "The shop is open. The bridge is long. The museum is open on Monday."
    )
    assert [c.label for c in result.claims] == ["entailment", "neutral", "contradiction"]
    assert [c.text for c in result.claims] == [
        "The shop is open.",
        "The bridge is long.",
        "The museum is open on Monday.",
    ]
    assert result.label == "contradiction"
    shop, bridge, museum = result.claims
    assert shop.evidence.text == "The SHOP is OPEN every day." and bridge.evidence is None
    assert museum.evidence.text == "这座博物馆 MUSEUM 周一 CLOSED。"
    assert document[museum.evidence.start : museum.evidence.end] == museum.evidence.text
    data = result.to_dict()
    assert data["claims"][2]["evidence"] == {
        "start": museum.evidence.start,
        "end": museum.evidence.end,
        "text": museum.evidence.text,
    }
    assert data["claims"][1]["evidence"] is None


def test_scores_rank_claims_by_their_support_in_a_long_document(predictor: Predictor) -> None:
    towns = ["Arlen", "Brisk", "Corvo", "Dunmere", "Elsby", "Fenwick", "Garrow", "Holt"]
    filler = [f"{sentence[:-1]} in {town}." for town in towns for sentence in FILLER]  # 72 sentences of ours
    sentences = filler[:20] + ["The SHOP is OPEN every day."] + filler[20:50] + ["The MUSEUM is CLOSED."] + filler[50:]
    document = " ".join(sentences)
    assert len(document) > 3000
    claims = "The shop is open. The bridge is long. The museum is open."
    result = DocumentChecker(predictor, keyword_probabilities).check(document, claims)
    assert result.windows > 20 and result.sentences == len(sentences)
    shop, bridge, museum = result.claims
    assert [c.label for c in result.claims] == ["entailment", "neutral", "contradiction"]
    assert shop.score > Thresholds().supported > bridge.score  # the supported claim scores above the bar
    assert 0 <= museum.score <= bridge.score < shop.score <= 1  # a contradicted claim is not better supported
    assert result.score == min(c.score for c in result.claims) and result.label == "contradiction"
    assert shop.evidence.text == "The SHOP is OPEN every day." and museum.evidence.text == "The MUSEUM is CLOSED."
    data = result.to_dict()
    assert data["score"] == result.score and [c["score"] for c in data["claims"]] == [c.score for c in result.claims]
    # the document is entailed when, and only when, its lowest claim reaches the bar
    only_shop = DocumentChecker(predictor, keyword_probabilities).check(document, "The shop is open.")
    assert only_shop.label == "entailment" and only_shop.score == shop.score
    strict = DocumentChecker(predictor, keyword_probabilities, thresholds=Thresholds(supported=shop.score + 0.01))
    assert strict.check(document, "The shop is open.").label == "neutral"


def test_a_short_document_is_read_whole_unless_asked(predictor: Predictor) -> None:
    document = "The SHOP is OPEN. The bus is late."
    whole = DocumentChecker(predictor, keyword_probabilities).check(document, "The shop is open.")
    assert whole.windows == 1 and whole.sentences == 1
    assert whole.claims[0].evidence.text == "The SHOP is OPEN."  # the deciding sentence, found inside the window
    split = DocumentChecker(predictor, keyword_probabilities, split="always").check(document, "The shop is open.")
    assert split.sentences == 2


def test_real_model_probabilities_by_default(predictor: Predictor) -> None:
    result = DocumentChecker(predictor).check(" ".join(FILLER), "A bus leaves every hour.")
    probs = [c.probabilities for c in result.claims][0]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.label in LABELS


@pytest.mark.parametrize(
    ("document", "claims", "message"),
    [
        ("", "A claim.", "The document is empty"),
        ("A document.", " \n", "There is no claim"),
        ("A document.", " ".join(["word"] * 150) + ".", "Claim 1 has"),
    ],
)
def test_refusals_name_the_problem(predictor: Predictor, document: str, claims: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        DocumentChecker(predictor, keyword_probabilities).check(document, claims)
