"""serzoo.training.metrics against hand-computed confusion matrices and values, and against scikit-learn."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm

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


def test_macro_recall_averages_the_predicted_but_absent_class_in_as_zero():
    assert metrics.macro_recall(CM) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3 + 0) / 4)


def test_macro_precision_by_hand():
    # precisions 2/3, 1/2, 2/2 and 0/1 for class 3, predicted once but never true
    assert metrics.macro_precision(CM) == pytest.approx((2 / 3 + 1 / 2 + 1 + 0) / 4)


def test_accuracy():
    assert metrics.accuracy(CM) == pytest.approx(5 / 8)


def test_macro_f1_averages_a_predicted_but_absent_class_in_as_zero():
    # F1 = 2TP / (2TP + FP + FN): class 0 4/6, class 1 2/4, class 2 4/5, class 3 0/1 (issue 8: not 0.656)
    assert metrics.macro_f1(CM) == pytest.approx((2 / 3 + 1 / 2 + 4 / 5 + 0) / 4)
    assert metrics.macro_f1(CM) == pytest.approx(skm.f1_score(Y_TRUE, Y_PRED, average="macro"))


def test_macro_f1_of_a_class_never_predicted_is_zero():
    cm = metrics.confusion_matrix([0, 0, 1, 1], [0, 0, 0, 0], 2)
    assert metrics.macro_f1(cm) == pytest.approx((2 * 2 / (2 * 2 + 2) + 0.0) / 2)
    assert metrics.uar(cm) == pytest.approx(0.5)


def test_perfect_classification():
    report = metrics.classification_report([0, 1, 2, 1], [0, 1, 2, 1], 3)
    assert {k: v for k, v in report.items() if k != "confusion"} == {
        "uar": 1.0, "accuracy": 1.0, "macro_f1": 1.0, "macro_precision": 1.0, "macro_recall": 1.0}


def test_classification_report_is_json_ready():
    report = metrics.classification_report(Y_TRUE, Y_PRED, 4)
    assert set(report) == {"uar", "accuracy", "macro_f1", "macro_precision", "macro_recall", "confusion"}
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
    classification = metrics.classification_report([], [], 3)
    assert classification.pop("confusion") == [[0] * 3] * 3
    assert classification and all(math.isnan(v) for v in classification.values())
    regression = metrics.regression_report([], [])
    assert regression and all(math.isnan(v) for v in regression.values())


def test_ccc_and_mse_by_hand():
    # means 2 and 3, variances 2/3 each, covariance 2/3: CCC = (4/3) / (4/3 + 1)
    assert metrics.ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)
    assert metrics.mse([1, 2, 3], [2, 3, 4]) == pytest.approx(1.0)
    assert metrics.ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert metrics.ccc([-1, 0, 1], [1, 0, -1]) == pytest.approx(-1.0)
    assert metrics.ccc([[0.5], [0.5]], [[0.5], [0.5]]) == 1.0
    assert metrics.mae([1, 2, 3], [2, 1, 3]) == pytest.approx(2 / 3)
    assert metrics.regression_report([1, 2, 3], [2, 3, 4]) == pytest.approx({"ccc": 4 / 7, "mse": 1.0, "mae": 1.0})


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
    code = ("import sys, serzoo.training.metrics as m; "
            "m.classification_report([0], [0], 2); m.regression_report([0], [0]); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the same numbers as scikit-learn, on random labels ------------------------------------------

def _random_labels(rng) -> tuple[np.ndarray, np.ndarray, int]:
    """Random true/predicted labels where some classes are never true, some never predicted, some neither."""
    k = int(rng.integers(1, 7))
    n = int(rng.integers(1, 40))
    true_classes = rng.choice(k, size=rng.integers(1, k + 1), replace=False)
    pred_classes = rng.choice(k, size=rng.integers(1, k + 1), replace=False)
    y_true = rng.choice(true_classes, size=n)
    y_pred = rng.choice(pred_classes, size=n)
    if rng.random() < 0.2:  # some near-perfect predictions, so high scores are covered too
        y_pred = np.where(rng.random(n) < 0.8, y_true, y_pred)
    return y_true, y_pred, k


def _sklearn(name: str, y_true, y_pred) -> float:
    macro = dict(average="macro", zero_division=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # balanced_accuracy warns about predicted classes absent from y_true
        return {
            "uar": lambda: skm.balanced_accuracy_score(y_true, y_pred),
            "accuracy": lambda: skm.accuracy_score(y_true, y_pred),
            "macro_f1": lambda: skm.f1_score(y_true, y_pred, **macro),
            "macro_precision": lambda: skm.precision_score(y_true, y_pred, **macro),
            "macro_recall": lambda: skm.recall_score(y_true, y_pred, **macro),
        }[name]()


CLASSIFICATION = ["uar", "accuracy", "macro_f1", "macro_precision", "macro_recall"]


def test_every_builtin_classification_metric_is_checked_against_sklearn():
    assert sorted(m.name for m in metrics.metrics_for("classification")) == sorted(CLASSIFICATION)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_metrics_equal_sklearn_on_random_labels(name):
    rng = np.random.default_rng(8)
    metric = metrics.lookup(name)
    cases = [_random_labels(rng) for _ in range(300)]
    # the generator must reach the cases the definitions differ on
    assert any(set(p) - set(t) for t, p, _ in cases) and any(set(t) - set(p) for t, p, _ in cases)
    assert any(len(set(t) | set(p)) < k for t, p, k in cases)
    for y_true, y_pred, k in cases:
        ours = metric.compute(metrics.confusion_matrix(y_true, y_pred, k))
        expected = _sklearn(name, y_true, y_pred)
        assert ours == pytest.approx(expected, abs=1e-12), (name, y_true.tolist(), y_pred.tolist())


def _ccc_numpy(t, p) -> float:
    cov = np.cov(t, p, bias=True)
    return 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (t.mean() - p.mean()) ** 2)


def test_regression_metrics_equal_numpy_formulas_on_random_values():
    rng = np.random.default_rng(8)
    assert sorted(m.name for m in metrics.metrics_for("regression")) == ["ccc", "mae", "mse"]
    for _ in range(300):
        n = int(rng.integers(2, 50))
        t = rng.normal(rng.normal(), rng.uniform(0.1, 3), size=n)
        p = rng.uniform(-1, 1) * t + rng.normal(rng.normal(), rng.uniform(0.1, 3), size=n)
        report = metrics.regression_report(t, p)
        assert report["ccc"] == pytest.approx(_ccc_numpy(t, p), abs=1e-12)
        assert report["mse"] == pytest.approx(np.mean((t - p) ** 2), abs=1e-12)
        assert report["mse"] == pytest.approx(skm.mean_squared_error(t, p), abs=1e-12)
        assert report["mae"] == pytest.approx(np.mean(np.abs(t - p)), abs=1e-12)
        assert report["mae"] == pytest.approx(skm.mean_absolute_error(t, p), abs=1e-12)
