"""The machine's matmul peak (fp32 and bf16) and what a conv-heavy chain achieves in training.

Run: python bench/peak_flops.py [--size 1024] [--seconds 8]
Measures TensorFlow matmul GFLOP/s (square matrices) in float32 and bfloat16, then
trains a conv-heavy chain (Conv1D 64,128,128 on EmoDB-shaped input (196, 130), batch 32,
fp32 and mixed_bfloat16) and reports its achieved GFLOP/s (analytic FLOPs,
bench/flops.py) against the fp32 peak. Two figures each: the best wall-clock rate of
the timed runs, and GFLOP per CPU second of the process (all its threads), which other
processes on a shared machine disturb far less; the fraction of peak uses the latter.
Writes bench/results/peak_flops.json.
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


def matmul_gflops(dtype: str, size: int, seconds: float) -> tuple[float, float]:
    """Best wall GFLOP/s and GFLOP per CPU second of ``size``x``size`` matmuls in ``dtype`` (``seconds`` of runs)."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
    matmul(a, b).numpy()  # trace and warm up
    best, runs, start, cpu = 0.0, 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        matmul(a, b).numpy()
        best = max(best, 2 * size**3 / (time.perf_counter() - t) / 1e9)
        runs += 1
    return best, 2 * size**3 * runs / (time.process_time() - cpu) / 1e9


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


def conv_gflops(policy: str, batches: int, repeat: int) -> tuple[float, float, int]:
    """Training GFLOP/s of the conv chain under a dtype policy: best wall rate of ``repeat`` epochs, per CPU second."""
    model = conv_chain(policy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32 * batches, 196, 130)).astype("float32")
    y = rng.integers(0, 7, len(x))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # trace
    best, cpu = float("inf"), time.process_time()
    for _ in range(repeat):
        t = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        best = min(best, time.perf_counter() - t)
    cpu = time.process_time() - cpu
    flops = TRAIN_FACTOR * model_flops(model) * len(x)
    return flops / best / 1e9, flops * repeat / cpu / 1e9, model_flops(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batches", type=int, default=16, help="batches of 32 per timed conv-chain epoch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "peak_flops.json"))
    args = parser.parse_args()
    peak = {}
    for dtype in ("float32", "bfloat16"):
        wall, per_cpu = matmul_gflops(dtype, args.size, args.seconds)
        peak[dtype] = {"gflops": wall, "gflop_per_cpu_s": per_cpu}
        print(f"matmul {dtype:<9}({args.size}x{args.size}): best {wall:7.1f} GFLOP/s, {per_cpu:7.1f} per CPU second")
    conv = {}
    for policy in ("float32", "mixed_bfloat16"):
        wall, per_cpu, per_example = conv_gflops(policy, args.batches, args.repeat)
        conv[policy] = {"gflops": wall, "gflop_per_cpu_s": per_cpu,
                        "of_fp32_peak": per_cpu / peak["float32"]["gflop_per_cpu_s"]}
    print(f"conv chain Conv1D 64,128,128 on (196, 130), batch 32: {per_example / 1e6:.1f} MFLOP forward per example")
    for policy, figures in conv.items():
        print(f"  training {policy:<15} best {figures['gflops']:7.1f} GFLOP/s, {figures['gflop_per_cpu_s']:7.1f} per "
              f"CPU second ({figures['of_fp32_peak']:.0%} of the fp32 matmul rate)")
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
