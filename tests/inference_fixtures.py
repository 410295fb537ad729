"""A tiny model trained on demo audio, shared by the prediction and embedding tests (built once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

#: 3 speakers x 4 emotions x 3 utterances: enough for two folds of a leave-one-speaker-out run
SPEAKERS, PER_CLASS, MAX_STEPS = 3, 3, 100


@dataclass
class DemoRun:
    """The demo corpus as wav files (with its meta table), as a database, and a two-fold run trained on it."""

    meta: Path
    wavs: list[Path]
    db: Path
    run_dir: Path

    @property
    def model(self) -> Path:
        return self.run_dir / "fold00" / "model.keras"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    from serzoo.core import plugin_manager
    from serzoo.data.build import build_database, read_meta
    from serzoo.data.demo import EMOTIONS, write_demo_audio
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    plugin_manager.reset()
    root = tmp_path_factory.mktemp("predict")
    meta = write_demo_audio(root / "demo", speakers=SPEAKERS, per_class=PER_CLASS)
    # keep one sad utterance per speaker, so the class priors are not uniform (prior correction has work to do)
    lines = meta.read_text().splitlines()
    meta.write_text("\n".join(line for line in lines if "_sad_" not in line or "_sad_0" in line) + "\n")
    db = build_database(meta, root / "demo.h5", labels=["emotion"], group="speaker",
                        class_names={"emotion": list(EMOTIONS)}, max_steps=MAX_STEPS)
    config = TrainConfig(data=str(db), tasks="emotion:4:0", blocks="fcn,dense", opts=["fcn.units=8", "dense.units=8"],
                         epochs=2, batch_size=16, patience=0, jit_compile=False, max_folds=2)
    run(prepare(config), root / "run", echo=lambda m: None)
    return DemoRun(meta, read_meta(meta).wav_paths(), db, root / "run")
