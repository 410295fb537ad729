"""Time `serzoo data build` on EmoDB (535 files) per feature set, against the goals of issue 9.

Goals: log-mel with deltas under 30 s, openSMILE low-level descriptors under 3 minutes,
on this machine's 2 cores. Each case runs the command as a user would (a fresh
process, TensorFlow start-up included) and reports wall-clock and CPU time; the
load average is printed too, since other work on the machine stretches wall time.

Run: python bench/build_speed.py [--meta ../shared/data/emodb/meta.tsv] [--all]
Prints the figures and writes them to bench/results/build_speed.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: name -> (serzoo data build arguments, goal in seconds or None)
CASES = {
    "logmel (40 bands)": (["--features", "logmel"], None),
    "logmel + deltas + delta-deltas": (["--features", "logmel", "-F", "logmel.deltas=2"], 30.0),
    "openSMILE eGeMAPSv02 LLD": (["--features", "egemaps_lld"], 180.0),
}
#: extra cases with --all
MORE = {
    "openSMILE ComParE_2016 LLD + deltas": (["--features", "compare_lld", "-F", "compare_lld.deltas=true"], None),
    "openSMILE eGeMAPSv02 functionals": (["--features", "egemaps_functionals"], None),
    "logmel + mfcc stacked": (["--features", "logmel,mfcc"], None),
}


def _run(serzoo: str, meta: Path, out: Path, args: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run([serzoo, "data", "build", str(meta), "-o", str(out), "-q", "--labels", "emotion",
                           "--group", "speaker", *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"serzoo data build {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    wrote = next((line for line in proc.stderr.splitlines() if line.startswith("Wrote")), "")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_before": round(load, 2), "output": wrote}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meta", default=str(Path(__file__).parents[1] / "../shared/data/emodb/meta.tsv"))
    parser.add_argument("--all", action="store_true", help="Also time ComParE LLDs, functionals and stacking.")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "build_speed.json"))
    args = parser.parse_args()

    from serzoo.core.files import write_json

    meta = Path(args.meta).resolve()
    if not meta.is_file():
        sys.exit(f"{meta}: no such meta table (give --meta)")
    serzoo = shutil.which("serzoo") or sys.exit("serzoo is not on PATH: pip install -e '.[opensmile]' first")
    cases = {**CASES, **(MORE if args.all else {})}
    results = {}
    print(f"{'features':<38}{'wall':>9}{'cpu':>9}{'goal':>8}  load  met")
    with tempfile.TemporaryDirectory(prefix="serzoo-bench-") as tmp:
        for i, (name, (build_args, goal)) in enumerate(cases.items()):
            r = _run(serzoo, meta, Path(tmp) / f"case{i}.h5", build_args)
            r.update(goal_s=goal, met=None if goal is None else r["wall_s"] < goal, args=build_args)
            results[name] = r
            shown = "-" if goal is None else ("yes" if r["met"] else "NO")
            print(f"{name:<38}{r['wall_s']:>8.1f}s{r['cpu_s']:>8.1f}s{goal or '':>8}{r['load_before']:>6.1f}  {shown}")
    write_json(args.out, {
        "meta": str(meta), "results": results, "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(), "machine": platform.machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
