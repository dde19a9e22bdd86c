"""Property tests: mutated campaign files and campaign.json files are refused in one line each
(`campaign: KEY: …`, `campaign.json: FIELD: …`), never with another exception, and a
campaign.json can only name this campaign's own stacks and run directories. Derandomised,
fixed budget.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minaperf.experiment import campaign as lib
from minaperf.experiment.campaign import CampaignError
from tests.minaperf.experiment.test_campaign import GOOD

SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """`document` with one value replaced, one key removed or one key added, at any depth."""
    result = copy.deepcopy(document)
    path = draw(st.sampled_from(_paths(result)))
    if not path:
        return draw(JSON)
    parent = result
    for part in path[:-1]:
        parent = parent[part]
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "remove" and isinstance(parent, dict):
        del parent[path[-1]]
    elif how == "add" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=6))] = draw(JSON)
    else:
        parent[path[-1]] = draw(JSON)
    return result


def _lines(error: CampaignError, prefix: str) -> list[str]:
    """The error's lines, each checked to name its prefix (and so one mistake)."""
    lines = str(error).splitlines()
    assert lines, "an empty error"
    assert all(line.startswith(prefix) for line in lines), lines
    return lines


@SETTINGS
@given(mutated(GOOD))
def test_a_mutated_campaign_file_is_read_or_refused_in_one_line_per_mistake(data: Any) -> None:
    try:
        campaign = lib.parse_campaign(data)
    except CampaignError as error:
        _lines(error, "campaign: ")
        return
    runs = lib.expand(campaign)  # what is accepted expands to valid, distinct stack names
    assert len({r.stack for r in runs}) == len(runs) <= lib.MAX_RUNS
    assert all(len(r.stack) <= 30 for r in runs)


CAMPAIGN = lib.parse_campaign(GOOD)
PROGRESS = lib.new_progress(CAMPAIGN, "c.yaml")
for _run in PROGRESS.runs[:2]:
    _run.attempt = 1
    _run.run_dir = f"runs/{_run.stack}/attempt-1"
    _run.steps = {"up": "ok", "report": "ok"}
SAVED = PROGRESS.model_dump(by_alias=True, mode="json")


@SETTINGS
@given(mutated(SAVED))
def test_a_mutated_campaign_json_is_loaded_as_this_campaign_s_or_refused_in_one_line(
    data: Any,
) -> None:
    try:
        progress = lib.load_progress(data, CAMPAIGN)
    except CampaignError as error:
        lines = _lines(error, "campaign.json: ")
        assert len(lines) == 1
        return
    assert [r.stack for r in progress.runs] == [r.stack for r in lib.expand(CAMPAIGN)]
    for run in progress.runs:
        assert run.run_dir in (None, f"runs/{run.stack}/attempt-{run.attempt}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["runs"][0].update(stack="production"),
            "campaign.json: runs: not the runs of this campaign file (edited by hand?); "
            "use a new --out directory",
        ),
        (
            lambda d: d["runs"][1].update(runDir="../../elsewhere"),
            "campaign.json: runs.1.runDir: must be runs/sweep-0-1/attempt-1 (its attempt's "
            "directory); use a new --out directory",
        ),
        (lambda d: d["runs"].pop(), "campaign.json: runs: not the runs of this campaign file"),
    ],
)
def test_campaign_json_names_only_this_campaign_s_stacks_and_directories(
    change: Any, message: str
) -> None:
    data = copy.deepcopy(SAVED)
    change(data)
    with pytest.raises(CampaignError) as raised:
        lib.load_progress(data, CAMPAIGN)
    assert str(raised.value).startswith(message)
