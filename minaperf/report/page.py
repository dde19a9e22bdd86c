"""One self-contained HTML page: inline CSS and inline SVG, no script, font, image or CDN link."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from minaperf.report import plots
from minaperf.report.summary import HEADLINES, NO_DATA

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:.2em .6em;
text-align:left;font-size:.9em} th{background:#f4f4f4} td.n{text-align:right}
.nodata{background:#fff4e5;border-left:4px solid #ff7f0e;padding:.5em 1em}
.bad{color:#d62728;font-weight:bold} .ok{color:#2ca02c;font-weight:bold}
.verdict{border:2px solid #999;padding:.2em 1em;margin:1em 0} svg{max-width:100%;height:auto}
"""


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "%" and isinstance(value, int | float):
        return f"{100 * value:.1f} %"
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _no_data(section: dict[str, Any]) -> str:
    return f'<p class="nodata"><b>{NO_DATA}</b>: {_e(section.get("note", ""))}</p>'


def _kv(section: dict[str, Any], keys: list[tuple[str, str, str]]) -> str:
    return _table(["figure", "value"], [[label, fmt(section.get(k), u)] for k, label, u in keys])


def compare_rows(this: dict[str, Any], other: dict[str, Any]) -> list[list[Any]]:
    """Headline figures of two summaries side by side, with the delta where both exist."""
    rows = []
    for section, key, label, unit in HEADLINES:
        a = this.get(section, {}).get(key)
        b = other.get(section, {}).get(key)
        delta = a - b if isinstance(a, int | float) and isinstance(b, int | float) else None
        rows.append([label, fmt(a, unit), fmt(b, unit), fmt(delta, unit)])
    return rows


def _verdict(verdict: dict[str, Any] | None) -> str:
    """The verdict box at the top: outcome, both runs, and each limited figure."""
    if not verdict:
        return ""
    css = "bad" if verdict["outcome"] != "within limits" else "ok"
    rows = [
        [
            f["figure"],
            f["limit"],
            fmt(f["baseline"]),
            fmt(f["candidate"]),
            fmt(f["change"]),
            f["status"],
        ]
        for f in verdict["figures"]
    ]
    return (
        f'<div class="verdict"><p class="{css}">Verdict: {_e(verdict["outcome"])}</p>'
        f"<p>candidate (this run): {_e(verdict['candidate'])}<br>"
        f"baseline: {_e(verdict['baseline'])}</p>"
        + _table(["figure", "limit", "baseline", "candidate", "change", "status"], rows)
        + "</div>"
    )


def _incomplete(summary: dict[str, Any]) -> str:
    if summary.get("complete", True):
        return ""
    items = "".join(f"<li>{_e(line)}</li>" for line in summary.get("incomplete", []))
    return (
        f'<div class="nodata"><b>Incomplete report</b>: sections without data<ul>{items}</ul></div>'
    )


def _load_section(load: dict[str, Any]) -> list[str]:
    """The load: scheduled against achieved, other transactions, pool rejections."""
    parts: list[str] = []
    parts.append("<h2>Load</h2>")
    if load["status"] == NO_DATA:
        parts.append(_no_data(load))
    else:
        parts.append(
            _kv(
                load,
                [
                    ("scheduledTps", "scheduled TPS", "tx/s"),
                    ("achievedTps", "achieved TPS (included, during the load)", "tx/s"),
                    ("scheduled", "scheduled", ""),
                    ("seen", "first seen in a pool", ""),
                    ("included", "included in a block", ""),
                    ("shareIncluded", "share of seen included", "%"),
                    ("shareOfScheduled", "included / scheduled", "%"),
                    ("failedOfSeen", "included with result Failed", ""),
                    ("zkappsOfSeen", "zkApp commands seen", ""),
                ],
            )
        )
        other = load["other"]
        names = ", ".join(load["experimentNames"]) or "none"
        parts.append(
            f"<p>Load = transactions whose memo is that of the run's experimentName ({_e(names)}). "
            f"Funding and other transactions (not load): {fmt(other['seen'])} seen, "
            f"{fmt(other['included'])} of them included.</p>"
        )
        parts.append(plots.load_plot(load))
        if load["rejections"]:
            parts.append("<p>Pool rejections (all nodes):</p>")
            parts.append(
                _table(["reason", "count"], [[r["reason"], r["count"]] for r in load["rejections"]])
            )
    return parts


def _latency_section(lat: dict[str, Any]) -> list[str]:
    """Inclusion latency percentiles and their plot."""
    parts: list[str] = []
    parts.append("<h2>Inclusion latency</h2>")
    if lat["status"] == NO_DATA:
        parts.append(_no_data(lat))
    else:
        parts.append(
            _kv(
                lat,
                [("count", "transactions", "")]
                + [(k, k, "s") for k in ("p50", "p90", "p99", "max")],
            )
        )
        parts.append(plots.latency_plot(lat))
    return parts


def _propagation_section(prop: dict[str, Any]) -> list[str]:
    """Block propagation percentiles, the slowest nodes, the plot."""
    parts: list[str] = []
    parts.append("<h2>Block propagation</h2>")
    if prop["status"] == NO_DATA:
        parts.append(_no_data(prop))
    else:
        parts.append(
            _kv(
                prop,
                [("blocksProduced", "blocks produced (traced)", ""), ("receipts", "receipts", "")]
                + [(k, k, "s") for k in ("p50", "p90", "p99", "max")],
            )
        )
        parts.append(f"<p>Slowest nodes (p90): {_e(', '.join(prop['slowest']))}</p>")
        parts.append(plots.propagation_plot(prop))
    return parts


def _production_section(prod: dict[str, Any]) -> list[str]:
    """Block production: slots, producers against stake, forks."""
    parts: list[str] = []
    parts.append("<h2>Block production</h2>")
    if prod["status"] == NO_DATA:
        parts.append(_no_data(prod))
    else:
        parts.append(
            _kv(
                prod,
                [
                    ("blocks", "distinct blocks", ""),
                    ("slotsFilled", "slots filled", ""),
                    ("slotsElapsed", "slots elapsed", ""),
                    ("slotFillRate", "slot fill rate", "%"),
                    ("orphans", "orphaned blocks (beyond one per height)", ""),
                ],
            )
        )
        parts.append(
            _table(
                ["producer", "blocks", "share of blocks", "share of stake"],
                [
                    [r["label"], r["blocks"], fmt(r["blockShare"], "%"), fmt(r["stakeShare"], "%")]
                    for r in prod["producers"]
                ],
            )
        )
        if prod["forks"]:
            parts.append(
                _table(
                    ["forked height", "blocks"], [[f["height"], f["blocks"]] for f in prod["forks"]]
                )
            )
        if prod["producers"]:
            parts.append(plots.production_plot(prod))
    return parts


def _snark_section(snark: dict[str, Any]) -> list[str]:
    """Snark work: received, accepted, request-to-proof times, interruptions."""
    parts: list[str] = []
    parts.append("<h2>Snark work</h2>")
    if snark["status"] == NO_DATA:
        parts.append(_no_data(snark))
    else:
        parts.append(
            _kv(
                snark,
                [
                    ("produced", "distinct works received", ""),
                    ("accepted", "pool accepts (all nodes)", ""),
                    ("rejected", "pool rejects (all nodes)", ""),
                    ("requestToProofP50", "request → proof p50", "s"),
                    ("requestToProofP90", "request → proof p90", "s"),
                    ("requestToProofMax", "request → proof max", "s"),
                ],
            )
        )
        if snark["interruptions"]:
            parts.append(
                _table(
                    ["interruption reason", "count"],
                    [[i["reason"], i["count"]] for i in snark["interruptions"]],
                )
            )
        if snark["events"]:
            parts.append(plots.snark_plot(snark))
    return parts


def _health_section(health: dict[str, Any], load: dict[str, Any]) -> list[str]:
    """Node restarts, sync status, catch-up, and the health plot."""
    parts: list[str] = []
    parts.append("<h2>Health</h2>")
    if health["status"] == NO_DATA:
        parts.append(_no_data(health))
    else:
        if not health["restartsRecorded"]:
            parts.append(
                f"<p class='bad'>Restarts not recorded ({_e(health['restartsHow'])}); a node that "
                "kept restarting would not show here.</p>"
            )
        else:
            per_node = health["restartsPerNode"]
            parts.append(
                f"<p>{fmt(health['restartsTotal'])} node restart(s) on {len(per_node)} node(s) "
                f"({_e(health['restartsHow'])}).</p>"
            )
            restarted = [r for r in health["restartNodes"] if r["restarts"]]
            if restarted:
                parts.append(
                    _table(
                        ["node", "restarts", "counted", "last termination", "exit code", "at"],
                        [
                            [
                                r["node"],
                                r["restarts"],
                                r["scope"],
                                r["lastReason"] or "-",
                                fmt(r["lastExitCode"]),
                                r["lastFinishedAt"] or "-",
                            ]
                            for r in restarted
                        ],
                    )
                )
        parts.append(f"<p>Sync status: {_e(health['syncStatus'])}.</p>")
        if health["catchup"]:
            parts.append(
                _table(
                    ["node", "blocks fetched by catch-up"],
                    [[c["label"], c["blocks"]] for c in health["catchup"]],
                )
            )
        parts.append(plots.health_plot(health, load))
    return parts


def _run_section(run: dict[str, Any], start: datetime) -> list[str]:
    """The run: receipts, steps, stops, orchestrator errors, the story plot."""
    parts: list[str] = []
    parts.append("<h2>The run</h2>")
    parts.append(
        f"<p>{run['receiptsIssued']} receipt(s) issued, {run['receiptsStopped']} stopped; "
        f"exit status {_e(run['exitStatus'])}.</p>"
    )
    parts.append(
        _table(
            ["step", "action", "script line", "started", "ended", "state"],
            [
                [
                    st["index"],
                    st["action"],
                    st["line"],
                    st["started"] or "-",
                    st["ended"] or "-",
                    st["state"],
                ]
                for st in run["steps"]
            ],
        )
    )
    if run["stops"]:
        parts.append(
            _table(
                ["stop", "receipts", "ok", "reason", "finished"],
                [
                    [x["tag"], x["receipts"], x["ok"], x["reason"], x["finished"]]
                    for x in run["stops"]
                ],
            )
        )
    if run["errors"]:
        parts.append("<p class='bad'>Errors logged by the orchestrator:</p>")
        parts.append(_table(["log line"], [[line] for line in run["errors"]]))
    if run["steps"]:
        parts.append(plots.story_plot(run, start))
    return parts


def render(summary: dict[str, Any], start: datetime, compare: dict[str, Any] | None) -> str:
    s = summary
    run = s["run"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Experiment report: {_e(s.get('experiment') or run['directory'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Experiment report: {_e(s.get('experiment') or '(no stack outputs)')}</h1>",
        _verdict(s.get("verdict")),
        _incomplete(s),
        _table(
            ["run", "outcome", "window (UTC)", "deployment", "database"],
            [
                [
                    run["directory"],
                    f"{run['outcome']} ({run['reason'] or '-'})",
                    f"{s['window']['start']} → {s['window']['end']}",
                    (s.get("deployment") or {}).get("id", "-"),
                    s["sources"]["database"],
                ]
            ],
        ),
        "<h2>Headlines</h2>",
        _table(
            ["figure", "value"],
            [[label, fmt(s[sec].get(key), unit)] for sec, key, label, unit in HEADLINES],
        ),
    ]
    if compare is not None:
        other = compare.get("experiment") or compare.get("run", {}).get("directory")
        parts += [
            f"<h2>Compared with {_e(other)}</h2>",
            _table(["figure", "this run", "other run", "delta"], compare_rows(s, compare)),
        ]

    parts += _load_section(s["load"])
    parts += _latency_section(s["latency"])
    parts += _propagation_section(s["propagation"])
    parts += _production_section(s["production"])
    parts += _snark_section(s["snark"])
    parts += _health_section(s["health"], s["load"])
    parts += _run_section(run, start)
    parts.append(
        f"<p><small>summary.json version {s['version']}, generated {s['generated']}</small></p>"
    )
    parts.append("</body></html>\n")
    return "\n".join(parts)
