"""The resolved configuration of a training run, saved with its results so a run can be repeated."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from serzoo.core.errors import ConfigError, UnknownComponentError
from serzoo.training.defaults import NO_SAMPLER

STREAMING_MODES = ("auto", "memory", "stream")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
#: global: training-fold statistics inside the model; utterance: each utterance over its own time steps;
#: speaker: each group with its own statistics (transductive: the test group's unlabeled features are used)
NORMALIZATIONS = ("global", "minmax", "utterance", "speaker", "none")
#: normalisations whose statistics come from the training rows and are stored in the model
STORED_NORMALIZATIONS = ("global", "minmax")
#: --precision: Keras mixed-precision policies (serzoo.training.precision)
PRECISIONS = ("fp32", "bf16", "fp16")
#: --distribute: tf.distribute strategies (serzoo.training.distribute)
DISTRIBUTE_MODES = ("mirrored", "multiworker")


@dataclass
class TrainConfig:
    """Everything ``serzoo train`` needs; the CLI fills it, ``results.json`` records it."""

    data: str | None = None
    loader: str | None = None
    blocks: str = "cnn1d,attention,dense"
    opts: list[str] = field(default_factory=list)
    dropout: float | None = None
    l2: float | None = None
    tasks: str | None = None
    loss_opts: list[str] = field(default_factory=list)
    class_weights: str | None = None
    sampler: str = NO_SAMPLER
    sampler_opts: list[str] = field(default_factory=list)
    sample_by: str | None = None
    augment: str | None = None
    augment_opts: list[str] = field(default_factory=list)
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup: float = 0.0
    label_smoothing: float = 0.0
    batch_size: int = 32
    epochs: int = 50
    clipnorm: float | None = None
    patience: int = 10
    seed: int = 0
    seeds: str | None = None
    protocol: str = "logo"
    group_by: str | None = None
    split_opts: list[str] = field(default_factory=list)
    test_groups: str | None = None
    val_groups: str | None = None
    train_groups: str | None = None
    ignore_groups: str | None = None
    adapt_groups: str | None = None
    folds: int = 5
    val_share: float = 0.1
    streaming: str = "auto"
    normalize: str = "global"
    frame_heads: bool = False
    jit_compile: bool = False
    tensorboard: bool = False
    max_folds: int | None = None
    checkpoint_seconds: float = 30.0
    # pretrained models, adaptation and the final model (serzoo.training.pretrained, .adapt, .final)
    init_from: str | None = None
    freeze: str | None = None
    unfreeze_after: int | None = None
    adapt_epochs: int = 10
    adapt_lr: float | None = None
    adapt_freeze: str | None = None
    final: bool = False
    epochs_from: str | None = None
    precision: str = "fp32"
    distribute: str | None = None

    def validate(self) -> None:
        """Check values that need no data; raises ConfigError naming the option."""
        checks = [
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.epochs >= 1, "--epochs must be at least 1"),
            (math.isfinite(self.learning_rate) and self.learning_rate > 0,
             f"--lr {self.learning_rate}: the learning rate must be a positive finite number"),
            (0 <= self.seed < 2**32, f"--seed {self.seed}: a seed must be in 0..{2**32 - 1}"),
            (self.patience >= 0, "--patience must be 0 or more (0 turns early stopping off)"),
            (self.clipnorm is None or (math.isfinite(self.clipnorm) and self.clipnorm > 0),
             "--clipnorm must be a positive finite number"),
            (0 <= self.val_share < 1, "--val-share must be in [0, 1)"),
            (self.folds >= 2, "--folds must be at least 2"),
            (self.streaming in STREAMING_MODES, f"--streaming must be one of {', '.join(STREAMING_MODES)}"),
            (self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}"),
            (self.normalize in NORMALIZATIONS, f"--normalize must be one of {', '.join(NORMALIZATIONS)}"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0, "--weight-decay must be a finite number, 0 or more"),
            (math.isfinite(self.warmup) and 0 <= self.warmup < self.epochs,
             f"--warmup {self.warmup}: warm-up epochs must be at least 0 and fewer than --epochs {self.epochs}"),
            (0 <= self.label_smoothing < 1, "--label-smoothing must be in [0, 1)"),
            (math.isfinite(self.checkpoint_seconds) and self.checkpoint_seconds >= 0,
             "--checkpoint-every must be 0 or more seconds"),
            (self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (self.distribute in (None, *DISTRIBUTE_MODES),
             f"--distribute must be one of {', '.join(DISTRIBUTE_MODES)}"),
            (self.dropout is None or 0 <= self.dropout < 1, "--dropout must be in [0, 1)"),
            (self.l2 is None or (math.isfinite(self.l2) and self.l2 >= 0), "--l2 must be a finite number, 0 or more"),
            (self.max_folds is None or self.max_folds >= 1, "--max-folds must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self._check_protocol()
        self.model_seeds()
        from serzoo.training.final import check_stage_options

        check_stage_options(self)

    def _check_protocol(self) -> None:
        """The protocol is a registered splitter (plugins may add some), named with close matches if not."""
        from serzoo.core.plugin_manager import splitters

        try:
            splitters().get(self.protocol)
        except UnknownComponentError as exc:
            raise UnknownComponentError(f"--protocol: {exc}") from None

    def model_seeds(self) -> list[int]:
        """The seeds of the models trained per fold (``--seeds``; else just ``--seed``).

        Raises:
            ConfigError: not a list of distinct integers in 0..2**32-1.
        """
        if not self.seeds:
            return [self.seed]
        try:
            seeds = [int(s) for s in str(self.seeds).split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--seeds {self.seeds!r}: expected comma-separated integers such as 0,1,2") from None
        if not seeds or len(set(seeds)) != len(seeds) or any(not 0 <= s < 2**32 for s in seeds):
            raise ConfigError(f"--seeds {self.seeds!r}: give distinct integers in 0..{2**32 - 1}")
        return seeds

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a run configuration is a JSON object, not {type(data).__name__}")
        if "standardize" in data:  # runs from serzoo 0.1
            legacy = data["standardize"]
            data = {k: v for k, v in data.items() if k != "standardize"}
            data.setdefault("normalize", "global" if legacy else "none")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        try:
            config = cls.from_dict(json.loads(Path(path).read_text()))
            config.validate()
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: cannot read the run configuration ({exc})") from None
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return config
