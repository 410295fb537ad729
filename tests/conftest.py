"""Shared fixtures: a clean plugin manager per test and a helper to register fake plugins."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest
from click.testing import CliRunner

from serzoo.core import plugin_manager


EXAMPLE_PLUGIN = Path(__file__).parents[1] / "examples" / "serzoo-example-plugin"


def install_example_plugin(target: Path) -> Path:
    """pip-install the example plugin for real (no network, no build isolation) into ``target``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(EXAMPLE_PLUGIN)],
        check=True, capture_output=True, text=True,
    )
    return target


def pytest_configure(config):
    """Install the example third-party plugin once, so the registry-wide tests cover its components too."""
    digest = hashlib.sha1()
    for path in sorted(EXAMPLE_PLUGIN.rglob("*")):
        if path.is_file() and "egg-info" not in str(path) and "__pycache__" not in str(path):
            digest.update(path.read_bytes())
    target = config.cache.mkdir(f"example-plugin-{digest.hexdigest()[:12]}")
    if not (target / "serzoo_example_plugin").exists():
        install_example_plugin(target)
    sys.path.insert(0, str(target))
    config.example_plugin_path = target


@pytest.fixture(autouse=True)
def _fresh_plugins():
    """Each test starts from the installed plugins only, whatever the previous one registered."""
    plugin_manager.reset()
    yield
    plugin_manager.reset()


@pytest.fixture
def register_fake():
    """Register a fake plugin made of hook functions: ``register_fake("name", serzoo_register_blocks=f)``.

    ``hookimpl_opts`` gives pluggy options per hook (``{"serzoo_register_blocks": {"wrapper": True}}``);
    a keyword ``NAME`` whose options carry ``specname`` adds an extra implementation of that hook.
    """
    names = []

    def add(name: str, distribution: str = "fake-dist", version: str = "0.0",
            hookimpl_opts: dict | None = None, **hooks):
        from serzoo import hookimpl

        module = types.ModuleType(name)
        for hook_name, fn in hooks.items():
            setattr(module, hook_name, hookimpl(**(hookimpl_opts or {}).get(hook_name, {}))(fn))
        plugin_manager.register_plugin(module, name, distribution, version)
        names.append(name)
        return module

    yield add
    for name in names:
        plugin_manager.unregister_plugin(name)


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """Make a distribution with a serzoo entry point importable, without pip: ``make(dist, ep_name, module, source)``.

    Each distribution gets its own folder prepended to ``sys.path``, so the one made last is found first
    (before serzoo's own entry points). Module names must start with ``fakeplug``.
    """

    def make(dist: str, ep_name: str, module: str, source: str):
        folder = tmp_path / dist
        folder.mkdir()
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
        info = folder / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[serzoo]\n{ep_name} = {module}\n")
        monkeypatch.syspath_prepend(str(folder))
        plugin_manager.reset()

    yield make
    for mod in [m for m in sys.modules if m.startswith("fakeplug")]:
        del sys.modules[mod]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run the serzoo CLI in-process and return the Click result."""
    from serzoo.cli import cli

    def run(*args, **kwargs):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return run
