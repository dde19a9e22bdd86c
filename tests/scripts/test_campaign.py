"""`python -m scripts.campaign`: plan, run (resume, signals, failures) and report, against the
stand-in `pulumi`, orchestrator, kubectl and daemons of tests/scripts/test_experiment_up.py, and
the real `scripts.report` reading a real PostgreSQL: one server with TLS and the pinned upstream
schema, one database per stack made and seeded when the stand-in `pulumi up` creates the stack
(tests/fakes/cell_database.py), reached as the report reaches it by default (the read-only role
over verified TLS, from the stack's outputs).

Every scenario ends with no stack left up: each stack's state has no resources and no lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from minaperf.workloads.postgres_access import server_certificate
from tests.fakes.cell_database import SECONDS_PER_PLAIN_NODE
from tests.fakes.consumer_db import PgImage, start_upstream_server, stop_server
from tests.minaperf.workloads.conftest import pick_run_as
from tests.scripts.test_experiment_cli import FAKE_KUBECTL, FAKE_ORCHESTRATOR
from tests.scripts.test_experiment_up import ROOT, SIG_KEY, SIG_SECRET, World

PG_HOST = "postgres.sweep.svc.cluster.local"
READER, READER_PASSWORD = "logs_reader", "campaign-reader-password"


@dataclasses.dataclass
class CellServer:
    server: PgImage
    certificate: str


@pytest.fixture(scope="module")
def cell_server() -> Iterator[CellServer]:
    """PostgreSQL with TLS (the stacks' certificate for PG_HOST) and the upstream schema."""
    certificate, key = server_certificate(b"campaign test".ljust(32, b"."), [PG_HOST])
    directory = Path(tempfile.mkdtemp(prefix="minaperf-campaign-tls-"))
    directory.chmod(0o755)  # the server's user reads it
    run_as = pick_run_as()
    for name, text in (("server.crt", certificate), ("server.key", key)):
        (directory / name).write_text(text)
        (directory / name).chmod(0o600)
        run_as.own(directory / name)
    tls = ("-c", "ssl=on", "-c", f"ssl_cert_file={directory / 'server.crt'}")
    server = start_upstream_server((*tls, "-c", f"ssl_key_file={directory / 'server.key'}"))
    try:
        yield CellServer(server, certificate)
    finally:
        stop_server(server)
        shutil.rmtree(directory, ignore_errors=True)


def _secret(value: Any) -> dict[str, str]:
    """An output the program wraps in Output.secret, as the state holds it."""
    return {SIG_KEY: SIG_SECRET, "plaintext": json.dumps(value)}


class CampaignWorld(World):
    def __init__(self, tmp: Path, cells: CellServer) -> None:
        super().__init__(tmp)
        self.cells = cells
        server = cells.server
        self.env.update(
            {
                "FAKE_PULUMI_OUTPUTS": str(tmp / "outputs-{stack}.json"),
                "FAKE_PULUMI_UP_HOOK": f"{sys.executable} -m tests.fakes.cell_database",
                "CELL_DB_PORT": str(server.port),
                "CELL_DB_BINDIR": str(server.bindir),
                "CELL_DB_PASSWORD": server.password,
                "CELL_DB_READER": READER,
                "CELL_DB_READER_PASSWORD": READER_PASSWORD,
                "CELL_DB_LOAD_NAME": "t",  # payments_script's experimentName
            }
        )

    def write_outputs(self, stack: str) -> None:
        """The stack's outputs: its name, its own database, PostgreSQL's address and TLS."""
        data = json.loads((self.tmp / "outputs.json").read_text())
        data["experiment"] = stack
        data["postgres"] = {
            "host": PG_HOST,
            "port": self.cells.server.port,
            "database": stack,
            "user": "postgres",
            "externalAddress": "127.0.0.1",
            "readerUser": READER,
            "caCertificate": self.cells.certificate,
            "keepDataOnDestroy": True,
        }
        data["postgresPassword"] = _secret(self.cells.server.password)
        data["postgresReaderPassword"] = _secret(READER_PASSWORD)
        (self.tmp / f"outputs-{stack}.json").write_text(json.dumps(data))

    def write_campaign(self, **changes: Any) -> Path:
        document: dict[str, Any] = {
            "name": "sweep",
            "base": str(self.stack_config),
            "matrix": {"nodes.plainNodes": [1, 2], "workerPool.processesPerServer": [1, 2]},
            "scripts": [str(self.script)],
            "repeats": 1,
            "budgetUsd": 5,
            "maxConcurrency": 2,
        }
        document.update(changes)
        path = self.tmp / "campaign.yaml"
        path.write_text(yaml.safe_dump(document))
        from scripts import campaign

        for run in campaign.lib.expand(campaign.read_campaign(path)):
            self.write_outputs(run.stack)
        return path

    def campaign_command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "scripts.campaign", *args]

    def run_args(self, file: Path, out: Path) -> list[str]:
        return [
            "run",
            str(file),
            "--out",
            str(out),
            "--kubectl",
            FAKE_KUBECTL,
            "--orchestrator",
            FAKE_ORCHESTRATOR,
            "--direct",
            "--wait-timeout",
            "5",
            "--project-dir",
            str(self.project),
        ]

    def start_campaign(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.campaign_command(*args),
            cwd=self.project,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0,
        )

    def campaign(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        process = self.start_campaign(*args, env=env)
        out, err = process.communicate(timeout=300)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def stacks(self) -> dict[str, dict[str, Any]]:
        directory = self.state / ".pulumi" / "stacks" / "mina-itn"
        return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}

    def assert_nothing_up(self) -> None:
        for name, state in self.stacks().items():
            assert state["resources"] == [], f"{name} is still up"
            assert self.locks(name) == [], f"{name} is still locked"


@pytest.fixture
def cworld(tmp_path: Path, cell_server: CellServer) -> Iterator[CampaignWorld]:
    made = CampaignWorld(tmp_path, cell_server)
    yield made
    made.close()


def progress(out: Path) -> dict[str, Any]:
    return json.loads((out / "campaign.json").read_text())


def test_two_by_two_with_repeats_runs_every_cell_reports_and_judges(
    cworld: CampaignWorld,
) -> None:
    file = cworld.write_campaign(
        repeats=2,
        baseline={"cell": 0},
        thresholds={"version": 1, "limits": {"inclusion latency p90": "+10 %"}},
    )
    out = cworld.tmp / "out"
    result = cworld.campaign(*cworld.run_args(file, out))
    assert result.returncode == 0, result.stderr[-3000:]
    stacks = [f"sweep-{cell}-{repeat}" for cell in range(4) for repeat in range(2)]
    state = progress(out)
    assert [r["stack"] for r in state["runs"]] == stacks
    for run in state["runs"]:
        assert run["steps"] == {"up": "ok", "report": "ok", "destroy": "ok"}, run
        # The real report, from the stack's own database over verified TLS.
        summary = json.loads((out / run["runDir"] / "report" / "summary.json").read_text())
        assert summary["experiment"] == run["stack"]
        assert summary["complete"] is True, summary["incomplete"]
        plain = 1 if run["cell"] < 2 else 2
        want = SECONDS_PER_PLAIN_NODE * plain + run["repeat"]
        assert summary["latency"]["p90"] == pytest.approx(want), run["stack"]
    assert sorted(cworld.stacks()) == sorted(stacks)
    cworld.assert_nothing_up()
    # Each cell's config is the base with the cell's overrides.
    config = yaml.safe_load((out / "configs" / "sweep-3-1.yaml").read_text())["config"]
    assert config["mina-itn:nodes"]["plainNodes"] == 2
    assert config["mina-itn:workerPool"]["processesPerServer"] == 2
    assert "8/8 runs ok" in result.stdout
    # The live line: where the run is, its time so far against the plan's model.
    assert re.search(
        r"^\[campaign\] sweep-2-0: up: wait \d+:\d\d of ~\d+:\d\d modelled$", result.stderr, re.M
    ), result.stderr[-3000:]

    # The verdict: cell 1 as fast as the baseline, cells 2 and 3 (two plain nodes) slower.
    report = cworld.campaign("report", str(out))
    assert report.returncode == 1, report.stderr
    verdicts = {
        v["cell"]: v["outcome"] for v in json.loads((out / "summary.json").read_text())["verdicts"]
    }
    assert verdicts == {1: "within limits", 2: "regression", 3: "regression"}
    assert "cell 2 (nodes.plainNodes=2, workerPool.processesPerServer=1)" in report.stdout


def _wait_for(condition: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if condition():
                return
        time.sleep(0.1)
    raise AssertionError("condition never held")


def test_a_failed_run_is_destroyed_and_the_others_go_on(cworld: CampaignWorld) -> None:
    file = cworld.write_campaign(matrix={"nodes.plainNodes": [1, 2]})
    out = cworld.tmp / "out"
    env = {"FAIL_AT_STEP": "1", "FAKE_FAIL_ONLY_IN": "/sweep-0-0/"}
    result = cworld.campaign(*cworld.run_args(file, out), env=env)
    assert result.returncode == 5, result.stderr[-3000:]
    runs = {r["stack"]: r for r in progress(out)["runs"]}
    assert runs["sweep-0-0"]["steps"] == {"up": "failed", "destroy": "ok"}
    assert "failed at run" in runs["sweep-0-0"]["detail"] or runs["sweep-0-0"]["detail"] == ""
    assert runs["sweep-1-0"]["steps"] == {"up": "ok", "report": "ok", "destroy": "ok"}
    assert "1/2 runs ok" in result.stdout
    cworld.assert_nothing_up()


def test_a_stack_that_cannot_be_destroyed_is_named_with_the_command_that_finishes_it(
    cworld: CampaignWorld,
) -> None:
    file = cworld.write_campaign(matrix={"nodes.plainNodes": [1]})
    out = cworld.tmp / "out"
    result = cworld.campaign(*cworld.run_args(file, out), env={"FAKE_PULUMI_DESTROY_FAILS": "1"})
    assert result.returncode == 8, result.stderr[-3000:]
    [run] = progress(out)["runs"]
    assert run["steps"] == {"up": "ok", "report": "ok", "destroy": "failed"}
    assert cworld.stacks()["sweep-0-0"]["resources"]  # still up
    found = re.search(
        r"^error: stack sweep-0-0 is STILL UP; finish it with `(.+)`$", result.stderr, re.M
    )
    assert found, result.stderr[-3000:]
    assert f"--kubectl {FAKE_KUBECTL}" in found[1]  # as the campaign was given it
    finish = subprocess.run(
        shlex.split(found[1]),
        cwd=cworld.project,
        env=cworld.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finish.returncode == 0, finish.stderr[-3000:]
    cworld.assert_nothing_up()
    cworld.assert_no_load_left()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_group_mid_campaign_leaves_nothing_up(
    cworld: CampaignWorld, signum: int
) -> None:
    file = cworld.write_campaign(matrix={"nodes.plainNodes": [1, 2, 3]})
    out = cworld.tmp / "out"
    process = cworld.start_campaign(*cworld.run_args(file, out), env={"HANG_AT_STEP": "1"})
    _wait_for(lambda: sum(r["phase"] == "up: run" for r in progress(out)["runs"]) == 2)
    os.killpg(process.pid, signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    runs = {r["stack"]: r for r in progress(out)["runs"]}
    assert runs["sweep-2-0"]["steps"] == {}  # never started
    for stack in ("sweep-0-0", "sweep-1-0"):
        assert runs[stack]["steps"]["up"] == "interrupted"
        assert runs[stack]["steps"]["destroy"] == "ok"
    cworld.assert_nothing_up()
    cworld.assert_no_load_left()
    if signum == signal.SIGTERM:  # the same command again runs the interrupted ones anew
        result = cworld.campaign(*cworld.run_args(file, out))
        assert result.returncode == 0, result.stderr[-3000:]
        runs = {r["stack"]: r for r in progress(out)["runs"]}
        assert runs["sweep-0-0"]["attempt"] == 2
        assert runs["sweep-2-0"]["attempt"] == 1
        assert all(
            r["steps"] == {"up": "ok", "report": "ok", "destroy": "ok"} for r in runs.values()
        )
        cworld.assert_nothing_up()


def test_the_node_sweep_plans_runs_resumes_after_kill_9_reports_and_judges(
    cworld: CampaignWorld,
) -> None:
    """stacks/campaigns/node-sweep.yaml against the stand-ins. Two keys differ: its base is the
    pinned copy of the same stacks/kind.yaml (preflight refuses unpinned images), its script
    the test's payments script (the file's waits 13 minutes for real funding to land)."""
    document = yaml.safe_load((ROOT / "stacks" / "campaigns" / "node-sweep.yaml").read_text())
    assert (document["base"], document["matrix"]) == ("../kind.yaml", {"nodes.plainNodes": [1, 3]})
    file = cworld.write_campaign(
        **{key: value for key, value in document.items() if key not in ("base", "scripts")}
    )
    plan = cworld.campaign("plan", str(file))
    assert plan.returncode == 0, plan.stderr
    assert "campaign node-sweep: 4 runs, at most 2 at once" in plan.stdout

    out = cworld.tmp / "out"
    args = cworld.run_args(file, out)
    env = {"HANG_AT_STEP": "1", "FAKE_FAIL_ONLY_IN": "/node-sweep-1-0/"}
    process = cworld.start_campaign(*args, env=env)

    def killable() -> bool:
        runs = {r["stack"]: r for r in progress(out)["runs"]}
        finished = all(
            runs[s]["steps"].get("destroy") == "ok" for s in ("node-sweep-0-0", "node-sweep-0-1")
        )
        return finished and runs["node-sweep-1-0"]["phase"] == "up: run"

    _wait_for(killable, timeout=240)
    os.killpg(process.pid, signal.SIGKILL)  # the experiment up it started lives on
    process.communicate(timeout=30)
    assert cworld.stacks()["node-sweep-1-0"]["resources"]  # left up
    result = cworld.campaign(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[campaign] node-sweep-1-0: ending pid" in result.stderr
    runs = {r["stack"]: r for r in progress(out)["runs"]}
    assert [runs[s]["attempt"] for s in ("node-sweep-0-0", "node-sweep-0-1")] == [1, 1]
    assert runs["node-sweep-1-0"]["attempt"] == 2
    assert all(r["steps"] == {"up": "ok", "report": "ok", "destroy": "ok"} for r in runs.values())
    cworld.assert_nothing_up()
    cworld.assert_no_load_left()

    # Three plain nodes: 30 s of inclusion latency against the baseline cell's 10 (+20 % allowed).
    report = cworld.campaign("report", str(out))
    assert report.returncode == 1, report.stderr
    summary = json.loads((out / "summary.json").read_text())
    [verdict] = summary["verdicts"]
    assert (verdict["cell"], verdict["outcome"]) == (1, "regression")
    figures = {row["figure"]: row["status"] for row in verdict["figures"]}
    assert figures == {"inclusion latency p90": "regression", "achieved TPS": "within limits"}
    assert "cell 1 (nodes.plainNodes=3) against cell 0" in report.stdout
    assert (out / "campaign.html").is_file()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_plan_over_budget_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts import campaign

    file = _write(
        tmp_path / "c.yaml",
        f"name: big\nbase: {ROOT / 'stacks' / 'large-200.yaml'}\n"
        "matrix: {nodes.plainNodes: [50, 177]}\n"
        f"scripts: [{ROOT / 'stacks' / 'scripts' / 'small-payments.jsonl'}]\n"
        "budgetUsd: 1\nmaxConcurrency: 2\n",
    )
    assert campaign.main(["plan", str(file)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: campaign: budgetUsd: the plan costs $")
    assert err.count("\n") == 1
    assert "N2_CPUS" in out  # the peak demand of both runs side by side
    # Each cell's time: the critical path of its `pulumi up` (more plain nodes, a larger pool
    # that takes longer) plus the script's; its cost: the price for that time.
    rows = {row[0]: row for line in out.splitlines() if (row := line.split())[0].startswith("big-")}
    assert _seconds(rows["big-1-0"][-4]) > _seconds(rows["big-0-0"][-4]) > 7 * 60
    for row in rows.values():
        up, script, total = (_seconds(value) for value in row[-4:-1])
        assert script == 13 * 60  # small-payments.jsonl's waits
        assert total == up + script
        assert float(row[-1]) == pytest.approx(float(row[-5]) * total / 3600, abs=0.01)
    out_dir = tmp_path / "out"
    assert campaign.main(["run", str(file), "--out", str(out_dir)]) == 2
    assert not out_dir.exists()  # nothing started


def _seconds(clock: str) -> int:
    """`m:ss` or `h:mm:ss` as the plan prints it."""
    total = 0
    for part in clock.split(":"):
        total = 60 * total + int(part)
    return total


def test_a_bad_cell_is_named_with_its_overrides(
    cworld: CampaignWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts import campaign

    file = cworld.write_campaign(matrix={"nodes.plainNodes": [1, -3]})
    assert campaign.main(["plan", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: campaign: cell 1 (nodes.plainNodes=-3): ")
    assert err.count("\n") == 1


def _summary(tps: float, p90: float) -> dict[str, Any]:
    return {"complete": True, "load": {"achievedTps": tps}, "latency": {"p90": p90}}


def test_report_plots_each_figure_and_judges_each_cell(cworld: CampaignWorld) -> None:
    from minaperf.experiment import campaign as lib
    from scripts import campaign

    file = cworld.write_campaign(
        matrix={"nodes.plainNodes": [1, 2, 3]},
        repeats=2,
        baseline={"cell": 0},
        thresholds={"version": 1, "limits": {"inclusion latency p90": "+10 %"}},
    )
    out = cworld.tmp / "out"
    out.mkdir()
    progress_model = lib.new_progress(campaign.read_campaign(file), str(file))
    figures = {0: [(2.0, 10.0), (2.0, 12.0)], 1: [(1.9, 11.0), (2.1, 11.0)], 2: [(1.0, 20.0)]}
    for run in progress_model.runs:
        run.steps = {"up": "ok", "report": "ok", "destroy": "ok"}
        run.attempt = 1
        run.run_dir = f"runs/{run.stack}/attempt-1"
        values = figures[run.cell]
        if run.repeat < len(values):
            report = out / run.run_dir / "report"
            report.mkdir(parents=True)
            (report / "summary.json").write_text(json.dumps(_summary(*values[run.repeat])))
        else:
            run.steps["report"] = "failed"
    (out / "campaign.json").write_text(progress_model.model_dump_json(by_alias=True))
    assert campaign.main(["report", str(out)]) == 1  # cell 2: p90 20 against 11
    summary = json.loads((out / "summary.json").read_text())
    cell1 = summary["cells"][1]["figures"]["inclusion latency p90"]
    assert cell1 == {"unit": "s", "values": [11.0, 11.0], "mean": 11.0, "min": 11.0, "max": 11.0}
    outcomes = {v["cell"]: v["outcome"] for v in summary["verdicts"]}
    assert outcomes == {1: "within limits", 2: "regression"}
    page = (out / "campaign.html").read_text()
    assert 'data-plot="campaign-inclusion latency p90"' in page
    assert "href='runs/sweep-0-0/attempt-1/report/report.html'" in page
    assert "no report" in page  # sweep-2-1's report failed


def test_a_plan_whose_peak_quota_exceeds_the_project_s_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from minaperf.cloud.gcp_credentials import API_BASE_ENV, TOKEN_ENV
    from scripts import campaign
    from tests.fakes.gcp_apis import TOKEN, FakeGcp
    from tests.scripts.test_preflight import healthy

    # large-200's project, with preflight's ready project's quotas (C3_CPUS: 2000 free).
    server = FakeGcp(dataclasses.replace(healthy(), project_id="your-gcp-project"))
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(API_BASE_ENV, server.url)
    text = (
        f"name: big\nbase: {ROOT / 'stacks' / 'large-200.yaml'}\n"
        "matrix: {nodes.plainNodes: [50, 177]}\n"
        f"scripts: [{ROOT / 'stacks' / 'scripts' / 'small-payments.jsonl'}]\n"
        "budgetUsd: 1000\n"
    )
    try:
        one = _write(tmp_path / "one.yaml", text + "maxConcurrency: 1\n")
        assert campaign.main(["plan", str(one)]) == 0
        out = capsys.readouterr().out
        assert "beside your-gcp-project's free quota in us-central1" in out
        assert "  C3_CPUS: 1536 of 2000 free" in out
        two = _write(tmp_path / "two.yaml", text + "maxConcurrency: 2\n")
        assert campaign.main(["plan", str(two)]) == 2
        err = capsys.readouterr().err
        assert err == (
            "error: campaign: maxConcurrency: C3_CPUS needs 3072 at 2 at once but the project "
            "has 2000 free; lower maxConcurrency or ask for more quota\n"
        )
    finally:
        server.close()
