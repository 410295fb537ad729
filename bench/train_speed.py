"""Training speed: serzoo's fold training vs the same model written directly in Keras, side by side.

Run: python bench/train_speed.py [--data DB.h5] [--epochs 8] [--repeat 2]
Default data: the built-in demo corpus. The model is cnn1d(32,64),lstm(64),dense(64)
with a softmax head; the hand-written Keras twin has the same layers and parameter count.
serzoo's time includes what a real run does each epoch (validation predictions,
checkpoint saves); Keras' includes the equivalent validation pass.
Prints the figures and writes them to bench/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

BLOCKS = ["cnn1d", "lstm", "dense"]
OPTS = ["cnn1d.filters=32,64", "lstm.units=64", "dense.units=64"]


def keras_twin(input_shape, classes, mean, variance, jit):
    """cnn1d,lstm,dense written directly in Keras (serzoo's defaults: kernel 3, same padding, max-pool 2)."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Normalization(axis=-1, mean=mean, variance=variance)(inputs)
    for filters in (32, 64):
        x = keras.layers.Conv1D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling1D(2, padding="same")(x)
    x = keras.layers.LSTM(64)(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="emotion")(x)
    model = keras.Model(inputs, {"emotion": outputs})
    model.compile(keras.optimizers.Adam(1e-3), {"emotion": "categorical_crossentropy"}, jit_compile=jit)
    return model


def time_keras(db, split, classes, epochs, batch, jit, seed):
    import keras

    keras.utils.set_random_seed(seed)
    x, xv = db.features(split.train), db.features(split.val)
    y = np.eye(classes, dtype="float32")[db.labels[split.train, 0].astype(int)]
    yv = np.eye(classes, dtype="float32")[db.labels[split.val, 0].astype(int)]
    flat = x.reshape(-1, x.shape[-1])
    start = time.perf_counter()
    model = keras_twin(x.shape[1:], classes, flat.mean(0), flat.var(0), jit)
    model.fit(x, {"emotion": y}, batch_size=batch, epochs=epochs, shuffle=True, verbose=0,
              validation_data=(xv, {"emotion": yv}))
    return time.perf_counter() - start, model.count_params()


def time_serzoo(data, epochs, batch, jit, seed):
    from serzoo.training.config import TrainConfig
    from serzoo.training.fold import train_fold
    from serzoo.training.prepare import prepare

    config = TrainConfig(data=data, blocks=",".join(BLOCKS), opts=OPTS, epochs=epochs, batch_size=batch,
                         patience=0, jit_compile=jit, seed=seed, max_folds=1)
    prep = prepare(config)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train_fold(prep, 0, prep.splits[0], Path(tmp), echo=lambda m: None)
        elapsed = time.perf_counter() - start
    return elapsed, prep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="feature database; default: the demo corpus")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2, help="alternating repetitions of each variant")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_speed.json"))
    args = parser.parse_args()

    from serzoo.data.demo import default_demo_path

    data = args.data or str(default_demo_path())
    _, prep = time_serzoo(data, 1, args.batch_size, True, 0)  # warm-up: caches, imports, the XLA cache
    db, split = prep.db, prep.splits[0]
    classes = prep.tasks[0].num_classes
    times = {"serzoo jit": [], "keras jit": [], "serzoo no-jit": [], "keras no-jit": []}
    params = None
    for _ in range(args.repeat):  # interleaved, so machine noise hits every variant alike
        for jit in (True, False):
            tag = "jit" if jit else "no-jit"
            times[f"serzoo {tag}"].append(time_serzoo(data, args.epochs, args.batch_size, jit, 0)[0])
            elapsed, params = time_keras(db, split, classes, args.epochs, args.batch_size, jit, 0)
            times[f"keras {tag}"].append(elapsed)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"data: {data} ({db.n_rows} rows, example {db.example_shape}); fold 0: {len(split.train)} train, "
          f"{len(split.val)} val rows; {args.epochs} epochs, batch {args.batch_size}; keras twin {params:,} params")
    print(f"{'variant':<16}{'median s':>10}   runs")
    for name, values in times.items():
        print(f"{name:<16}{med[name]:>10.2f}   {', '.join(f'{v:.2f}' for v in values)}")
    ratios = {
        "serzoo/keras (jit)": med["serzoo jit"] / med["keras jit"],
        "serzoo/keras (no-jit)": med["serzoo no-jit"] / med["keras no-jit"],
        "serzoo no-jit/jit": med["serzoo no-jit"] / med["serzoo jit"],
    }
    for name, value in ratios.items():
        print(f"{name:<24}{value:.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "data": data, "epochs": args.epochs, "batch_size": args.batch_size, "repeat": args.repeat,
        "times_s": times, "median_s": med, "ratios": ratios, "keras_params": params,
        "python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
