"""The report page in a real browser: headless Chromium loads it offline, every plot is laid out
with its axes, and the screenshot shows ink inside every plot's box.

Set MINAPERF_REPORT_SCREENSHOT=docs/report-screenshot.png to refresh the report
screenshot (docs/cli.md).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from minaperf.outputs import parse_outputs
from minaperf.report import build, write
from minaperf.report.run import read_run
from tests.fakes import report_scenario as sc
from tests.fakes.consumer_db import (
    PgImage,
    upstream_db,  # noqa: F401 (fixture)
    upstream_server,  # noqa: F401 (fixture)
)
from tests.fakes.headless import Browser, find_chromium

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
  };
}))
"""


def test_every_plot_renders_offline_in_headless_chromium(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        sc.load_demo(conn, t0)
        run_dir = sc.write_run(tmp_path / "exp-42-1", t0)
        outputs = parse_outputs(sc.outputs(upstream_server.port, "x"))
        summary, page = build(read_run(run_dir), outputs, conn)
    write(tmp_path / "report", summary, page)

    browser = Browser(chromium)
    try:
        browser.open(tmp_path / "report" / "report.html")
        plots = json.loads(browser.evaluate(_INSPECT))
        png = browser.screenshot()
        requests = [
            e["params"]["request"]["url"]
            for e in browser.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
    finally:
        browser.close()

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
    labels = {p["plot"]: " ".join(p["texts"]) for p in plots}
    assert "transactions per second" in labels["load"]
    assert "inclusion latency (s)" in labels["latency"]
    assert "time from production to receipt (s)" in labels["propagation"]
    assert "share (%)" in labels["production"]
    assert "minutes since the run started" in labels["health"]

    target = os.environ.get("MINAPERF_REPORT_SCREENSHOT")
    if target:
        top = image.crop((0, 0, image.width, min(image.height, 2600)))
        top.thumbnail((900, 2600))
        top.save(target, optimize=True)
