"""serzoo.training.metrics against hand-computed confusion matrices and values."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from serzoo.training import metrics

# Four classes; class 3 never occurs in the truth but is predicted once.
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 3, 2, 2, 0]
CM = [
    [2, 1, 0, 0],
    [0, 1, 0, 1],
    [1, 0, 2, 0],
    [0, 0, 0, 0],
]


def test_confusion_matrix_rows_true_columns_predicted():
    cm = metrics.confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert cm.dtype.kind == "i"
    assert cm.tolist() == CM


def test_confusion_matrix_takes_scores_and_columns():
    scores = np.eye(4)[Y_PRED] * 0.7 + 0.1
    assert metrics.confusion_matrix(Y_TRUE, scores, 4).tolist() == CM
    assert metrics.confusion_matrix(np.array(Y_TRUE)[:, None], np.array(Y_PRED)[:, None], 4).tolist() == CM


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 1], [0], "2 true labels but 1 predictions"),
    ([0, 4], [0, 1], "true class indices must lie in [0, 4)"),
    ([0, 1], [-1, 1], "predicted class indices must lie in [0, 4)"),
])
def test_confusion_matrix_rejects_bad_input(y_true, y_pred, message):
    with pytest.raises(ValueError) as err:
        metrics.confusion_matrix(y_true, y_pred, 4)
    assert message in str(err.value)


def test_uar_leaves_out_the_class_absent_from_the_truth():
    # recalls 2/3, 1/2, 2/3; class 3 has no support and is not averaged in
    assert metrics.uar(CM) == pytest.approx(11 / 18)


def test_accuracy():
    assert metrics.accuracy(CM) == pytest.approx(5 / 8)


def test_macro_f1_counts_predictions_of_an_absent_class_as_errors():
    # F1 = 2TP / (2TP + FP + FN): class 0 4/6, class 1 2/4, class 2 4/5
    assert metrics.macro_f1(CM) == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)


def test_macro_f1_of_a_class_never_predicted_is_zero():
    cm = metrics.confusion_matrix([0, 0, 1, 1], [0, 0, 0, 0], 2)
    assert metrics.macro_f1(cm) == pytest.approx((2 * 2 / (2 * 2 + 2) + 0.0) / 2)
    assert metrics.uar(cm) == pytest.approx(0.5)


def test_perfect_classification():
    report = metrics.classification_report([0, 1, 2, 1], [0, 1, 2, 1], 3)
    assert (report["uar"], report["accuracy"], report["macro_f1"]) == (1.0, 1.0, 1.0)


def test_classification_report_is_json_ready():
    report = metrics.classification_report(Y_TRUE, Y_PRED, 4)
    assert set(report) == {"uar", "accuracy", "macro_f1", "confusion"}
    assert report["confusion"] == CM
    assert json.loads(json.dumps(report)) == report


def test_confusion_report_of_summed_folds_pools_them():
    fold1 = metrics.confusion_matrix([0, 0, 1], [0, 1, 1], 2)
    fold2 = metrics.confusion_matrix([1, 1, 0], [1, 0, 0], 2)
    pooled = metrics.confusion_report(fold1 + fold2)
    assert pooled["confusion"] == [[2, 1], [1, 2]]
    assert pooled["uar"] == pytest.approx(2 / 3)


def test_empty_input_gives_nan():
    cm = metrics.confusion_matrix([], [], 3)
    assert cm.tolist() == [[0] * 3] * 3
    assert all(math.isnan(v) for v in (metrics.uar(cm), metrics.accuracy(cm), metrics.macro_f1(cm)))
    assert math.isnan(metrics.ccc([], [])) and math.isnan(metrics.mse([], []))


def test_ccc_and_mse_by_hand():
    # means 2 and 3, variances 2/3 each, covariance 2/3: CCC = (4/3) / (4/3 + 1)
    assert metrics.ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)
    assert metrics.mse([1, 2, 3], [2, 3, 4]) == pytest.approx(1.0)
    assert metrics.ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert metrics.ccc([-1, 0, 1], [1, 0, -1]) == pytest.approx(-1.0)
    assert metrics.ccc([[0.5], [0.5]], [[0.5], [0.5]]) == 1.0
    assert metrics.regression_report([1, 2, 3], [2, 3, 4]) == pytest.approx({"ccc": 4 / 7, "mse": 1.0})


def test_ccc_rejects_different_lengths():
    with pytest.raises(ValueError, match="3 true values but 2 predictions"):
        metrics.ccc([1, 2, 3], [1, 2])


def test_summarize_uses_sample_std():
    assert metrics.summarize([1.0, 2.0, 3.0]) == pytest.approx({"mean": 2.0, "std": 1.0})
    assert metrics.summarize([0.7]) == {"mean": 0.7, "std": 0.0}
    assert metrics.summarize([1.0, float("nan"), 3.0]) == pytest.approx({"mean": 2.0, "std": math.sqrt(2)})
    empty = metrics.summarize([])
    assert math.isnan(empty["mean"]) and math.isnan(empty["std"])


def test_metrics_import_neither_tensorflow_nor_sklearn():
    code = "import sys, serzoo.training.metrics; print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
