"""A verdict on a candidate run against a baseline: per-figure limits, each with a direction.

Pure (no I/O but `read_thresholds`); `scripts.report --compare --fail-on` prints it and exits with
its `exit_code`. Limits name the report's headlines (`summary.HEADLINES`) by label; `evaluate`
judges two `summary.json` structures against them.
See docs/report.md#the-verdict---compare-baseline---fail-on-file.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minaperf.files import FileInputError, read_regular_file
from minaperf.report.summary import HEADLINES

THRESHOLDS_VERSION = 1

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_INCOMPLETE = 3
"""A figure with a limit had no value in one run, or the candidate's report is incomplete."""

REGRESSION = "regression"
IMPROVEMENT = "improvement"
WITHIN = "within limits"
NO_VALUE = "no data"

_FIGURES = {label.lower(): (section, key, label, unit) for section, key, label, unit in HEADLINES}
_SPEC = re.compile(r"^\s*(?P<sign>[+-])\s*(?P<amount>[0-9]+(?:\.[0-9]+)?)\s*(?P<pct>%)?\s*$")
_MAX_FILE_BYTES = 64 * 1024


class ThresholdError(ValueError):
    """A bad limit or thresholds file; the message names the figure or field and the fix."""


@dataclass(frozen=True)
class Limit:
    figure: str  # the headline's label
    section: str
    key: str
    unit: str
    rises: bool  # True: a rise is the bad direction (`+`); False: a fall (`-`)
    amount: float
    relative: bool  # amount in % of the baseline

    @property
    def text(self) -> str:
        return f"{'+' if self.rises else '-'}{self.amount:g}{' %' if self.relative else ''}"


@dataclass(frozen=True)
class Row:
    limit: Limit
    baseline: float | None
    candidate: float | None
    change: float | None  # candidate - baseline
    relative_change: float | None  # change / |baseline|, None when the baseline is 0
    status: str


@dataclass(frozen=True)
class Verdict:
    baseline: str
    candidate: str
    rows: tuple[Row, ...]
    candidate_complete: bool = True

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.status == REGRESSION]

    @property
    def outcome(self) -> str:
        if self.regressions:
            return REGRESSION
        if not self.candidate_complete or any(r.status == NO_VALUE for r in self.rows):
            return "incomplete"
        return WITHIN

    @property
    def exit_code(self) -> int:
        return {REGRESSION: EXIT_REGRESSION, WITHIN: EXIT_OK}.get(self.outcome, EXIT_INCOMPLETE)

    def as_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "outcome": self.outcome,
            "exitCode": self.exit_code,
            "figures": [
                {
                    "figure": r.limit.figure,
                    "limit": r.limit.text,
                    "baseline": r.baseline,
                    "candidate": r.candidate,
                    "change": r.change,
                    "relativeChange": r.relative_change,
                    "status": r.status,
                }
                for r in self.rows
            ],
        }


def parse_limit(figure: str, spec: Any) -> Limit:
    """One limit: `figure` a headline label (any case), `spec` like `+10 %`, `-5 %` or `+2`."""
    known = _FIGURES.get(figure.strip().lower())
    if known is None:
        raise ThresholdError(
            f"limit {figure.strip()!r}: not a report figure; use one of: "
            + ", ".join(label for _, _, label, _ in HEADLINES)
        )
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise ThresholdError(
            f"limit {known[2]!r}: {str(spec).strip()[:40]!r} is not a limit; write a sign, an "
            "amount and optionally % (e.g. '+10 %', '-5 %', '+2')"
        )
    section, key, label, unit = known
    amount = float(match["amount"])  # digits only: always finite
    return Limit(label, section, key, unit, match["sign"] == "+", amount, bool(match["pct"]))


def parse_inline(items: list[str]) -> list[Limit]:
    """Limits from `figure: spec` texts (the command line's `--limit`)."""
    limits = []
    for item in items:
        figure, colon, spec = item.rpartition(":")
        if not colon or not figure.strip():
            raise ThresholdError(
                f"--limit {item[:60]!r}: write 'figure: limit', e.g. 'achieved TPS: -5 %'"
            )
        limits.append(parse_limit(figure, spec))
    return _unique(limits)


def load_thresholds(data: Any) -> list[Limit]:
    """Limits from a thresholds document: `{"version": 1, "limits": {figure: spec, …}}`."""
    if not isinstance(data, dict):
        raise ThresholdError("thresholds: must be a JSON object with `version` and `limits`")
    extra = sorted(set(data) - {"version", "limits", "comment"})
    if extra:
        raise ThresholdError(f"thresholds: unknown field {extra[0]!r}; keep version and limits")
    if data.get("version") != THRESHOLDS_VERSION:
        raise ThresholdError(
            f"thresholds: `version` must be {THRESHOLDS_VERSION} (docs/report.md describes it)"
        )
    limits = data.get("limits")
    if not isinstance(limits, dict) or not limits:
        raise ThresholdError(
            'thresholds: `limits` must map figure names to limits, e.g. {"achieved TPS": "-5 %"}'
        )
    return _unique([parse_limit(str(figure), spec) for figure, spec in limits.items()])


def read_thresholds(path: Path) -> list[Limit]:
    """A thresholds file (JSON, at most 64 KiB, a regular file)."""
    try:
        raw = read_regular_file(path, limit=_MAX_FILE_BYTES, what="--fail-on")
    except FileInputError as error:
        raise ThresholdError(str(error)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ThresholdError(f"--fail-on: {path} is not UTF-8 JSON ({first})") from None
    return load_thresholds(data)


def _unique(limits: list[Limit]) -> list[Limit]:
    seen: set[str] = set()
    for limit in limits:
        if limit.figure in seen:
            raise ThresholdError(f"limit {limit.figure!r}: given twice; keep one")
        seen.add(limit.figure)
    return limits


def _value(summary: dict[str, Any], limit: Limit) -> float | None:
    section = summary.get(limit.section)
    value = section.get(limit.key) if isinstance(section, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _judge(limit: Limit, baseline: float, candidate: float) -> tuple[float, float | None, str]:
    change = candidate - baseline
    relative = change / abs(baseline) if baseline else None
    if limit.relative:
        if relative is None:  # a baseline of 0: any move at all is beyond any share of it
            moved = math.inf if change > 0 else -math.inf if change < 0 else 0.0
        else:
            moved = 100 * relative
    else:
        moved = change
    worse = moved if limit.rises else -moved

    def beyond(value: float) -> bool:  # exactly at the limit (88 vs 80 at +10 %) is within
        return value > limit.amount and not math.isclose(value, limit.amount, rel_tol=1e-9)

    if beyond(worse):
        return change, relative, REGRESSION
    if beyond(-worse):
        return change, relative, IMPROVEMENT
    return change, relative, WITHIN


def table(verdict: Verdict) -> str:
    """The verdict as a plain-text table (what the command prints)."""
    header = ("figure", "limit", "baseline", "candidate", "change", "status")
    lines: list[tuple[str, ...]] = [header]
    for r in verdict.rows:
        if r.relative_change is not None and r.limit.relative:
            change = f"{100 * r.relative_change:+.1f} %"
        else:
            change = "-" if r.change is None else f"{r.change:+.6g}"
        lines.append(
            (
                r.limit.figure,
                r.limit.text,
                "-" if r.baseline is None else f"{r.baseline:.6g}",
                "-" if r.candidate is None else f"{r.candidate:.6g}",
                change,
                r.status,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    body = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    head = f"verdict: {verdict.outcome} ({verdict.candidate} against baseline {verdict.baseline})"
    if not verdict.candidate_complete:
        head += "; the candidate's report is incomplete"
    return "\n".join([head, *body])


def _name(summary: dict[str, Any]) -> str:
    run = summary.get("run") if isinstance(summary.get("run"), dict) else {}
    return str((run or {}).get("directory") or summary.get("experiment") or "(unnamed run)")


def evaluate(baseline: dict[str, Any], candidate: dict[str, Any], limits: list[Limit]) -> Verdict:
    """Each limited figure of `candidate` against `baseline` (two summary.json structures)."""
    rows = []
    for limit in limits:
        a, b = _value(baseline, limit), _value(candidate, limit)
        if a is None or b is None:
            rows.append(Row(limit, a, b, None, None, NO_VALUE))
            continue
        change, relative, status = _judge(limit, a, b)
        rows.append(Row(limit, a, b, change, relative, status))
    return Verdict(
        baseline=_name(baseline),
        candidate=_name(candidate),
        rows=tuple(rows),
        candidate_complete=candidate.get("complete", True) is not False,
    )
