"""`serzoo list`, `show`, `--help`, `--version` through Click's CliRunner."""

import json

import pytest

from serzoo import __version__
from serzoo.core import plugin_manager
from serzoo.core.registry import Block, Param


def test_version_and_help(invoke):
    assert __version__ in invoke("--version").output
    out = invoke("--help").output
    for command in ("list", "plugins", "show"):
        assert command in out


@pytest.mark.parametrize("kind", ["blocks", "losses", "samplers", "loaders", "features"])
def test_list_every_kind_as_table_and_json(invoke, kind):
    registered = [c.name for c in plugin_manager.registry(kind).list()]
    assert registered, f"the built-in plugins register {kind}"
    table = invoke("list", kind)
    assert table.exit_code == 0
    assert all(name in table.output for name in registered)
    rows = json.loads(invoke("list", kind, "--format", "json").output)
    assert [r["name"] for r in rows] == registered
    assert all(r["plugin"] and r["description"] for r in rows)


def test_list_blocks_shows_layouts(invoke):
    out = invoke("list", "blocks").output
    assert "accepts" in out and "produces" in out
    rows = json.loads(invoke("list", "blocks", "--format", "json").output)
    assert all(r["layouts_in"] and r["layout_out"] for r in rows)


def test_list_pattern_filters(invoke, register_fake):
    def blocks(register):
        for name in ("zz_one", "zz_two", "other_zz"):
            register(Block(name=name, description="d", factory=None, layouts_in=("vector",)))

    register_fake("patterns", serzoo_register_blocks=blocks)
    rows = json.loads(invoke("list", "blocks", "zz_*", "--format", "json").output)
    assert [r["name"] for r in rows] == ["zz_one", "zz_two"]
    empty = invoke("list", "blocks", "no_such_*")
    assert empty.exit_code == 0 and "No blocks match" in empty.output


def test_unknown_kind_is_a_usage_error(invoke):
    result = invoke("list", "models")
    assert result.exit_code == 2 and "blocks" in result.output


def test_show_prints_options_with_defaults(invoke, register_fake):
    block = Block(name="shown", description="a block to show", factory=None, layouts_in=("sequence",),
                  layout_out="vector", params=(Param("units", "int", 32, "hidden units"),
                                               Param("sizes", "ints", (3, 5), "kernel sizes")))
    register_fake("showing", serzoo_register_blocks=lambda register: register(block))
    out = invoke("show", "block", "shown").output
    for text in ("a block to show", "sequence", "vector", "units", "32", "hidden units", "3,5"):
        assert text in out
    assert json.loads(invoke("show", "blocks", "shown", "--format", "json").output)["params"][0]["default"] == 32


def test_unknown_component_is_one_line_exit_2(invoke):
    result = invoke("show", "block", "lstmm")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "unknown block 'lstmm'" in result.output and "lstm" in result.output


def test_debug_shows_the_traceback(runner):
    from serzoo.cli import cli
    from serzoo.core.errors import UnknownComponentError

    result = runner.invoke(cli, ["--debug", "show", "block", "lstmm"])
    assert isinstance(result.exception, UnknownComponentError)
