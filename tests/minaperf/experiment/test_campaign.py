"""minaperf.experiment.campaign: the file's validation, the cells and their stack names, the plan's
sums."""

from __future__ import annotations

from typing import Any

import pytest

from minaperf.experiment import campaign as lib
from minaperf.experiment.campaign import CampaignError, CellPlan
from minaperf.model.config import ExperimentConfig

GOOD: dict[str, Any] = {
    "name": "sweep",
    "base": "../kind.yaml",
    "matrix": {"nodes.plainNodes": [10, 40, 100], "workerPool.servers": [2, 4]},
    "scripts": ["s.jsonl"],
    "repeats": 2,
    "baseline": {"cell": 0},
    "thresholds": {"version": 1, "limits": {"achieved TPS": "-5 %"}},
    "budgetUsd": 100,
    "maxConcurrency": 3,
}


def test_cells_are_every_combination_with_stable_valid_stack_names() -> None:
    campaign = lib.parse_campaign(GOOD)
    runs = lib.expand(campaign)
    assert len(runs) == 3 * 2 * 2
    assert runs[0].stack == "sweep-0-0"
    assert runs[-1].stack == "sweep-5-1"
    assert runs[-1].cell.overrides == {"nodes.plainNodes": 100, "workerPool.servers": 4}
    assert [r.stack for r in lib.expand(lib.parse_campaign(GOOD))] == [r.stack for r in runs]
    # The longest name is still a valid stack name (the config's own rule).
    longest = lib.parse_campaign({**GOOD, "name": "a" * lib.NAME_MAX})
    stack = lib.expand(longest)[-1].stack
    ExperimentConfig.model_validate({"name": stack, "platform": {"kind": "kubernetes"}})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "Sweep"}, "campaign: name: must be at most 20 lowercase"),
        (
            {"matrix": {"nodes.plainNodes": []}},
            "campaign: matrix: nodes.plainNodes: give at least one value",
        ),
        ({"repeats": 0}, "campaign: repeats: Input should be greater than or equal to 1"),
        ({"budget": 3}, "campaign: budget: unknown key; see docs/campaigns.md"),
        (
            {"baseline": {"cell": 6}},
            "campaign: baseline.cell: 6 is not a cell; the matrix has cells 0..5",
        ),
        (
            {"thresholds": {"version": 1, "limits": {"speed": "+1"}}},
            "campaign: thresholds: limit 'speed': not a report figure",
        ),
        ({"baseline": {"cell": 0, "directory": "x"}}, "campaign: baseline: give exactly one"),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(CampaignError) as raised:
        lib.parse_campaign({**GOOD, **change})
    assert str(raised.value).startswith(expected), str(raised.value)
    assert "\n" not in str(raised.value)


def test_several_mistakes_give_one_line_each() -> None:
    with pytest.raises(CampaignError) as raised:
        lib.parse_campaign({**GOOD, "repeats": 0, "maxConcurrency": 0})
    assert str(raised.value).splitlines() == [
        "campaign: repeats: Input should be greater than or equal to 1",
        "campaign: maxConcurrency: Input should be greater than or equal to 1",
    ]


def test_peak_demand_is_the_largest_runs_side_by_side() -> None:
    campaign = lib.parse_campaign(GOOD)
    runs = lib.expand(campaign)
    plans = [
        CellPlan(runs[0], 1.0, 1.0, 0.0, {"CPUS": 8, "SSD": 100}),
        CellPlan(runs[1], 1.0, 1.0, 0.0, {"CPUS": 32}),
        CellPlan(runs[2], 1.0, 1.0, 0.0, {"CPUS": 16, "SSD": 50}),
    ]
    assert lib.peak_demand(plans, 2) == {"CPUS": 48, "SSD": 150}
    assert lib.peak_demand(plans, 1) == {"CPUS": 32, "SSD": 100}


def test_a_run_costs_its_price_for_its_modelled_time_and_runs_queue_for_places() -> None:
    runs = lib.expand(lib.parse_campaign(GOOD))
    plans = [
        CellPlan(runs[0], 2.0, 600, 3000, {}),  # 1 h
        CellPlan(runs[1], 2.0, 300, 1500, {}),  # 0.5 h
        CellPlan(runs[2], 2.0, 300, 1500, {}),
    ]
    assert [p.usd for p in plans] == [2.0, 1.0, 1.0]
    assert lib.wall_seconds(plans, 1) == 7200
    assert lib.wall_seconds(plans, 2) == 3600  # runs 1 and 2 one after the other beside run 0
    assert lib.wall_seconds(plans, 16) == 3600
    assert lib.wall_seconds([], 2) == 0


def test_a_campaign_file_with_the_old_deploy_minutes_is_told_the_key_is_unknown() -> None:
    with pytest.raises(CampaignError) as raised:
        lib.parse_campaign({**GOOD, "deployMinutes": 30})
    assert str(raised.value) == (
        "campaign: deployMinutes: unknown key; see docs/campaigns.md for the keys"
    )


def test_script_duration_is_its_waits_or_its_longest_load() -> None:
    steps = [("wait", {"sec": 600}), ("payments", {"durationMin": 5}), ("wait", {"min": 2})]
    assert lib.script_seconds(steps) == 720
    assert lib.script_seconds([("payments", {"durationMin": 30}), ("wait", {"sec": 60})]) == 1800


def test_progress_of_another_campaign_is_refused() -> None:
    campaign = lib.parse_campaign(GOOD)
    data = lib.new_progress(campaign, "c.yaml").model_dump(by_alias=True, mode="json")
    assert lib.load_progress(data, campaign).runs[0].stack == "sweep-0-0"
    other = lib.parse_campaign({**GOOD, "repeats": 3})
    with pytest.raises(CampaignError, match="written by a different campaign file"):
        lib.load_progress(data, other)
