"""Metrics are a registry: built-ins from the core, a plugin's metric in one registration reaches
listing, --tasks, every fold's report, checkpoint selection and the run's summary."""

from __future__ import annotations

import importlib.metadata
import json
import math
import subprocess
import sys
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from serzoo import Metric
from serzoo.core import plugin_manager
from serzoo.core.errors import ConfigError, RegistrationError
from serzoo.training import metrics
from serzoo.training.results import format_results, summarize_run
from serzoo.training.tasks import parse_tasks

NAMES = ["emotion", "arousal", "valence", "score"]


class Spy:
    """A metric function that records what it was called with and returns a fixed value."""

    def __init__(self, value: float):
        self.value = value
        self.calls: list[tuple] = []

    def __call__(self, *args):
        self.calls.append(tuple(np.asarray(a).copy() for a in args))
        return self.value


@pytest.fixture
def fake_metrics(register_fake):
    """One plugin registering a classification metric and a lower-is-better regression metric."""
    top, err = Spy(0.25), Spy(3.0)

    def register_metrics(register):
        register(Metric("fake_top", "share of something, for a test", top, aliases=("ftop",)))
        register(Metric("fake_err", "an error, for a test", err, task_types=("regression",), higher_is_better=False))

    register_fake("fakemetrics", serzoo_register_metrics=register_metrics)
    return SimpleNamespace(top=top, err=err)


# --- built-ins ------------------------------------------------------------------------------------

def test_builtins_come_from_the_core_even_with_every_plugin_disabled(monkeypatch):
    names = ",".join(ep.name for ep in importlib.metadata.entry_points(group=plugin_manager.ENTRY_POINT_GROUP))
    monkeypatch.setenv(plugin_manager.DISABLE_ENV, names + ",serzoo.training.metrics")
    plugin_manager.reset()
    assert not plugin_manager.blocks().list(), "every entry-point plugin is disabled"
    uar = plugin_manager.metrics().get("uar")
    assert uar.plugin == "serzoo.training.metrics"
    assert parse_tasks("emotion:3:0:::f1,score:1:3", NAMES)[0].metric == "macro_f1"


@pytest.mark.parametrize("alias,name", [("f1", "macro_f1"), ("precision", "macro_precision"),
                                        ("recall", "macro_recall"), ("balanced_accuracy", "uar")])
def test_the_original_trainers_metric_names_are_aliases(alias, name):
    assert metrics.lookup(alias).name == name
    (task,) = parse_tasks(f"emotion:3:0:::{alias}", NAMES)
    assert task.metric == name and task.resolved_metric() == name


def test_directions():
    by_name = {m.name: m for m in plugin_manager.metrics().list()}
    assert {n for n, m in by_name.items() if not m.higher_is_better} == {"mse", "mae"}


@pytest.mark.parametrize("kwargs,message", [
    (dict(task_types=()), "task_types"),
    (dict(task_types=("ranking",)), "task_types"),
    (dict(params=(__import__("serzoo").Param("k", "int", 1),)), "no options"),
])
def test_invalid_metric_records_are_refused(kwargs, message):
    with pytest.raises(RegistrationError, match=message):
        Metric("bad", "d", lambda cm: 0.0, **kwargs)


def test_a_metric_name_taken_twice_names_both_plugins(register_fake):
    register_fake("dup", serzoo_register_metrics=lambda register: register(Metric("f1", "again", lambda cm: 0.0)))
    with pytest.warns(plugin_manager.PluginWarning, match="already registered by plugin 'serzoo.training.metrics'"):
        plugin_manager.metrics()
    assert metrics.lookup("f1").name == "macro_f1"


# --- --tasks ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,message", [
    ("a:3:0:::f2", "unknown metric 'f2'; did you mean f1"),
    ("a:3:0:::cc", "unknown metric 'cc'; did you mean ccc"),
    ("a:3:0:::mse", "metric 'mse' does not fit a classification task; use one of accuracy, macro_f1"),
    ("a:1:3:::uar", "metric 'uar' does not fit a regression task; use one of ccc, mae, mse"),
])
def test_bad_metric_in_tasks_is_one_line_with_choices(text, message):
    with pytest.raises(ConfigError) as err:
        parse_tasks(text, ["a", "b", "c", "d"])
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"--tasks entry {text!r}")


# --- one registration reaches everything ------------------------------------------------------------

def test_plugin_metric_is_listed_and_shown(invoke, fake_metrics):
    table = invoke("list", "metrics").output
    for text in ("fake_top", "fake_err", "uar", "macro_f1", "better", "lower", "fakemetrics"):
        assert text in table
    rows = {r["name"]: r for r in json.loads(invoke("list", "metrics", "--format", "json").output)}
    assert rows["fake_err"]["higher_is_better"] is False and rows["fake_err"]["task_types"] == ["regression"]
    assert rows["fake_top"]["plugin"] == "fakemetrics" and rows["fake_top"]["aliases"] == ["ftop"]
    shown = invoke("show", "metric", "f1").output
    assert "macro_f1" in shown and "f1_score average='macro', zero_division=0" in shown and "higher" in shown


def test_plugin_metric_is_accepted_in_tasks(fake_metrics):
    tasks = parse_tasks("emotion:3:0:::ftop,score:1:3:::fake_err", NAMES)
    assert [t.resolved_metric() for t in tasks] == ["fake_top", "fake_err"]
    with pytest.raises(ConfigError, match="does not fit a classification task; use one of .*fake_top"):
        parse_tasks("emotion:3:0:::fake_err", NAMES)


def test_plugin_metric_is_in_every_report_and_gets_the_confusion_matrix(fake_metrics):
    report = metrics.classification_report([0, 1, 1], [0, 1, 0], 2)
    assert report["fake_top"] == 0.25
    (call,) = fake_metrics.top.calls
    assert call[0].tolist() == [[1, 0], [1, 1]]
    assert metrics.regression_report([1.0, 2.0], [1.5, 2.5])["fake_err"] == 3.0
    assert [a.tolist() for a in fake_metrics.err.calls[0]] == [[1.0, 2.0], [1.5, 2.5]]


def test_selection_follows_the_registered_direction(fake_metrics):
    from serzoo.training.evaluate import selection_score

    tasks = parse_tasks("emotion:3:0:::fake_top,score:1:3:::fake_err", NAMES)
    report = {"emotion": {"fake_top": 0.25, "uar": 0.9}, "score": {"fake_err": 3.0, "ccc": 0.5}}
    assert selection_score(tasks, report) == pytest.approx((0.25 - 3.0) / 2)
    # a built-in lower-is-better metric the same way, with no special case by name
    (mae_task,) = parse_tasks("score:1:3:::mae", NAMES)
    assert selection_score([mae_task], {"score": {"mae": 0.4}}) == pytest.approx(-0.4)


def test_plugin_metric_is_in_the_summary_and_the_text_report(fake_metrics):
    tasks = parse_tasks("emotion:3:0,score:1:3", NAMES)
    folds = []
    for fold, (y_true, y_pred) in enumerate([([0, 1, 2, 2], [0, 1, 1, 2]), ([2, 1, 0], [2, 2, 0])]):
        folds.append({"name": f"f{fold}", "best_epoch": 1, "test": {
            "emotion": metrics.classification_report(y_true, y_pred, 3),
            "score": metrics.regression_report([0.1, 0.2], [0.2, 0.1])}})
    summary = summarize_run(tasks, {"emotion": ["a", "b", "c"]}, folds)
    assert summary["emotion"]["fake_top"] == {"mean": 0.25, "std": 0.0}
    assert summary["emotion"]["pooled"]["fake_top"] == 0.25
    assert fake_metrics.top.calls[-1][0].tolist() == [[2, 0, 0], [0, 1, 1], [0, 1, 2]]  # pooled = summed matrices
    assert summary["score"]["fake_err"] == {"mean": 3.0, "std": 0.0} and "fake_top" not in summary["score"]
    for name in ("macro_precision", "macro_recall", "mae"):
        assert name in summary["emotion"] or name in summary["score"]

    results = {"versions": {"serzoo": "x"}, "finished": "now", "protocol": "p", "seed": 0,
               "data": {"path": "d.h5", "rows": 7, "layout": "1d"}, "config": {"blocks": "fcn", "sampler": "none"},
               "metrics": metrics.definitions({"classification", "regression"}), "summary": summary, "folds": folds}
    text = format_results(results)
    assert "fake_top" in text and "share of something, for a test" in text and "0.2500 ± 0.0000" in text
    assert "fake_err" in text and "3.0000" in text
    assert "sklearn f1_score average='macro', zero_division=0" in text


def test_a_fold_finished_before_a_metric_existed_counts_it_missing(fake_metrics):
    tasks = parse_tasks("emotion:3:0", NAMES)
    old = {k: v for k, v in metrics.classification_report([0, 1], [0, 1], 3).items() if k != "fake_top"}
    new = metrics.classification_report([0, 1], [0, 0], 3)
    summary = summarize_run(tasks, {"emotion": ["a", "b", "c"]}, [{"test": {"emotion": old}}, {"test": {"emotion": new}}])
    assert summary["emotion"]["fake_top"] == {"mean": 0.25, "std": 0.0}


def test_listing_metrics_imports_no_tensorflow():
    code = ("import sys; from serzoo.cli import cli; cli(['list', 'metrics'], standalone_mode=False); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "macro_f1" in out and out.strip().endswith("[]")


# --- a real run ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_reports_and_selects_on_a_plugin_metric(tmp_path, fake_metrics):
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    rng = np.random.default_rng(0)
    emo = np.tile([0] * 6 + [1] * 4 + [2] * 2, 3)
    path = tmp_path / "tiny.h5"
    with h5py.File(path, "w") as f:
        f["feat"] = (rng.normal(size=(36, 4, 3)) + emo[:, None, None]).astype(np.float32)
        f["label"] = np.stack([emo, emo * 0.5], axis=1).astype(float)
        f["start_indice"] = np.arange(3.0) * 12
        f["end_indice"] = (np.arange(3.0) + 1) * 12
    config = TrainConfig(data=str(path), blocks="fcn,dense", opts=["fcn.units=4", "dense.units=4"], epochs=2,
                         batch_size=12, patience=0, jit_compile=False, tasks="emotion:3:0:::fake_top,score:1:1",
                         max_folds=1)
    prep = prepare(config)
    summary = run(prep, tmp_path / "run", echo=lambda m: None)
    assert summary["emotion"]["fake_top"]["mean"] == 0.25
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["tasks"][0]["metric"] == "fake_top"
    assert results["folds"][0]["val"]["emotion"]["fake_top"] == 0.25  # selection saw it on validation
    assert results["metrics"]["fake_top"] == {"description": "share of something, for a test",
                                              "task_types": ["classification"], "higher_is_better": True,
                                              "plugin": "fakemetrics"}
    assert "fake_err" in results["metrics"] and results["summary"]["score"]["fake_err"]["mean"] == 3.0
    assert "sklearn balanced_accuracy_score" in results["metrics"]["uar"]["description"]
    text = (tmp_path / "run" / "results.txt").read_text()
    assert "fake_top" in text and "share of something, for a test" in text
    # every validation epoch and the test evaluation called it with one (3, 3) confusion matrix each
    assert len(fake_metrics.top.calls) >= 3 and all(c[0].shape == (3, 3) for c in fake_metrics.top.calls)
    assert not any(math.isnan(v) for v in results["folds"][0]["test"]["emotion"].values() if isinstance(v, float))
