"""The example third-party plugin, installed for real with pip, found through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import install_example_plugin
from serzoo.core import plugin_manager


def _serzoo(*args, pythonpath=None):
    env = {**os.environ, "PYTHONPATH": pythonpath or ""}
    code = "import sys; from serzoo.cli import main; sys.argv[0] = 'serzoo'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)


def test_installed_plugin_appears_and_disappears(tmp_path):
    target = install_example_plugin(tmp_path / "site")
    listed = _serzoo("list", "blocks", "--format", "json", pythonpath=str(target))
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["stats_pool"]["plugin"] == "example"
    samplers = json.loads(_serzoo("list", "samplers", "--format", "json", pythonpath=str(target)).stdout)
    assert "cap_majority" in [r["name"] for r in samplers]
    plugins = json.loads(_serzoo("plugins", "--format", "json", pythonpath=str(target)).stdout)
    assert {"name": "example", "distribution": "serzoo-example-plugin", "version": "0.1.0",
            "hooks": ["serzoo_register_blocks", "serzoo_register_samplers"]} in plugins
    # "uninstall": the same interpreter without the install location no longer sees it
    gone = json.loads(_serzoo("list", "blocks", "--format", "json", pythonpath=str(tmp_path / "empty")).stdout)
    assert "stats_pool" not in [r["name"] for r in gone]


def test_example_plugin_is_in_the_test_session_registry():
    block = plugin_manager.blocks().get("stats_pool")
    assert block.plugin == "example" and block.layer_modules == ("serzoo_example_plugin.layers",)


def test_cap_majority_caps_large_classes():
    sampler = plugin_manager.samplers().get("cap_majority")
    y = np.array([0] * 50 + [1] * 10 + [2] * 5)
    rows = sampler.factory(y, None, np.random.default_rng(0), 8, **sampler.resolve({"ratio": 2.0}))
    assert np.bincount(y[rows]).tolist() == [10, 10, 5]
    assert len(set(rows.tolist())) == len(rows)
