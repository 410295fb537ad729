"""Saved models load with plain ``keras.saving.load_model`` after ``import serzoo``; ``serzoo show model``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from serzoo.core import plugin_manager
from serzoo.core.errors import DataError
from spies import write_db


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One fold of a model with a core layer (per-utterance standardisation), a built-in plugin layer
    (highway gate), a third-party layer (the example plugin's stats_pool) and a custom loss (weighted_cce)."""
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    rng = np.random.default_rng(1)
    emo = np.tile([0] * 8 + [1] * 6 + [2] * 4, 3)
    folder = tmp_path_factory.mktemp("loading")
    db = write_db(folder / "db.h5", rng.normal(size=(len(emo), 6, 4)) + emo[:, None, None], emo[:, None], 18)
    config = TrainConfig(data=str(db), tasks="emotion:3:0:weighted_cce", blocks="cnn1d,stats_pool,highway",
                         opts=["cnn1d.filters=4", "highway.layers=1"], normalize="utterance", epochs=1, batch_size=8,
                         patience=0, jit_compile=False, max_folds=1)
    run(prepare(config), folder / "run", echo=lambda m: None)
    return folder / "run"


@pytest.fixture
def model_path(trained):
    return trained / "fold00" / "model.keras"


def _python(code: str, plugin_path: Path, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(plugin_path), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environ)


def test_plain_keras_loads_the_model_after_import_serzoo_in_either_order(model_path, request, tmp_path):
    from serzoo.model.serialization import load_model

    model, _ = load_model(model_path)
    x = np.random.default_rng(0).normal(size=(5, 6, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0)["emotion"])
    check = f"""
        m = keras.saving.load_model({str(model_path)!r})  # safe_mode stays on (the default)
        x, y = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'y.npy')!r})
        assert np.array_equal(m.predict(x, verbose=0)["emotion"], y)
        print(type(m.loss["emotion"]).__name__, sorted({{type(l).__name__ for l in m.layers}}))
    """
    plugins = request.config.example_plugin_path
    first = _python("import numpy as np\nimport serzoo\nimport keras\n" + textwrap.dedent(check), plugins)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith("CostWeightedCrossentropy")
    assert {"UtteranceStandardization", "HighwayGate", "StatsPooling"} <= set(eval(first.stdout.split(" ", 1)[1]))
    # Keras first: it cannot load the model alone (the layers are unknown), and can once serzoo is imported
    later = _python(textwrap.dedent(f"""
        import numpy as np, keras
        try:
            keras.saving.load_model({str(model_path)!r})
        except TypeError as exc:
            print("without serzoo:", "Could not locate class" in str(exc))
        import serzoo
    """) + textwrap.dedent(check), plugins)
    assert later.returncode == 0, later.stderr[-2000:]
    assert "without serzoo: True" in later.stdout


def test_import_serzoo_imports_neither_keras_nor_tensorflow(request):
    done = _python("import sys, serzoo\nprint(sorted({'keras', 'tensorflow'} & set(sys.modules)))",
                   request.config.example_plugin_path)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_metadata_records_plugins_and_the_training_data(trained, model_path):
    from serzoo.model.serialization import read_metadata

    meta = read_metadata(model_path)
    origins = {(o["kind"], o["name"]): o for o in meta["plugins"]}
    assert origins[("block", "stats_pool")]["distribution"] == "serzoo-example-plugin"
    assert origins[("block", "highway")]["distribution"] == "serzoo"
    assert origins[("loss", "weighted_cce")]["plugin"] == "losses"
    from serzoo.data.fingerprint import fingerprint
    from serzoo.data.loading import open_database

    assert meta["data"] == json.loads(json.dumps(fingerprint(open_database(str(trained.parent / "db.h5")))))
    assert [s["block"] for s in meta["plan"]["steps"]] == ["cnn1d", "stats_pool", "highway"]


def test_a_model_whose_plugin_is_missing_is_one_line_naming_it(model_path, monkeypatch):
    from serzoo.model.serialization import load_model

    monkeypatch.setenv("SERZOO_DISABLE_PLUGINS", "serzoo-example-plugin")
    plugin_manager.reset()
    with pytest.raises(DataError, match=r"block 'stats_pool' comes from plugin 'example' of distribution "
                                        r"serzoo-example-plugin .*pip install serzoo-example-plugin") as exc:
        load_model(model_path)
    assert "\n" not in str(exc.value)


def test_show_model_prints_chain_tasks_data_and_the_fold_scores(invoke, trained, model_path):
    from serzoo.model.serialization import load_model

    result = invoke("show", "model", model_path)
    assert result.exit_code == 0, result.output
    assert "stats_pool" in result.output and "emotion (label column 0, 3 classes, loss weighted_cce)" in result.output
    fold = json.loads((trained / "fold00" / "result.json").read_text())
    assert f"uar {fold['test']['emotion']['uar']:.3f}" in result.output
    as_json = json.loads(invoke("show", "model", model_path, "--format", "json").output)
    assert as_json["parameters"] == load_model(model_path)[0].count_params()
    assert as_json["data"]["rows"] == 54 and as_json["input"]["shape"] == [6, 4]
    assert all(o["installed"] for o in as_json["plugins"])


def test_show_model_reads_the_archive_without_tensorflow(model_path, request):
    done = _python(f"""
        import sys
        from serzoo.cli import cli
        cli.main(["show", "model", {str(model_path)!r}], standalone_mode=False)
        print(sorted({{'keras', 'tensorflow'}} & set(sys.modules)))
    """, request.config.example_plugin_path, SERZOO_DISABLE_PLUGINS="serzoo-example-plugin")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[]")
    assert "needs: block stats_pool from serzoo-example-plugin 0.1.0 (NOT INSTALLED)" in done.stdout
