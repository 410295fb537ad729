"""One self-contained HTML page for a finished run: configuration, tables and pictures (inlined as base64)."""

from __future__ import annotations

import base64
import json
from html import escape

from serzoo.report import plots
from serzoo.report.rundata import RunData
from serzoo.training import stats
from serzoo.training.groups import per_group, uncertainty

STYLE = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
         "th{background:#f0f0f0}img{max-width:100%}pre{background:#f7f7f7;padding:0.5em;overflow-x:auto}")


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def _task_section(run: RunData, task: dict) -> list[str]:
    name, task_type = task["name"], task.get("task_type", "classification")
    entry = run.results["summary"].get(name, {})
    keys = [m for m, d in run.results.get("metrics", {}).items() if task_type in d.get("task_types", [])]
    rows = [[f["name"], f.get("best_epoch"), *[f["test"][name].get(k) for k in keys]] for f in run.folds]
    rows.append(["mean ± std", "", *[f"{entry[k]['mean']:.4f} ± {entry[k]['std']:.4f}" if k in entry else ""
                                     for k in keys]])
    out = [f"<h2>task {escape(name)} ({escape(task_type)})</h2>", "<h3>test score of each fold</h3>",
           _table(["fold", "best epoch", *keys], rows)]
    record = entry.get("uncertainty") or uncertainty(run.folds, name, task_type)
    spread = [[unit, r["n"], r["mean"], r["std"], f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]"]
              for unit, r in (("folds", record.get("over_folds")), (record.get("over_groups", {}).get("grouping"),
                                                                        record.get("over_groups"))) if r]
    out += [f"<h3>{escape(record['metric'].upper())}: spread and confidence intervals</h3>",
            _table(["over", "n", "mean", "std", f"{record['level']:.0%} CI"], spread),
            f"<p>{escape(stats.method_text(record))}</p>"]
    groups = entry.get("per_group") or per_group(run.folds, name)
    if groups:
        out += ["<h3>test score of each group</h3>",
                _table(["group", "fold", "rows", *keys], [[g, r.get("fold"), r.get("rows"), *[r.get(k) for k in keys]]
                                                         for g, r in groups.items()])]
    if "confusion_summed" in entry:
        names = entry.get("class_names") or []
        pooled = entry.get("pooled", {})
        out += [f"<h3>confusion matrix summed over folds</h3><p>rows true, columns predicted; pooled UAR "
                f"{pooled.get('uar', float('nan')):.4f}, accuracy {pooled.get('accuracy', float('nan')):.4f}</p>",
                _table(["", *names], [[n, *row] for n, row in zip(names, entry["confusion_summed"])])]
    return out


def _image(name: str, data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<figure><img alt="{escape(name)}" src="data:image/png;base64,{encoded}"><figcaption>{escape(name)}' \
           f"</figcaption></figure>"


def report_html(run: RunData, pictures: dict[str, bytes] | None) -> str:
    """The page: run facts, each task's tables, the pictures (``None``: matplotlib missing), the configuration."""
    r = run.results
    facts = [["finished", r.get("finished")], ["data", (r.get("data") or {}).get("path")],
             ["protocol", r.get("protocol")], ["normalisation", (r.get("normalization") or {}).get("description")],
             ["blocks", (r.get("config") or {}).get("blocks")], ["seed", r.get("seed")],
             *[[k, v] for k, v in (r.get("versions") or {}).items()]]
    body = [f"<h1>serzoo run {escape(run.path.name)}</h1>", _table(["", ""], facts)]
    for task in run.tasks():
        body += _task_section(run, task)
    body.append("<h2>pictures</h2>")
    if pictures is None:
        body.append(f"<p>{escape(plots.INSTALL_HINT)}</p>")
    else:
        body += [_image(name, data) for name, data in pictures.items()]
    body += ["<h2>configuration</h2>", f"<pre>{escape(json.dumps(r.get('config'), indent=2))}</pre>"]
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>serzoo run "
            f"{escape(run.path.name)}</title><style>{STYLE}</style></head><body>\n" + "\n".join(body) +
            "\n</body></html>\n")
