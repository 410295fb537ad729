"""The machine's matmul peak (fp32 and bf16) and what a conv-heavy chain achieves in training.

Run: python bench/peak_flops.py [--size 2048] [--seconds 3]
Measures TensorFlow matmul GFLOP/s (square matrices, best of several timed runs)
in float32 and bfloat16, then trains a conv-heavy chain (Conv1D 64,128,128 on
EmoDB-shaped input (196, 130), batch 32, fp32 and mixed_bfloat16) and reports its
achieved GFLOP/s (analytic FLOPs, bench/flops.py) against the fp32 peak.
Writes bench/results/peak_flops.json. The machine is shared: take the best of repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from flops import model_flops, TRAIN_FACTOR  # noqa: E402


def matmul_gflops(dtype: str, size: int, seconds: float) -> float:
    """Best GFLOP/s of ``size``x``size`` matmuls in ``dtype`` over about ``seconds`` of runs."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
    matmul(a, b).numpy()  # trace and warm up
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        matmul(a, b).numpy()
        best = max(best, 2 * size**3 / (time.perf_counter() - t) / 1e9)
    return best


def conv_chain(policy: str):
    import keras

    keras.config.set_dtype_policy(policy)
    inputs = keras.Input((196, 130))
    x = inputs
    for filters in (64, 128, 128):
        x = keras.layers.Conv1D(filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(7, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    keras.config.set_dtype_policy("float32")
    return model


def conv_gflops(policy: str, batches: int, repeat: int) -> tuple[float, int]:
    """Achieved training GFLOP/s of the conv chain under a dtype policy (best of ``repeat`` timed epochs)."""
    model = conv_chain(policy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32 * batches, 196, 130)).astype("float32")
    y = rng.integers(0, 7, len(x))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # trace
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        best = min(best, time.perf_counter() - t)
    per_example = model_flops(model)
    return TRAIN_FACTOR * per_example * len(x) / best / 1e9, per_example


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batches", type=int, default=16, help="batches of 32 per timed conv-chain epoch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "peak_flops.json"))
    args = parser.parse_args()
    peak = {dtype: matmul_gflops(dtype, args.size, args.seconds) for dtype in ("float32", "bfloat16")}
    conv = {}
    for policy in ("float32", "mixed_bfloat16"):
        gflops, per_example = conv_gflops(policy, args.batches, args.repeat)
        conv[policy] = {"gflops": gflops, "of_fp32_peak": gflops / peak["float32"]}
    print(f"matmul peak ({args.size}x{args.size}): fp32 {peak['float32']:.1f} GFLOP/s, "
          f"bf16 {peak['bfloat16']:.1f} GFLOP/s ({peak['bfloat16'] / peak['float32']:.2f}x)")
    print(f"conv chain Conv1D 64,128,128 on (196, 130), batch 32: {per_example / 1e6:.1f} MFLOP forward per example")
    for policy, figures in conv.items():
        print(f"  training {policy:<15}{figures['gflops']:>8.1f} GFLOP/s  ({figures['of_fp32_peak']:.0%} of fp32 peak)")
    flags = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in Path("/proc/cpuinfo").read_text()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "matmul_peak_gflops": peak, "matmul_size": args.size, "conv_chain_forward_flops": per_example,
        "conv_chain_training": conv, "cpu_flags": flags, "cpus": os.cpu_count(), "machine": platform.machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
