"""metrics.py against cases worked out by hand."""

import numpy as np
import pytest

from contradiction.metrics import classification_report, confusion_matrix, flat_metrics, macro_f1


def test_confusion_matrix_rows_are_truth_columns_predictions():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2])
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_macro_f1_by_hand():
    # entailment: tp 1, predicted 2, actual 2 -> f1 0.5; neutral: tp 1, predicted 2, actual 1 -> 2/3;
    # contradiction: tp 2, predicted 2, actual 3 -> 0.8; mean 0.65556
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2])
    assert macro_f1(matrix) == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)


def test_macro_f1_counts_an_absent_class_as_zero():
    assert macro_f1(confusion_matrix([0, 0], [0, 0])) == pytest.approx(1 / 3)


def test_report_per_language_by_hand():
    labels = [0, 1, 2, 0, 1, 2, 0]
    predictions = [0, 1, 0, 0, 2, 2, 1]
    languages = ["en", "en", "en", "fr", "fr", "fr", "th"]
    report = classification_report(labels, predictions, languages)
    assert report["accuracy"] == pytest.approx(4 / 7)
    assert report["rows"] == 7
    assert report["per_language"]["en"]["accuracy"] == pytest.approx(2 / 3)
    assert report["per_language"]["fr"]["accuracy"] == pytest.approx(2 / 3)
    assert report["per_language"]["th"] == {"accuracy": 0.0, "macro_f1": 0.0, "rows": 1}
    assert np.array(report["confusion_matrix"]).sum() == 7
    assert flat_metrics(report) == {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "accuracy_en": 2 / 3,
        "accuracy_fr": 2 / 3,
        "accuracy_th": 0.0,
    }


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        classification_report([0, 1], [0])
