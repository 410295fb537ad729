"""Pictures of a finished run (optional extra ``serzoo[plots]``: matplotlib, Agg backend, no display needed).

From the run directory alone: the summed confusion matrix (counts and row-normalised),
learning curves per fold (training loss, validation score, the chosen epoch marked;
from ``foldNN/log.csv`` and ``result.json``, one curve per seed for an ensemble) and the
test score of each group (speaker).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from serzoo.core.errors import ConfigError
from serzoo.core.files import atomic_path
from serzoo.report.rundata import RunData, load_run
from serzoo.training.groups import headline_metric, per_group

INSTALL_HINT = "pictures need matplotlib: pip install 'serzoo[plots]'"


def available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    matplotlib.use("Agg")  # files only: works without a display, in CI and over ssh
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    fig.clf()
    _pyplot().close(fig)
    return buffer.getvalue()


def confusion_png(entry: dict, task: str) -> bytes:
    """The summed confusion matrix of one classification task: counts left, row-normalised right."""
    plt = _pyplot()
    counts = np.asarray(entry["confusion_summed"], dtype=float)
    names = entry.get("class_names") or [str(i) for i in range(len(counts))]
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 2.2 + 0.45 * len(names)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, matrix, title, fmt in ((axes[0], counts, "counts", "{:.0f}"),
                                   (axes[1], normalised, "row-normalised (recall)", "{:.2f}")):
        ax.imshow(matrix, cmap="Blues", vmin=0)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        top = matrix.max() or 1.0
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 * top else "black")
    fig.suptitle(f"{task}: confusion summed over folds")
    fig.tight_layout()
    return _png(fig)


def _log(folder: Path) -> dict[str, list[float]]:
    """Columns of a Keras CSV log as floats (``NA``: nan)."""
    path = folder / "log.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {key: [float(r[key]) if r[key] not in ("", "NA") else math.nan for r in rows] for key in (rows[0] if rows else {})}


def _curves(fold_dir: Path) -> list[tuple[str, dict, int | None]]:
    """``(label, log columns, chosen epoch)`` for a fold, or for each seed of an ensemble fold."""
    folders = [fold_dir] if (fold_dir / "log.csv").exists() else sorted(fold_dir.glob("seed*"))
    out = []
    for folder in folders:
        try:
            best = json.loads((folder / "result.json").read_text()).get("best_epoch")
        except (OSError, ValueError):
            best = None
        out.append((folder.name if folder != fold_dir else "", _log(folder), best))
    return out


def learning_curves_png(run: RunData) -> bytes | None:
    """Training loss (left axis) and validation score (right axis) per fold, the chosen epoch dashed."""
    folds = [f for f in run.folds]
    curves = [(f["name"], _curves(run.path / f"fold{f['fold']:02d}")) for f in folds]
    curves = [(name, c) for name, c in curves if any(log for _, log, _ in c)]
    if not curves:
        return None
    plt = _pyplot()
    cols = min(5, len(curves))
    nrows = math.ceil(len(curves) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
    for ax, (name, seeds) in zip(axes.ravel(), curves):
        right = None
        for label, log, best in seeds:
            epochs = np.arange(1, len(log.get("loss", [])) + 1)
            ax.plot(epochs, log.get("loss", []), color="tab:blue", alpha=0.8, lw=1)
            if "val_score" in log:
                right = right or ax.twinx()
                right.plot(epochs, log["val_score"], color="tab:orange", alpha=0.8, lw=1)
            if best:
                ax.axvline(best, color="tab:red", ls="--", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("training loss", fontsize=8, color="tab:blue")
        if right is not None:
            right.set_ylabel("validation score", fontsize=8, color="tab:orange")
    for ax in axes.ravel()[len(curves):]:
        ax.axis("off")
    fig.suptitle("learning curves (dashed: the chosen epoch)")
    fig.tight_layout()
    return _png(fig)


def groups_png(folds: list[dict], task: str, task_type: str) -> bytes | None:
    """The headline test score of each group as bars, with the mean over groups."""
    metric = headline_metric(task_type)
    groups = per_group(folds, task)
    if not groups:
        return None
    plt = _pyplot()
    names = list(groups)
    values = [groups[g].get(metric, math.nan) for g in names]
    grouping = next(((f.get("groups") or {}).get("grouping") for f in folds), None) or "group"
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(names) + 1.5), 3.0))
    ax.bar(range(len(names)), values, color="tab:blue")
    ax.axhline(float(np.nanmean(values)), color="tab:red", ls="--", lw=1, label="mean")
    ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 12 else 0)
    ax.set_xlabel(grouping)
    ax.set_ylabel(f"test {metric.upper()}")
    ax.set_title(f"{task}: test {metric.upper()} per {grouping}")
    ax.legend(fontsize=8)
    return _png(fig)


def run_pictures(run: RunData) -> dict[str, bytes]:
    """Every picture of a finished run, by file name (``confusion_TASK.png``, ``learning_curves.png``, ...)."""
    pictures = {}
    for task in run.tasks():
        entry = run.results["summary"].get(task["name"], {})
        if "confusion_summed" in entry:
            pictures[f"confusion_{task['name']}.png"] = confusion_png(entry, task["name"])
        bars = groups_png(run.folds, task["name"], task.get("task_type", "classification"))
        if bars:
            pictures[f"groups_{task['name']}.png"] = bars
    curves = learning_curves_png(run)
    if curves:
        pictures["learning_curves.png"] = curves
    return pictures


def write_png(path: Path, data: bytes) -> None:
    """Write one PNG atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def write_pictures(run_dir, out_dir=None) -> list[Path]:
    """Write the run's pictures as PNG files into ``out_dir`` (default ``RUN_DIR/plots``); returns their paths."""
    run = load_run(run_dir)
    if run.results is None:
        raise ConfigError(f"{run_dir}: the run has not finished (no results.json); pictures need a finished run")
    folder = Path(out_dir) if out_dir else Path(run_dir) / "plots"
    paths = []
    for name, data in run_pictures(run).items():
        write_png(folder / name, data)
        paths.append(folder / name)
    return paths
