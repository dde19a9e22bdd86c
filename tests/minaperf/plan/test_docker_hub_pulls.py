"""The Docker Hub pull estimate and warning, on real renders (minaperf.plan.preview)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from minaperf.plan.preview import docker_hub_pulls, docker_hub_warning, gke_pool_inputs
from tests.conftest import ROOT, render

DEV = ROOT / "Pulumi.dev.yaml"
LARGE = ROOT / "stacks" / "large-200.yaml"
PLANTED = ("platform.dockerHubMirror=false",)
"""dev without its mirror."""


def test_the_shipped_large_stack_pulls_through_the_mirror() -> None:
    large = render(config_file=LARGE)
    estimate = docker_hub_pulls(large.resources)
    assert estimate is not None
    assert (estimate.images, estimate.pulls) == (0, 0)
    images = {
        c["image"]
        for r in large.resources
        if r["type"] == "kubernetes:apps/v1:StatefulSet"
        for c in r["inputs"]["spec"]["template"]["spec"]["containers"]
    }
    assert all(image.startswith("us-central1-docker.pkg.dev/") for image in images)
    assert docker_hub_warning(large.resources) is None


def test_without_the_mirror_the_large_stack_is_over_the_limit() -> None:
    bare = render(config_file=LARGE, overrides=("platform.dockerHubMirror=false",))
    estimate = docker_hub_pulls(bare.resources)
    assert estimate is not None
    pools = {pool["name"]: pool["nodeCount"] for pool in gke_pool_inputs(bare.resources)}
    assert estimate.nodes == sum(pools.values())
    # every mina pool node runs the daemon image; never more than nodes x images
    assert pools["mina"] <= estimate.pulls <= estimate.nodes * estimate.images
    assert estimate.nat_addresses == 1
    warning = docker_hub_warning(bare.resources)
    assert warning is not None
    assert warning.endswith("set platform.dockerHubMirror: true")
    assert f"about {estimate.pulls} pulls in the first hour through 1 Cloud NAT" in warning


def test_the_dev_stack_needs_its_mirror() -> None:
    """Five nodes behind one NAT address pull more than Docker Hub allows: dev sets the mirror."""
    bare = render(config_file=DEV, overrides=("platform.dockerHubMirror=false",)).resources
    estimate = docker_hub_pulls(bare)
    assert estimate is not None
    assert estimate.pulls > estimate.allowed
    assert docker_hub_warning(bare) is not None
    shipped = docker_hub_pulls(render(config_file=DEV).resources)
    assert shipped is not None
    assert (shipped.images, shipped.pulls) == (0, 0)


def test_no_nat_no_estimate() -> None:
    assert docker_hub_pulls(render(config_file=ROOT / "stacks" / "kind.yaml").resources) is None


def test_render_prints_the_warning_for_a_planted_stack(tmp_path: Path) -> None:
    overrides = [arg for value in PLANTED for arg in ("--set", value)]
    out = ["--out", str(tmp_path / "out")]
    result = subprocess.run(
        [sys.executable, "-m", "scripts.render", "--config", str(DEV), *overrides, *out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "Docker Hub" in x]
    assert line.startswith("warning: ")
    assert line.endswith("set platform.dockerHubMirror: true")


def test_gcp_deploy_doc_s_node_count_follows_the_render() -> None:
    text = (ROOT / "docs" / "gcp-deploy.md").read_text()
    match = re.search(r"its (\d+) mina-pool nodes", text)
    assert match is not None
    (mina,) = [
        pool["nodeCount"]
        for pool in gke_pool_inputs(render(config_file=LARGE).resources)
        if pool["name"] == "mina"
    ]
    assert int(match[1]) == mina
