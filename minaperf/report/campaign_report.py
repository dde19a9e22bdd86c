"""The campaign's page and summary.json across its runs (pure: summaries in, text out).

`build(campaign, progress, summaries, earlier)` → the campaign summary: per cell the runs, each
headline figure's mean and spread over the repeats, and the verdict of the cell's means against
the baseline's (`minaperf.report.verdict`). `page(summary)` → one self-contained HTML page with a
plot per figure against the varied parameter and links to each run's own report.
"""

from __future__ import annotations

import html
import json
import statistics
from typing import Any

from minaperf.experiment.campaign import Campaign, Progress, cells
from minaperf.report.plots import COLOURS, _figure, _svg
from minaperf.report.summary import HEADLINES
from minaperf.report.verdict import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_REGRESSION,
    evaluate,
    load_thresholds,
)

VERSION = 1


def _value(summary: dict[str, Any], section: str, key: str) -> float | None:
    part = summary.get(section)
    value = part.get(key) if isinstance(part, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _means(figures: dict[str, dict[str, Any]], complete: bool, name: str) -> dict[str, Any]:
    """A summary.json-shaped structure of the means, for `verdict.evaluate`."""
    out: dict[str, Any] = {"experiment": name, "complete": complete}
    for section, key, label, _ in HEADLINES:
        mean = figures.get(label, {}).get("mean")
        out.setdefault(section, {})[key] = mean
    return out


def build(
    campaign: Campaign,
    progress: Progress,
    summaries: dict[str, dict[str, Any]],
    earlier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`summaries`: each run's summary.json by stack (runs without a report are absent);
    `earlier`: an earlier campaign's summary.json when the baseline is a directory."""
    rows = []
    for cell in cells(campaign):
        runs = [r for r in progress.runs if r.cell == cell.index]
        figures: dict[str, dict[str, Any]] = {}
        for section, key, label, unit in HEADLINES:
            values = [
                v
                for r in runs
                if r.stack in summaries
                and (v := _value(summaries[r.stack], section, key)) is not None
            ]
            if values:
                figures[label] = {
                    "unit": unit,
                    "values": values,
                    "mean": statistics.fmean(values),
                    "min": min(values),
                    "max": max(values),
                }
        complete = bool(runs) and all(
            r.stack in summaries and summaries[r.stack].get("complete", True) is not False
            for r in runs
        )
        rows.append(
            {
                "index": cell.index,
                "label": cell.label,
                "overrides": cell.overrides,
                "complete": complete,
                "runs": [
                    {
                        "stack": r.stack,
                        "repeat": r.repeat,
                        "steps": dict(r.steps),
                        "report": f"{r.run_dir}/report/report.html"
                        if r.stack in summaries and r.run_dir
                        else None,
                    }
                    for r in runs
                ],
                "figures": figures,
            }
        )
    verdicts = _verdicts(campaign, rows, earlier)
    codes = [v["exitCode"] for v in verdicts]
    exit_code = (
        EXIT_REGRESSION
        if EXIT_REGRESSION in codes
        else EXIT_INCOMPLETE
        if any(c != EXIT_OK for c in codes)
        else EXIT_OK
    )
    return {
        "version": VERSION,
        "campaign": campaign.name,
        "varied": list(campaign.matrix),
        "baseline": campaign.baseline.model_dump(exclude_none=True) if campaign.baseline else None,
        "thresholds": campaign.thresholds,
        "cells": rows,
        "verdicts": verdicts,
        "exitCode": exit_code,
    }


def _verdicts(
    campaign: Campaign, rows: list[dict[str, Any]], earlier: dict[str, Any] | None
) -> list[dict[str, Any]]:
    if campaign.baseline is None or campaign.thresholds is None:
        return []
    limits = load_thresholds(campaign.thresholds)
    by_label: dict[str, dict[str, Any]] = {}
    if campaign.baseline.cell is not None:
        base = rows[campaign.baseline.cell]
        by_label = {row["label"]: base for row in rows if row is not base}
    elif earlier is not None:
        older = {c.get("label"): c for c in earlier.get("cells", []) if isinstance(c, dict)}
        by_label = {row["label"]: older.get(row["label"], {}) for row in rows}
    verdicts = []
    for row in rows:
        if row["label"] not in by_label:
            continue
        base = by_label[row["label"]]
        name = f"cell {base['index']}" if "index" in base else "(no matching cell)"
        verdict = evaluate(
            _means(base.get("figures", {}), bool(base.get("complete")), name),
            _means(row["figures"], row["complete"], f"cell {row['index']}"),
            limits,
        )
        verdicts.append({"cell": row["index"], "label": row["label"], **verdict.as_json()})
    return verdicts


# ------------------------------------------------------------------------------ page

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:.2em .6em;
text-align:left;font-size:.9em} th{background:#f4f4f4}
.bad{color:#d62728;font-weight:bold} .ok{color:#2ca02c;font-weight:bold}
svg{max-width:100%;height:auto}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def figure_plot(summary: dict[str, Any], label: str, unit: str) -> str:
    """One figure against the cells: each repeat a dot, the mean a line."""
    rows = summary["cells"]
    fig, ax = _figure(2.6)
    varied = summary["varied"]
    # One varied path: its values on the axis; several: each cell's overrides.
    names = [
        json.dumps(row["overrides"][varied[0]]) if len(varied) == 1 else row["label"]
        for row in rows
    ]
    dots = [
        (x, v)
        for x, row in enumerate(rows)
        for v in row["figures"].get(label, {}).get("values", [])
    ]
    ax.scatter([d[0] for d in dots], [d[1] for d in dots], color=COLOURS["p50"], alpha=0.5, s=14)
    means = [row["figures"].get(label, {}).get("mean") for row in rows]
    points = [(x, m) for x, m in enumerate(means) if m is not None]
    ax.plot([p[0] for p in points], [p[1] for p in points], color=COLOURS["p90"], marker="o")
    ax.set_xticks(range(len(names)), names)
    ax.set_xlabel(", ".join(summary["varied"]) or "cell")
    ax.set_ylabel(f"{label} ({unit})" if unit else label)
    return _svg(fig, f"campaign-{label}")


def page(summary: dict[str, Any]) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>campaign "
        f"{_e(summary['campaign'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Campaign {_e(summary['campaign'])}</h1>",
        "<h2>Verdict</h2>",
    ]
    if not summary["verdicts"]:
        parts.append("<p>No baseline and thresholds in the campaign file: no verdict.</p>")
    for verdict in summary["verdicts"]:
        css = "bad" if verdict["outcome"] == "regression" else "ok"
        parts.append(
            f"<p>cell {verdict['cell']} ({_e(verdict['label'])}) against "
            f"{_e(verdict['baseline'])}: <span class='{css}'>{_e(verdict['outcome'])}</span></p>"
            "<table><tr><th>figure</th><th>limit</th><th>baseline</th><th>candidate</th>"
            "<th>status</th></tr>"
        )
        for row in verdict["figures"]:
            css = "bad" if row["status"] == "regression" else ""
            parts.append(
                f"<tr><td>{_e(row['figure'])}</td><td>{_e(row['limit'])}</td>"
                f"<td>{_e(_fmt(row['baseline']))}</td><td>{_e(_fmt(row['candidate']))}</td>"
                f"<td class='{css}'>{_e(row['status'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append(
        "<h2>Runs</h2><table><tr><th>cell</th><th>stack</th><th>steps</th><th>report</th></tr>"
    )
    for row in summary["cells"]:
        for run in row["runs"]:
            steps = ", ".join(f"{k}: {v}" for k, v in run["steps"].items())
            link = f"<a href='{_e(run['report'])}'>report</a>" if run["report"] else "no report"
            parts.append(
                f"<tr><td>{_e(row['label'])}</td><td>{_e(run['stack'])}</td>"
                f"<td>{_e(steps)}</td><td>{link}</td></tr>"
            )
    parts.append("</table><h2>Figures</h2>")
    for _, _, label, unit in HEADLINES:
        if any(label in row["figures"] for row in summary["cells"]):
            parts.append(f"<h3>{_e(label)}</h3>{figure_plot(summary, label, unit)}")
    parts.append("</body></html>")
    return "\n".join(parts)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
