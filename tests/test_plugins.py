"""The plugin manager: entry points, disabled and broken plugins, check_pending, hook contracts."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

import pytest

from serzoo.core import hookspecs, plugin_manager
from serzoo.core.plugin_manager import PluginWarning
from serzoo.core.registry import Block, Loader, Loss, Sampler

HOOK_NAMES = [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("serzoo_")]


def _fake_block(name):
    return Block(name=name, description="fake block", factory=lambda x, **o: x, layouts_in=("sequence",))


GOOD_PLUGIN = """
    from serzoo import hookimpl
    from serzoo.core.registry import Block

    @hookimpl
    def serzoo_register_blocks(register):
        register(Block(name="fakeblock", description="a block from a fake distribution",
                       factory=lambda x, **o: x, layouts_in=("sequence",)))
"""


def test_entry_point_plugin_is_found_with_its_distribution(fake_distribution):
    fake_distribution("fake-serzoo-plugin", "fakeplug", "fakeplug_good", GOOD_PLUGIN)
    block = plugin_manager.blocks().get("fakeblock")
    assert block.plugin == "fakeplug"
    info = {i.name: i for i in plugin_manager.plugin_infos()}["fakeplug"]
    assert (info.distribution, info.version) == ("fake-serzoo-plugin", "1.2.3")
    assert plugin_manager.hooks_of(info) == ["serzoo_register_blocks"]


def test_plugin_that_fails_to_import_warns_once_naming_its_distribution(fake_distribution, invoke):
    fake_distribution("broken-dist", "fakeplug", "fakeplug_broken", "raise RuntimeError('boom at import')\n")
    with pytest.warns(PluginWarning, match=r"broken-dist 1\.2\.3.*boom at import") as record:
        blocks = plugin_manager.blocks()
    assert len([w for w in record if issubclass(w.category, PluginWarning)]) == 1
    assert "fakeplug" not in [i.name for i in plugin_manager.plugin_infos()]
    assert len(blocks) > 0  # the built-ins still load
    result = invoke("list", "blocks")
    assert result.exit_code == 0


@pytest.mark.parametrize("disable", ["fakeplug", "fake-serzoo-plugin"])
def test_disabled_plugins_are_not_loaded(fake_distribution, monkeypatch, disable):
    fake_distribution("fake-serzoo-plugin", "fakeplug", "fakeplug_good", GOOD_PLUGIN)
    monkeypatch.setenv("SERZOO_DISABLE_PLUGINS", f"something_else, {disable}")
    assert "fakeblock" not in plugin_manager.blocks()
    assert "fakeplug" not in [i.name for i in plugin_manager.plugin_infos()]


def test_disabling_a_builtin_removes_only_its_components(monkeypatch):
    from_plugin = {c.name for c in plugin_manager.losses() if c.plugin == "losses"}
    assert from_plugin, "the built-in losses plugin registers losses"
    monkeypatch.setenv("SERZOO_DISABLE_PLUGINS", "losses")
    plugin_manager.reset()
    left = plugin_manager.losses().list()
    assert not from_plugin & {c.name for c in left}
    assert left and all(c.plugin in plugin_manager.CORE_PLUGINS for c in left)  # the core's defaults stay
    assert len(plugin_manager.blocks()) > 0


def test_misspelt_hook_is_caught_by_check_pending(register_fake):
    with pytest.warns(PluginWarning, match="serzoo_register_block"):
        register_fake("typo", serzoo_register_block=lambda register: None)
    assert "typo" not in [i.name for i in plugin_manager.plugin_infos()]


def test_wrong_hook_argument_name_is_rejected(register_fake):
    with pytest.warns(PluginWarning, match="typo_args"):
        register_fake("typo_args", serzoo_register_blocks=lambda registrar: None)


def test_plugin_raising_in_hook_is_skipped_and_others_keep_working(register_fake):
    def bad(register):
        register(_fake_block("halfway"))
        raise ValueError("broken hook")

    register_fake("bad", distribution="bad-dist", serzoo_register_blocks=bad)
    register_fake("good", serzoo_register_blocks=lambda register: register(_fake_block("goodblock")))
    with pytest.warns(PluginWarning, match="bad-dist.*broken hook"):
        blocks = plugin_manager.blocks()
    assert "halfway" not in blocks  # nothing half-registered is left behind
    assert "goodblock" in blocks


def test_duplicate_from_two_plugins_names_both(register_fake):
    register_fake("one", serzoo_register_blocks=lambda register: register(_fake_block("twin")))
    register_fake("two", serzoo_register_blocks=lambda register: register(_fake_block("twin")))
    with pytest.warns(PluginWarning, match=r"'twin' from plugin 'two' \(distribution fake-dist\) "
                                           r"is already registered by plugin 'one' \(distribution fake-dist\)"):
        assert plugin_manager.blocks().get("twin").plugin == "one"


# --- every hook: documented, and exercised by a test -------------------------------------

@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_a_documented_contract(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc, f"{hook} has no docstring"
    first = doc.splitlines()[0]
    assert first.endswith(".") and "runs" in first, f"{hook}: the summary line says when it runs"
    params = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    for p in params:
        assert f"{p}:" in doc, f"{hook} does not document argument {p}"
    assert "Returns:" in doc
    spec_opts = getattr(getattr(hookspecs, hook), "serzoo_spec", {})
    if spec_opts.get("firstresult"):
        assert "Stops at first non-None result" in doc


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_test(hook):
    # the meta-tests name no hook literally (HOOK_NAMES is read from hookspecs), so any mention is a real test
    text = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    assert hook in text, f"no test exercises {hook}"


@pytest.mark.parametrize(
    "hook,component",
    [
        ("serzoo_register_blocks", _fake_block("hookblock")),
        ("serzoo_register_losses", Loss(name="hookloss", description="d", factory=lambda **o: None)),
        ("serzoo_register_samplers", Sampler(name="hooksampler", description="d", factory=lambda **o: None)),
        ("serzoo_register_loaders", Loader(name="hookloader", description="d", factory=lambda p, **o: None,
                                           patterns=("*.hook",))),
    ],
)
def test_register_hooks_fill_their_registry(register_fake, hook, component):
    register_fake("hooked", **{hook: lambda register: register(component)})
    kind = {v[0]: k for k, v in plugin_manager.KINDS.items()}[hook]
    assert plugin_manager.registry(kind).get(component.name).plugin == "hooked"


def test_serzoo_register_commands_adds_a_subcommand(register_fake, invoke):
    import click

    @click.command("hello")
    def hello():
        """Say hello from a plugin."""
        click.echo("hello from plugin")

    register_fake("cmds", serzoo_register_commands=lambda cli: cli.add_command(hello))
    assert "hello" in invoke("--help").output
    assert invoke("hello").output.strip() == "hello from plugin"


def test_plugins_command_lists_builtins_with_hooks(invoke):
    rows = json.loads(invoke("plugins", "--format", "json").output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["losses"]["distribution"] == "serzoo"
    assert "serzoo_register_losses" in by_name["losses"]["hooks"]


# --- hooks go through pluggy: wrappers run, broken plugins are isolated, hooks may run again ------

WRAPPER = {"serzoo_register_blocks": {"wrapper": True}}


def test_wrapper_only_hook_implementation_runs(register_fake):
    def wrap(register):
        register(_fake_block("before_yield"))
        result = yield
        register(_fake_block("after_yield"))
        return result

    register_fake("wrapping", hookimpl_opts=WRAPPER, serzoo_register_blocks=wrap)
    blocks = plugin_manager.blocks()
    assert blocks.get("before_yield").plugin == "wrapping" and blocks.get("after_yield").plugin == "wrapping"


def test_wrapper_runs_around_its_own_plugins_implementation(register_fake):
    events = []

    def plain(register):
        events.append("impl")
        register(_fake_block("wrapped_block"))

    def wrap(register):
        events.append("wrapper in")
        result = yield
        events.append("wrapper out")
        return result

    register_fake("wrapped", hookimpl_opts={"wrap_blocks": {"wrapper": True, "specname": "serzoo_register_blocks"}},
                  serzoo_register_blocks=plain, wrap_blocks=wrap)
    assert "wrapped_block" in plugin_manager.blocks()
    assert events == ["wrapper in", "impl", "wrapper out"]


def test_wrapper_that_raises_undoes_its_plugin_only(register_fake):
    def plain(register):
        register(_fake_block("undone"))

    def wrap(register):
        yield
        raise RuntimeError("wrapper broke")

    register_fake("wrapbad", distribution="wrapbad-dist",
                  hookimpl_opts={"wrap_blocks": {"wrapper": True, "specname": "serzoo_register_blocks"}},
                  serzoo_register_blocks=plain, wrap_blocks=wrap)
    register_fake("fine", serzoo_register_blocks=lambda register: register(_fake_block("fine_block")))
    with pytest.warns(PluginWarning, match="wrapbad-dist.*wrapper broke"):
        blocks = plugin_manager.blocks()
    assert "undone" not in blocks and "fine_block" in blocks and "lstm" in blocks


@pytest.mark.parametrize("kind", list(plugin_manager.KINDS))
def test_registration_hooks_run_again_when_plugins_change_and_give_the_same_registry(register_fake, kind):
    hook_name = plugin_manager.KINDS[kind][0]
    calls = []
    register_fake("counter", **{hook_name: lambda register: calls.append(1)})
    before = {(c.name, c.plugin) for c in plugin_manager.registry(kind)}
    register_fake("another", serzoo_register_blocks=lambda register: None)  # plugins change: registries rebuilt
    after = {(c.name, c.plugin) for c in plugin_manager.registry(kind)}
    assert len(calls) == 2, "the hook runs again when the registry is rebuilt (the specs say so)"
    assert after == before and before  # every plugin registers the same components each time


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_spec_says_it_may_run_more_than_once(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert "runs once" not in doc and ("more than once" in doc or "again" in doc)
