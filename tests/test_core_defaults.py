"""The core needs no built-in plugin by name: its defaults are core components, built-ins are told by distribution."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from serzoo.core import plugin_manager
from serzoo.core.registry import Loader
from serzoo.data.loading import open_database
from serzoo.training.config import TrainConfig
from serzoo.training.defaults import DEFAULT_LOSSES, NO_SAMPLER

CORE = Path(plugin_manager.__file__).parents[1]  # the serzoo package, without plugins/ and cli/


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> Path:
    """A 1d SER_FEAT_EXT-style file: 3 speakers, a 3-class emotion and a float score."""
    rng = np.random.default_rng(1)
    n_per = 12
    emo = np.tile([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2], 3)
    path = tmp_path_factory.mktemp("small") / "small.h5"
    with h5py.File(path, "w") as f:
        f["feat"] = rng.normal(size=(3 * n_per, 4, 3)) + emo[:, None, None]
        f["label"] = np.stack([emo, emo * 0.5 + rng.normal(scale=0.1, size=emo.size)], axis=1).astype(float)
        f["start_indice"] = np.arange(3.0) * n_per
        f["end_indice"] = (np.arange(3.0) + 1) * n_per
    return path


def _disable(monkeypatch, names: str) -> None:
    monkeypatch.setenv("SERZOO_DISABLE_PLUGINS", names)
    plugin_manager.reset()


def test_default_components_are_core_plugins(monkeypatch):
    _disable(monkeypatch, "samplers,losses")
    assert plugin_manager.samplers().get(NO_SAMPLER).plugin in plugin_manager.CORE_PLUGINS
    for name in DEFAULT_LOSSES.values():
        assert plugin_manager.losses().get(name).plugin in plugin_manager.CORE_PLUGINS
    samplers = plugin_manager.samplers()
    assert {c.plugin for c in samplers if samplers.is_builtin(c)} == {"serzoo.training.defaults"}


def test_default_training_run_without_builtin_samplers_and_losses(monkeypatch, small_db, tmp_path):
    from serzoo.training import run as training
    from serzoo.training.prepare import prepare

    _disable(monkeypatch, "samplers,losses")
    config = TrainConfig(data=str(small_db), tasks="emotion:3:0,score:1:1", blocks="fcn,dense",
                         opts=["fcn.units=4", "dense.units=4"], epochs=1, batch_size=8, patience=0,
                         max_folds=1, jit_compile=False)
    prep = prepare(config)
    assert [t.resolved_loss() for t in prep.tasks] == [DEFAULT_LOSSES["classification"], DEFAULT_LOSSES["regression"]]
    training.run(prep, tmp_path / "run", echo=lambda m: None)
    fold = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())
    assert fold["sampler"]["name"] == NO_SAMPLER and fold["sampler"]["rows_after"] == fold["rows"]["train"]


@pytest.mark.parametrize("disabled", ["samplers,losses", "serzoo"])
def test_cli_dry_run_without_builtin_plugins(monkeypatch, small_db, tmp_path, invoke, disabled):
    _disable(monkeypatch, disabled)
    if disabled == "serzoo":  # every built-in plugin off: the core still reads the data, but no block is left
        result = invoke("train", "--data", small_db, "--dry-run", "--run-dir", tmp_path / "r")
        assert result.exit_code == 2 and "unknown block" in result.output and "Traceback" not in result.output
        return
    result = invoke("train", "--data", small_db, "--tasks", "emotion:3:0", "--blocks", "fcn,dense",
                    "--dry-run", "--run-dir", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "r").exists()


# --- built-ins are told by distribution, never by plugin name -------------------------------------

def _spy_loader(calls: list) -> Loader:
    def factory(path, **options):
        calls.append(path)
        raise AssertionError("the third-party *.h5 loader was chosen over serzoo's")

    # "a_h5" sorts before "h5", so a name-independent tie-break is what keeps the built-in first
    return Loader(name="a_h5", description="a third-party h5 loader", factory=factory, patterns=("*.h5",))


@pytest.fixture
def renamed_builtins(monkeypatch):
    """Load serzoo's own entry points under other plugin names: nothing may depend on those names."""
    original = plugin_manager._named_entry_points

    def renamed():
        return [(f"renamed_{name}" if ep.dist and ep.dist.metadata["Name"] == "serzoo" else name, ep)
                for name, ep in original()]

    monkeypatch.setattr(plugin_manager, "_named_entry_points", renamed)
    plugin_manager.reset()
    assert "renamed_loaders" in [i.name for i in plugin_manager.plugin_infos()]


def test_builtin_loader_wins_the_tie_break_whatever_its_plugin_name(renamed_builtins, register_fake, small_db):
    calls = []
    register_fake("h5_thief", serzoo_register_loaders=lambda register: register(_spy_loader(calls)))
    with open_database(small_db) as db:
        assert db.labels.shape[0] == 36
    assert calls == []


def test_the_core_h5_loader_survives_disabling_the_loader_plugins(monkeypatch, register_fake, small_db):
    _disable(monkeypatch, "loaders")
    calls = []
    register_fake("h5_thief", serzoo_register_loaders=lambda register: register(_spy_loader(calls)))
    with open_database(small_db) as db:  # SER_FEAT_EXT files are the core's format: its loader is never disabled
        assert db.labels.shape[0] == 36
    assert calls == []


def test_renamed_builtins_still_train_a_default_configuration(renamed_builtins, small_db, tmp_path, invoke):
    result = invoke("train", "--data", small_db, "--tasks", "emotion:3:0", "--blocks", "fcn,dense",
                    "--dry-run", "--run-dir", tmp_path / "r")
    assert result.exit_code == 0, result.output


def test_core_never_names_a_builtin_plugin_module():
    """No import of, or string naming, a module under serzoo.plugins in the core package."""
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if node.value.startswith("serzoo.plugins") else []
            offenders += [f"{path.name}:{node.lineno}: {n}" for n in names if n.startswith("serzoo.plugins")]
    assert offenders == []
