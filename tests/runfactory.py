"""Synthetic run directories with known scores, for tests of listing, comparing and reporting runs."""

from __future__ import annotations

import json
from pathlib import Path

FINGERPRINT = {"path": "/data/corpus.h5", "bytes": 100, "rows": 40, "file_shape": [40, 8],
               "labels": "aaaa", "groups": "gggg", "features": {"feature": "x"}}


def make_run(path: Path, group_uars: list[list[float]], *, data: dict | None = None, blocks: str = "dense",
             finished: bool = True, finished_at: str = "2026-01-01T10:00:00") -> Path:
    """A run directory: ``group_uars[f]`` are the test UARs of fold ``f``'s groups (named ``s0``, ``s1``, ...).

    A fold's UAR is the mean of its groups' (what matters here is that the files agree).
    """
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"blocks": blocks, "protocol": "kfold", "data": "/data/corpus.h5"}))
    (path / "data.json").write_text(json.dumps(data or FINGERPRINT))
    folds, g = [], 0
    for f, uars in enumerate(group_uars):
        names = [f"s{g + i}" for i in range(len(uars))]
        g += len(uars)
        fold_uar = sum(uars) / len(uars)
        folds.append({"fold": f, "name": f"fold{f}", "best_epoch": 3,
                      "groups": {"test": list(range(g - len(uars), g)), "test_names": names, "grouping": "speaker"},
                      "rows": {"test": 4 * len(uars)},
                      "test": {"emotion": {"uar": fold_uar, "accuracy": fold_uar}},
                      "groups_test": {"emotion": {n: {"rows": 4, "uar": u, "accuracy": u} for n, u in zip(names, uars)}}})
    if finished:
        mean = sum(f["test"]["emotion"]["uar"] for f in folds) / len(folds)
        results = {"finished": finished_at, "data": {"path": "/data/corpus.h5"}, "config": {"blocks": blocks,
                   "protocol": "kfold"}, "tasks": [{"name": "emotion", "task_type": "classification"}],
                   "metrics": {"uar": {"task_types": ["classification"]}, "accuracy": {"task_types": ["classification"]}},
                   "summary": {"emotion": {"uar": {"mean": mean, "std": 0.0}, "pooled": {"uar": 0.5},
                                           "confusion_summed": [[3, 1], [2, 2]], "class_names": ["a", "b"]}},
                   "protocol": "kfold", "seed": 0, "folds": folds}
        (path / "results.json").write_text(json.dumps(results))
    else:
        for fold in folds[:1]:
            (path / f"fold{fold['fold']:02d}").mkdir()
            (path / f"fold{fold['fold']:02d}" / "result.json").write_text(json.dumps(fold))
    return path


def require_extra(module: str, extra: str):
    """Import an optional extra's module; skip the test without it, except in CI (where the test extra has it)."""
    import importlib
    import os

    import pytest

    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"needs the {extra} extra: pip install 'serzoo[{extra}]'", allow_module_level=True)


def modules_after(*commands: list[str]) -> list[str]:
    """Run serzoo commands in a fresh interpreter; which of tensorflow and keras they imported."""
    import ast
    import subprocess
    import sys

    calls = "".join(f"cli.main({[str(a) for a in c]!r}, standalone_mode=False)\n" for c in commands)
    code = ("import sys\nfrom serzoo.cli import cli\n" + calls +
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])
