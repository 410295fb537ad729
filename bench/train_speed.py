"""Training speed: serzoo's fold training vs the same model written directly in Keras, side by side.

Run: python bench/train_speed.py [--data DB.h5] [--epochs 8] [--repeat 3] [--no-jit-only] [--bf16]
Default data: the built-in demo corpus. The model is cnn1d(32,64),lstm(64),dense(64)
with a softmax head; the hand-written Keras twin has the same layers and parameter count.
Both do the same work for one fold, timed from the training rows in memory to the saved
model: standardisation statistics of the training rows, the model, training with batch
--batch-size in shuffled order, a validation pass after every epoch (serzoo: predictions
and UAR for model selection, plus its resumable checkpoint when due; Keras: validation
loss), then predictions on the test rows and the model saved as .keras.
Wall and CPU seconds (the process's user+system time: steadier on a shared machine),
medians of interleaved repeats, and the achieved training GFLOP/s (analytic FLOPs of
the model, bench/flops.py). --bf16 adds serzoo with --precision bf16.
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

sys.path.insert(0, str(Path(__file__).parent))
from flops import train_flops  # noqa: E402

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


def _clock():
    return time.perf_counter(), time.process_time()


def _since(started):
    return time.perf_counter() - started[0], time.process_time() - started[1]


def time_keras(db, split, classes, epochs, batch, jit, seed):
    """Wall and CPU seconds of the Keras twin's fold, and the model."""
    import keras

    keras.utils.set_random_seed(seed)
    x, xv, xt = db.features(split.train), db.features(split.val), db.features(split.test)
    y = np.eye(classes, dtype="float32")[db.labels[split.train, 0].astype(int)]
    yv = np.eye(classes, dtype="float32")[db.labels[split.val, 0].astype(int)]
    with tempfile.TemporaryDirectory() as tmp:
        started = _clock()
        flat = x.reshape(-1, x.shape[-1])
        model = keras_twin(x.shape[1:], classes, flat.mean(0), flat.var(0), jit)
        model.fit(x, {"emotion": y}, batch_size=batch, epochs=epochs, shuffle=True, verbose=0,
                  validation_data=(xv, {"emotion": yv}))
        model.predict(xt, batch_size=256, verbose=0)
        model.save(Path(tmp) / "model.keras")
        return _since(started), model


def time_serzoo(data, epochs, batch, jit, seed, precision="fp32"):
    """Wall and CPU seconds of serzoo's first fold (train_fold), and the prepared run."""
    from serzoo.training.config import TrainConfig
    from serzoo.training.fold import train_fold
    from serzoo.training.prepare import prepare

    config = TrainConfig(data=data, blocks=",".join(BLOCKS), opts=OPTS, epochs=epochs, batch_size=batch,
                         patience=0, jit_compile=jit, seed=seed, max_folds=1,
                         **({"precision": precision} if precision != "fp32" else {}))  # runs on older serzoo too
    prep = prepare(config)
    with tempfile.TemporaryDirectory() as tmp:
        started = _clock()
        train_fold(prep, 0, prep.splits[0], Path(tmp), echo=lambda m: None)
        return _since(started), prep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="feature database; default: the demo corpus")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions of each variant")
    parser.add_argument("--no-jit-only", action="store_true", help="skip the XLA variants")
    parser.add_argument("--bf16", action="store_true", help="add serzoo with --precision bf16")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_speed.json"))
    args = parser.parse_args()

    from serzoo.data.demo import default_demo_path

    data = args.data or str(default_demo_path())
    _, prep = time_serzoo(data, 1, args.batch_size, not args.no_jit_only, 0)  # warm-up: caches, imports
    db, split = prep.db, prep.splits[0]
    classes = prep.tasks[0].num_classes
    tags = ["no-jit"] if args.no_jit_only else ["jit", "no-jit"]
    wall, cpu, model = {}, {}, None

    def record(name, figures):
        wall.setdefault(name, []).append(figures[0])
        cpu.setdefault(name, []).append(figures[1])

    for _ in range(args.repeat):  # interleaved, so machine noise hits every variant alike
        for tag in tags:
            jit = tag == "jit"
            record(f"serzoo {tag}", time_serzoo(data, args.epochs, args.batch_size, jit, 0)[0])
            figures, model = time_keras(db, split, classes, args.epochs, args.batch_size, jit, 0)
            record(f"keras {tag}", figures)
        if args.bf16:
            record("serzoo bf16 no-jit", time_serzoo(data, args.epochs, args.batch_size, False, 0, "bf16")[0])
    report(args, data, db, split, model, wall, cpu)


def report(args, data, db, split, model, wall, cpu) -> None:
    """Print the medians, ratios and GFLOP/s; write them as JSON."""
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    flops = train_flops(model, len(split.train) * args.epochs)
    print(f"data: {data} ({db.n_rows} rows, example {db.example_shape}); fold 0: {len(split.train)} train, "
          f"{len(split.val)} val, {len(split.test)} test rows; {args.epochs} epochs, batch {args.batch_size}; "
          f"keras twin {model.count_params():,} params, {flops / 1e9:.1f} GFLOP of training")
    print(f"{'variant':<20}{'wall s':>8}{'cpu s':>8}{'GFLOP/s':>9}{'per cpu s':>10}   wall runs")
    for name, values in wall.items():
        print(f"{name:<20}{med[name]:>8.2f}{med_cpu[name]:>8.2f}{flops / med[name] / 1e9:>9.2f}"
              f"{flops / med_cpu[name] / 1e9:>10.2f}   {', '.join(f'{v:.2f}' for v in values)}")
    ratios = {}
    paired = {}
    for tag in ("jit", "no-jit"):
        if f"serzoo {tag}" in med:
            ratios[f"serzoo/keras wall ({tag})"] = med[f"serzoo {tag}"] / med[f"keras {tag}"]
            ratios[f"serzoo/keras cpu ({tag})"] = med_cpu[f"serzoo {tag}"] / med_cpu[f"keras {tag}"]
            # each repeat ran serzoo and then Keras back to back: their ratio cancels slow drifts of the machine
            paired[f"serzoo/keras cpu per repeat ({tag})"] = [
                a / b for a, b in zip(cpu[f"serzoo {tag}"], cpu[f"keras {tag}"])]
    if "serzoo bf16 no-jit" in med:
        ratios["serzoo bf16/fp32 wall (no-jit)"] = med["serzoo bf16 no-jit"] / med["serzoo no-jit"]
    for name, value in ratios.items():
        print(f"{name:<32}{value:.2f}x")
    for name, values in paired.items():
        below = sum(v <= 1.0 for v in values)
        print(f"{name}: median {statistics.median(values):.2f}x, {min(values):.2f}-{max(values):.2f}x, "
              f"serzoo took less CPU in {below} of {len(values)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "data": data, "epochs": args.epochs, "batch_size": args.batch_size, "repeat": args.repeat,
        "times_s": wall, "cpu_s": cpu, "median_s": med, "median_cpu_s": med_cpu, "ratios": ratios,
        "paired_cpu_ratios": paired,
        "keras_params": model.count_params(), "training_gflop": flops / 1e9,
        "achieved_gflops": {k: flops / v / 1e9 for k, v in med.items()},
        "gflop_per_cpu_s": {k: flops / v / 1e9 for k, v in med_cpu.items()},
        "python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
