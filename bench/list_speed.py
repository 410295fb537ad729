"""Time `serzoo list blocks` against `python -c pass` (listing must not import TensorFlow).

Run: python bench/list_speed.py [--repeat 10]
Prints the figures and writes them to bench/results/list_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _time(cmd: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "list_speed.json"))
    args = parser.parse_args()

    serzoo = shutil.which("serzoo") or sys.exit("serzoo is not on PATH: pip install -e . first")
    check = subprocess.run([sys.executable, "-c", "import serzoo.cli, sys; "
                            "serzoo.cli.cli.main(['list','blocks'], standalone_mode=False); "
                            "print('tensorflow' in sys.modules)"], capture_output=True, text=True)
    tf_imported = check.stdout.strip().splitlines()[-1] == "True"
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "serzoo list blocks": [serzoo, "list", "blocks"],
        "serzoo --help": [serzoo, "--help"],
    }
    _time(cases["serzoo list blocks"], 1)  # warm the file cache
    results = {}
    for name, cmd in cases.items():
        t = _time(cmd, args.repeat)
        results[name] = {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t)}
    base = results["python -c pass"]["median_s"]
    print(f"{'command':<22}{'median':>10}{'min':>10}{'max':>10}{'x python':>10}")
    for name, r in results.items():
        print(f"{name:<22}{r['median_s']:>9.3f}s{r['min_s']:>9.3f}s{r['max_s']:>9.3f}s{r['median_s'] / base:>10.1f}")
    print(f"tensorflow imported while listing: {tf_imported}")
    goal = results["serzoo list blocks"]["median_s"] < 0.5 and not tf_imported
    print(f"goal (< 0.5 s, no TensorFlow): {'met' if goal else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": results, "tensorflow_imported": tf_imported, "repeat": args.repeat,
                               "python": platform.python_version(), "machine": platform.machine(),
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
