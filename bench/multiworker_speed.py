"""Data-parallel training over worker processes: one model on 1 process and on 2 local workers.

Run: python bench/multiworker_speed.py [--emodb /work/main/emodb_compare.h5] [--epochs 8] [--folds 2]

The README's EmoDB MLP recipe (ComParE functionals), shortened: the first ``--folds`` folds of
leave one speaker out, ``--epochs`` epochs, one seed, and no dropout (each replica would draw
its own masks, and the runs could not be compared row by row). Case 1 is a plain ``serzoo train``; case 2
the same command as the two workers of a local ``--distribute multiworker`` cluster (each with
its own TF_CONFIG), started together. Each case is timed from outside, in fresh processes and
folders; the peak resident memory is each process's own. The two runs must agree: the largest
difference of their test predictions is printed. Prints a table and writes
bench/results/multiworker_speed.json.

On a machine with a few shared cores, two workers share the cores that one process would use,
and add the communication of every step: this measures that cost, not a speed-up, which needs
several GPUs or machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from scaling import EMODB, WRAPPER, memory, serzoo

HERE = Path(__file__).parent


def two_workers(args: list[str]) -> tuple[float, list[str]]:
    """``serzoo ARGS`` as the two workers of a local cluster; (wall seconds, each worker's stderr)."""
    from serzoo.training.distribute import local_cluster

    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WRAPPER, *args], env={**os.environ, "TF_CONFIG": config},
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for config in local_cluster(2)]
    errors = []
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"worker failed:\n{err[-3000:]}")
        errors.append(err)
    return time.perf_counter() - start, errors


def predictions(run: Path) -> dict[str, np.ndarray]:
    return {p.parent.name: np.load(p)["pred_emotion"] for p in sorted(run.glob("fold*/predictions.npz"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", default=str(HERE.parent / "emodb_compare.h5"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--folds", type=int, default=2)
    args = parser.parse_args()
    # dropout off: each replica draws its own dropout masks, so with it the two runs would differ by chance
    base = ["train", "--data", args.emodb, *EMODB, "--opt", "dense.dropout=0", "--epochs", str(args.epochs),
            "--max-folds", str(args.folds), "--checkpoint-every", "0"]
    with tempfile.TemporaryDirectory(prefix="serzoo-mw-bench-") as tmp:
        single_dir, multi_dir = Path(tmp) / "single", Path(tmp) / "multi"
        single_s, _, single_err = serzoo([*base, "--run-dir", str(single_dir)])
        multi_s, multi_errs = two_workers([*base, "--distribute", "multiworker", "--run-dir", str(multi_dir)])
        one, two = predictions(single_dir), predictions(multi_dir)
        assert one.keys() == two.keys() and one, "the runs must test the same folds"
        largest = max(float(np.abs(one[k] - two[k]).max()) for k in one)
        uar = [json.loads((d / "results.json").read_text())["summary"]["emotion"]["uar"]["mean"]
               for d in (single_dir, multi_dir)]
    rows = [
        ["1 process", f"{single_s:.1f}", "1.00", ", ".join(map(str, memory(single_err))), f"{uar[0]:.4f}"],
        ["2 workers (--distribute multiworker)", f"{multi_s:.1f}", f"{multi_s / single_s:.2f}",
         ", ".join(str(memory(e)[0]) for e in multi_errs), f"{uar[1]:.4f}"],
    ]
    print(tabulate(rows, headers=["case", "wall s", "time / 1 process", "peak MiB per process", "test UAR"]))
    print(f"largest difference of the test predictions: {largest:.2e}")
    out = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                       "cpus": os.cpu_count()},
           "work": {"data": args.emodb, "epochs": args.epochs, "folds": args.folds, "recipe": "README MLP, one seed, no dropout"},
           "single_s": single_s, "multiworker_s": multi_s, "ratio": multi_s / single_s,
           "peak_mib": {"single": memory(single_err), "multiworker": [memory(e)[0] for e in multi_errs]},
           "uar": {"single": uar[0], "multiworker": uar[1]}, "largest_prediction_difference": largest}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "multiworker_speed.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"written: {HERE / 'results' / 'multiworker_speed.json'}")


if __name__ == "__main__":
    main()
