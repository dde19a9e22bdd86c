"""The report page in a real browser: headless Chromium loads it offline, every plot is laid out
with its axes, and the screenshot shows ink inside every plot's box.

Set MINAPERF_REPORT_SCREENSHOT=docs/report-screenshot.png to refresh the report
screenshot (README, docs/report.md).
"""

from __future__ import annotations

import io
import itertools
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from minaperf.model.outputs import parse_outputs
from minaperf.report import build, write
from minaperf.report.plots import HEALTH_NODE_ROWS
from minaperf.report.run import read_run
from tests.fakes import report_scenario as sc
from tests.fakes.consumer_db import PgImage, upstream_db, upstream_server  # noqa: F401 (fixtures)
from tests.fakes.headless import find_chromium, inspect_page

pytestmark = pytest.mark.postgres

PLOTS = ["load", "latency", "propagation", "production", "snark", "health", "story"]

# Per plot: its box in page coordinates and what the browser laid out inside it.
_INSPECT = """
JSON.stringify([...document.querySelectorAll('svg[data-plot]')].map(svg => {
  const r = svg.getBoundingClientRect();
  const axes = [...svg.querySelectorAll('g[id^="axes_"]')];
  const frame = axes.length ? axes[0].getBoundingClientRect() : {width: 0, height: 0};
  return {
    plot: svg.dataset.plot,
    x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height,
    axes: axes.length, frameWidth: frame.width, frameHeight: frame.height,
    xticks: svg.querySelectorAll('g[id^="xtick_"]').length,
    yticks: svg.querySelectorAll('g[id^="ytick_"]').length,
    lines: [...svg.querySelectorAll('path')].filter(p => p.getTotalLength() > 0).length,
    texts: [...svg.querySelectorAll('text')].map(t => t.textContent),
    clipped: [...svg.querySelectorAll('text')].filter(t => {
      const b = t.getBoundingClientRect();
      return b.left < r.left - 1 || b.right > r.right + 1 || b.top < r.top - 1
        || b.bottom > r.bottom + 1;
    }).map(t => t.textContent),
    yLabels: [...svg.querySelectorAll('g[id^="axes_"]')].map(a =>
      [...a.querySelectorAll('g[id^="ytick_"] text')].map(t => {
        const b = t.getBoundingClientRect();
        return {text: t.textContent, top: b.top, bottom: b.bottom};
      })),
  };
}))
"""


def restarted_nodes(count: int, start: datetime) -> tuple[list[dict[str, Any]], str]:
    """Kubernetes restart rows (minaperf/orchestrator/restarts.py per_node) for `count` nodes,
    node i restarting 1 + i % 4 times, its last termination inside the run."""
    rows = [
        {
            "node": f"plain-{i:03d}",
            "pod": f"plain-{i:03d}-0",
            "restarts": 1 + i % 4,
            "scope": "during the run",
            "lastReason": "OOMKilled",
            "lastExitCode": 137,
            "lastFinishedAt": (start + timedelta(seconds=60 + i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for i in range(count)
    ]
    return rows, "Kubernetes restartCount, 2 snapshot(s)"


@pytest.mark.parametrize("restarted", [10, 250])
def test_every_plot_renders_offline_in_headless_chromium(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
    restarted: int,
) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(
            "no Chromium or Chrome: apt-get install chromium (Debian), install Chrome, or set "
            "MINAPERF_CHROMIUM to one"
        )
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        sc.load_demo(conn, t0)
        run_dir = sc.write_run(tmp_path / "exp-42-1", t0)
        outputs = parse_outputs(sc.outputs(upstream_server.port, "x"))
        summary, page = build(
            read_run(run_dir), outputs, conn, restarts=restarted_nodes(restarted, t0)
        )
    write(tmp_path / "report", summary, page)

    plots, png, requests = inspect_page(chromium, tmp_path / "report" / "report.html", _INSPECT)

    assert requests, "the page was never requested"
    assert all(url.startswith("file://") for url in requests), requests
    assert [p["plot"] for p in plots] == PLOTS
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for p in plots:
        name = p["plot"]
        assert p["width"] > 300, name
        assert p["height"] > 100, name
        assert p["axes"] >= 1, name
        assert p["frameWidth"] > 100, name
        assert p["frameHeight"] > 50, name
        assert p["xticks"] >= 2, name
        assert p["yticks"] >= 1, name
        assert p["lines"] >= 5, name
        box = (int(p["x"]), int(p["y"]), int(p["x"] + p["width"]), int(p["y"] + p["height"]))
        crop = image.crop(box)
        colours = crop.getcolors(maxcolors=1 << 20) or []
        ink = sum(n for n, rgb in colours if isinstance(rgb, tuple) and sum(rgb) < 3 * 235)
        assert ink > 0.01 * crop.width * crop.height, f"{name}: the plot's box is blank"
        assert len(colours) > 20, f"{name}: too few colours for a drawn plot"
        assert p["clipped"] == [], f"{name}: text outside the plot's box"
        for axis in p["yLabels"]:  # tick labels of one axis never run into each other
            spans = sorted((t["top"], t["bottom"]) for t in axis)
            assert all(a[1] <= b[0] + 0.5 for a, b in itertools.pairwise(spans)), name
    (health,) = [p for p in plots if p["plot"] == "health"]
    rows = [t["text"] for t in health["yLabels"][1]]
    if restarted <= HEALTH_NODE_ROWS:
        assert sorted(rows) == [f"plain-{i:03d}" for i in range(restarted)]
    else:
        assert len(rows) == HEALTH_NODE_ROWS
        assert rows[-1] == f"{restarted - HEALTH_NODE_ROWS + 1} other nodes"
    labels = {p["plot"]: " ".join(p["texts"]) for p in plots}
    assert "tx/s (mean per minute)" in labels["load"]
    assert "inclusion latency (s)" in labels["latency"]
    assert "time from production to receipt (s)" in labels["propagation"]
    assert "share (%)" in labels["production"]
    assert "minutes since the run started" in labels["health"]

    target = os.environ.get("MINAPERF_REPORT_SCREENSHOT")
    if target and restarted == 10:
        top = image.crop((0, 0, image.width, min(image.height, 2600)))
        top.thumbnail((900, 2600))
        top.save(target, optimize=True)
