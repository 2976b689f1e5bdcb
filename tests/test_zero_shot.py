"""Zero-shot classification: the transformers pipeline's scores, label order from the model, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_inference import _sharp, _variant

from contradiction.errors import UserError
from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor
from contradiction.inference.zero_shot import DEFAULT_TEMPLATE, ZeroShotClassifier, ZeroShotTask, split_labels

TEXTS = [
    "The striker scored twice in the second half and the crowd went wild.",
    "Le parlement a voté la nouvelle loi sur les impôts hier soir.",
    "Der Arzt empfiehlt, jeden Tag viel Wasser zu trinken.",
    "El tren a la costa sale cada mañana a las ocho.",
]
LABELS = ["sports", "politics", "health", "travel"]


def _sharp_model(tiny_model_dir: Path, out: Path, order: list[int]) -> Path:
    """The tiny model with large random weights (answers far from uniform, and apart from label to label) and its
    head's rows, with their names, in `order`."""
    return _variant(_sharp(tiny_model_dir, out.with_name(out.name + "-sharp")), out, order, scale=1.0)


@pytest.fixture(scope="module")
def sharp(tiny_model_dir: Path, tmp_path_factory) -> Path:
    return _sharp_model(tiny_model_dir, tmp_path_factory.mktemp("zs") / "ours", [0, 1, 2])


def _classifier(folder: Path) -> ZeroShotClassifier:
    return ZeroShotClassifier.from_predictor(Predictor.from_pretrained(folder, PredictorOptions(fast=False)))


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.slow
def test_scores_are_those_of_the_transformers_pipeline(sharp: Path, multi_label: bool) -> None:
    from transformers import pipeline

    reference = pipeline("zero-shot-classification", model=str(sharp), device="cpu")
    expected = reference(TEXTS, candidate_labels=LABELS, hypothesis_template=DEFAULT_TEMPLATE, multi_label=multi_label)
    got = _classifier(sharp)(TEXTS, ZeroShotTask.create(LABELS, multi_label=multi_label))
    for ours, theirs in zip(got, expected, strict=True):
        assert ours["sequence"] == theirs["sequence"]
        assert ours["labels"] == theirs["labels"]
        np.testing.assert_allclose(ours["scores"], theirs["scores"], atol=1e-5)
    # not a vacuous comparison: the labels' scores differ by 100 times the tolerance
    assert max(answer["scores"][0] - answer["scores"][-1] for answer in got) > 1e-3
    if not multi_label:
        assert all(sum(answer["scores"]) == pytest.approx(1.0) for answer in got)
    else:  # each label on its own: the scores need not sum to one
        assert any(abs(sum(answer["scores"]) - 1.0) > 0.01 for answer in got)


@pytest.mark.parametrize("order", [[2, 1, 0], [1, 2, 0]])
@pytest.mark.slow
def test_any_label_order_gives_the_same_scores(tiny_model_dir: Path, sharp: Path, tmp_path: Path, order) -> None:
    # [1, 2, 0]: neutral first, contradiction second, entailment last; the pipeline would take index 0 (neutral)
    # for contradiction in the multi-label softmax: entailment and contradiction come from id2label here
    other = _classifier(_sharp_model(tiny_model_dir, tmp_path / "other", order))
    ours = _classifier(sharp)
    for multi_label in (False, True):
        task = ZeroShotTask.create(LABELS, multi_label=multi_label)
        np.testing.assert_allclose(other.score(TEXTS, task), ours.score(TEXTS, task), atol=1e-5)


def test_one_label_is_scored_against_contradiction_as_the_pipeline_does(sharp: Path) -> None:
    from transformers import pipeline

    reference = pipeline("zero-shot-classification", model=str(sharp), device="cpu")
    expected = reference(TEXTS[0], candidate_labels=["sports"], hypothesis_template=DEFAULT_TEMPLATE)
    got = _classifier(sharp)([TEXTS[0]], ZeroShotTask.create(["sports"]))[0]
    assert got["labels"] == ["sports"]
    assert got["scores"][0] == pytest.approx(expected["scores"][0], abs=1e-5)
    assert got["scores"][0] != pytest.approx(1.0)  # a softmax over one label would always be 1


def test_templates_and_labels_in_any_language(sharp: Path) -> None:
    task = ZeroShotTask.create("deportes, política, salud", template="Este texto trata de {}.")
    assert task.hypotheses() == [
        "Este texto trata de deportes.",
        "Este texto trata de política.",
        "Este texto trata de salud.",
    ]
    answer = _classifier(sharp)([TEXTS[3]], task)[0]
    assert sorted(answer["labels"]) == sorted(task.labels)
    assert answer["scores"] == sorted(answer["scores"], reverse=True)


def test_every_text_is_paired_with_every_label_once() -> None:
    seen = []

    def logits(premises, hypotheses):
        seen.append((list(premises), list(hypotheses)))
        return np.zeros((len(premises), 3), dtype=np.float32)

    answers = ZeroShotClassifier(logits, [0, 1, 2])(TEXTS[:2], ZeroShotTask.create(["a", "b", "c"]))
    ((premises, hypotheses),) = seen  # one call: one scheduling unit, one length-sorted set of batches
    assert premises == [TEXTS[0]] * 3 + [TEXTS[1]] * 3
    assert hypotheses == ["This text is about a.", "This text is about b.", "This text is about c."] * 2
    assert [a["scores"] for a in answers] == [[pytest.approx(1 / 3)] * 3] * 2
    assert answers[0]["labels"] == ["a", "b", "c"]  # ties keep the order they were given in


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ("sports, politics,health", ["sports", "politics", "health"]),
        ("sports\npolitics, and economy\n", ["sports", "politics, and economy"]),  # lines win over commas
        (["  sports ", "travel"], ["sports", "travel"]),
    ],
)
def test_labels_come_comma_or_line_separated(labels, expected) -> None:
    assert split_labels(labels) == expected
    assert list(ZeroShotTask.create(labels).labels) == expected


@pytest.mark.parametrize(
    ("labels", "template", "message"),
    [
        ("", None, "No candidate labels were given"),
        ("sports,,health", None, "Candidate label 2 is empty"),
        ("sports, Sports", None, "given twice"),
        ([f"label {i}" for i in range(33)], None, "33 candidate labels is over the limit of 32"),
        ("sports", "This text is about sports.", "needs exactly one {}"),
        ("sports", "About {label}.", "needs exactly one {}"),
        ("sports", "{} and {}", "needs exactly one {}"),
        (["sports", 3], None, "Candidate label 2 is a int, not text"),
    ],
)
def test_bad_labels_and_templates_are_refused_in_one_sentence(labels, template, message) -> None:
    with pytest.raises(UserError, match=message.replace("{", r"\{").replace("}", r"\}")) as caught:
        ZeroShotTask.create(labels, template)
    assert "\n" not in str(caught.value) and str(caught.value).endswith(".")


def test_the_label_limit_is_a_setting() -> None:
    assert len(ZeroShotTask.create([f"l{i}" for i in range(40)], max_labels=40).labels) == 40
    with pytest.raises(UserError, match="3 candidate labels is over the limit of 2"):
        ZeroShotTask.create("a, b, c", max_labels=2)
