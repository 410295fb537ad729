"""Streaming from the file vs holding the features in memory: training throughput and peak memory.

Run: python bench/stream_speed.py [--rows 25000] [--steps 120] [--repeat 3] [--blocks cnn1d,lstm,dense]
Writes a synthetic SER_FEAT_EXT database (--rows utterances of 150 steps x 40 features,
float32, 10 speakers, 4 classes) to a temporary folder, then trains fold 0 in one fresh
process per mode and repeat (``--streaming memory`` / ``--streaming stream``), through
serzoo's own path (prepare, training_data, the fold's model, model.fit on the fold's
batches): --warmup batches untimed, then --steps batches timed, from the end of the last
warm-up batch to the end of the last timed one (steady-state throughput; the reading thread's
CPU counts). Each process reports rows/s and its peak resident memory (VmHWM). Prints the medians, the stream/memory
throughput ratio and the database size; writes bench/results/stream_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

STEPS, DIMS, GROUPS, CLASSES = 150, 40, 10, 4


def write_database(path: Path, rows: int) -> int:
    """A synthetic database written in blocks (never whole in memory); returns its feature bytes."""
    import h5py

    per_group = rows // GROUPS
    rows = per_group * GROUPS
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        # chunks of about 1 MiB, as `serzoo data build` writes them
        chunk_rows = max(1, (1 << 20) // (STEPS * DIMS * 4))
        feat = f.create_dataset("feat", (rows, STEPS, DIMS), dtype="float32", chunks=(chunk_rows, STEPS, DIMS))
        for start in range(0, rows, 2048):
            n = min(2048, rows - start)
            feat[start:start + n] = rng.normal(size=(n, STEPS, DIMS)).astype("float32")
        f["label"] = (np.arange(rows) % CLASSES).astype(float)[:, None]
        f["start_indice"] = np.arange(float(GROUPS)) * per_group
        f["end_indice"] = (np.arange(float(GROUPS)) + 1) * per_group
    return rows * STEPS * DIMS * 4


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_clock(start: int):
    """A Keras callback timing (wall, CPU) from the end of batch ``start`` to the end of the last batch."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.marks = []

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 >= start:
                self.marks.append((time.perf_counter(), time.process_time()))

        def elapsed(self):
            (wall0, cpu0), (wall1, cpu1) = self.marks[0], self.marks[-1]
            return wall1 - wall0, cpu1 - cpu0

    return StepClock()


def measure(data: str, mode: str, blocks: str, batch: int, warmup: int, steps: int) -> dict:
    """Train fold 0 of ``data`` in ``mode`` for ``warmup`` + ``steps`` batches; rows/s of the timed ones."""
    from serzoo.training.batches import training_data
    from serzoo.training.config import TrainConfig
    from serzoo.training.fold import new_model
    from serzoo.training.prepare import prepare

    config = TrainConfig(data=data, blocks=blocks, batch_size=batch, streaming=mode, epochs=1,
                         tasks=f"emotion:{CLASSES}:0", max_folds=1)
    prep = prepare(config)
    split = prep.splits[0]
    data_ = training_data(prep, 0, split, standardize=True)
    model = new_model(prep, 0, data_, Path(tempfile.mkdtemp(prefix="serzoo-bench-")))
    clock = step_clock(warmup)
    # one pass: the warm-up batches trace the step and start the pipeline; the clock runs from the end of
    # the last warm-up batch to the end of the last timed one. (Timing the whole fit of a take() would add
    # the teardown of a pass cut short: a read of the next chunk still in flight then held fit's return up
    # to a second, which a full epoch never waits for.)
    model.fit(data_.dataset.take(warmup + steps), verbose=0, callbacks=[clock])
    elapsed, cpu = clock.elapsed()
    return {"mode": mode, "streaming": prep.streaming, "rows_per_s": steps * batch / elapsed,
            "rows_per_cpu_s": steps * batch / cpu, "seconds": elapsed, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25000)
    parser.add_argument("--blocks", default="cnn1d,lstm,dense")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches first (at least 1)")
    parser.add_argument("--steps", type=int, default=160)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", nargs=2, metavar=("DB", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "stream_speed.json"))
    args = parser.parse_args()
    if args.measure:  # the child process: one mode, one figure
        print(json.dumps(measure(*args.measure, args.blocks, args.batch_size, args.warmup, args.steps)))
        return
    with tempfile.TemporaryDirectory(prefix="serzoo-stream-") as tmp:
        db = Path(tmp) / "big.h5"
        nbytes = write_database(db, args.rows)
        runs: dict[str, list[dict]] = {"memory": [], "stream": []}
        for _ in range(args.repeat):  # interleaved: machine noise hits both modes alike
            for mode in runs:
                child = subprocess.run([sys.executable, __file__, "--measure", str(db), mode, "--blocks", args.blocks,
                                        "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
                                        "--steps", str(args.steps)], capture_output=True, text=True, check=True)
                runs[mode].append(json.loads(child.stdout.strip().splitlines()[-1]))
    report(args, nbytes, runs)


def report(args, nbytes: int, runs: dict[str, list[dict]]) -> None:
    med = {m: statistics.median(r["rows_per_s"] for r in rs) for m, rs in runs.items()}
    med_cpu = {m: statistics.median(r["rows_per_cpu_s"] for r in rs) for m, rs in runs.items()}
    rss = {m: max(r["peak_rss_mb"] for r in rs) for m, rs in runs.items()}
    print(f"database: {args.rows} rows x ({STEPS}, {DIMS}) float32 = {nbytes / 2**20:.0f} MiB; model {args.blocks}, "
          f"batch {args.batch_size}; {args.steps} timed batches after {args.warmup}")
    for mode in runs:
        figures = ", ".join(f"{r['rows_per_s']:.0f}" for r in runs[mode])
        print(f"{mode:<8}{med[mode]:>9.0f} rows/s (runs {figures}), {med_cpu[mode]:.0f} rows per CPU second;"
              f" peak RSS {rss[mode]:.0f} MiB")
    ratio, ratio_cpu = med["stream"] / med["memory"], med_cpu["stream"] / med_cpu["memory"]
    print(f"stream/memory throughput {ratio:.2f}x wall, {ratio_cpu:.2f}x per CPU second; peak RSS stream {rss['stream']:.0f} MiB vs memory "
          f"{rss['memory']:.0f} MiB (database {nbytes / 2**20:.0f} MiB)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "rows": args.rows, "example_shape": [STEPS, DIMS], "database_mib": nbytes / 2**20, "blocks": args.blocks,
        "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup, "runs": runs,
        "median_rows_per_s": med, "median_rows_per_cpu_s": med_cpu, "peak_rss_mib": rss,
        "stream_over_memory": ratio, "stream_over_memory_cpu": ratio_cpu, "cpus": os.cpu_count(),
        "load_average": os.getloadavg(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
