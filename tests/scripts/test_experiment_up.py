"""`python -m scripts.experiment up`: the lifecycle through the Automation API, against the
stand-in `pulumi` (tests/fakes/fake_pulumi.py), orchestrator, kubectl and daemons.

Every scenario ends in its documented state (minaperf/experiment/lifecycle.py): no load left
scheduled, and no stack left up unless --destroy-after was not given or --keep-on-failure kept it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minaperf.experiment import lifecycle
from minaperf.experiment.lifecycle import Lifecycle
from tests.fakes.outputs_fixture import ORCHESTRATOR_PUBLIC_KEY, make_outputs, node, worker_pod_item
from tests.fakes.pinned import pinned_copy
from tests.fakes.process_tree import assert_none_left, tree_marker
from tests.fakes.servers import FakeDaemon, FakeUptimeBackend
from tests.scripts.test_experiment_cli import (
    FAKE_KUBECTL,
    FAKE_ORCHESTRATOR,
    PARTICIPANTS,
    payments_script,
)

ROOT = Path(__file__).parents[2]
FAKE_PULUMI = ROOT / "tests" / "fakes" / "fake_pulumi.py"
SIG_KEY, SIG_SECRET = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


class World:
    """A project directory, a diy backend, the fakes on PATH, and a ready two-node network."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.project = tmp / "project"
        self.project.mkdir()
        shutil.copy(ROOT / "Pulumi.yaml", self.project / "Pulumi.yaml")
        # The kind stack as `scripts.pin --write` leaves it: preflight refuses unpinned images.
        self.stack_config = pinned_copy(ROOT / "stacks" / "kind.yaml", tmp / "kind.yaml")
        self.state = tmp / "state"
        self.state.mkdir()
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "pulumi"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_PULUMI}" "$@"\n')
        wrapper.chmod(0o755)
        self.daemons = [FakeDaemon({ORCHESTRATOR_PUBLIC_KEY}) for _ in range(2)]
        self.uptime = FakeUptimeBackend(
            [{"remote_addr": "127.0.0.1", "submitter": f"B62q-n{i}"} for i in range(2)]
        )
        pods = tmp / "pods.json"
        pods.write_text(
            json.dumps(
                {
                    "items": [
                        *(
                            {
                                "metadata": {"name": f"n{i}-0"},
                                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                            }
                            for i in range(2)
                        ),
                        worker_pod_item(),
                    ]
                }
            )
        )
        nodes = [
            node(f"n{i}", itn_port=d.itn.port, graphql_port=d.graphql.port)
            for i, d in enumerate(self.daemons)
        ]
        outputs = make_outputs(
            nodes=nodes,
            online_url=f"http://127.0.0.1:{self.uptime.port}/v1/online",
            work_dir=str(tmp / "pod"),
        )
        # What the program wraps in Output.secret (components/experiment.py), as state holds it.
        for key in ("orchestratorKey", "fundingKeys", "postgresPassword"):
            outputs[key] = {SIG_KEY: SIG_SECRET, "plaintext": json.dumps(outputs[key])}
        (tmp / "outputs.json").write_text(json.dumps(outputs))
        self.script = tmp / "experiment.jsonl"
        self.script.write_text(payments_script())
        self.run_dir = tmp / "run"
        self.marker = tree_marker()
        self.env = {
            **self.marker,
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{self.state}",
            "PULUMI_CONFIG_PASSPHRASE": "correct horse",
            "FAKE_PULUMI_OUTPUTS": str(tmp / "outputs.json"),
            "FAKE_PULUMI_LOG": str(tmp / "pulumi.jsonl"),
            "FAKE_KUBECTL_PODS": str(pods),
            "FAKE_PARTICIPANTS": PARTICIPANTS,
            "STOP_RECORD_FILE": str(tmp / "stops.jsonl"),
            "FAKE_INVOCATIONS_FILE": str(tmp / "invocations.jsonl"),
            "FAKE_KUBECTL_LOG": str(tmp / "kubectl.jsonl"),
            "PYTHONPATH": str(ROOT),
        }
        for name in ("FAIL_AT_STEP", "CRASH_AT_STEP", "HANG_AT_STEP", "FAKE_STOP_FAIL"):
            self.env.pop(name, None)

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.close()
        self.uptime.close()

    def command(self, *extra: str, stack: str = "exp1") -> list[str]:
        return [
            sys.executable,
            "-m",
            "scripts.experiment",
            "--kubectl",
            FAKE_KUBECTL,
            "up",
            "--stack",
            stack,
            "--config",
            str(self.stack_config),
            "--script",
            str(self.script),
            "--out",
            str(self.run_dir),
            "--orchestrator",
            FAKE_ORCHESTRATOR,
            "--direct",
            "--wait-timeout",
            "5",
            "--project-dir",
            str(self.project),
            *extra,
        ]

    def start(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*extra),
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, signalled as a terminal would
        )

    def up(
        self, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        process = self.start(*extra, env=env)
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    # -- what the fakes saw ----------------------------------------------------------------------

    def stack_state(self, stack: str = "exp1") -> dict[str, Any] | None:
        path = self.state / ".pulumi" / "stacks" / "mina-itn" / f"{stack}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def locks(self, stack: str = "exp1") -> list[Path]:
        directory = self.state / ".pulumi" / "locks" / "organization" / "mina-itn" / stack
        return sorted(directory.glob("*.json")) if directory.is_dir() else []

    def pulumi_commands(self) -> list[list[str]]:
        path = self.tmp / "pulumi.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]

    def issued(self) -> list[dict[str, Any]]:
        path = self.run_dir / "stdout.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        outputs = [json.loads(line) for line in lines]
        return [line["value"] for line in outputs if line["name"] == "receipt"]

    def stopped(self) -> list[dict[str, Any]]:
        path = self.tmp / "stops.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [receipt for line in lines for receipt in json.loads(line)["receipts"]]

    def assert_no_load_left(self) -> None:
        issued = {(r["address"], r["handle"]) for r in self.issued()}
        stopped = {(r["address"], r["handle"]) for r in self.stopped()}
        assert issued <= stopped, f"still scheduled: {issued - stopped}"

    def assert_destroyed(self) -> None:
        state = self.stack_state()
        assert state is not None
        assert state["resources"] == []
        assert self.locks() == []


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    yield made
    made.close()


def _wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


def test_whole_lifecycle_stops_the_load_and_destroys(world: World) -> None:
    result = world.up("--destroy-after")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("experiment up: succeeded\n")
    assert "  stack exp1: destroyed" in result.stdout
    assert f"  run directory: {world.run_dir}" in result.stdout
    world.assert_destroyed()
    # The script scheduled payments and ended: the lifecycle stopped them.
    assert world.issued()
    world.assert_no_load_left()
    assert "preflight ok" in result.stdout  # scripts.preflight ran on the stack's own file
    commands = [args[1:3] for args in world.pulumi_commands() if args[0] == "--non-interactive"]
    assert commands[:3] == [["stack", "select"], ["stack", "init"], ["config", "set-all"]]
    assert ["up", "--yes"] in commands
    assert commands.index(["up", "--yes"]) < commands.index(["destroy", "--skip-preview"])
    # The config was applied to the stack's own file, in the project directory.
    config = (world.project / "Pulumi.exp1.yaml").read_text()
    assert "kind: kubernetes" in config
    # The outputs kept for the run are private.
    assert (world.run_dir / "stack-outputs.json").stat().st_mode & 0o777 == 0o600


def test_without_destroy_after_the_stack_stays_up(world: World) -> None:
    result = world.up()
    assert result.returncode == 0, result.stderr
    assert "  stack exp1: up; remove it with `python -m scripts.teardown --stack exp1`" in (
        result.stdout
    )
    state = world.stack_state()
    assert state is not None
    assert len(state["resources"]) == 3
    world.assert_no_load_left()


def test_up_failing_halfway_is_destroyed_when_asked(world: World) -> None:
    result = world.up("--destroy-after", env={"FAKE_PULUMI_FAIL_AT": "1"})
    assert result.returncode == lifecycle.EXIT_UP_FAILED, result.stderr
    assert "experiment up: failed at up: update failed" in result.stdout
    assert "run directory: none" in result.stdout
    world.assert_destroyed()
    assert not (world.run_dir / "run.json").exists()


def test_up_failing_halfway_without_destroy_leaves_what_it_made(world: World) -> None:
    result = world.up(env={"FAKE_PULUMI_FAIL_AT": "2"})
    assert result.returncode == lifecycle.EXIT_UP_FAILED
    assert "up (partly: up did not finish)" in result.stdout
    state = world.stack_state()
    assert state is not None
    assert state["resources"] == ["resource-0", "resource-1"]


def test_wait_timeout_destroys_and_never_runs(world: World) -> None:
    world.daemons[1].sync_status = "CATCHUP"
    result = world.up("--destroy-after", "--wait-timeout", "1")
    assert result.returncode == lifecycle.EXIT_WAIT_FAILED, result.stderr
    assert "failed at wait: not ready after 1s" in result.stdout
    assert "n1: not synced (syncStatus CATCHUP)" in result.stderr
    assert not (world.run_dir / "run.json").exists()
    world.assert_destroyed()


def test_failed_run_step_stops_load_and_keeps_the_stack_on_request(world: World) -> None:
    result = world.up("--destroy-after", "--keep-on-failure", env={"FAIL_AT_STEP": "1"})
    assert result.returncode == lifecycle.EXIT_RUN_FAILED, result.stderr
    assert "failed at run:" in result.stdout
    assert "(kept: --keep-on-failure)" in result.stdout
    state = world.stack_state()
    assert state is not None
    assert state["resources"]
    world.assert_no_load_left()


def test_missing_passphrase_is_one_line_and_creates_nothing(world: World) -> None:
    env = dict(world.env)
    env.pop("PULUMI_CONFIG_PASSPHRASE")
    process = subprocess.run(
        world.command("--destroy-after"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == lifecycle.EXIT_BAD_INPUT
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: PULUMI_CONFIG_PASSPHRASE is not set; the stack's secrets provider needs it "
        "(export it, or PULUMI_CONFIG_PASSPHRASE_FILE)"
    ]
    assert "Traceback" not in process.stderr
    assert world.stack_state() is None
    assert "  stack exp1: not created" in process.stdout


def test_a_locked_stack_is_left_alone(world: World) -> None:
    assert world.up().returncode == 0  # the stack exists
    lock_dir = world.state / ".pulumi" / "locks" / "organization" / "mina-itn" / "exp1"
    lock_dir.mkdir(parents=True, exist_ok=True)
    other = lock_dir / "someone-else.json"
    other.write_text(
        json.dumps({"pid": 4242, "username": "ci", "hostname": "runner", "timestamp": "2026-01-01"})
    )
    shutil.rmtree(world.run_dir)
    result = world.up("--destroy-after")
    assert result.returncode == lifecycle.EXIT_UP_FAILED
    assert "the stack is locked by another update" in result.stdout
    assert "the stack is currently locked by 1 lock(s)" in result.stdout
    assert world.locks() == [other]
    state = world.stack_state()
    assert state is not None
    assert len(state["resources"]) == 3  # not destroyed under someone else's update
    assert not any(args[1:2] == ["destroy"] for args in world.pulumi_commands())


def _interrupt_when(world: World, condition: Callable[[], bool], *extra: str, **env: str):
    """Ctrl-C as a terminal sends it: SIGINT to the command's whole process group."""
    process = world.start("--destroy-after", *extra, env=env)
    try:
        _wait_until(condition)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert_none_left(world.marker)
    return process.returncode, out, err


def test_ctrl_c_during_up_cancels_pulumi_and_destroys(world: World) -> None:
    def creating() -> bool:
        state = world.stack_state()
        return bool(state and state["resources"])

    code, out, err = _interrupt_when(
        world, creating, FAKE_PULUMI_RESOURCES="6", FAKE_PULUMI_STEP_SECONDS="0.3"
    )
    assert code == lifecycle.EXIT_INTERRUPTED, err
    assert "experiment up: interrupted during up" in out
    # One cancel: a second ^C would make pulumi quit at once (cancellation_scope.go:88)
    assert err.count("^C received; cancelling.") == 1
    world.assert_destroyed()  # pulumi cancelled and released its lock, then destroy ran


def test_ctrl_c_during_wait_destroys_without_running(world: World) -> None:
    world.daemons[0].sync_status = "BOOTSTRAP"
    code, out, err = _interrupt_when(
        world,
        lambda: (world.run_dir / "stack-outputs.json").exists(),
        "--wait-timeout",
        "60",
    )
    assert code == lifecycle.EXIT_INTERRUPTED, err
    assert "interrupted during wait" in out
    assert not (world.run_dir / "run.json").exists()
    world.assert_destroyed()


def test_ctrl_c_during_run_stops_the_load_and_destroys(world: World) -> None:
    def scheduled() -> bool:
        return len(world.issued()) >= 3

    code, out, err = _interrupt_when(world, scheduled, HANG_AT_STEP="2")
    assert code == lifecycle.EXIT_INTERRUPTED, err
    assert "interrupted during run" in out
    world.assert_no_load_left()
    world.assert_destroyed()


def test_sigterm_during_wait_cleans_up_like_ctrl_c(world: World) -> None:
    world.daemons[0].sync_status = "BOOTSTRAP"
    process = world.start("--destroy-after", "--wait-timeout", "60")
    try:
        _wait_until(lambda: (world.run_dir / "stack-outputs.json").exists())
        time.sleep(0.5)  # inside the readiness loop
        process.send_signal(signal.SIGTERM)  # a CI cancel: this process only
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == lifecycle.EXIT_INTERRUPTED, err
    assert "interrupted during wait" in out
    world.assert_destroyed()
    assert_none_left(world.marker)


def test_ctrl_c_during_destroy_lets_it_finish(world: World) -> None:
    def destroying() -> bool:
        return any(args[1:2] == ["destroy"] for args in world.pulumi_commands())

    code, out, err = _interrupt_when(
        world, destroying, FAKE_PULUMI_RESOURCES="6", FAKE_PULUMI_STEP_SECONDS="0.2"
    )
    assert code == 0, err
    assert "still cleaning up" in err
    assert "^C received" not in err  # the terminal's SIGINT never reached pulumi
    assert "  stack exp1: destroyed" in out
    world.assert_destroyed()


def test_preflight_problems_stop_before_up(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.experiment_cli import up

    monkeypatch.setattr(up, "PREFLIGHT_MODULE", "tests.fakes.fake_preflight")
    code = _in_process(world, monkeypatch, "--destroy-after")
    captured = capsys.readouterr()
    assert code == lifecycle.EXIT_BAD_INPUT
    assert "problem: the quota for C2D CPUs in us-central1 is 24, this stack needs 64" in (
        captured.err
    )
    assert "failed at preflight: preflight refused; nothing was deployed" in captured.out
    assert not any(args[1:2] == ["up"] for args in world.pulumi_commands())


def _in_process(world: World, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    from scripts import experiment

    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    return experiment.main(world.command(*extra)[3:])


def test_report_runs_while_the_stack_is_up(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.experiment_cli import up

    monkeypatch.setattr(up, "REPORT_MODULE", "tests.fakes.fake_report")
    code = _in_process(world, monkeypatch, "--report", "--destroy-after")
    out = capsys.readouterr().out
    assert code == 0, out
    report = world.run_dir / "report" / "report.html"
    assert report.read_text() == "<html>exp1</html>"  # read the outputs before destroy
    assert f"  report: {report}" in out
    world.assert_destroyed()
    world.assert_no_load_left()


@pytest.mark.parametrize(
    ("variable", "said"),
    [
        ("FAKE_REPORT_FAIL", "report exited 1"),
        # exit 3: written, but a section had no data; not recorded as fine
        ("FAKE_REPORT_INCOMPLETE", "report incomplete: a section had no data"),
    ],
)
def test_failed_report_still_stops_and_destroys(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    said: str,
) -> None:
    from scripts.experiment_cli import up

    monkeypatch.setattr(up, "REPORT_MODULE", "tests.fakes.fake_report")
    monkeypatch.setenv(variable, "1")
    code = _in_process(world, monkeypatch, "--report", "--destroy-after")
    out = capsys.readouterr().out
    assert code == lifecycle.EXIT_REPORT_FAILED
    assert f"failed at report: {said}" in out
    world.assert_destroyed()
    world.assert_no_load_left()


def test_bad_input_touches_nothing(world: World) -> None:
    result = world.up("--set", "nodes.seeds=0")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: config error: nodes.seeds: Input should be greater than or equal to 1 (got 0)"
    ]
    assert world.pulumi_commands() == []


# ---------------------------------------------------------------------------------------------
# The rules, without processes


def _life(*steps: tuple[str, lifecycle.Status]) -> Lifecycle:
    life = Lifecycle("s", stack_created=True)
    for name, status in steps:
        life.add(name, status)
    return life


def test_exit_code_precedence() -> None:
    assert lifecycle.exit_code(_life(("up", "ok"), ("wait", "failed"))) == 4
    assert lifecycle.exit_code(_life(("up", "ok"), ("run", "interrupted"))) == 130
    assert lifecycle.exit_code(_life(("run", "interrupted"), ("stop", "failed"))) == 7
    assert lifecycle.exit_code(_life(("stop", "failed"), ("destroy", "failed"))) == 8
    assert lifecycle.exit_code(_life(("up", "ok"), ("run", "ok"))) == 0


def test_destroy_decision() -> None:
    failed = _life(("up", "ok"), ("run", "failed"))
    assert lifecycle.should_destroy(failed, destroy_after=True, keep_on_failure=False)
    assert not lifecycle.should_destroy(failed, destroy_after=True, keep_on_failure=True)
    assert not lifecycle.should_destroy(failed, destroy_after=False, keep_on_failure=False)
    never_up = _life(("stack", "failed"))
    assert not lifecycle.should_destroy(never_up, destroy_after=True, keep_on_failure=False)


def test_set_all_json_has_the_pulumi_config_json_shape() -> None:
    document = lifecycle.set_all_json({"ns:obj": {"a": [1]}, "ns:n": 3, "ns:s": "x"})
    assert document == {
        "ns:n": {"value": "3", "secret": False},
        "ns:obj": {"value": '{"a": [1]}', "objectValue": {"a": [1]}, "secret": False},
        "ns:s": {"value": "x", "secret": False},
    }


# ---------------------------------------------------------------------------------------------
# Before anything is deployed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty (no steps); nothing would run"),
        (b'{"action": "wait", "params": {"sec": 1}}\n\xe9\n', "not a UTF-8 text file (byte 41)"),
    ],
)
def test_up_reads_the_script_as_check_does(world: World, content: bytes, message: str) -> None:
    world.script.write_bytes(content)
    result = world.up("--destroy-after")
    check = subprocess.run(
        [sys.executable, "-m", "scripts.experiment", "check", str(world.script)],
        cwd=ROOT,
        env=world.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == check.returncode == lifecycle.EXIT_BAD_INPUT
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + check.stderr
    assert world.pulumi_commands() == []  # nothing was deployed, not even a stack


def test_a_pulumi_cli_without_set_all_json_is_one_line(world: World) -> None:
    result = world.up("--destroy-after", env={"FAKE_PULUMI_VERSION": "v3.201.0"})
    assert result.returncode == lifecycle.EXIT_BAD_INPUT
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: pulumi CLI v3.201.0 is too old: `experiment up` needs v3.202.0 or later "
        "(`config set-all --json`); update it (https://www.pulumi.com/docs/install/)"
    ]
    assert [args[:1] for args in world.pulumi_commands()] == [["version"]]
    assert world.stack_state() is None


def test_the_fake_pulumi_refuses_set_all_json_before_3_202(world: World) -> None:
    env = {**world.env, "FAKE_PULUMI_VERSION": "v3.201.0"}
    result = subprocess.run(
        [sys.executable, str(FAKE_PULUMI), "config", "set-all", "--stack", "s", "--json", "{}"],
        cwd=world.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (1, "error: unknown flag: --json\n")


def _prepare(world: World, monkeypatch: pytest.MonkeyPatch, config: Path) -> None:
    from scripts import experiment
    from scripts.experiment_cli import up

    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    argv = world.command()[3:]
    argv[argv.index("--config") + 1] = str(config)
    args = experiment.build_parser().parse_args(argv)
    wanted = up.desired_config("exp1", config, [], world.project)
    up.Experiment(args, "exp1", wanted).prepare_stack()


def test_up_config_b_after_a_holds_exactly_b(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    first = yaml.safe_load(world.stack_config.read_text())
    _prepare(world, monkeypatch, world.stack_config)
    stack_file = world.project / "Pulumi.exp1.yaml"
    written = yaml.safe_load(stack_file.read_text())
    assert "mina-itn:postgres" in written["config"]
    # What the user set on the stack itself: a secret and the project.
    written["config"]["mina-itn:apiToken"] = {"secure": "v1:c2FsdA==:Y2lwaGVy"}
    written["config"]["gcp:project"] = "my-project"
    stack_file.write_text(yaml.safe_dump(written))
    second = dict(first["config"])
    del second["mina-itn:postgres"]
    smaller = world.tmp / "b.yaml"
    smaller.write_text(yaml.safe_dump({"config": second}))

    _prepare(world, monkeypatch, smaller)

    config = yaml.safe_load(stack_file.read_text())["config"]
    assert "mina-itn:postgres" not in config  # A's key that B leaves out is gone
    assert config["mina-itn:apiToken"] == {"secure": "v1:c2FsdA==:Y2lwaGVy"}
    assert config["gcp:project"] == "my-project"
    assert set(config) == set(second) | {"mina-itn:apiToken", "gcp:project"}


def test_stale_config_keys_rule() -> None:
    current = {
        "ns:a": {"value": "1", "secret": False},
        "ns:gone": {"value": "x", "secret": False},
        "ns:token": {"secret": True},
        "gcp:project": {"value": "p", "secret": False},
    }
    assert lifecycle.stale_config_keys(current, {"ns:a": 1}) == ["ns:gone"]
    assert lifecycle.stale_config_keys(current, {"ns:a": 1, "ns:gone": 2}) == []


def test_the_fake_pulumi_masks_each_secret_in_place() -> None:
    """As pkg/backend/display/json.go:48-71: the secret itself, at any depth, is "[secret]"; the
    plain values around it stay; --show-secrets unwraps every one."""
    from tests.fakes.fake_pulumi import massage

    secret = {SIG_KEY: SIG_SECRET, "plaintext": json.dumps({"k": "v"})}
    nested = {"config": [1, {"token": secret, "name": "n"}]}
    assert massage(secret, False) == "[secret]"
    assert massage(nested, False) == {"config": [1, {"token": "[secret]", "name": "n"}]}
    assert massage({"plain": [1, {"a": "b"}]}, False) == {"plain": [1, {"a": "b"}]}
    assert massage(nested, True) == {"config": [1, {"token": {"k": "v"}, "name": "n"}]}
    inner = {SIG_KEY: SIG_SECRET, "plaintext": json.dumps([secret])}
    assert massage(inner, True) == [{"k": "v"}]
