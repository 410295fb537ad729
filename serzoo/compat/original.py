"""The original trainer's command line (SER_KERAS_TF_TRAINER ``src/trainer.py``) in serzoo's terms.

:data:`FLAGS` is the one table of the original's flags: what each becomes in
``serzoo train``, or why it has no equivalent. :func:`translate` turns an
original command line into a ``serzoo train`` command, and
:func:`flags_table` writes the table as the Markdown of ``docs/original_flags.md``
(a test keeps the two equal). The model flags combine into one ``--blocks``
chain (:mod:`serzoo.compat.chain`); the rest map one by one.

Plain Python: no TensorFlow, so ``serzoo translate`` stays instant.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Callable

from serzoo.compat.chain import model_args
from serzoo.core.errors import ConfigError
from serzoo.training.tasks import from_original_weights


@dataclass(frozen=True)
class Flag:
    """One flag of the original trainer.

    Args:
        names: its spellings (``-b``, ``--batch``); the first names it in messages.
        value: whether it takes a value (else it is a switch).
        serzoo: what it becomes in ``serzoo train`` (for the table).
        note: how, or why there is no equivalent.
        mapped: ``False`` when serzoo cannot do what it did; the translator names such flags.
        default: the original's default, emitted when it differs from serzoo's.
    """

    names: tuple[str, ...]
    value: bool
    serzoo: str
    note: str = ""
    mapped: bool = True
    default: str | None = None

    @property
    def key(self) -> str:
        return self.names[0].lstrip("-")


def _f(names: str, value: bool, serzoo: str, note: str = "", mapped: bool = True, default=None) -> Flag:
    return Flag(tuple(names.split()), value, serzoo, note, mapped, default)


_MODEL = "part of --blocks/--opt (see the chain below)"
_ITEM2 = "no serzoo equivalent yet (issue 13, item 2)"

#: Every flag of the original trainer, in the order of its argument parser.
FLAGS: tuple[Flag, ...] = (
    _f("-b --batch", True, "--batch-size", default="128"),
    _f("-n_sub_b --nb_sub_batch", True, "none", "large-corpus mode reads sub-batches; serzoo streams batches "
       "from the file (--streaming stream) with no sub-batch setting", mapped=False),
    _f("-e --epoch", True, "--epochs", default="50"),
    _f("-p --patience", True, "--patience", "the original stopped on the validation loss and kept the last "
       "epoch; serzoo stops on the validation metric and keeps the best epoch", default="5"),
    _f("-d --dropout", True, "--dropout", "reaches every block that declares dropout"),
    _f("-lr --learing_rate", True, "--lr", "the original's Adam also clipped values at 0.5 (no serzoo "
       "equivalent; --clipnorm clips norms)"),
    _f("-l2 --l2reg", True, "--l2", default="0.01"),
    _f("-cw --class_w", True, "--class-weights", "task:w0:w1,... becomes task=w0/w1;...; auto is auto"),
    _f("-eval --evaluation_set", True, "none", "serzoo scores the test part of every fold; training and "
       "validation scores are in each fold's log", mapped=False),
    _f("-nn --node_size", True, _MODEL, "units of dense, fcn and residual layers"),
    _f("-dnn_depth --dnn_depth", True, _MODEL, "number of convolution layers (entries of filters/kernel/pool)"),
    _f("-f_dnn_depth --f_dnn_depth", True, _MODEL, "frame-level layers before the temporal model"),
    _f("-p_dnn_depth --p_dnn_depth", True, _MODEL, "utterance-level layers after it"),
    _f("-frozen --frozen", True, "--freeze", "layer index list or range such as 0:7 (issue 10)"),
    _f("-unloaded --unloaded", True, "none", "re-initialising chosen layers of a loaded model has no "
       "serzoo option", mapped=False),
    _f("-n_row --nb_row", True, _MODEL, "first axis (context) of each 2-D/3-D kernel"),
    _f("-n_col --nb_col", True, _MODEL, "last axis (features) of each 2-D/3-D kernel"),
    _f("-n_time --nb_time", True, _MODEL, "time axis of each 3-D kernel"),
    _f("-l_filter --len_filter", True, _MODEL, "kernel of each 1-D convolution"),
    _f("-n_filter --nb_filter", True, _MODEL, "filters of each convolution layer"),
    _f("-stride --stride", True, _MODEL, "strides of every cnn layer"),
    _f("-pool --pool", True, _MODEL, "pooling of each 1-D convolution"),
    _f("-pool_t --pool_t", True, _MODEL, "time axis of each 3-D pooling"),
    _f("-pool_r --pool_r", True, _MODEL, "context axis of each pooling"),
    _f("-pool_c --pool_c", True, _MODEL, "feature axis of each pooling"),
    _f("-c_len --context_len", True, "none needed", "the context length is read from the database"),
    _f("-nb_sample --nb_total_sample", True, "--streaming stream", "large-corpus mode; serzoo streams any "
       "database that does not fit in memory"),
    _f("-cs --cell_size", True, _MODEL, "units of each LSTM"),
    _f("-t_max --t_max", True, "none needed", "the time length is read from the database"),
    _f("-elm_hidden --elm_hidden", True, "none", _ITEM2, mapped=False),
    _f("-elm_m_task --elm_m_task", True, "none", _ITEM2, mapped=False),
    _f("-dt --data", True, "--data"),
    _f("-kf --k_fold", True, "--protocol kfold --folds K --split-opt by=rows", "folds of rows; the original "
       "took contiguous row blocks, serzoo shuffles rows with --seed"),
    _f("-n_cc --n_cc", True, "--protocol logo --test-groups", "each group tests in turn; the original's a:b "
       "excluded b, serzoo's ranges include it, so a:b becomes a:b-1"),
    _f("-test_idx --test_idx", True, "--protocol fixed --test-groups", "same list and a:b (inclusive) notation"),
    _f("-train_idx --train_idx", True, "--train-groups"),
    _f("-valid_idx --valid_idx", True, "--val-groups"),
    _f("-ignore_idx --ignore_idx", True, "--ignore-groups"),
    _f("-adopt_idx --adopt_idx", True, "--adapt-groups", "adaptation groups (issue 10)"),
    _f("-kf_idx --kf_idx", True, "none", "serzoo runs every fold; --max-folds keeps the first N", mapped=False),
    _f("-r_valid --r_valid", True, "--val-share", "serzoo holds out whole training groups, the original the "
       "last rows of the training part; without -valid_idx and -r_valid the original validated on the test "
       "groups, which serzoo never does (its --val-share defaults to 0.1)"),
    _f("-mt --multitasks", True, "--tasks", "same name:classes:column:loss:weight:metric notation; the "
       "original's loss names are aliases (docs/original_flags.md, losses)", default="acted:2:0,arousal:2:1"),
    _f("-ot --output_file", True, "none", "results go to results.txt/results.json in the run directory",
       mapped=False),
    _f("-sm --save_model", True, "--run-dir", "models are saved in the run directory, one per fold"),
    _f("-lm --load_model", True, "--init-from", "give the .keras model serzoo saved (issue 10)"),
    _f("-log --log_file", True, "none", "each fold's log.csv is in the run directory", mapped=False),
    _f("-w_feat --w_feat", True, "none", "writing utterance embeddings has no serzoo train option",
       mapped=False),
    _f("-w_feat_layer --feature_ext_name", True, "none", "see -w_feat", mapped=False),
    _f("--conv", False, _MODEL, "cnn1d or cnn2d by the database's layout"),
    _f("--conv_3d", False, _MODEL, "cnn3d"),
    _f("--r_conv_3d", False, _MODEL, "resnet3d, one residual unit per stage"),
    _f("--conv_hw_3d", False, _MODEL, "convhw3d"),
    _f("--r_conv", False, _MODEL, "resnet2d, one residual unit per stage"),
    _f("--f_dnn", False, _MODEL, "fcn per frame; the utterance head then averages over time"),
    _f("--f_highway", False, _MODEL, "fcn (the original's dim layer), then highway per frame"),
    _f("--f_conv_highway", False, _MODEL, "convhw1d or convhw2d (pooling once, after the last layer)"),
    _f("--f_residual", False, _MODEL, "fcn (dim layer), then residual per frame"),
    _f("--f_lstm", False, _MODEL, "lstm (two layers of -cs units)"),
    _f("--u_lstm", False, _MODEL, "lstm (two layers of -cs units, last state)"),
    _f("--g_lstm", False, _MODEL, "lstm_avg (LSTM outputs averaged over time)"),
    _f("--u_dnn", False, _MODEL, "dense, -p_dnn_depth layers of -nn units"),
    _f("--u_hw", False, _MODEL, "dense (dim layer), then highway"),
    _f("--u_residual", False, _MODEL, "dense (dim layer), then residual"),
    _f("--g_pool", False, "none", _ITEM2, mapped=False),
    _f("--post_elm", False, "none", _ITEM2, mapped=False),
    _f("--headerless", False, "none needed", "not used by the original trainer"),
    _f("--default", False, "none needed", "not used by the original trainer"),
    _f("--log_append", False, "none", "see -log", mapped=False),
    _f("--unweighted", False, "none needed", "serzoo always reports UAR (and accuracy, F1, ...)"),
    _f("--tb", False, "--tensorboard"),
    _f("--reg", False, "none needed", "a task of 1 class is regression; CCC, MSE and MAE are reported"),
    _f("--smote_enn", False, "--sampler smoteenn"),
    _f("--decoding", False, "none", "decoding with a loaded model has no serzoo train option", mapped=False),
    _f("--cw_predict", False, "none", "weighting predictions by class weights has no serzoo option",
       mapped=False),
)

_BY_NAME = {name: flag for flag in FLAGS for name in flag.names}


@dataclass
class Translation:
    """A translated command line.

    Attributes:
        argv: the ``serzoo train`` arguments (without ``serzoo train``).
        unmapped: ``(flag, reason)`` of each flag given that serzoo cannot honour.
        notes: how the translation differs from the original where it had to.
    """

    argv: list[str]
    unmapped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def command(self) -> str:
        """The command as one shell line."""
        return shlex.join(["serzoo", "train", *self.argv])


def _strip_program(tokens: list[str]) -> list[str]:
    """The arguments after ``python ./src/trainer.py`` (or after ``trainer.py`` alone)."""
    for i, token in enumerate(tokens):
        if token.endswith("trainer.py"):
            return tokens[i + 1:]
    return tokens[1:] if tokens[:1] and tokens[0].startswith("python") else tokens


def parse(line: str) -> dict[str, str | bool]:
    """The original flags of one command line, by :attr:`Flag.key`; switches are ``True``.

    Raises:
        ConfigError: unknown flags (all named), or a flag missing its value.
    """
    tokens = _strip_program(shlex.split(line.replace("\\\n", " "), comments=True))
    args: dict[str, str | bool] = {}
    unknown = []
    i = 0
    while i < len(tokens):
        flag = _BY_NAME.get(tokens[i])
        if flag is None:
            if tokens[i].startswith("-"):  # an unknown flag's value is not named again
                unknown.append(tokens[i])
        elif flag.value:
            if i + 1 >= len(tokens):
                raise ConfigError(f"original flag {tokens[i]} needs a value")
            args[flag.key] = tokens[i + 1]
            i += 1
        else:
            args[flag.key] = True
        i += 1
    if unknown:
        raise ConfigError(f"unknown flags of the original trainer: {' '.join(unknown)} "
                          "(see docs/original_flags.md for the flags it had)")
    return args


def _exclusive_range(text: str) -> str:
    """``-n_cc a:b`` ran a..b-1; serzoo's ranges are inclusive."""
    if ":" in text and "," not in text:
        lo, hi = text.split(":", 1)
        return f"{lo}:{int(hi) - 1}"
    return text


def _splits(args: dict) -> tuple[list[str], list[str]]:
    """The protocol and group options."""
    out, notes = [], []
    if "test_idx" in args:
        out += ["--protocol", "fixed", "--test-groups", args["test_idx"]]
    elif "n_cc" in args:
        out += ["--protocol", "logo", "--test-groups", _exclusive_range(args["n_cc"])]
    elif "kf" in args:
        out += ["--protocol", "kfold", "--folds", args["kf"], "--split-opt", "by=rows"]
    for key, option in (("valid_idx", "--val-groups"), ("train_idx", "--train-groups"),
                        ("ignore_idx", "--ignore-groups"), ("adopt_idx", "--adapt-groups")):
        if key in args:
            out += [option, args[key]]
    if "valid_idx" not in args:
        if "r_valid" in args and float(args["r_valid"]) > 0:
            out += ["--val-share", args["r_valid"]]
        else:
            notes.append("without -valid_idx or -r_valid the original validated on the test groups; serzoo "
                         "holds out 0.1 of the training groups (--val-share)")
    return out, notes


#: original flag key -> (serzoo option, value conversion)
_ONE_TO_ONE: dict[str, tuple[str, Callable[[str], str]]] = {
    "dt": ("--data", str), "mt": ("--tasks", str), "b": ("--batch-size", str), "e": ("--epochs", str),
    "p": ("--patience", str), "d": ("--dropout", str), "lr": ("--lr", str), "l2": ("--l2", str),
    "cw": ("--class-weights", from_original_weights), "sm": ("--run-dir", str), "lm": ("--init-from", str),
    "frozen": ("--freeze", str),
}

_SWITCHES = {"tb": ["--tensorboard"], "smote_enn": ["--sampler", "smoteenn"], "nb_sample": ["--streaming", "stream"]}


def translate(line: str, *, data_kind: str | None = None) -> Translation:
    """Translate one original command line into ``serzoo train`` arguments.

    Args:
        line: ``python ./src/trainer.py -dt DB ...`` (the program part is optional).
        data_kind: the database's file layout (``1d``, ``2d``, ``3d``) when known; else read
            from ``-dt`` when that file exists, else ``2d`` (SER_FEAT_EXT's ``--two_d``).

    Raises:
        ConfigError: unknown flags, or model flags that cannot build a model.
    """
    args = parse(line)
    with_defaults = {f.key: f.default for f in FLAGS if f.default is not None}
    with_defaults.update(args)
    argv: list[str] = []
    for key, (option, convert) in _ONE_TO_ONE.items():
        if key in with_defaults:
            argv += [option, convert(str(with_defaults[key]))]
    split_args, notes = _splits(args)
    model, model_notes = model_args(args, data_kind)
    argv += split_args + model
    for key, extra in _SWITCHES.items():
        if key in args:
            argv += extra
    unmapped = [(f.names[0], f.note) for f in FLAGS if not f.mapped and f.key in args]
    return Translation(argv, unmapped, notes + model_notes)


#: the original's loss names (``-mt`` field 4) -> the serzoo loss each is an alias of
ORIGINAL_LOSSES = {
    "categorical_crossentropy": "cce",
    "weighted_categorical_crossentropy": "weighted_cce",
    "categorical_focal_loss": "focal",
    "mean_squared_error": "mse",
}

#: the original's checkpoint metrics (``-mt`` field 6) -> the serzoo metric that selects the checkpoint
ORIGINAL_METRICS = {
    "accuracy": "accuracy",
    "f1": "macro_f1",
    "precision": "macro_precision",
    "recall": "macro_recall",
}

_DOC_HEAD = """# The original trainer's flags in serzoo

`serzoo translate 'python ./src/trainer.py ...'` prints the `serzoo train` command for a command line of
SER_KERAS_TF_TRAINER and names on stderr the flags it cannot map. This page is written from the same table
(`serzoo/compat/original.py`); a test keeps them equal. `examples/original/` holds the original's four
scripts translated.

## Flags
"""

_DOC_TAIL = """
## Model flags

The original built its model from switches in a fixed order, and so does the translation: a convolution
front end, frame-level layers, a temporal model, utterance-level layers. Per-layer sizes become per-layer
`--opt` lists: `-n_row 2,2 -n_col 2,2 -n_filter 2,4 -pool_r 2,4 -pool_c 2,4` is
`--opt cnn2d.filters=2,4 --opt cnn2d.kernel=2x2,2x2 --opt cnn2d.pool=2x2,4x4` (for 3-D, time x row x column).
`-nn` sizes dense/fcn/residual layers, `-cs` both LSTM layers.

## Class weights

`-cw arousal:0.5:1.0:0.5,valence:0.5:1.0:0.1` is accepted as is by `--class-weights`, and means
`arousal=0.5/1.0/0.5;valence=0.5/1.0/0.1`; `-cw auto` is `--class-weights auto` (inverse class frequency of
the training fold).
"""


def _mapping_table(title: str, what: str, mapping: dict[str, str], note: str) -> str:
    rows = [f"\n## {title}\n", note, "", f"| original {what} | serzoo |", "|---|---|"]
    rows += [f"| `{old}` | `{new}` |" for old, new in mapping.items()]
    return "\n".join(rows) + "\n"


def flags_document() -> str:
    """The whole of ``docs/original_flags.md``: the flag table, loss and metric names, class weights."""
    losses = _mapping_table(
        "Losses", "loss (`-mt` field 4)", ORIGINAL_LOSSES,
        "The original's names are registered aliases of serzoo's losses (`serzoo show loss NAME`), so `-mt` "
        "strings work unchanged in `--tasks`. The original's cost-weighted loss looked its costs up by the "
        "predicted class only; serzoo's `weighted_cce` weighs by the true class "
        "(`--loss-opt weighted_cce.mode=first_class` gives the original's cost layout).")
    metrics = _mapping_table(
        "Checkpoint metrics", "metric (`-mt` field 6)", ORIGINAL_METRICS,
        "The original's `f1`, `precision` and `recall` (its `custom_metric.py`) were Keras batch averages over "
        "the cells of the one-hot targets, rounded at 0.5: micro averages, which equal accuracy whenever the "
        "winning class has a probability above 0.5, and no per-class variants. serzoo scores the whole "
        "validation set and averages over classes (macro), which is what these names mean in scikit-learn and "
        "what an imbalanced task such as laughter detection needs; `accuracy` is the quantity the original's "
        "`f1` in effect measured. UAR (the original's `--unweighted` report) is `uar`, serzoo's default for "
        "classification; the original's default field was `accuracy`, displayed only (it selected no "
        "checkpoint: its models were the last epoch's).")
    return _DOC_HEAD + "\n" + flags_table() + _DOC_TAIL + losses + metrics


def flags_table() -> str:
    """The Markdown table of every original flag and its serzoo option (``docs/original_flags.md``)."""
    rows = ["| original flag | serzoo | notes |", "|---|---|---|"]
    for flag in FLAGS:
        names = " ".join(f"`{n}`" for n in flag.names)
        serzoo = flag.serzoo if flag.serzoo.startswith(("none", "part of")) else f"`{flag.serzoo}`"
        notes = [flag.note.rstrip(".") + "." if flag.note else ""]
        if flag.default:
            notes.append(f"The original's default {flag.default} is passed when the flag is absent.")
        rows.append(f"| {names} | {serzoo} | {' '.join(n for n in notes if n)} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m serzoo.compat.original > docs/original_flags.md
    print(flags_document(), end="")
