"""Registry behaviour: names, duplicates, aliases, look-ups, wildcards, parameters."""

import pytest

from serzoo.core.errors import ConfigError, RegistrationError, UnknownComponentError
from serzoo.core.registry import Block, Loss, Param, Registry


def _block(name, **kw):
    return Block(name=name, description="d", factory=lambda x, **o: x, layouts_in=("sequence",), **kw)


@pytest.fixture
def reg():
    return Registry("blocks", Block)


def test_register_records_plugin_and_lists_sorted(reg):
    reg.register(_block("zeta"), plugin="p1")
    reg.register(_block("alpha"), plugin="p2")
    assert [b.name for b in reg.list()] == ["alpha", "zeta"]
    assert reg.get("zeta").plugin == "p1"
    assert len(reg) == 2 and "alpha" in reg


@pytest.mark.parametrize("bad", ["CNN", "cnn-2d", "2d", "", "with space", "é"])
def test_rejects_names_that_are_not_cli_tokens(reg, bad):
    with pytest.raises(RegistrationError, match="command-line token"):
        reg.register(_block(bad), plugin="p")


def test_duplicate_names_both_plugins(reg):
    reg.register(_block("lstm"), plugin="first")
    with pytest.raises(RegistrationError) as err:
        reg.register(_block("lstm"), plugin="second")
    assert "first" in str(err.value) and "second" in str(err.value)


def test_alias_resolves_and_cannot_shadow(reg):
    reg.register(_block("cnn2d", aliases=("conv2d",)), plugin="p")
    assert reg.get("conv2d").name == "cnn2d"
    with pytest.raises(RegistrationError, match="'p'"):
        reg.register(_block("conv2d"), plugin="q")


def test_unknown_name_suggests_close_matches(reg):
    reg.register(_block("cnn2d"), plugin="p")
    reg.register(_block("cnn3d"), plugin="p")
    with pytest.raises(UnknownComponentError) as err:
        reg.get("cnn4d")
    assert "cnn2d" in str(err.value) and "cnn3d" in str(err.value)


def test_wrong_component_type_is_rejected(reg):
    loss = Loss(name="x", description="d", factory=lambda **o: None)
    with pytest.raises(RegistrationError, match="Block"):
        reg.register(loss, plugin="p")


def test_shell_pattern_filters(reg):
    for n in ("cnn1d", "cnn2d", "lstm"):
        reg.register(_block(n), plugin="p")
    assert [b.name for b in reg.list("cnn*")] == ["cnn1d", "cnn2d"]
    assert [b.name for b in reg.list("*st*")] == ["lstm"]


def test_unregister_plugin_drops_its_components_and_aliases(reg):
    reg.register(_block("a", aliases=("aa",)), plugin="p")
    reg.register(_block("b"), plugin="q")
    reg.unregister_plugin("p")
    assert "a" not in reg and "aa" not in reg and "b" in reg


def test_block_layout_metadata_is_checked():
    with pytest.raises(RegistrationError, match="layouts_in"):
        Block(name="x", description="d", factory=None, layouts_in=("cube",))
    with pytest.raises(RegistrationError, match="out_rule"):
        Block(name="x", description="d", factory=None, layouts_in=("sequence",), layout_out="sequence|vector")
    same = _block("x")
    assert same.output_layout("sequence", {}) == "sequence"


@pytest.mark.parametrize(
    "ptype,text,value",
    [("int", "3", 3), ("float", "0.5", 0.5), ("bool", "yes", True), ("bool", "0", False),
     ("ints", "16,32", (16, 32)), ("floats", "1,0.5", (1.0, 0.5)), ("str", "relu", "relu")],
)
def test_param_parses_command_line_values(ptype, text, value):
    assert Param("p", ptype, None).parse(text) == value


def test_param_rejects_values_with_expected_form():
    with pytest.raises(ConfigError, match=r"cnn2d\.filters='a,b'.*comma-separated integers"):
        Param("filters", "ints", (8,)).parse("a,b", where="cnn2d.")
    with pytest.raises(ConfigError, match="one of relu, tanh"):
        Param("act", "choice", "relu", choices=("relu", "tanh")).parse("gelu")


def test_resolve_checks_option_names():
    b = _block("x", params=(Param("units", "int", 8), Param("dropout", "float", 0.0)))
    assert b.resolve({"units": 4}) == {"units": 4, "dropout": 0.0}
    with pytest.raises(ConfigError, match="valid options: units, dropout"):
        b.resolve({"unit": 4})


def test_messages_name_the_kind_in_the_singular():
    losses = Registry("losses", Loss)
    with pytest.raises(UnknownComponentError, match="unknown loss 'nope'"):
        losses.get("nope")


def test_clash_reported_to_on_clash_keeps_first_and_names_distributions():
    seen = []
    dists = {"p": "dist-p", "q": "dist-q", "core": "serzoo"}
    reg = Registry("blocks", Block, distribution_of=dists.get, on_clash=seen.append)
    first = reg.register(_block("lstm"), plugin="p")
    assert reg.register(_block("lstm"), plugin="q") is None and reg.get("lstm") is first
    assert "dist-p" in seen[0] and "dist-q" in seen[0]
    builtin = reg.register(_block("lstm", aliases=("rnn",)), plugin="core")  # a built-in takes its name back
    assert reg.get("lstm") is builtin and reg.is_builtin(builtin) and not reg.is_builtin(first)
    assert reg.register(_block("other", aliases=("rnn",)), plugin="p") is None and "other" not in reg
    assert len(seen) == 3 and "serzoo" in seen[2]
