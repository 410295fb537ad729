"""Compare finished runs honestly: same data and folds, paired differences, a bootstrap CI and a paired test.

Every run after the first is compared with the first. The unit of the interval and
the test is the group (speaker) when per-group scores are known, else the fold; the
difference is ``run - baseline`` in the task's headline metric (UAR, CCC). With more
than one comparison the p-values are Holm-adjusted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serzoo.core.errors import ConfigError, DataError
from serzoo.report.rundata import RunData, load_run
from serzoo.training import stats
from serzoo.training.groups import headline_metric, per_group

ALPHA = 0.05
#: fingerprint entries that must agree for two runs to be compared (the corpus; features may differ)
SAME_DATA = {"rows": "number of rows", "labels": "labels", "groups": "groups"}


def _finished(path) -> RunData:
    run = load_run(path)
    if run.results is None:
        raise DataError(f"{path}: the run has not finished (no results.json); compare finished runs only")
    if run.data is None:
        raise DataError(f"{path}: no data.json, so its data cannot be checked; compare runs started by serzoo train")
    return run


def check_comparable(a: RunData, b: RunData) -> list[str]:
    """Refuse runs on other data or folds; returns notes (such as different features of the same corpus).

    Raises:
        ConfigError: the data fingerprints (rows, labels, groups) or the folds' test groups differ.
    """
    for key, what in SAME_DATA.items():
        if a.data.get(key) != b.data.get(key):
            raise ConfigError(f"{b.path} and {a.path} were trained on different data ({what} differ); "
                              "compare runs on the same database or corpus")
    tests = [[((f.get("groups") or {}).get("grouping"), tuple((f.get("groups") or {}).get("test_names") or []))
              for f in r.folds] for r in (a, b)]
    if tests[0] != tests[1]:
        raise ConfigError(f"{b.path} and {a.path} have different folds or test groups "
                          f"({len(tests[1])} vs {len(tests[0])} folds); compare runs with the same protocol and seed")
    notes = []
    if a.data.get("features") != b.data.get("features") or a.data.get("file_shape") != b.data.get("file_shape"):
        notes.append(f"same corpus, different features ({Path(str(a.data.get('path'))).name} vs "
                     f"{Path(str(b.data.get('path'))).name}): the difference is that of features and model together")
    return notes


def _pair(a: RunData, b: RunData, task: str, task_type: str) -> dict:
    metric = headline_metric(task_type)
    folds = [{"fold": fa["name"], "test": (fa.get("groups") or {}).get("test_names"),
              "a": fa["test"][task].get(metric), "b": fb["test"][task].get(metric)}
             for fa, fb in zip(a.folds, b.folds)]
    ga, gb = per_group(a.folds, task), per_group(b.folds, task)
    if ga and set(ga) == set(gb):
        unit = next(((f.get("groups") or {}).get("grouping") for f in a.folds), None) or "group"
        units = [{"name": g, "a": ga[g].get(metric), "b": gb[g].get(metric)} for g in ga]
    else:
        unit, units = "fold", [{"name": f["fold"], "a": f["a"], "b": f["b"]} for f in folds]
    for row in folds + units:
        row["diff"] = row["b"] - row["a"]
    diffs = [u["diff"] for u in units]
    low, high = stats.bootstrap_ci(diffs)
    fold_diffs = stats.describe([f["diff"] for f in folds])
    return {"run": str(b.path), "task": task, "metric": metric, "unit": unit, "folds": folds, "units": units,
            "mean_a": float(np.nanmean([u["a"] for u in units])), "mean_b": float(np.nanmean([u["b"] for u in units])),
            "mean_diff": float(np.nanmean(diffs)), "ci_low": low, "ci_high": high,
            "fold_diff_mean": fold_diffs["mean"], "fold_diff_std": fold_diffs["std"],
            "test": stats.wilcoxon(diffs)}


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone), in the input order."""
    m = len(p_values)
    order = np.argsort(p_values)
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare_runs(paths: list) -> dict:
    """Compare each run with the first.

    Returns:
        JSON-able: ``baseline``, ``method`` (CI and test), ``notes`` and one entry per run and task
        in ``comparisons`` (per-fold and per-unit differences, mean, CI, test, verdict).

    Raises:
        ConfigError: fewer than two runs, or runs on other data or folds (one line).
        DataError: a run that has not finished.
    """
    if len(paths) < 2:
        raise ConfigError("compare needs at least two runs: serzoo compare RUN_A RUN_B")
    runs = [_finished(p) for p in paths]
    base, notes, comparisons = runs[0], [], []
    for other in runs[1:]:
        notes += [f"{other.path}: {n}" for n in check_comparable(base, other)]
        other_tasks = {t["name"] for t in other.tasks()}
        shared = [t for t in base.tasks() if t["name"] in other_tasks]
        if not shared:
            raise ConfigError(f"{other.path} and {base.path} share no task; compare runs of the same tasks")
        comparisons += [_pair(base, other, t["name"], t.get("task_type", "classification")) for t in shared]
    adjusted = holm([c["test"]["p"] for c in comparisons]) if len(comparisons) > 1 else None
    for i, c in enumerate(comparisons):
        c["test"]["p_holm"] = adjusted[i] if adjusted else None
        c["significant"] = (adjusted[i] if adjusted else c["test"]["p"]) < ALPHA
        c["verdict"] = verdict(c, base.path)
    return {"baseline": str(base.path), "alpha": ALPHA,
            "method": {**stats.method_record(), "test": "Wilcoxon signed-rank, two-sided (scipy.stats.wilcoxon)",
                       "correction": "Holm" if adjusted else None},
            "notes": notes, "comparisons": comparisons}


def verdict(c: dict, baseline) -> str:
    """The comparison in words: which run is better, by how much, and whether that is significant."""
    name, unit = c["metric"].upper(), c["unit"]
    t = c["test"]
    p = t["p_holm"] if t.get("p_holm") is not None else t["p"]
    p_text = f"p = {p:.4g}" + (" (Holm-adjusted)" if t.get("p_holm") is not None else "")
    direction = "higher" if c["mean_diff"] > 0 else "lower" if c["mean_diff"] < 0 else "equal"
    head = (f"{c['run']} vs {baseline}, {c['task']}: {name} {direction} by {abs(c['mean_diff']):.4f} on average over "
            f"{len(c['units'])} {unit}s ({stats.LEVEL:.0%} CI of the difference [{c['ci_low']:+.4f}, "
            f"{c['ci_high']:+.4f}]); Wilcoxon signed-rank {p_text}: ")
    if t["min_p"] >= ALPHA:
        return head + (f"no verdict possible: with {t['n']} non-zero {unit} differences the test cannot reach "
                       f"p < {ALPHA} (smallest possible p {t['min_p']:.4g}); use more {unit}s")
    return head + ("significant" if c["significant"] else "not significant") + f" at {ALPHA}"


FORMATS = ("table", "json", "csv", "markdown")


def format_comparison(result: dict, fmt: str = "table") -> str:
    """The comparison as a text table, JSON, CSV (one row per fold, unit and mean) or Markdown."""
    if fmt == "json":
        import json

        return json.dumps(result, indent=2) + "\n"
    if fmt == "csv":
        return _csv(result)
    from tabulate import tabulate

    tablefmt = "github" if fmt == "markdown" else "simple"
    out = [f"baseline (A): {result['baseline']}"]
    for c in result["comparisons"]:
        name = c["metric"].upper()
        out += ["", f"B: {c['run']}  (task {c['task']}, {name}; differences B - A)", ""]
        rows = [[f["fold"], ",".join(f["test"] or []), f"{f['a']:.4f}", f"{f['b']:.4f}", f"{f['diff']:+.4f}"]
                for f in c["folds"]]
        rows.append(["mean ± std", "", "", "", f"{c['fold_diff_mean']:+.4f} ± {c['fold_diff_std']:.4f}"])
        out.append(tabulate(rows, headers=["fold", "test groups", f"A {name}", f"B {name}", "B - A"],
                            tablefmt=tablefmt, disable_numparse=True))
        out += ["", f"mean over {len(c['units'])} {c['unit']}s: A {c['mean_a']:.4f}, B {c['mean_b']:.4f}, "
                    f"B - A {c['mean_diff']:+.4f}, {stats.LEVEL:.0%} CI [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                f"Wilcoxon signed-rank over {c['unit']}s: W = {c['test']['statistic']:.1f}, p = {c['test']['p']:.4g}"
                + (f", Holm-adjusted p = {c['test']['p_holm']:.4g}" if c["test"].get("p_holm") is not None else ""),
                c["verdict"]]
    out += ["", f"({stats.method_text(result['method'])}; {result['method']['test']}; alpha {result['alpha']})"]
    out += [f"note: {n}" for n in result["notes"]]
    return "\n".join(out) + "\n"


def _csv(result: dict) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run_a", "run_b", "task", "metric", "kind", "name", "a", "b", "diff", "ci_low", "ci_high", "p"])
    for c in result["comparisons"]:
        head = [result["baseline"], c["run"], c["task"], c["metric"]]
        writer.writerows([*head, "fold", f["fold"], f["a"], f["b"], f["diff"], "", "", ""] for f in c["folds"])
        writer.writerows([*head, c["unit"], u["name"], u["a"], u["b"], u["diff"], "", "", ""] for u in c["units"])
        p = c["test"]["p_holm"] if c["test"].get("p_holm") is not None else c["test"]["p"]
        writer.writerow([*head, "mean", c["unit"] + "s", c["mean_a"], c["mean_b"], c["mean_diff"],
                         c["ci_low"], c["ci_high"], p])
    return buffer.getvalue()
