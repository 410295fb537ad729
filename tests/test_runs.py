"""serzoo runs: finished, interrupted and empty runs listed from their JSON files, without TensorFlow."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from runfactory import make_run, modules_after
from serzoo.cli import cli
from serzoo.report.rundata import list_runs


@pytest.fixture
def runs_dir(tmp_path):
    make_run(tmp_path / "r1", [[0.5, 0.7], [0.6, 0.8]], finished_at="2026-01-02T10:00:00")
    make_run(tmp_path / "r2", [[0.4], [0.9], [0.5]], blocks="cnn1d,lstm", finished=False)
    (tmp_path / "r3").mkdir()
    (tmp_path / "r3" / "config.json").write_text(json.dumps({"blocks": "fcn", "protocol": "logo"}))
    (tmp_path / "not-a-run").mkdir()
    return tmp_path


def test_statuses_and_scores(runs_dir):
    rows = {os.path.basename(r["run"]): r for r in list_runs(runs_dir)}
    assert set(rows) == {"r1", "r2", "r3"}
    assert rows["r1"]["status"] == "finished" and rows["r1"]["mean"] == pytest.approx(np.mean([0.6, 0.7]))
    assert rows["r1"]["pooled"] == 0.5 and rows["r1"]["date"] == "2026-01-02 10:00"
    # interrupted: the finished fold's score, from its result.json
    assert rows["r2"]["status"] == "interrupted" and rows["r2"]["folds"] == 1 and rows["r2"]["mean"] == pytest.approx(0.4)
    assert rows["r2"]["chain"] == "cnn1d,lstm"
    assert rows["r3"]["status"] == "empty" and rows["r3"]["mean"] is None


def test_a_run_held_by_a_process_is_running(runs_dir):
    from serzoo.training.rundir import claim

    hold = claim(runs_dir / "r2")
    try:
        assert {os.path.basename(r["run"]): r["status"] for r in list_runs(runs_dir)}["r2"] == "running"
    finally:
        hold.close()
    assert {os.path.basename(r["run"]): r["status"] for r in list_runs(runs_dir)}["r2"] == "interrupted"


def test_cli_default_folder_from_environment(runs_dir, monkeypatch):
    monkeypatch.setenv("SERZOO_RUNS", str(runs_dir))
    out = CliRunner().invoke(cli, ["runs"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert len(lines) == 2 + 3 and "UAR 0.6500 ± 0.0000" in out.output and "UAR 0.4000" in out.output
    assert {"finished", "interrupted", "empty"} <= set(out.output.split())


def test_missing_folder_is_one_line(tmp_path):
    out = CliRunner().invoke(cli, ["runs", str(tmp_path / "nope")])
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1 and "no such folder" in out.output


def test_runs_and_compare_do_not_import_tensorflow(runs_dir):
    make_run(runs_dir / "r4", [[0.5, 0.7], [0.6, 0.9]])
    assert modules_after(["runs", runs_dir], ["compare", runs_dir / "r1", runs_dir / "r4"]) == []
