"""The verdict's rules on hand-made summaries: directions, relative and absolute limits, a zero
baseline, missing figures, an incomplete candidate, and every way a thresholds file is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minaperf.report import verdict as v
from minaperf.report.summary import HEADLINES


def summary(name: str, **figures: Any) -> dict[str, Any]:
    """A summary.json with the given `section.key` figures (e.g. latency_p90=90.0)."""
    data: dict[str, Any] = {"version": 1, "run": {"directory": name}, "complete": True}
    for section, _key, _label, _unit in HEADLINES:
        data.setdefault(section, {})
    for name_, value in figures.items():
        section, key = name_.split("__")
        data[section][key] = value
    return data


LIMITS = v.parse_inline(
    ["inclusion latency p90: +10 %", "achieved TPS: -5 %", "orphaned blocks: +2"]
)


def statuses(verdict: v.Verdict) -> dict[str, str]:
    return {r.limit.figure: r.status for r in verdict.rows}


def test_regression_improvement_and_within_limits() -> None:
    base = summary("A", latency__p90=80.0, load__achievedTps=0.5, production__orphans=1)
    worse = summary("B", latency__p90=88.5, load__achievedTps=0.47, production__orphans=4)
    verdict = v.evaluate(base, worse, LIMITS)
    assert statuses(verdict) == {
        "inclusion latency p90": "regression",  # +10.6 %
        "achieved TPS": "regression",  # -6 %
        "orphaned blocks": "regression",  # +3
    }
    assert (verdict.outcome, verdict.exit_code) == ("regression", 1)
    assert (verdict.baseline, verdict.candidate) == ("A", "B")

    better = summary("C", latency__p90=70.0, load__achievedTps=0.6, production__orphans=1)
    verdict = v.evaluate(base, better, LIMITS)
    assert statuses(verdict) == {
        "inclusion latency p90": "improvement",
        "achieved TPS": "improvement",
        "orphaned blocks": "within limits",
    }
    assert (verdict.outcome, verdict.exit_code) == ("within limits", 0)

    edge = summary("D", latency__p90=88.0, load__achievedTps=0.475, production__orphans=3)
    assert set(statuses(v.evaluate(base, edge, LIMITS)).values()) == {"within limits"}


def test_zero_baseline_and_missing_figures() -> None:
    limits = v.parse_inline(["orphaned blocks: +0 %", "inclusion latency p90: +10 %"])
    base = summary("A", production__orphans=0, latency__p90=None)
    verdict = v.evaluate(base, summary("B", production__orphans=1, latency__p90=5.0), limits)
    assert statuses(verdict) == {
        "orphaned blocks": "regression",
        "inclusion latency p90": "no data",
    }
    assert verdict.exit_code == v.EXIT_REGRESSION  # a regression outranks a missing figure
    verdict = v.evaluate(base, summary("B", production__orphans=0, latency__p90=5.0), limits)
    assert (verdict.outcome, verdict.exit_code) == ("incomplete", v.EXIT_INCOMPLETE)


def test_incomplete_candidate_is_never_within_limits() -> None:
    base = summary("A", production__orphans=1)
    cand = summary("B", production__orphans=1) | {"complete": False}
    verdict = v.evaluate(base, cand, v.parse_inline(["orphaned blocks: +2"]))
    assert (verdict.outcome, verdict.exit_code) == ("incomplete", 3)
    assert "the candidate's report is incomplete" in v.table(verdict).splitlines()[0]


def test_table_names_both_runs_and_each_figure() -> None:
    base = summary("runs/a", latency__p90=80.0, load__achievedTps=0.5, production__orphans=1)
    cand = summary("runs/b", latency__p90=90.0, load__achievedTps=0.5, production__orphans=1)
    lines = v.table(v.evaluate(base, cand, LIMITS)).splitlines()
    assert lines[0] == "verdict: regression (runs/b against baseline runs/a)"
    assert lines[1].split() == ["figure", "limit", "baseline", "candidate", "change", "status"]
    assert lines[2].split("  ")[0] == "inclusion latency p90"
    assert "+12.5 %" in lines[2]
    assert lines[2].endswith("regression")


def test_thresholds_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"version": 1, "limits": {"Achieved TPS": "-5 %"}}))
    (limit,) = v.read_thresholds(path)
    assert (limit.figure, limit.rises, limit.amount, limit.relative) == (
        "achieved TPS",
        False,
        5,
        True,
    )
    assert limit.text == "-5 %"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "thresholds: must be a JSON object"),
        ({"limits": {"achieved TPS": "-5 %"}}, "thresholds: `version` must be 1"),
        ({"version": 2, "limits": {"achieved TPS": "-5 %"}}, "`version` must be 1"),
        ({"version": 1}, "`limits` must map figure names"),
        ({"version": 1, "limits": {}}, "`limits` must map figure names"),
        ({"version": 1, "limits": {"tps": "-5 %"}}, "limit 'tps': not a report figure"),
        ({"version": 1, "limits": {"achieved TPS": "5 %"}}, "is not a limit; write a sign"),
        ({"version": 1, "limits": {"achieved TPS": -5}}, "is not a limit"),
        ({"version": 1, "limits": {"achieved TPS": "-inf"}}, "is not a limit"),
        ({"version": 1, "limits": {"achieved TPS": "-5", "ACHIEVED TPS": "-6"}}, "given twice"),
        ({"version": 1, "limit": {}}, "unknown field 'limit'"),
    ],
)
def test_bad_thresholds_name_the_field(document: Any, message: str) -> None:
    with pytest.raises(v.ThresholdError) as caught:
        v.load_thresholds(document)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_thresholds_files(tmp_path: Path) -> None:
    cases = {"bin.json": b"\xff\xfe{", "bad.json": b"{", "big.json": b" " * 70_000}
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(v.ThresholdError, match="--fail-on: "):
            v.read_thresholds(tmp_path / name)
    with pytest.raises(v.ThresholdError, match="is a directory; pass a regular file"):
        v.read_thresholds(tmp_path)
    with pytest.raises(v.ThresholdError, match="write 'figure: limit'"):
        v.parse_inline(["achieved TPS -5 %"])


@given(
    base=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    cand=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    amount=st.floats(min_value=0, max_value=1e3, allow_nan=False),
)
def test_directions_are_mirror_images(base: float, cand: float, amount: float) -> None:
    """A rise limit on (a, b) judges as a fall limit on (b, a): never both regressions."""
    up = v.parse_limit("orphaned blocks", f"+{amount:f}")
    down = v.parse_limit("orphaned blocks", f"-{amount:f}")
    one = v.evaluate(
        summary("A", production__orphans=base), summary("B", production__orphans=cand), [up]
    )
    two = v.evaluate(
        summary("A", production__orphans=base), summary("B", production__orphans=cand), [down]
    )
    pair = {one.rows[0].status, two.rows[0].status}
    assert pair in ({"within limits"}, {"regression", "improvement"})
