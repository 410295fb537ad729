"""Starting from a trained model: weights matched by layer name, frozen layers, unfreezing after N epochs.

``--init-from MODEL.keras|RUN_DIR`` loads a serzoo model (plugins first, Keras safe mode
on) and copies into the new model every layer whose name and weight shapes match: serzoo
names block layers ``b{index}_{block}...`` and heads by task name, so a chain that starts
with the pretrained chain (and may append blocks) shares its layer names. Heads whose task
is new, has another number of classes or other class names are created fresh. The input
standardisation (``standardize``) is never loaded: its statistics come from the new
training rows, since the new data defines what "standardised" means for it.

``--freeze`` follows SER_KERAS_TF_TRAINER's ``-frozen``: indices into the model's layer
list (``model.layers``, the input layer is 0), as lists and inclusive ranges (``0:7``), and
also layer names and block names (``cnn1d`` freezes every layer of every cnn1d block).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Callable

import numpy as np

from serzoo.core.errors import ConfigError, DataError
from serzoo.training.config import STORED_NORMALIZATIONS

Echo = Callable[[str], None]
#: layers never loaded from a pretrained model (their values come from the new training rows)
NOT_LOADED = {"standardize": "statistics of this run's training rows (the new data defines them)"}
_INDEX = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*)?$")


def resolve_source(path: str | Path) -> Path:
    """The model file of ``--init-from``: a ``.keras`` file, or the one model of a run directory.

    A run directory gives its final model (``RUN/final/model.keras``, from ``serzoo train --final``)
    or, for a run of a single fold, that fold's model; a cross-validation run has one model per
    fold and is refused with the choices.

    Raises:
        ConfigError: no such file, or a run directory without exactly one model.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise ConfigError(f"--init-from {path}: no such model file or run directory")
    final = path / "final" / "model.keras"
    if final.is_file():
        return final
    folds = sorted(path.glob("fold*/model.keras"))
    if len(folds) == 1:
        return folds[0]
    if not folds:
        raise ConfigError(f"--init-from {path}: no model in this run directory (no final/model.keras or "
                          "foldNN/model.keras); is the run finished?")
    raise ConfigError(f"--init-from {path}: the run has {len(folds)} fold models; give one "
                      f"(--init-from {folds[0]}) or train one model on all groups with "
                      f"`serzoo train --final --epochs-from {path}`")


@functools.lru_cache(maxsize=2)
def pretrained_weights(path: str) -> tuple[dict[str, list[np.ndarray]], dict, list[str]]:
    """Weights by layer name, the serzoo metadata and the layer names of a saved model (loaded once per run)."""
    from serzoo.model.serialization import load_model

    model, metadata = load_model(path, compile=False)
    weights = {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers}
    return weights, metadata, [layer.name for layer in model.layers]


def _head_changes(metadata: dict, prep) -> dict[str, str]:
    """Heads that must be made fresh though their shapes may fit: another task type or other class names."""
    old_tasks = {t.get("name"): t for t in metadata.get("tasks", [])}
    old_names = metadata.get("class_names", {})
    new_names = prep.class_names()
    out = {}
    for task in prep.tasks:
        old = old_tasks.get(task.name)
        if old is None:
            out[task.name] = "new task"
        elif not task.regression and old_names.get(task.name) and new_names.get(task.name) != old_names[task.name]:
            out[task.name] = (f"classes differ ({','.join(map(str, old_names[task.name]))} before, "
                              f"{','.join(new_names[task.name])} now)")
    return out


def load_pretrained(model, prep, source: Path, echo: Echo) -> dict:
    """Copy the pretrained weights into ``model`` by layer name; returns the load report.

    The report lists ``loaded`` layers, ``new`` ones (created fresh, with why) and those that
    ``did_not_fit`` (weight shapes differ: both are given), plus pretrained layers left ``unused``.
    """
    weights, metadata, old_layers = pretrained_weights(str(source))
    changed = _head_changes(metadata, prep)
    report = {"source": str(source), "loaded": [], "new": [], "did_not_fit": [], "unused": []}
    for layer in model.layers:
        mine = layer.get_weights()
        name = layer.name
        if name in NOT_LOADED and name in weights:
            report["new"].append({"layer": name, "why": NOT_LOADED[name]})
        elif not mine:
            continue
        elif name not in weights:
            report["new"].append({"layer": name, "why": changed.get(name, "not in the pretrained model")})
        elif [w.shape for w in mine] != [w.shape for w in weights[name]]:
            report["did_not_fit"].append({"layer": name, "pretrained": [list(w.shape) for w in weights[name]],
                                          "here": [list(w.shape) for w in mine]})
        elif name in changed:
            report["new"].append({"layer": name, "why": changed[name]})
        else:
            layer.set_weights(weights[name])
            report["loaded"].append(name)
    if not report["loaded"]:
        raise ConfigError(f"--init-from {source}: no layer of it fits this model (layers {', '.join(old_layers)}); "
                          "start the chain with the pretrained model's blocks and options")
    here = {layer.name for layer in model.layers}
    report["unused"] = [n for n in old_layers if n not in here and weights.get(n)]
    features = metadata.get("features", {}).get("features")
    report["same_features"] = features == prep.db.attrs.get("features")
    report["trained_on"] = training_record(metadata)
    echo(f"  {load_summary(report)}")
    if not report["same_features"]:
        echo(f"  warning: {source} was trained on other feature settings ({features}) than this database's "
             f"({prep.db.attrs.get('features')})")
    return report


def load_summary(report: dict) -> str:
    """One line: how many layers were loaded, made new, did not fit."""
    parts = [f"init from {report['source']}: loaded {len(report['loaded'])} layers"]
    if report["new"]:
        parts.append("new " + ", ".join(f"{n['layer']} ({n['why']})" for n in report["new"]))
    if report["did_not_fit"]:
        parts.append("did not fit " + ", ".join(
            f"{d['layer']} ({_shapes(d['pretrained'])} vs {_shapes(d['here'])})" for d in report["did_not_fit"]))
    return "; ".join(parts)


def _shapes(shapes: list[list[int]]) -> str:
    return "+".join("x".join(map(str, s)) for s in shapes)


def freeze_names(spec: str | None, model, blocks: list[str], option: str = "--freeze") -> list[str]:
    """The layer names a freeze specification selects, in model order.

    Args:
        spec: comma-separated indices into ``model.layers`` and inclusive ranges (``0:7``, the
            original trainer's ``-frozen``), layer names, or block names (``cnn1d``, or ``b2_cnn1d``
            for one occurrence).
        model: the built model.
        blocks: the chain's block names in order (``b1`` is the first).
        option: the option name for messages.

    Raises:
        ConfigError: an index beyond the model (naming how many layers it has), or a name that is
            neither a layer nor a block (listing the valid ones).
    """
    layers = [layer.name for layer in model.layers]
    prefixes = {}
    for index, block in enumerate(blocks, 1):
        prefixes.setdefault(block, []).append(f"b{index}_{block}")
        prefixes[f"b{index}_{block}"] = [f"b{index}_{block}"]
    chosen: set[str] = set()
    for token in filter(None, (t.strip() for t in (spec or "").split(","))):
        match = _INDEX.match(token)
        if match:
            lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
            if hi < lo:
                raise ConfigError(f"{option} {token}: the range runs backwards; write {hi}:{lo}")
            if hi >= len(layers):
                raise ConfigError(f"{option} {token}: layer index {hi} is beyond the model, which has "
                                  f"{len(layers)} layers (0..{len(layers) - 1}; see `serzoo train --dry-run`)")
            chosen.update(layers[lo:hi + 1])
        elif token in layers:
            chosen.add(token)
        elif token in prefixes:
            chosen.update(n for n in layers if any(n.startswith(p + "_") for p in prefixes[token]))
        else:
            raise ConfigError(f"{option} {token}: no layer or block of that name; blocks: "
                              f"{', '.join(dict.fromkeys(blocks))}; layers: {', '.join(layers)}")
    return [n for n in layers if n in chosen]


def set_trainable(model, names: list[str], trainable: bool) -> None:
    """Freeze (or unfreeze) the named layers."""
    for name in names:
        model.get_layer(name).trainable = trainable


def carry_optimizer_state(old, new, variables) -> None:
    """Build ``new`` for ``variables`` and copy every slot ``old`` had (matched by name), its step included.

    Layers that were frozen start with empty moments; the others keep theirs, so unfreezing
    does not restart the optimizer of the layers that were training all along.
    """
    new.build(variables)
    if old is None or not old.built:
        return
    previous = {v.name: v for v in old.variables}
    for variable in new.variables:
        if variable.name in previous and tuple(previous[variable.name].shape) == tuple(variable.shape):
            variable.assign(previous[variable.name])


def read_source_metadata(source: Path) -> dict:
    """The serzoo metadata of a pretrained model, without TensorFlow (checked before training)."""
    from serzoo.model.serialization import read_metadata

    metadata = read_metadata(source)
    if not metadata:
        raise DataError(f"--init-from {source}: no serzoo metadata in this .keras file; "
                        "give a model saved by serzoo")
    return metadata


def trained_on(split) -> dict:
    """The groups of every row a model used (training, validation, adaptation), for its metadata.

    With the database's fingerprint (``data`` in every saved model's metadata) this lets a later
    ``--init-from`` on the same database refuse to test a group the pretrained model trained or
    selected on (see :func:`training_record`).
    """
    used = [*split.train_groups, *split.val_groups, *split.adapt_groups]
    names = [split.group_names[g] if g < len(split.group_names) else str(g) for g in used]
    return {"grouping": split.grouping, "group_names": sorted(set(names)),
            "rows": int(len(split.train) + len(split.val) + len(split.adapt))}


def training_record(metadata: dict) -> dict | None:
    """What a saved model trained on: its groups and the hashes of its database's labels and groups; None if unknown."""
    used, data = metadata.get("trained_on"), metadata.get("data")
    if not used or not data:
        return None
    return {**used, "labels": data.get("labels"), "groups": data.get("groups")}


def pretrained_leakage(record: dict | None, db, split) -> str:
    """How the pretrained model relates to this fold's test groups, for the fold's leakage record.

    Raises:
        ConfigError: the pretrained model trained on this database's rows of a group this fold tests.
    """
    from serzoo.data.fingerprint import fingerprint

    if not record:
        return "unknown: the pretrained model carries no record of its training data"
    now = fingerprint(db)
    if (record.get("labels"), record.get("groups")) != (now["labels"], now["groups"]):
        return "trained on another database (labels or groups differ)"
    if record.get("grouping") != split.grouping or not record.get("group_names"):
        return f"trained on this database, grouped by {record.get('grouping')!r}: overlap with the test rows unknown"
    shared = sorted(set(record["group_names"]) & set(split.test_names))
    if shared:
        raise ConfigError(f"--init-from: the pretrained model trained on {split.grouping} {shared[0]}, which fold "
                          f"{split.name} tests; leave its groups out of the test (e.g. --test-groups) or pretrain "
                          "on other groups")
    return (f"trained on {split.grouping} {', '.join(record['group_names'])} of this database; "
            "none is tested in this fold")


def check_init(init_from: str, db, splits) -> Path:
    """The pretrained model file, checked against every fold before any training (no TensorFlow).

    Raises:
        ConfigError: no single model at ``init_from``, or one trained on a group a fold tests.
        DataError: not a serzoo model.
    """
    source = resolve_source(init_from)
    record = training_record(read_source_metadata(source))
    for split in splits:
        pretrained_leakage(record, db, split)
    return source


def prepare_model(model, prep, fold_dir: Path, echo: Echo) -> None:
    """Load ``--init-from`` weights and freeze ``--freeze`` layers of a new fold model (before compiling).

    The load report and the frozen layers go to ``fold_dir/init.json`` for the fold's result.
    """
    from serzoo.core.files import write_json

    cfg = prep.config
    if not cfg.init_from and not cfg.freeze:
        return
    record = {}
    if cfg.init_from:
        record["init"] = load_pretrained(model, prep, Path(prep.init_source or resolve_source(cfg.init_from)), echo)
    if cfg.freeze:
        names = freeze_names(cfg.freeze, model, prep.plan.blocks)
        set_trainable(model, names, False)
        record["frozen"] = {"spec": cfg.freeze, "layers": names, "unfreeze_after": cfg.unfreeze_after}
        echo(f"  frozen: {', '.join(names) or 'no layer'}"
             f"{f' (until epoch {cfg.unfreeze_after})' if cfg.unfreeze_after else ''}")
    write_json(fold_dir / "init.json", record)


def epoch_phases(config, initial_epoch: int) -> list[tuple[int, int]]:
    """``(first, end)`` epoch ranges to fit: split at ``--unfreeze-after`` when that is still ahead."""
    split_at = config.unfreeze_after
    if split_at and initial_epoch < split_at < config.epochs:
        return [(initial_epoch, split_at), (split_at, config.epochs)]
    return [(initial_epoch, config.epochs)]


def before_phase(model, prep, start: int, new_optimizer: Callable, recompile: Callable, echo: Echo) -> None:
    """At ``--unfreeze-after``, unfreeze the ``--freeze`` layers and recompile, carrying the optimizer state over.

    Also when a resumed fold's checkpoint was written before the unfreezing: the layers are then
    still frozen and are unfrozen here exactly as an uninterrupted run did.
    """
    cfg = prep.config
    if not cfg.unfreeze_after or start < cfg.unfreeze_after:
        return
    names = [n for n in freeze_names(cfg.freeze, model, prep.plan.blocks) if not model.get_layer(n).trainable]
    if not names:
        return
    set_trainable(model, names, True)
    optimizer = new_optimizer()
    carry_optimizer_state(model.optimizer, optimizer, model.trainable_variables)
    recompile(optimizer)
    echo(f"  epoch {start + 1}: unfrozen {', '.join(names)}")


def stage_metadata(prep, split) -> dict:
    """Extra metadata of a saved fold or final model: what it trained on, how it started, its epochs."""
    out = {"trained_on": trained_on(split)}
    if prep.config.init_from:
        out["init_from"] = str(prep.init_source or prep.config.init_from)
    if prep.config.final:
        from serzoo.training.final import final_record

        out["final"] = final_record(prep)
    return out


def add_stage_records(result: dict, prep, split, fold_dir: Path, adaptation: dict | None) -> None:
    """Put the load report, frozen layers, adaptation and pretrained-model leakage check into a fold result."""
    import json

    init_path = fold_dir / "init.json"
    if init_path.exists():
        result.update(json.loads(init_path.read_text()))
    if prep.config.init_from:
        record = (result.get("init") or {}).get("trained_on")
        result["leakage_checks"]["pretrained_model"] = pretrained_leakage(record, prep.db, split)
    if adaptation is not None:
        result["adaptation"] = adaptation
        result["leakage_checks"]["adaptation"] = ("adaptation rows are disjoint from the test and validation rows; "
                                                  "the test rows were scored before and after, never trained on")
    if not len(split.test):
        from serzoo.training.final import NO_TEST

        result["no_test_score"] = NO_TEST


def check_freeze(prep) -> list[str]:
    """Build the run's model once to check ``--freeze``/``--adapt-freeze``; returns its layers as indexed lines.

    Raises:
        ConfigError: a freeze index beyond the model or an unknown layer or block name.
    """
    from serzoo.model.assemble import Head, build_model

    cfg = prep.config
    stats = None
    if cfg.normalize in STORED_NORMALIZATIONS:  # the layer list of a trained model: with its standardisation layer
        dim = prep.db.example_shape[prep.db.layout.feature_axis]
        stats = (np.zeros(dim), np.ones(dim))
    model = build_model(prep.plan, prep.db.example_shape, [Head(t.name, t.num_classes) for t in prep.tasks],
                        normalization=stats, per_utterance=cfg.normalize == "utterance")
    frozen = set(freeze_names(cfg.freeze, model, prep.plan.blocks))
    if cfg.adapt_freeze and cfg.adapt_freeze.strip().lower() != "none":
        freeze_names(cfg.adapt_freeze, model, prep.plan.blocks, "--adapt-freeze")
    return [f"  {i:>3}  {layer.name}{'  (frozen)' if layer.name in frozen else ''}"
            for i, layer in enumerate(model.layers)]
