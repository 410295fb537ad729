"""Preparing a training run: open the data and check the whole configuration before any training.

Everything here fails with one-line errors and imports no TensorFlow, so ``serzoo train --dry-run``
and a bad option both answer at once.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from serzoo.core import layouts
from serzoo.core.errors import ConfigError, LayoutError
from serzoo.core.plugin_manager import augmenters, losses, samplers
from serzoo.core.registry import Augmenter, Sampler, parse_dotted_options
from serzoo.data.database import Database
from serzoo.data.labels import masked_columns
from serzoo.data.loading import open_database
from serzoo.data.splits import Split, make_splits
from serzoo.model.assemble import Plan, parse_opts, plan_chain
from serzoo.training.config import TrainConfig
from serzoo.training.final import epochs_from_run, final_split
from serzoo.training.defaults import NO_SAMPLER
from serzoo.training.tasks import ClassCounts, Task, check_labels, class_weights, driving_labels, parse_tasks


@dataclass
class Prepared:
    """A training run checked before TensorFlow is touched: everything the folds need.

    Args:
        config: the resolved configuration.
        db: the open, validated database.
        tasks: one per model head.
        plan: the checked chain of blocks.
        splits: the folds to train, in order.
        sampler: the training-set sampler.
        sampler_options: its options, typed.
        loss_options: options per loss name, typed.
        streaming: read training batches from the file instead of memory.
        augmenters: training-batch augmenters in order, with their typed options.
        total_folds: the folds of the protocol, before ``--max-folds`` kept the first ones.
        init_source: the model file ``--init-from`` names (see :mod:`serzoo.training.pretrained`), or None.
    """

    config: TrainConfig
    db: Database
    tasks: list[Task]
    plan: Plan
    splits: list[Split]
    sampler: Sampler
    sampler_options: dict[str, Any]
    loss_options: dict[str, dict[str, Any]]
    streaming: bool
    augmenters: list[tuple[Augmenter, dict[str, Any]]] = field(default_factory=list)
    total_folds: int = 0
    init_source: Any = None

    def class_names(self) -> dict[str, list[str]]:
        """Class names per classification task: the database's, else ``"0"``, ``"1"``, ..."""
        out = {}
        for task in self.tasks:
            if task.regression:
                continue
            names = self.db.class_names.get(self.db.label_names[task.column]) or []
            out[task.name] = list(names) if len(names) == task.num_classes else [str(i) for i in range(task.num_classes)]
        return out


def _key_values(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {item!r}: expected name=value")
        out[key.strip()] = value.strip()
    return out


def demo_layout(config: TrainConfig) -> str:
    """The file layout of the built-in demo corpus that the chain takes (1d when several do).

    Raises:
        SerzooError: the chain fits none (the error for the 1d demo, which says why).
    """
    shared = model_shared(config)
    first_error = None
    # frame-level layouts from the poorest (cheapest to build and train) to the richest
    for layout in reversed([lay for lay in layouts.LAYOUTS if lay.frame_level]):
        try:
            plan_chain(config.blocks, layout.name, parse_opts(config.opts), shared)
            return layout.file_layout
        except LayoutError as exc:
            first_error = first_error or exc
    raise first_error


def model_shared(config: TrainConfig) -> dict:
    """The options every block (``dropout``, ``l2``) or the heads (``l2``, ``frame_heads``) share."""
    values = (("dropout", config.dropout), ("l2", config.l2), ("frame_heads", config.frame_heads or None))
    return {k: v for k, v in values if v is not None}


def prepare(config: TrainConfig, echo=None) -> Prepared:
    """Open the data and check the whole configuration; raises one-line errors before any training.

    Args:
        config: the run's configuration; without ``data``, the built-in demo corpus in the
            layout the chain needs (made once and cached).
        echo: told in one line when the demo corpus has to be made.
    """
    from serzoo.data.demo import default_demo_path
    from serzoo.training.streaming import use_streaming

    if config.final and config.epochs_from:
        config.epochs = epochs_from_run(config.epochs_from)[0]  # in place: config.json records the epochs used
    config.validate()
    if config.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install 'serzoo[tensorboard]'")
    data = config.data or default_demo_path(demo_layout(config), echo)
    db = open_database(data, loader=config.loader)
    tasks = parse_tasks(config.tasks, db.label_names, ClassCounts(db.labels, db.label_names, db.class_names))
    check_labels(tasks, db.labels, maskable=masked_columns(db.label_names, db.attrs))
    for task in tasks:
        loss = losses().get(task.resolved_loss())
        if task.task_type not in loss.task_types:
            raise ConfigError(
                f"loss {loss.name} does not fit {task.task_type} task {task.name}; "
                f"use one made for {task.task_type} (see `serzoo list losses`)"
            )
    loss_options = {}
    for name, values in parse_opts(config.loss_opts).items():
        if name not in {t.resolved_loss() for t in tasks}:
            raise ConfigError(f"--loss-opt {name}.*: no task uses loss {name!r}")
        loss = losses().get(name)
        loss_options[name] = {k: loss.param(k).parse(v, where=f"{name}.") for k, v in values.items()}
        loss.resolve(loss_options[name])  # its own check, before any training
    class_weights(config.class_weights, tasks, db.labels)  # checks the spec; recomputed per fold
    sampler = samplers().get(config.sampler)
    sampler_options = {k: sampler.param(k).parse(v, where=f"{sampler.name}.")
                       for k, v in _key_values(config.sampler_opts, "--sampler-opt").items()}
    sampler.resolve(sampler_options)  # its own check, before any training
    if sampler.name != NO_SAMPLER:
        driving_labels(tasks, db.labels, config.sample_by)
        if sampler.needs_features and len(tasks) > 1 and (config.sample_by != "joint" or any(t.regression for t in tasks)):
            raise ConfigError(
                f"sampler {sampler.name} makes synthetic rows and needs a label for every task: with several "
                "tasks use --sample-by joint (classification tasks only), or an index sampler such as oversample"
            )
    shared = model_shared(config)
    plan = plan_chain(config.blocks, db.input_layout, parse_opts(config.opts), shared)
    # a final model (serzoo.training.final) has one split: every selected group trains, nothing is tested
    splits = [final_split(db, config)] if config.final else make_splits(
        db, config.protocol, test_groups=config.test_groups, val_groups=config.val_groups,
        train_groups=config.train_groups, ignore_groups=config.ignore_groups, adapt_groups=config.adapt_groups,
        folds=config.folds, val_share=config.val_share, seed=config.seed,
        group_by=config.group_by, options=config.split_opts,
    )
    total_folds = len(splits)
    if config.max_folds:
        splits = splits[: config.max_folds]
    streaming = use_streaming(db, config.streaming)
    _normalization(config, db, streaming)
    if streaming and sampler.needs_features:
        raise ConfigError(f"sampler {sampler.name} needs every training row in memory; use --streaming memory")
    init_source = None
    if config.init_from:
        from serzoo.training.pretrained import check_init

        init_source = check_init(config.init_from, db, splits)
    return Prepared(config, db, tasks, plan, splits, sampler, sampler_options, loss_options, streaming,
                    resolve_augmenters(config.augment, config.augment_opts, db.input_layout), total_folds,
                    init_source)


def _normalization(config: TrainConfig, db: Database, streaming: bool) -> None:
    """Check the normalisation mode against the data; apply per-speaker standardisation (in memory)."""
    if config.normalize == "utterance" and not db.layout.frame_level:
        raise ConfigError("--normalize utterance standardises over time steps; this database is flat "
                          "(one vector per utterance): use global")
    if config.normalize != "speaker":
        return
    if not db.groupings:
        raise ConfigError("--normalize speaker needs groups (speakers) in the database; use global or utterance")
    if streaming:
        raise ConfigError("--normalize speaker holds the standardised features in memory; use --streaming memory")
    from serzoo.data.normalize import standardize_by_group

    # the speaker grouping when the database has one, whatever --group-by splits by; else the chosen grouping
    grouping = db.grouping("speaker" if "speaker" in db.groupings else config.group_by)
    standardize_by_group(db, grouping.ids, db.layout.feature_axis)


def resolve_augmenters(names: str | None, opts: list[str], input_layout: str) -> list[tuple[Augmenter, dict]]:
    """The ``--augment`` chain with typed, checked options (``--augment-opt NAME.OPTION=VALUE``).

    Raises:
        UnknownComponentError: an unknown augmenter, with close matches.
        ConfigError: an option for an augmenter not in the chain, a bad value, or a layout it cannot augment.
    """
    chain = [augmenters().get(n.strip()) for n in (names or "").split(",") if n.strip()]
    given = parse_dotted_options(opts, "--augment-opt", "mixup.alpha=0.4")
    for name, values in given.items():
        if name not in {a.name for a in chain}:
            raise ConfigError(f"--augment-opt {name}.{next(iter(values))}: {name} is not in --augment")
    out = []
    for aug in chain:
        if input_layout not in aug.layouts:
            raise ConfigError(f"augmenter {aug.name} works on {', '.join(aug.layouts)} input; this database gives "
                              f"{input_layout}")
        options = aug.resolve({k: aug.param(k).parse(v, where=f"{aug.name}.") for k, v in given.get(aug.name, {}).items()})
        out.append((aug, options))
    return out
