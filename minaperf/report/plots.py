"""SVG plots of the summary (matplotlib's SVG canvas, no pyplot state, no external fonts).

Text stays text (`svg.fonttype: none`) so the page is small and searchable; each plot gets its own
`svg.hashsalt` so element ids never collide when several SVGs sit inline in one page.
One colour per meaning across every plot (COLOURS).
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from minaperf.rfc3339 import parse

COLOURS = {
    "scheduled": "#7f7f7f",
    "seen": "#1f77b4",
    "included": "#2ca02c",
    "otherSeen": "#8c564b",
    "rejected": "#d62728",
    "p50": "#1f77b4",
    "p90": "#ff7f0e",
    "p99": "#9467bd",
    "max": "#d62728",
    "blocks": "#2ca02c",
    "stake": "#7f7f7f",
    "restart": "#d62728",
    "catchup": "#ff7f0e",
    "completed": "#1f77b4",
    "failed": "#d62728",
    "running": "#ff7f0e",
    "stop": "#000000",
}
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)


def _figure(height: float = 3.2) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(9, height), layout="constrained")
    return fig, fig.add_subplot()


def _svg(fig: Figure, name: str) -> str:
    buffer = io.StringIO()
    rc: dict[Any, Any] = {
        "svg.fonttype": "none",
        "svg.hashsalt": f"minaperf-{name}",
        "font.size": 9,
    }
    with matplotlib.rc_context(rc):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = _METADATA.sub("", _XML_HEAD.sub("", buffer.getvalue(), count=1), count=1)
    return text.replace("<svg ", f'<svg data-plot="{name}" role="img" ', 1)


def load_plot(load: dict[str, Any]) -> str:
    rows = load["perMinute"]
    x = [r["minute"] for r in rows] + [len(rows)]  # each minute drawn as a step across it

    def per_second(key: str) -> list[float]:
        values = [r[key] / 60 for r in rows]
        return values + values[-1:]

    fig, ax = _figure()
    series = (
        ("scheduled", "scheduled (run script)", "--"),
        ("seen", "first seen in a pool", "-"),
        ("included", "included in a block", "-"),
    )
    if any(r["otherSeen"] for r in rows):
        series += (("otherSeen", "funding and other (not load), seen", ":"),)
    for key, label, style in series:
        ax.step(x, per_second(key), where="post", linestyle=style, color=COLOURS[key], label=label)
    if load.get("scheduledTps"):
        ax.axhline(
            load["scheduledTps"],
            color=COLOURS["scheduled"],
            linewidth=0.8,
            label=f"scheduled TPS ({load['scheduledTps']:g})",
        )
    ax.set_xlabel("minutes since the run started")
    ax.set_ylabel("tx/s (mean per minute)")  # a longer label overran the plot's height
    ax.set_title("Load: scheduled vs seen vs included")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig, "load")


def latency_plot(latency: dict[str, Any]) -> str:
    rows = latency["perMinute"]
    x = [r["minute"] for r in rows]
    fig, ax = _figure()
    for key in ("p50", "p90", "max"):
        ax.plot(x, [r[key] for r in rows], marker="o", markersize=3, color=COLOURS[key], label=key)
    ax.set_xlabel("minute of first pool sighting (since the run started)")
    ax.set_ylabel("inclusion latency (s)")
    ax.set_title("Inclusion latency over time")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig, "latency")


def propagation_plot(propagation: dict[str, Any], limit: int = 25) -> str:
    rows = propagation["perNode"][:limit][::-1]  # slowest on top
    labels = [r["label"] for r in rows]
    fig, ax = _figure(max(2.6, 0.6 + 0.22 * len(rows)))
    y = list(range(len(rows)))
    ax.barh(
        [v + 0.2 for v in y],
        [r["p90"] for r in rows],
        height=0.4,
        color=COLOURS["p90"],
        label="p90",
    )
    ax.barh(
        [v - 0.2 for v in y],
        [r["p50"] for r in rows],
        height=0.4,
        color=COLOURS["p50"],
        label="p50",
    )
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("time from production to receipt (s)")
    ax.set_ylabel("receiving node")
    ax.set_title(f"Block propagation per node (slowest {len(rows)})")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig, "propagation")


def production_plot(production: dict[str, Any]) -> str:
    rows = production["producers"]
    fig, ax = _figure()
    x = list(range(len(rows)))
    ax.bar(
        [v - 0.2 for v in x],
        [100 * (r["blockShare"] or 0) for r in rows],
        width=0.4,
        color=COLOURS["blocks"],
        label="share of blocks produced",
    )
    ax.bar(
        [v + 0.2 for v in x],
        [100 * (r["stakeShare"] or 0) for r in rows],
        width=0.4,
        color=COLOURS["stake"],
        label="share of stake",
    )
    ax.set_xticks(x, [r["label"] for r in rows], fontsize=7, rotation=20, ha="right")
    ax.set_xlabel("block producer")
    ax.set_ylabel("share (%)")
    ax.set_title(
        f"Block production: {production['slotsFilled']} of {production['slotsElapsed']} slots "
        f"filled, {len(production['forks'])} forked height(s)"
    )
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig, "production")


def snark_plot(snark: dict[str, Any]) -> str:
    events = snark["events"]
    names = sorted(events)
    fig, ax = _figure(2.8)
    colours = [COLOURS["rejected"] if n == "rejected" else COLOURS["included"] for n in names]
    ax.bar(names, [events[n] for n in names], color=colours)
    ax.set_xlabel("snark pool event (all nodes)")
    ax.set_ylabel("events (count)")
    ax.set_title("Snark work in the pools")
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig, "snark")


HEALTH_NODE_ROWS = 20
"""Restarted nodes drawn one per row; beyond this, the nodes with fewest restarts share a row."""


def _restart_rows(events: list[tuple[str, float]]) -> tuple[list[str], list[tuple[int, float]]]:
    """(row labels, (row, minute) points): most-restarted nodes first, the rest grouped."""
    counts: dict[str, int] = {}
    for label, _ in events:
        counts[label] = counts.get(label, 0) + 1
    ranked = sorted(counts, key=lambda label: (-counts[label], label))
    if len(ranked) > HEALTH_NODE_ROWS:
        shown = ranked[: HEALTH_NODE_ROWS - 1]
        other = f"{len(ranked) - len(shown)} other nodes"
    else:
        shown, other = ranked, ""
    index = {label: i for i, label in enumerate(shown)}
    points = [(index.get(label, len(shown)), minute) for label, minute in events]
    return shown + ([other] if other else []), points


def health_plot(health: dict[str, Any], load: dict[str, Any]) -> str:
    labels, points = _restart_rows([(r["label"], r["minute"]) for r in health["restarts"]])
    fig = Figure(figsize=(9, 2.8 + 0.2 * len(labels)), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 0.4 + 0.2 * len(labels)])
    rows = load["perMinute"]
    top.step(
        [r["minute"] for r in rows],
        [r["included"] / 60 for r in rows],
        where="post",
        color=COLOURS["included"],
        label="included TPS",
    )
    top.set_ylabel("included (tx/s)")
    top.set_title("Health beside the load")
    top.grid(alpha=0.3)
    bottom.scatter(
        [m for _, m in points],
        [row for row, _ in points],
        marker="x",
        color=COLOURS["restart"],
        label="node restart",
    )
    bottom.set_yticks(range(len(labels)), labels, fontsize=7)
    bottom.set_ylim(max(1, len(labels)), -1)  # most restarted on top
    bottom.set_xlabel("minutes since the run started")
    bottom.set_ylabel("node")
    bottom.legend(loc="upper right", fontsize=8)
    bottom.grid(alpha=0.3)
    return _svg(fig, "health")


def story_plot(run: dict[str, Any], start: datetime) -> str:
    fig, ax = _figure(max(2.4, 0.8 + 0.25 * len(run["steps"])))

    def minute(value: str | None) -> float | None:
        if value is None:
            return None
        t = parse(value)
        return (t - start).total_seconds() / 60

    steps = run["steps"]
    for position, step in enumerate(steps):
        begin, end = minute(step["started"]), minute(step["ended"])
        if begin is None:
            continue
        width = max((end if end is not None else begin) - begin, 0.05)
        colour = COLOURS.get(step["state"], COLOURS["completed"])
        ax.barh(position, width, left=begin, color=colour, height=0.6)
    for stop in run["stops"]:
        at = minute(stop.get("finished") or stop.get("started"))
        if at is not None:
            ax.axvline(at, color=COLOURS["stop"], linestyle=":", label=f"{stop['tag']}")
    ax.set_yticks(range(len(steps)), [f"{s['index']} {s['action']}" for s in steps], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("minutes since the run started")
    ax.set_ylabel("script step")
    ax.set_title(f"The run: {run['outcome']}")
    ax.grid(axis="x", alpha=0.3)
    if run["stops"]:
        ax.legend(loc="lower right", fontsize=8)
    return _svg(fig, "story")
