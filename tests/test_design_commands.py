"""The design card's commands work with no data argument: the demo corpus comes in the layout the chain needs."""

from __future__ import annotations

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("command,layout", [
    ("train --blocks cnn3d,lstm --sampler oversample", "3d"),
    ("train --blocks cnn2d,lstm,dense", "2d"),
    ("train --blocks fcn,dense", "1d"),
])
def test_design_commands_plan_on_a_demo_of_the_right_layout(invoke, tmp_path, monkeypatch, command, layout):
    monkeypatch.setenv("SERZOO_CACHE", str(tmp_path / "cache"))
    result = invoke(*command.split(), "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"{layout} layout" in result.output
    made = sorted(p.name for p in (tmp_path / "cache").glob("demo-*.h5"))
    assert made == [f"demo-v1{'' if layout == '1d' else '-' + layout}.h5"]
    if layout != "1d":
        assert "making the built-in demo corpus" in result.output
