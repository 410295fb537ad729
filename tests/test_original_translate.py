"""``serzoo translate`` and examples/original/: the original trainer's four scripts as serzoo commands."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest

from serzoo.compat.original import FLAGS, flags_document, parse, translate
from serzoo.core.errors import ConfigError
from tests.test_original_notation import write_feat_ext

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "original"
SCRIPTS = ("basic.sh", "pretrained.sh", "balanced_learning.sh", "various_metrics.sh")


def _regenerator():
    spec = importlib.util.spec_from_file_location("regenerate", EXAMPLES / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script_pairs(name: str) -> list[tuple[str, str]]:
    """(original line, serzoo line) of each command of an example script."""
    pairs, original = [], None
    for line in (EXAMPLES / name).read_text().splitlines():
        if line.startswith("# original: "):
            original = line[len("# original: "):]
        elif line.startswith("serzoo train "):
            pairs.append((original, line))
            original = None
    return pairs


def test_the_docs_table_is_the_flag_table():
    written = (ROOT / "docs" / "original_flags.md").read_text()
    assert written == flags_document(), "regenerate: python -m serzoo.compat.original > docs/original_flags.md"
    for flag in FLAGS:
        assert f"| {' '.join(f'`{n}`' for n in flag.names)} |" in flags_document()


def test_every_original_flag_is_known_and_unknown_ones_are_named(invoke):
    line = " ".join(f"{f.names[-1]} 1" if f.value else f.names[-1] for f in FLAGS)
    assert set(parse("python trainer.py " + line)) == {f.key for f in FLAGS}
    result = invoke("translate", "python ./src/trainer.py --conv -dt x.h5 --bogus 3 -zz")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: unknown flags of the original trainer: --bogus -zz "
                                     "(see docs/original_flags.md for the flags it had)")


def test_translation_of_splits_and_weights():
    t = translate("python ./src/trainer.py --f_dnn --u_dnn -dt d.h5 -n_cc 0:5 -cw a:1:2,b:3:4 --smote_enn",
                  data_kind="2d")
    argv = t.command()
    assert "--protocol logo --test-groups 0:4" in argv  # the original's n_cc range excluded its end
    assert "--class-weights 'a=1/2;b=3/4'" in argv and "--sampler smoteenn" in argv
    assert "--l2 0.01" in argv and "--epochs 50" in argv  # the original's defaults, not serzoo's
    assert any("validated on the test groups" in n for n in t.notes)
    with pytest.raises(ConfigError, match="-n_filter 4,8: 2 values for -dnn_depth 3 layers"):
        translate("trainer.py --conv -dnn_depth 3 -n_row 2 -n_col 2 -n_filter 4,8")
    with pytest.raises(ConfigError, match="names no model"):
        translate("trainer.py -dt d.h5")


@pytest.mark.parametrize("name", SCRIPTS)
def test_examples_are_the_translations_of_the_original_scripts(name, invoke):
    pairs = script_pairs(name)
    assert len(pairs) == {"basic.sh": 8, "pretrained.sh": 3, "balanced_learning.sh": 6, "various_metrics.sh": 3}[name]
    text = (EXAMPLES / name).read_text()
    assert _regenerator().regenerate(text) == text, "rewrite: python examples/original/regenerate.py"
    for original, line in pairs:  # the bare translation, but for the run folder and the saved model's name
        bare = shlex.split(translate(original).command())
        ours = shlex.split(line)[:-1]
        assert len(bare) == len(ours)
        differ = [(a, b) for a, b in zip(bare, ours) if a != b]
        assert all(a.startswith(b.rsplit("-", 1)[0]) or b.endswith("model.keras") for a, b in differ), differ
    result = invoke("translate", pairs[0][0])
    assert result.exit_code == 0 and pairs[0][1].startswith(result.stdout.strip())


@pytest.fixture(scope="module")
def original_layout(tmp_path_factory):
    """A SER_FEAT_EXT folder whose h5db/ holds tiny databases named as the scripts name them."""
    root = tmp_path_factory.mktemp("original")
    h5db = root / "SER_FEAT_EXT" / "h5db"
    h5db.mkdir(parents=True)
    # pretrained.sh tests groups 0-9 and validates on 10-29, so the 2d database needs more than 30 groups (as
    # eNTERFACE's 44 speakers have); 4 padding groups follow them (SER_FEAT_EXT's -n_cc 36)
    write_feat_ext(h5db / "ENT.MSPEC.2d.3cls.av.h5", n_groups=32, padded=4, rows=2, shape=(10, 1, 2, 4))
    write_feat_ext(h5db / "ENT.MSPEC.3d.3cls.av.h5", n_groups=24, padded=6, rows=2, shape=(1, 10, 2, 4))
    write_feat_ext(h5db / "AMI.500.RAW.laugh.h5", n_groups=3, padded=0, rows=8, shape=(5, 1, 2, 4))
    return root / "SER_FEAT_EXT"


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_scripts_run(name, invoke, original_layout, monkeypatch, tmp_path):
    """Every command checks out (--dry-run); the first of each script trains for an epoch (pretrained.sh: all)."""
    (tmp_path / "SER_FEAT_EXT").symlink_to(original_layout)  # the scripts run in a folder beside it
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for i, (_, line) in enumerate(script_pairs(name)):
        args = shlex.split(line)[2:-1]  # without `serzoo train` and "$@"
        trains = i == 0 or name == "pretrained.sh"  # its later lines load the model the first one saved
        result = invoke("train", *args, "--epochs", "1", "--batch-size", "16", *([] if trains else ["--dry-run"]))
        assert result.exit_code == 0, f"{line}\n{result.output}"
        if i == 0:
            assert "results:" in result.output
            assert result.output.count("empty padding") <= 1
