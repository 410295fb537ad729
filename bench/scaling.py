"""Scaling: the same work on 1 and 2 local worker processes, and on a local Ray instance.

Run: python bench/scaling.py [--emodb /work/main/emodb_compare.h5] [--epochs 8] [--skip-ray]
1. EmoDB leave-one-speaker-out (10 folds), the README's MLP recipe on ComParE functionals,
   shortened (fewer epochs, one seed): ``serzoo train`` with --workers 1 and --workers 2.
2. A sweep of 8 small configurations on the demo corpus (2 chains x 2 learning rates x
   2 samplers, 2 folds each): ``serzoo sweep`` with --workers 1, --workers 2 and --ray local.
Every case is a fresh ``serzoo`` process in a fresh folder, timed from outside; the peak
memory per worker is what the workers report (each process's maximum resident size), and
for --workers 1 the one process's own. Prints a table and writes bench/results/scaling.md
and scaling.json. Results must agree: the 2-worker run's scores equal the 1-worker run's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

HERE = Path(__file__).parent
#: the README recipe (## Recipe: EmoDB), shortened: fewer epochs, one seed
EMODB = ["--tasks", "emotion:7:0", "--blocks", "dense", "--opt", "dense.units=512", "--opt", "dense.dropout=0.5",
         "--augment", "mixup", "--augment-opt", "mixup.alpha=0.4", "--optimizer", "adamw", "--weight-decay", "0.01",
         "--schedule", "cosine", "--warmup", "1", "--label-smoothing", "0.1", "--class-weights", "auto",
         "--val-share", "0", "--seeds", "0"]
SWEEP = ["--blocks", "fcn,dense", "--blocks", "cnn1d,statspool,dense", "--opt", "fcn.units=16",
         "--opt", "cnn1d.filters=16", "--opt", "dense.units=16", "--lr", "0.001", "--lr", "0.003",
         "--sampler", "none", "--sampler", "balanced", "--max-folds", "2", "--set", "patience=0"]
#: how this script reads the driver's own peak memory: the CLI's main, then ru_maxrss on the way out
WRAPPER = ("import resource, sys\nfrom serzoo.cli import main\ntry:\n    main()\nfinally:\n"
           "    print(f'driver peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB', "
           "file=sys.stderr)\n")


def serzoo(args: list[str]) -> tuple[float, str, str]:
    """Run ``serzoo ARGS`` in a new process; returns (wall seconds, stdout, stderr)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"serzoo {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout, proc.stderr


def memory(stderr: str) -> list[int]:
    """Peak MiB per worker process as reported, else the driver's own (one process did everything)."""
    match = re.findall(r"peak memory per worker: ([\d, ]+) MiB", stderr)
    if match:
        return [int(v) for v in match[-1].split(",")]
    return [int(re.findall(r"driver peak memory: (\d+) MiB", stderr)[-1])]


def emodb_cases(data: str, epochs: int, work: Path) -> list[dict]:
    rows = []
    for workers in (1, 2):
        run_dir = work / f"emodb-w{workers}"
        seconds, _, err = serzoo(["train", "--data", data, *EMODB, "--epochs", str(epochs), "--run-dir", str(run_dir),
                                  "--workers", str(workers)])
        summary = json.loads((run_dir / "results.json").read_text())["summary"]["emotion"]
        rows.append({"case": "EmoDB LOSO MLP (10 folds)", "backend": f"--workers {workers}", "seconds": seconds,
                     "memory_mib": memory(err), "score": round(summary["uar"]["mean"], 4)})
        print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def sweep_cases(epochs: int, work: Path, ray: bool) -> list[dict]:
    rows = []
    backends = [["--workers", "1"], ["--workers", "2"]] + ([["--ray", "local"]] if ray else [])
    for backend in backends:
        out = work / f"sweep-{backend[1]}"
        seconds, _, err = serzoo(["sweep", "--out", str(out), *SWEEP, "--epochs", str(epochs), *backend])
        board = json.loads((out / "leaderboard.json").read_text())
        rows.append({"case": f"demo sweep, {len(board['trials'])} configurations x 2 folds", "backend": " ".join(backend),
                     "seconds": seconds, "memory_mib": memory(err),
                     "score": round(board["trials"][0]["val"]["mean"], 4)})
        print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def report(rows: list[dict], meta: dict) -> str:
    base = {}
    table = []
    for row in rows:
        base.setdefault(row["case"], row["seconds"])
        row["speedup"] = round(base[row["case"]] / row["seconds"], 2)
        table.append([row["case"], row["backend"], f"{row['seconds']:.1f}", f"{row['speedup']:.2f}x",
                      ", ".join(str(m) for m in row["memory_mib"]), row["score"]])
    headers = ["work", "where", "wall (s)", "speed-up", "peak MiB per worker", "score (UAR: test mean / best val)"]
    return (f"# Scaling: workers and Ray\n\n{meta['machine']}; load average at the start {meta['load']}, "
            f"at the end {meta['load_end']}.\n"
            f"Command: `{meta['command']}`\n\n" + tabulate(table, headers=headers, tablefmt="github") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", default="/work/main/emodb_compare.h5")
    parser.add_argument("--epochs", type=int, default=8, help="Epochs of the EmoDB recipe (the README's: 65).")
    parser.add_argument("--sweep-epochs", type=int, default=3)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "scaling"))
    args = parser.parse_args()
    meta = {"machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
                       f"Python {platform.python_version()}",
            "load": " ".join(f"{x:.1f}" for x in os.getloadavg()), "command": "python " + " ".join(sys.argv)}
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        if Path(args.emodb).exists():
            rows += emodb_cases(args.emodb, args.epochs, Path(tmp))
        rows += sweep_cases(args.sweep_epochs, Path(tmp), ray=not args.skip_ray)
    meta["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(rows, meta)
    print(text)
    Path(args.out + ".md").write_text(text)
    Path(args.out + ".json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
