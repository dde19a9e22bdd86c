"""The campaign page in headless Chromium: loaded offline, one laid-out plot per figure, links
to each run's report. Set MINAPERF_CAMPAIGN_SCREENSHOT=docs/campaign-screenshot.png to refresh
the docs' screenshot.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from minaperf.experiment import campaign as lib
from minaperf.report import campaign_report
from tests.fakes.headless import find_chromium, inspect_page

_INSPECT = """
JSON.stringify({
  plots: [...document.querySelectorAll('svg[data-plot]')].map(svg => {
    const r = svg.getBoundingClientRect();
    return {plot: svg.dataset.plot, width: r.width, height: r.height,
            axes: svg.querySelectorAll('g[id^="axes_"]').length,
            xticks: svg.querySelectorAll('g[id^="xtick_"]').length};
  }),
  links: [...document.querySelectorAll('a')].map(a => a.getAttribute('href')),
})
"""


def test_campaign_page_renders_offline_in_headless_chromium(tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    campaign = lib.parse_campaign(
        {
            "name": "node-sweep",
            "base": "base.yaml",
            "matrix": {"nodes.plainNodes": [10, 40, 100]},
            "scripts": ["s.jsonl"],
            "repeats": 3,
            "baseline": {"cell": 0},
            "thresholds": {
                "version": 1,
                "limits": {"inclusion latency p90": "+20 %", "achieved TPS": "-10 %"},
            },
            "budgetUsd": 50,
        }
    )
    progress = lib.new_progress(campaign, "c.yaml")
    rng = random.Random(3)
    summaries = {}
    for run in progress.runs:
        run.steps = {"up": "ok", "report": "ok", "destroy": "ok"}
        run.run_dir = f"runs/{run.stack}/attempt-1"
        nodes = campaign.matrix["nodes.plainNodes"][run.cell]
        summaries[run.stack] = {
            "load": {"achievedTps": 2 - nodes / 200 + rng.uniform(-0.05, 0.05)},
            "latency": {"p90": 40 + nodes / 2 + rng.uniform(-3, 3)},
        }
    summary = campaign_report.build(campaign, progress, summaries)
    page = tmp_path / "campaign.html"
    page.write_text(campaign_report.page(summary))
    seen, png, requests = inspect_page(chromium, page, _INSPECT)
    assert requests
    assert all(url.startswith("file://") for url in requests), requests
    assert [p["plot"] for p in seen["plots"]] == [
        "campaign-achieved TPS",
        "campaign-inclusion latency p90",
    ]
    for plot in seen["plots"]:
        assert plot["width"] > 300
        assert plot["height"] > 100
        assert plot["axes"] == 1
        assert plot["xticks"] == 3  # one per cell
    assert "runs/node-sweep-2-2/attempt-1/report/report.html" in seen["links"]
    assert summary["exitCode"] == 1  # latency grows past +20 % at 40 and 100 nodes
    target = os.environ.get("MINAPERF_CAMPAIGN_SCREENSHOT")
    if target:
        Path(target).write_bytes(png)
