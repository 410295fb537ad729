"""A tiny run made here: per-group results, intervals, quiet output, progress, pictures and the HTML report."""

from __future__ import annotations

import base64
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import balanced_accuracy_score

from runfactory import modules_after, require_extra
from serzoo.cli import cli
from serzoo.report import plots
from serzoo.training import stats
from serzoo.training.progress import Progress

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A finished 2-fold run by speakers (2 test speakers per fold), trained with ``-q``; its CLI result attached."""
    rng = np.random.default_rng(0)
    base = tmp_path_factory.mktemp("report")
    feats, labels = [], []
    for _speaker in range(4):
        emo = np.array([0] * 8 + [1] * 6 + [2] * 4)
        feats.append(rng.normal(size=(len(emo), 5, 4)) + emo[:, None, None])
        labels.append(emo[:, None])
    with h5py.File(base / "tiny.h5", "w") as f:
        f["feat"] = np.concatenate(feats)
        f["label"] = np.concatenate(labels).astype(float)
        f["start_indice"] = np.arange(4.0) * 18
        f["end_indice"] = (np.arange(4.0) + 1) * 18
    run_dir = base / "run"
    result = CliRunner().invoke(cli, ["train", "-q", "--data", str(base / "tiny.h5"), "--blocks", "fcn,dense",
                                      "--opt", "fcn.units=8", "--tasks", "emotion:3:0", "--epochs", "2", "--protocol", "kfold", "--folds", "2",
                                      "--val-share", "0.5", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    (base / "cli.json").write_text(json.dumps({"stdout": result.stdout, "stderr": result.stderr}))
    return run_dir


def _results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def test_quiet_prints_only_the_results(tiny_run):
    out = json.loads((tiny_run.parent / "cli.json").read_text())
    assert out["stderr"] == ""
    assert out["stdout"] == (tiny_run / "results.txt").read_text() + "\n" + f"results: {tiny_run / 'results.json'}\n"


def test_per_group_scores_equal_sklearn_on_the_predictions(tiny_run):
    results = _results(tiny_run)
    labels = np.repeat(np.array([[0] * 8 + [1] * 6 + [2] * 4]), 4, axis=0).reshape(-1)
    speaker = np.repeat(np.arange(4), 18)
    groups = results["summary"]["emotion"]["per_group"]
    assert sorted(groups) == ["0", "1", "2", "3"]
    for fold in results["folds"]:
        saved = np.load(tiny_run / f"fold{fold['fold']:02d}" / "predictions.npz")
        rows, pred = saved["rows"], saved["pred_emotion"].argmax(-1)
        assert len(fold["groups"]["test_names"]) == 2
        for name in fold["groups"]["test_names"]:
            mask = speaker[rows] == int(name)
            expected = balanced_accuracy_score(labels[rows][mask], pred[mask])
            assert fold["groups_test"]["emotion"][name]["uar"] == pytest.approx(expected)
            assert groups[name]["uar"] == pytest.approx(expected) and groups[name]["fold"] == fold["name"]
            assert groups[name]["rows"] == int(mask.sum())


def test_intervals_over_folds_and_speakers(tiny_run):
    results = _results(tiny_run)
    record = results["summary"]["emotion"]["uncertainty"]
    fold_uars = [f["test"]["emotion"]["uar"] for f in results["folds"]]
    group_uars = [g["uar"] for g in results["summary"]["emotion"]["per_group"].values()]
    assert record["method"] == "percentile bootstrap of the mean" and record["resamples"] == 10000
    assert record["over_folds"]["mean"] == pytest.approx(np.mean(fold_uars))
    assert record["over_folds"]["std"] == pytest.approx(np.std(fold_uars, ddof=1))
    assert (record["over_groups"]["ci_low"], record["over_groups"]["ci_high"]) == pytest.approx(
        stats.bootstrap_ci(group_uars))
    assert record["over_groups"]["n"] == 4 and record["over_groups"]["grouping"] == "group"  # the file names no group column
    text = (tiny_run / "results.txt").read_text()
    low, high = record["over_groups"]["ci_low"], record["over_groups"]["ci_high"]
    assert f"UAR over 4 groups: mean {np.mean(group_uars):.4f}" in text and f"[{low:.4f}, {high:.4f}]" in text
    assert "10000 resamples, seed 0" in text and "test scores per group:" in text


def test_train_wrote_valid_pictures(tiny_run):
    require_extra("matplotlib", "plots")
    names = sorted(p.name for p in (tiny_run / "plots").iterdir())
    assert names == ["confusion_emotion.png", "groups_emotion.png", "learning_curves.png"]
    for name in names:
        assert (tiny_run / "plots" / name).read_bytes().startswith(PNG)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.text, self.open = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta", "img"):
            self.open.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        assert self.open.pop() == tag, f"</{tag}> closes something else"

    def handle_data(self, data):
        self.text.append(data)


def test_report_page_is_self_contained_and_has_the_numbers(tiny_run, tmp_path):
    require_extra("matplotlib", "plots")
    out = CliRunner().invoke(cli, ["report", str(tiny_run), "-o", str(tmp_path / "r.html"),
                                   "--plots-dir", str(tmp_path / "png")])
    assert out.exit_code == 0, out.output
    page = _Page()
    page.feed((tmp_path / "r.html").read_text())
    page.close()
    assert page.open == []
    assert len(page.images) == 3
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    text = " ".join(page.text)
    summary = _results(tiny_run)["summary"]["emotion"]
    assert f"{summary['uar']['mean']:.4f} ± {summary['uar']['std']:.4f}" in text
    assert f"{summary['uncertainty']['over_groups']['ci_low']:.4f}" in text
    for name, group in summary["per_group"].items():
        assert f"{group['uar']:.4f}" in text
    assert sorted(os.listdir(tmp_path / "png")) == ["confusion_emotion.png", "groups_emotion.png",
                                                    "learning_curves.png"]


def test_report_without_matplotlib_has_the_tables_and_says_so(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "available", lambda: False)
    out = CliRunner().invoke(cli, ["report", str(tiny_run), "-o", str(tmp_path / "r.html")])
    assert out.exit_code == 0 and "pip install 'serzoo[plots]'" in out.stderr
    html = (tmp_path / "r.html").read_text()
    assert "<img" not in html and "serzoo[plots]" in html and "per_group" not in html


def test_report_does_not_import_tensorflow(tiny_run, tmp_path):
    assert modules_after(["report", tiny_run, "-o", tmp_path / "r.html", "--plots-dir", tmp_path / "p"]) == []


def test_progress_every_n_epochs_with_time_left():
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(log_every=2, stream=stream, clock=lambda: now[0])
    progress.start(total=3, todo=2, seeds=1)  # one fold was done before
    progress.fold_started(2)
    for epoch in range(1, 5):
        now[0] += 10
        progress.epoch(epoch, 4, f"  epoch {epoch}/4", finished=epoch == 4)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"]
    # after 2 of 8 epochs (20 s since the first epoch began at 0): 6 epochs left at 10 s each
    assert lines[0].endswith("[1/3 folds done, fold 2 epoch 2/4, elapsed 20s, ~1m00s left]")
    quiet = io.StringIO()
    silent = Progress(quiet=True, stream=quiet)
    silent("a message")
    silent.epoch(1, 1, "line", True)
    assert quiet.getvalue() == ""


def test_log_every_zero_hides_epoch_lines(tiny_run, tmp_path):
    out = CliRunner().invoke(cli, ["train", "--resume", str(tiny_run), "--log-every", "0"])
    assert out.exit_code == 0, out.output
    assert "done before, kept" in out.stderr and not re.search(r"epoch \d+/", out.stderr)
