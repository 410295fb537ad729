"""Worker backends: retry once and report, thread budgets, and folds spread over processes equal to sequential ones."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest

from serzoo.core.errors import ConfigError, TrainingError
from serzoo.workers.backends import THREAD_ENV, Inline, Job, LocalPool, make_backend, thread_budget

from spies import write_db

TINY = dict(blocks="fcn,dense", opts=["fcn.units=8", "dense.units=8"], epochs=2, batch_size=16, patience=0,
            tasks="emotion:3:0", max_folds=2)


def flaky(counter: str, failures: int, how: str = "raise") -> str:
    """Fail the first ``failures`` calls (counted in a file, so across processes), then answer."""
    path = Path(counter)
    calls = int(path.read_text()) if path.exists() else 0
    path.write_text(str(calls + 1))
    if calls < failures:
        if how == "die":
            os._exit(3)  # the worker process itself dies, as when it is killed or out of memory
        raise ValueError(f"planned failure {calls + 1}")
    return f"answer after {calls + 1} calls"


def thread_env() -> dict:
    return {name: os.environ.get(name) for name in THREAD_ENV}


def test_inline_retries_a_failed_job_once_and_reports_the_second_failure(tmp_path):
    said = []
    once, twice = tmp_path / "once", tmp_path / "twice"
    outcomes = Inline().run([Job("once", flaky, (str(once), 1)), Job("twice", flaky, (str(twice), 2))], said.append)
    assert outcomes[0].ok and outcomes[0].value == "answer after 2 calls" and outcomes[0].attempts == 2
    assert not outcomes[1].ok and outcomes[1].attempts == 2 and twice.read_text() == "2"  # not a third time
    assert outcomes[1].error == "ValueError: planned failure 2"
    assert any("once: attempt 1 failed" in s and "retrying once" in s for s in said)
    assert any("twice: attempt 2 failed" in s and "gave up" in s for s in said)


def test_local_pool_retries_a_dead_worker_and_sets_thread_budgets(tmp_path):
    said = []
    jobs = [Job("dies once", flaky, (str(tmp_path / "c"), 1, "die")), Job("env", thread_env)]
    outcomes = LocalPool(2, threads=3).run(jobs, said.append)
    assert [o.name for o in outcomes] == ["dies once", "env"]  # the order given
    assert outcomes[0].ok and outcomes[0].attempts == 2 and "worker process lost" in outcomes[0].errors[0]
    assert outcomes[1].value == {name: "3" for name in THREAD_ENV}
    assert outcomes[1].pid not in (0, os.getpid()) and outcomes[1].peak_rss_mb > 0
    failing = LocalPool(2).run([Job("fails always", flaky, (str(tmp_path / "d"), 5))], said.append)[0]
    assert not failing.ok and failing.attempts == 2 and (tmp_path / "d").read_text() == "2"


def test_backend_choice_and_errors(monkeypatch):
    assert isinstance(make_backend(None, None), Inline) and isinstance(make_backend(1, None), Inline)
    pool = make_backend(2, None)
    assert isinstance(pool, LocalPool) and pool.threads == thread_budget(2)
    assert thread_budget(3, cores=2) == 1 and thread_budget(2, cores=16) == 8
    with pytest.raises(ConfigError, match="exclude each other"):
        make_backend(2, "local")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'serzoo\[ray\]'"):
        make_backend(None, "local")


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> Path:
    rng = np.random.default_rng(1)
    emo = np.tile(np.repeat([0, 1, 2], 8), 4)
    feats = rng.normal(size=(96, 6, 5)) + emo[:, None, None]
    return write_db(tmp_path_factory.mktemp("db") / "small.h5", feats, emo[:, None], 24)


def _fold_outputs(run_dir: Path, folds: int) -> list:
    out = []
    for fold in range(folds):
        result = json.loads((run_dir / f"fold{fold:02d}" / "result.json").read_text())
        with np.load(run_dir / f"fold{fold:02d}" / "predictions.npz") as pred:
            out.append((result["val"], result["test"], result["best_epoch"], pred["rows"], pred["pred_emotion"]))
    return out


@pytest.mark.slow
def test_folds_on_two_workers_equal_sequential_training_bit_for_bit(small_db, tmp_path):
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    config = TrainConfig(data=str(small_db), **TINY)
    run(prepare(config), tmp_path / "seq", echo=lambda m: None)
    said = []
    run(prepare(config), tmp_path / "par", echo=said.append, backend=LocalPool(2))
    assert any("training 2 folds on 2 local worker processes" in s for s in said)
    sequential, parallel = _fold_outputs(tmp_path / "seq", 2), _fold_outputs(tmp_path / "par", 2)
    for seq, par in zip(sequential, parallel):
        assert seq[:3] == par[:3]
        np.testing.assert_array_equal(seq[3], par[3])
        assert seq[4].tobytes() == par[4].tobytes()  # the very same bits, not merely close
    summary = json.loads((tmp_path / "par" / "results.json").read_text())["summary"]
    assert summary == json.loads((tmp_path / "seq" / "results.json").read_text())["summary"]


def _fail_fold_one(real, config, run_dir, fold, split_name):
    if fold == 1:
        raise RuntimeError("disk on fire")
    return real(config, run_dir, fold, split_name)


@pytest.mark.slow
def test_a_fold_failing_twice_is_reported_and_the_others_kept(small_db, tmp_path, monkeypatch):
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run
    from serzoo.workers import folds

    monkeypatch.setattr(folds, "fold_job", functools.partial(_fail_fold_one, folds.fold_job))
    with pytest.raises(TrainingError, match=r"1 of 2 folds failed twice .*disk on fire.*--resume"):
        run(prepare(TrainConfig(data=str(small_db), **TINY)), tmp_path / "run", echo=lambda m: None,
            backend=Inline())
    assert (tmp_path / "run" / "fold00" / "result.json").exists()
    assert not (tmp_path / "run" / "fold01" / "result.json").exists()
