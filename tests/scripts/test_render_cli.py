"""`python -m scripts.render`: the command-line contract of docs/architecture.md."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from minaperf.model.cost import PRICES_PATH
from minaperf.plan.preview import format_summary
from tests.conftest import ROOT


def run_render(*args: str) -> subprocess.CompletedProcess[str]:
    """One render, stdout and stderr captured (so neither is a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "scripts.render", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def dev_render(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("cli") / "dev"
    return out, run_render("--stack", "dev", "--out", str(out))


def test_render_writes_every_artifact(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, result = dev_render
    assert result.returncode == 0, result.stderr
    resources = json.loads((out / "resources.json").read_text())
    assert isinstance(resources, list)
    assert resources
    for resource in resources:
        assert set(resource) >= {
            "urn",
            "type",
            "name",
            "parent",
            "provider",
            "dependencies",
            "options",
            "inputs",
        }
        assert set(resource["options"]) >= {
            "protect",
            "retainOnDelete",
            "ignoreChanges",
            "customTimeouts",
            "deleteBeforeReplace",
        }
    assert list((out / "manifests").rglob("*.yaml"))
    assert json.loads((out / "outputs.json").read_text())["experiment"] == "dev"
    assert (out / "files").is_dir()


def test_render_masks_secrets_by_default(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = dev_render
    outputs = json.loads((out / "outputs.json").read_text())
    assert outputs["orchestratorKey"] == "[secret]"
    assert outputs["postgresPassword"] == "[secret]"
    assert "[secret]" in (out / "resources.json").read_text()


def test_render_warns_about_values_it_cannot_read(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = dev_render
    assert "gcp:project is not set" in result.stderr


def test_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bad"
    result = run_render("--stack", "dev", "--set", "nodes.seeds=0", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "config error: nodes.seeds: Input should be greater than or equal to 1 (got 0)"
    ]
    assert not out.exists()


def test_unknown_key_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text(
        "config:\n  mina-itn:platform:\n    kind: kubernetes\n  mina-itn:nodez:\n    seeds: 1\n"
    )
    result = run_render("--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.startswith("config error: nodez: unknown key")


def test_render_refuses_to_clobber_another_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = run_render("--stack", "dev", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "not a render directory" in result.stderr
    assert "--force" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_a_resources_json_alone_does_not_make_a_render_directory(tmp_path: Path) -> None:
    """Issue 15: render used to delete any directory holding a file named resources.json."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "resources.json").write_text("[]")
    (out / "notes.txt").write_text("keep me")
    refused = run_render("--stack", "dev", "--out", str(out))
    assert refused.returncode == 2
    assert (out / "notes.txt").read_text() == "keep me"
    forced = run_render("--stack", "dev", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not (out / "notes.txt").exists()
    assert (out / ".mina-itn-render").is_file()


def test_render_replaces_its_own_directory_and_leaves_nothing_beside_it(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out = tmp_path / "dev"
    first = run_render("--stack", "dev", "--out", str(out))
    assert first.returncode == 0, first.stderr
    second = run_render("--stack", "dev", "--set", "nodes.plainNodes=6", "--out", str(out))
    assert second.returncode == 0, second.stderr
    names = {record["name"] for record in json.loads((out / "resources.json").read_text())}
    assert "dev-mina-node-node-6" in names
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dev"]


def test_a_failed_render_leaves_the_old_one_whole(tmp_path: Path) -> None:
    out = tmp_path / "dev"
    assert run_render("--stack", "dev", "--out", str(out)).returncode == 0
    before = _tree(out)
    bad = run_render("--stack", "dev", "--set", "nodes.seeds=0", "--out", str(out))
    assert bad.returncode == 2
    assert _tree(out) == before


def test_a_write_that_fails_halfway_never_leaves_half_a_directory(tmp_path: Path) -> None:
    from scripts.render import write_output_directory

    out = tmp_path / "dev"
    out.mkdir()
    (out / ".mina-itn-render").write_text("{}")
    (out / "resources.json").write_text("old")

    class BrokenRun:
        def __init__(self) -> None:
            self.outputs: dict[str, object] = {}
            self.secret_outputs: set[str] = set()

        @property
        def resources(self) -> list[object]:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_output_directory(BrokenRun(), out, show_secrets=False, mock_values=[], stack="dev")
    assert (out / "resources.json").read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dev"]


def test_show_secrets_writes_private_files(tmp_path: Path) -> None:
    out = tmp_path / "secret"
    result = run_render("--stack", "dev", "--show-secrets", "--out", str(out))
    assert result.returncode == 0, result.stderr
    modes = {(path.is_dir(), path.stat().st_mode & 0o777) for path in [out, *out.rglob("*")]}
    assert modes == {(True, 0o700), (False, 0o600)}


def _record_lines(out: Path) -> list[str]:
    return (out / "resources.json").read_text().splitlines()[1:-1]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


def test_two_renders_of_the_same_config_are_byte_identical(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    first, _ = dev_render
    again = tmp_path / "again"
    assert run_render("--stack", "dev", "--out", str(again)).returncode == 0
    assert _tree(again) == _tree(first)
    urns = [json.loads(line.rstrip(","))["urn"] for line in _record_lines(first)]
    assert urns == sorted(urns)
    line = _record_lines(first)[0].rstrip(",")
    assert line == json.dumps(json.loads(line), sort_keys=True)


def test_outputs_mark_what_the_mock_engine_invented(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    from minaperf.model.outputs import load_outputs

    out, _ = dev_render
    outputs = load_outputs(out / "outputs.json")
    marked = set(outputs.mock_values)
    # The clock and an address the cloud assigns are invented; the namespace is configured.
    assert {"genesisTimestamp", "expiresAt", "postgres.externalAddress"} <= marked
    assert "namespace" not in marked
    assert "experiment" not in marked


def test_summary_on_stdout(dev_render: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = dev_render
    text = result.stdout
    assert "node pools:" in text
    assert "mina: 4 x n2-standard-16" in text
    assert "pods per node: 3, 3, 3, 1;" in text
    assert "dev-snark-workers VM 1/2: c2d-highcpu-32 (spot, 4 snark worker processes)" in text
    assert "service/itn-dev/postgres-external 5432/TCP" in text
    assert "from 203.0.113.0/24" in text
    assert "over the 48 h TTL" in text
    assert "genesis: 2030-01-01T00:15:00Z (mock clock)" in text


def test_cli_doc_sample_is_what_render_prints(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """docs/cli.md's render sample is the dev render's stdout (it had drifted by 27 resources)."""
    out, result = dev_render
    doc = (ROOT / "docs" / "cli.md").read_text()
    command = "$ python -m scripts.render --stack dev --out build/dev\n"
    sample = doc.split(command, 1)[1].split("```", 1)[0]
    assert sample == result.stdout.replace(str(out), "build/dev")


def test_json_summary_adds_up(tmp_path: Path) -> None:
    result = run_render("--stack", "dev", "--json", "--out", str(tmp_path / "dev"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    parts = {part["part"]: part for part in summary["cost"]["parts"]}
    assert set(parts) == {
        "cluster pools",
        "worker VMs",
        "disks",
        "load balancers",
        "GKE cluster fee",
    }
    total = sum(part["usdPerHour"] for part in parts.values())
    # The total is shown to the cent (as the stack output); the parts to 1/100 cent.
    assert summary["cost"]["usdPerHour"] == round(total, 2)
    assert summary["cost"]["usdOverTtl"] == pytest.approx(total * 48, abs=0.01)
    assert [vm["spot"] for vm in summary["workerVms"]] == [True, True]
    mina = next(pool for pool in summary["pools"] if pool["name"] == "mina")
    assert sum(w["replicas"] for w in mina["runs"]) == 10
    assert "genesisTimestamp" in summary["mockValues"]


STACK_ARGS = {
    "dev": ("--stack", "dev"),
    **{
        path.stem: ("--config", str(path.relative_to(ROOT)))
        for path in sorted((ROOT / "stacks").glob("*.yaml"))
    },
}


@pytest.mark.parametrize("stack", sorted(STACK_ARGS))
def test_every_cost_shown_is_the_stack_output(stack: str, tmp_path: Path) -> None:
    """The `estimatedHourlyCostUsd` output, the `--json` summary and the text summary show one
    figure (minaperf.cloud.gcp_project.experiment_cost), for dev and every stack in stacks/."""
    result = run_render(*STACK_ARGS[stack], "--json", "--out", str(tmp_path / stack))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    output = json.loads((tmp_path / stack / "outputs.json").read_text())["estimatedHourlyCostUsd"]
    assert isinstance(output, float | int)
    assert summary["cost"]["usdPerHour"] == output
    assert "error" not in summary["cost"]
    parts = sum(part["usdPerHour"] for part in summary["cost"]["parts"])
    assert round(parts, 2) == pytest.approx(output, abs=0.011)
    text = format_summary(summary)
    assert f"  total: ${output:,.2f}/hour" in text


def test_a_missing_price_is_reported_by_every_cost(tmp_path: Path) -> None:
    """A price table without the forwarding rule price: the render says so, the output is
    unset with a warning, and nothing shows a total that silently left it out."""
    prices = json.loads(PRICES_PATH.read_text())
    del prices["forwardingRulePerHour"]
    table = tmp_path / "prices.json"
    table.write_text(json.dumps(prices))
    script = (
        "import sys, runpy, minaperf.model.cost as cost; from pathlib import Path; "
        "cost.PRICES_PATH = Path(sys.argv.pop(1)); cost.load_prices.cache_clear(); "
        "runpy.run_module('scripts.render', run_name='__main__')"
    )
    out = tmp_path / "dev"
    result = subprocess.run(
        [sys.executable, "-c", script, str(table), "--stack", "dev", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    reason = "no list price 'forwardingRulePerHour' in prices.json"
    assert f"cost: not estimated: {reason}" in result.stdout
    assert "total:" not in result.stdout
    assert f"estimatedHourlyCostUsd is not set: {reason}" in result.stderr
    assert json.loads((out / "outputs.json").read_text())["estimatedHourlyCostUsd"] is None


def test_progress_goes_to_a_terminal_only(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    _, quiet = dev_render
    assert "render [" not in quiet.stderr
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "scripts.render",
                "--stack",
                "dev",
                "--out",
                str(tmp_path / "t"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=300,
            check=False,
        )
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert b"render [" in shown
    assert "render [" not in result.stdout


def test_diff_says_what_is_created_updated_and_replaced(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    old, _ = dev_render
    result = run_render(
        "--stack",
        "dev",
        "--set",
        "nodes.plainNodes=6",
        "--set",
        "workerPool.spot=false",
        "--diff",
        str(old),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    diff = json.loads(result.stdout)["diff"]
    assert [item["name"] for item in diff["added"]] == ["dev-mina-node-node-6"]
    assert diff["removed"] == []
    changed = {item["name"]: item for item in diff["changed"]}
    # An instance template is immutable (spot is ForceNew on it); a new node list rewrites a
    # ConfigMap (replaced) that the StatefulSets mount (updated in place).
    template = changed["dev-workers-template"]
    assert template["action"] == "replace"
    assert any(path.startswith("scheduling") for path in template["replaceBecause"])
    assert changed["dev-mina-runtime-config"]["action"] == "replace"
    assert changed["dev-mina-bp-bp-1"]["action"] == "update"
    assert changed["dev-mina-bp-bp-1"]["paths"] == ["spec.template.spec.volumes[0].configMap.name"]


def test_diff_needs_a_render_directory(tmp_path: Path) -> None:
    result = run_render("--stack", "dev", "--diff", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: --diff: {tmp_path} has no resources.json (not a render)"
    ]


def test_encrypted_values_get_deterministic_placeholders(tmp_path: Path) -> None:
    from minaperf.model.stack_file import read_stack_input, validate

    stack = tmp_path / "secure.yaml"
    stack.write_text(
        "config:\n"
        "  mina-itn:platform:\n    kind: kubernetes\n"
        "  mina-itn:keys:\n    seed:\n      secure: v1:AAAA:BBBB\n"
    )
    first = read_stack_input(stack=None, config_file=stack, overrides=())
    second = read_stack_input(stack=None, config_file=stack, overrides=())
    assert first.config == second.config
    assert first.secret_keys == ["mina-itn:keys"]
    assert any("mina-itn:keys.seed is encrypted" in line for line in first.warnings)
    assert validate(first).keys.seed == first.config["mina-itn:keys"]["seed"]


def test_last_release_dashboard_off_renders_with_one_warning(tmp_path: Path) -> None:
    """`dashboard: {enabled: false}` (stack files of the last release) asks for nothing: the
    render goes ahead, and the warning appears once though the config is parsed twice (by the
    render, then by the program)."""
    kind = str((ROOT / "stacks" / "kind.yaml").relative_to(ROOT))
    off = run_render(
        "--config", kind, "--set", "dashboard.enabled=false", "--out", str(tmp_path / "off")
    )
    assert off.returncode == 0, off.stderr
    warnings = [line for line in off.stderr.splitlines() if line.startswith("warning: dashboard")]
    assert len(warnings) == 1
    assert "no dashboard image can show this deployment's traces" in warnings[0]
    on = run_render(
        "--config", kind, "--set", "dashboard.enabled=true", "--out", str(tmp_path / "on")
    )
    assert on.returncode == 2
    assert on.stderr.startswith("config error: dashboard: removed: no dashboard image")
    assert not (tmp_path / "on").exists()
