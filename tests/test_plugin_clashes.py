"""Names two plugins both claim: components, entry points and commands. Built-ins win whatever the load order."""

from __future__ import annotations

import warnings

import click
import pytest

from serzoo.core import plugin_manager
from serzoo.core.plugin_manager import PluginWarning
from serzoo.core.registry import Block, Sampler

#: A third-party plugin taking serzoo's ``lstm`` and adding a block of its own.
HIJACK_LSTM = """
    from serzoo import hookimpl
    from serzoo.core.registry import Block

    @hookimpl
    def serzoo_register_blocks(register):
        register(Block(name="lstm", description="not serzoo's lstm", factory=lambda x, **o: x, layouts_in=("sequence",)))
        register(Block(name="evil_extra", description="its own block", factory=lambda x, **o: x,
                       layouts_in=("sequence",)))
"""


def _block(name, **kw):
    return Block(name=name, description="fake block", factory=lambda x, **o: x, layouts_in=("sequence",), **kw)


def _plugin_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, PluginWarning)]


def _load_hijacker(order, fake_distribution, register_fake):
    """The lstm hijacker, loaded before the built-ins (an entry point found first) or after them (at run time)."""
    if order == "before":
        fake_distribution("evil-dist", "fakeplug_evil", "fakeplug_evil", HIJACK_LSTM)
        names = [i.name for i in plugin_manager.plugin_infos()]
        assert names.index("fakeplug_evil") < names.index("recurrent"), "the test needs the hijacker loaded first"
        return "fakeplug_evil"

    def hooks(register):
        register(_block("lstm"))
        register(_block("evil_extra"))

    register_fake("evil", distribution="evil-dist", serzoo_register_blocks=hooks)
    return "evil"


@pytest.mark.parametrize("order", ["before", "after"])
def test_builtin_keeps_its_name_and_only_the_clashing_component_is_dropped(order, fake_distribution, register_fake):
    evil = _load_hijacker(order, fake_distribution, register_fake)
    with pytest.warns(PluginWarning) as record:
        blocks = plugin_manager.blocks()
    assert blocks.get("lstm").plugin == "recurrent" and blocks.is_builtin(blocks.get("lstm"))
    assert blocks.get("lstm_avg").plugin == "recurrent"  # the rest of the built-in plugin is still there
    assert blocks.get("evil_extra").plugin == evil  # and so is the rest of the third-party plugin
    messages = _plugin_warnings(record)
    assert len(messages) == 1, messages
    assert all(s in messages[0] for s in ("block 'lstm'", "evil-dist", "distribution serzoo", f"'{evil}'"))
    assert "failed" not in messages[0]  # the built-in is not blamed


def test_alias_clash_with_a_builtin_drops_that_component_only(register_fake):
    register_fake("aliaser", distribution="alias-dist",
                  serzoo_register_blocks=lambda register: [register(_block("mine", aliases=("lstm",))),
                                                           register(_block("also_mine"))])
    with pytest.warns(PluginWarning, match=r"'lstm' from plugin 'aliaser' \(distribution alias-dist\)"):
        blocks = plugin_manager.blocks()
    assert "mine" not in blocks and blocks.get("also_mine").plugin == "aliaser"
    assert blocks.get("lstm").plugin == "recurrent"


def test_clash_between_two_third_parties_keeps_the_first_and_the_rest_of_the_second(register_fake):
    register_fake("first", distribution="dist-one", serzoo_register_samplers=lambda register: register(
        Sampler(name="twin", description="d", factory=lambda **o: None)))
    register_fake("second", distribution="dist-two", serzoo_register_samplers=lambda register: [
        register(Sampler(name="twin", description="d", factory=lambda **o: None)),
        register(Sampler(name="single", description="d", factory=lambda **o: None))])
    with pytest.warns(PluginWarning, match=r"sampler 'twin' from plugin 'second' \(distribution dist-two\) is already "
                                           r"registered by plugin 'first' \(distribution dist-one\)"):
        samplers = plugin_manager.samplers()
    assert samplers.get("twin").plugin == "first" and samplers.get("single").plugin == "second"


def test_a_third_party_cannot_take_a_core_default(register_fake):
    register_fake("fake_none", distribution="x-dist", serzoo_register_samplers=lambda register: register(
        Sampler(name="none", description="d", factory=lambda **o: None)))
    with pytest.warns(PluginWarning, match="sampler 'none'.*x-dist.*distribution serzoo"):
        owner = plugin_manager.samplers().get("none").plugin
    assert owner in plugin_manager.CORE_PLUGINS


# --- duplicate entry-point names ---------------------------------------------------------------

def _fake_plugin_source(block: str) -> str:
    return f"""
    from serzoo import hookimpl
    from serzoo.core.registry import Block

    @hookimpl
    def serzoo_register_blocks(register):
        register(Block(name="{block}", description="d", factory=lambda x, **o: x, layouts_in=("sequence",)))
"""


def test_two_distributions_with_one_entry_point_name_are_both_loaded(fake_distribution):
    fake_distribution("dist-a", "fakeplug", "fakeplug_a", _fake_plugin_source("block_a"))
    fake_distribution("dist-b", "fakeplug", "fakeplug_b", _fake_plugin_source("block_b"))
    with pytest.warns(PluginWarning, match=r"entry point 'fakeplug'.*distributions dist-. and dist-.") as record:
        infos = {i.name: i.distribution for i in plugin_manager.plugin_infos()}
    assert infos["fakeplug"] == "dist-b" and infos["fakeplug[dist-a]"] == "dist-a"  # dist-b is found first
    assert len(_plugin_warnings(record)) == 1
    blocks = plugin_manager.blocks()
    assert {blocks.get("block_a").plugin, blocks.get("block_b").plugin} == {"fakeplug[dist-a]", "fakeplug"}


def test_entry_point_named_like_a_builtin_leaves_the_builtin_its_name(fake_distribution, monkeypatch):
    fake_distribution("evil-dist", "recurrent", "fakeplug_rec", _fake_plugin_source("block_rec"))
    with pytest.warns(PluginWarning, match=r"entry point 'recurrent'.*distributions serzoo and evil-dist.*"
                                           r"'recurrent\[evil-dist\]'"):
        infos = {i.name: i.distribution for i in plugin_manager.plugin_infos()}
    assert infos["recurrent"] == "serzoo" and infos["recurrent[evil-dist]"] == "evil-dist"
    blocks = plugin_manager.blocks()
    assert blocks.get("lstm").plugin == "recurrent" and blocks.get("block_rec").plugin == "recurrent[evil-dist]"
    # the qualified name disables the third party alone
    monkeypatch.setenv("SERZOO_DISABLE_PLUGINS", "recurrent[evil-dist]")
    plugin_manager.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        assert "block_rec" not in plugin_manager.blocks() and "lstm" in plugin_manager.blocks()


# --- commands -----------------------------------------------------------------------------------

@click.command("train")
def _fake_train():
    """Not serzoo's train."""
    click.echo("hijacked")


@click.command("hello")
def _hello():
    """Say hello from a plugin."""
    click.echo("hello from plugin")


def _add_with_decorator(cli):
    @cli.command("train")
    def train():
        """Not serzoo's train either."""
        click.echo("hijacked")

    cli.add_command(_hello)


@pytest.mark.parametrize("how", ["add_command", "decorator", "dict"])
def test_plugin_cannot_replace_a_builtin_command(register_fake, invoke, how):
    def hook(cli):
        if how == "add_command":
            cli.add_command(_fake_train)
            cli.add_command(_hello)
        elif how == "decorator":
            _add_with_decorator(cli)
        else:
            cli.commands["train"] = _fake_train
            cli.commands["hello"] = _hello

    register_fake("hijack", distribution="hijack-dist", version="6.6", serzoo_register_commands=hook)
    with pytest.warns(PluginWarning, match=r"plugin 'hijack' from distribution hijack-dist 6\.6 tried to replace "
                                           r"serzoo's built-in command 'train'"):
        result = invoke("train", "--help")
    assert result.exit_code == 0 and "--blocks" in result.output and "hijacked" not in result.output
    assert invoke("hello").output.strip() == "hello from plugin"  # new names keep working


def test_plugin_cannot_replace_another_plugins_command(register_fake, invoke):
    register_fake("greeter", serzoo_register_commands=lambda cli: cli.add_command(_hello))

    @click.command("hello")
    def other_hello():
        click.echo("other hello")

    register_fake("other", distribution="other-dist", serzoo_register_commands=lambda cli: cli.add_command(other_hello))
    with pytest.warns(PluginWarning, match="plugin 'other' from distribution other-dist.*another plugin's command 'hello'"):
        assert invoke("hello").output.strip() == "hello from plugin"


def test_plugin_commands_follow_the_plugins_and_a_broken_hook_adds_nothing(register_fake, invoke):
    register_fake("greeter", serzoo_register_commands=lambda cli: cli.add_command(_hello))
    assert invoke("hello").output.strip() == "hello from plugin"
    plugin_manager.unregister_plugin("greeter")
    assert invoke("hello").exit_code != 0  # a removed plugin's command goes with it

    def broken(cli):
        cli.add_command(_hello)
        raise RuntimeError("broken command hook")

    register_fake("broken", distribution="broken-dist", serzoo_register_commands=broken)
    with pytest.warns(PluginWarning, match="broken-dist.*broken command hook"):
        assert invoke("hello").exit_code != 0
    assert invoke("train", "--help").exit_code == 0
