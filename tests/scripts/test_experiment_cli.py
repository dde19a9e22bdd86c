"""End to end: `python -m scripts.experiment` against the stand-in orchestrator and kubectl."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from minaperf.keys.itn import ItnKey
from minaperf.model.outputs import parse_outputs
from minaperf.report.run import read_run
from scripts import experiment
from tests.fakes.outputs_fixture import (
    GENESIS,
    ORCHESTRATOR_KEY,
    ORCHESTRATOR_PUBLIC_KEY,
    RECEIVER,
    make_outputs,
    node,
    worker_pod_item,
    write_outputs,
)
from tests.fakes.process_tree import assert_none_left, tree_marker
from tests.fakes.servers import FakeDaemon, FakeUptimeBackend

ROOT = Path(__file__).parents[2]
FAKES = ROOT / "tests" / "fakes"
FAKE_ORCHESTRATOR = str(FAKES / "fake_orchestrator.py")
FAKE_KUBECTL = str(FAKES / "fake_kubectl.py")
PARTICIPANTS = "10.0.0.1:3086,10.0.0.2:3086,10.0.0.3:3086"


def _step(action: str, **params: object) -> dict:
    return {"action": action, "params": params}


def _ref(step: int, name: str) -> dict:
    return {"type": "output", "step": step, "name": name}


def payments_script(*tail: dict) -> str:
    values: list[object] = [
        "payments on three nodes",
        _step("discovery"),
        _step(
            "payments",
            experimentName="t",
            tps=3,
            minTps=1,
            durationMin=5,
            maxFee=2,
            minFee=1,
            amount=1,
            receiver=RECEIVER,
            feePayers=["EKa", "EKb", "EKc"],
            nodes=_ref(0, "participant"),
        ),
        *tail,
    ]
    return "\n".join(json.dumps(v) for v in values) + "\n"


@pytest.fixture
def env(tmp_path: Path) -> dict:
    outputs = write_outputs(tmp_path / "outputs.json", make_outputs(work_dir=str(tmp_path / "pod")))
    marker = tree_marker()
    variables = {
        **os.environ,
        **marker,
        "FAKE_PARTICIPANTS": PARTICIPANTS,
        "STOP_RECORD_FILE": str(tmp_path / "stops.jsonl"),
        "FAKE_INVOCATIONS_FILE": str(tmp_path / "invocations.jsonl"),
        "FAKE_KUBECTL_LOG": str(tmp_path / "kubectl.jsonl"),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("FAIL_AT_STEP", "CRASH_AT_STEP", "HANG_AT_STEP", "FAKE_STOP_FAIL"):
        variables.pop(name, None)
    return {"tmp": tmp_path, "outputs": outputs, "env": variables, "marker": marker}


def cli(env: dict, *args: str, extra: dict | None = None, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.experiment", "--outputs", str(env["outputs"]), *args],
        cwd=ROOT,
        env={**env["env"], **(extra or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[arg-type]
    )


def run_cli(env: dict, *args: str, extra: dict | None = None) -> subprocess.CompletedProcess[str]:
    process = cli(env, *args, extra=extra)
    out, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def write_script(env: dict, text: str) -> str:
    path = env["tmp"] / "experiment.jsonl"
    path.write_text(text)
    return str(path)


def stopped_by_runner(env: dict) -> list[dict]:
    """Receipts the runner's stop runs sent, in order (one `stop` step per receipt)."""
    return [r for record in stop_records(env) for r in record["receipts"]]


def stop_records(env: dict) -> list[dict]:
    path = env["tmp"] / "stops.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def issued(run_dir: Path) -> list[dict]:
    lines = [json.loads(x) for x in (run_dir / "stdout.jsonl").read_text().splitlines()]
    return [line["value"] for line in lines if line["name"] == "receipt"]


def wait_for_receipts(run_dir: Path, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "stdout.jsonl").exists() and len(issued(run_dir)) >= count:
            state = json.loads((run_dir / "run.json").read_text())
            if len(state["receiptsIssued"]) >= count and 2 in state["stepsStarted"]:
                return
        time.sleep(0.05)
    raise AssertionError("receipts never appeared")


def test_clean_run_with_its_own_stop(env: dict) -> None:
    script = write_script(
        env, payments_script(_step("wait", sec=0), _step("stop", receipts=_ref(1, "receipt")))
    )
    out = env["tmp"] / "run"
    result = run_cli(
        env, "run", "--script", script, "--out", str(out), "--orchestrator", FAKE_ORCHESTRATOR
    )
    assert result.returncode == 0, result.stderr
    state = json.loads((out / "run.json").read_text())
    assert state["outcome"] == "succeeded"
    assert state["exitStatus"] == 0
    assert len(state["receiptsIssued"]) == 3
    assert sorted(r["handle"] for r in state["receiptsStopped"]) == sorted(
        r["handle"] for r in issued(out)
    )
    assert len(stop_records(env)) == 1  # only the script's own stop; the runner had nothing left
    assert stat.S_IMODE((out / "orchestrator-config.json").stat().st_mode) == 0o600
    assert "Performing step payments (1)" in (out / "orchestrator.log").read_text()
    # the runner's clock for every step it saw begin: the report ends script-stopped load there
    assert sorted(state["stepsStartedAt"], key=int) == [
        str(i) for i in sorted(state["stepsStarted"])
    ]
    story = read_run(out)
    stop_at = datetime.fromisoformat(state["stepsStartedAt"]["3"].replace("Z", "+00:00"))
    assert [span.state for span in story.load] == ["stopped"] * 3
    # ended when the stop step began: the orchestrator's log stamp, just before the runner saw it
    assert all(timedelta(0) <= stop_at - span.end < timedelta(seconds=2) for span in story.load)
    # a daemon-restart snapshot before and after the run, each read or saying why not
    snapshots = json.loads((out / "restarts.json").read_text())["snapshots"]
    assert len(snapshots) == 2
    assert all("nodes" in snap or snap["error"] for snap in snapshots)
    assert (out / "orchestrator-logfile.log").exists()  # the config's logFile, in the run dir
    assert ORCHESTRATOR_KEY not in result.stdout + result.stderr
    assert "step 1/3: payments" in result.stderr
    status = run_cli(env, "status", "--run", str(out))
    assert "3 issued, 3 stopped" in status.stdout


def _hanging_run(
    env: dict, *steps: dict, new_session: bool = False
) -> tuple[subprocess.Popen[str], Path]:
    """`run` of a payments script whose orchestrator hangs at step 2, once 3 receipts are out."""
    script = write_script(env, payments_script(*steps))
    out = env["tmp"] / "run"
    process = cli(
        env,
        "run",
        "--script",
        script,
        "--out",
        str(out),
        "--orchestrator",
        FAKE_ORCHESTRATOR,
        extra={"HANG_AT_STEP": "2"},
        start_new_session=new_session,
    )
    wait_for_receipts(out, 3)
    return process, out


def _signal(process: subprocess.Popen[str], signum: int, to_group: bool) -> None:
    """As a terminal (the whole group) or a CI cancel / `kill` (the command alone) sends it."""
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)


def test_sigint_stops_exactly_the_receipts_issued(env: dict) -> None:
    process, out = _hanging_run(env, _step("wait", sec=60), _step("discovery"), new_session=True)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C as a terminal sends it
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert_none_left(env["marker"])
    records = stop_records(env)
    assert all(len(record["receipts"]) == 1 for record in records)  # one receipt per step
    assert stopped_by_runner(env) == issued(out)
    state = json.loads((out / "run.json").read_text())
    assert state["outcome"] == "interrupted"
    assert state["stops"][0]["ok"] is True
    assert len(state["receiptsStopped"]) == 3
    assert "3 issued, 3 stopped" in run_cli(env, "status", "--run", str(out)).stdout


def test_crash_is_detected_and_stopped(env: dict) -> None:
    script = write_script(env, payments_script(_step("wait", sec=0)))
    out = env["tmp"] / "run"
    result = run_cli(
        env,
        "run",
        "--script",
        script,
        "--out",
        str(out),
        "--orchestrator",
        FAKE_ORCHESTRATOR,
        extra={"CRASH_AT_STEP": "2"},
    )
    assert result.returncode == 1
    state = json.loads((out / "run.json").read_text())
    assert state["outcome"] == "failed"
    assert state["exitStatus"] == 2
    assert "exited 2" in state["reason"]
    assert "panic" in state["reason"]
    assert stopped_by_runner(env) == issued(out)


def test_failed_step_with_exit_0_is_a_failure(env: dict) -> None:
    script = write_script(env, payments_script(_step("wait", sec=0), _step("discovery")))
    out = env["tmp"] / "run"
    result = run_cli(
        env,
        "run",
        "--script",
        script,
        "--out",
        str(out),
        "--orchestrator",
        FAKE_ORCHESTRATOR,
        extra={"FAIL_AT_STEP": "2"},
    )
    assert result.returncode == 1
    state = json.loads((out / "run.json").read_text())
    assert state["exitStatus"] == 0
    assert state["outcome"] == "failed"
    assert "step 2 (wait" in state["reason"]
    assert len(stopped_by_runner(env)) == 3


def test_failed_stop_is_reported(env: dict) -> None:
    script = write_script(env, payments_script(_step("wait", sec=0)))
    out = env["tmp"] / "run"
    result = run_cli(
        env,
        "run",
        "--script",
        script,
        "--out",
        str(out),
        "--orchestrator",
        FAKE_ORCHESTRATOR,
        extra={"CRASH_AT_STEP": "2", "FAKE_STOP_FAIL": "1"},
    )
    assert result.returncode == 3
    assert "STOP FAILED" in result.stderr
    state = json.loads((out / "run.json").read_text())
    assert state["receiptsStopped"] == []
    assert state["stops"][0]["ok"] is False
    assert "3 issued, 0 stopped" in run_cli(env, "status", "--run", str(out)).stdout


def test_stop_after_the_runner_was_killed(env: dict) -> None:
    out = _killed_runner(env)
    orphan = json.loads((out / "run.json").read_text())["pid"]
    assert Path(f"/proc/{orphan}").exists()  # the orchestrator outlived its runner
    assert stop_records(env) == []
    status = run_cli(env, "status", "--run", str(out))
    assert "STILL RUNNING" in status.stdout
    result = run_cli(env, "stop", "--run", str(out))
    assert result.returncode == 0, result.stderr
    assert "killed orphaned orchestrator" in result.stderr
    assert stopped_by_runner(env) == issued(out)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{orphan}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stat_line = Path(f"/proc/{orphan}/stat").read_text() if Path(f"/proc/{orphan}").exists() else ""
    assert not stat_line or ") Z " in stat_line  # gone, or a zombie awaiting its dead parent
    again = run_cli(env, "stop", "--run", str(out))
    assert again.returncode == 0
    assert "nothing left to stop" in again.stderr


def test_rejected_script_never_starts(env: dict) -> None:
    script = write_script(env, payments_script(_step("wait", minutes=1)))
    out = env["tmp"] / "run"
    result = run_cli(
        env, "run", "--script", script, "--out", str(out), "--orchestrator", FAKE_ORCHESTRATOR
    )
    assert result.returncode == 2
    assert "line 4" in result.stderr
    assert "rename it to `min`" in result.stderr
    assert not (env["tmp"] / "invocations.jsonl").exists()
    assert not out.exists()
    check = run_cli(env, "check", script)
    assert check.returncode == 2
    assert "`minutes`" in check.stderr


def test_check_ok_summary(env: dict) -> None:
    result = run_cli(env, "check", str(ROOT / "stacks" / "scripts" / "small-payments.jsonl"))
    assert result.returncode == 0
    assert result.stdout.strip().endswith(
        "ok: 7 steps (fund-keys x1, wait x2, load-keys x1, discovery x1, payments x1, stop x1), "
        "5 comments"
    )


def test_config_agrees_with_outputs(env: dict) -> None:
    outputs = parse_outputs(json.loads(env["outputs"].read_text()))
    shown = run_cli(env, "config", "--show-secrets", "--run-dir", "/w/r1")
    assert shown.returncode == 0
    config = json.loads(shown.stdout)
    assert ItnKey.from_secret_b64(config["key"]).public_b64 == outputs.orchestrator_public_key
    assert ItnKey.from_secret_b64(config["key"]).public_b64 == ORCHESTRATOR_PUBLIC_KEY
    assert config["genesisTimestamp"] == outputs.genesis_timestamp == GENESIS
    assert config["slotDurationMs"] == outputs.slot_duration_ms
    assert config["onlineURL"] == outputs.uptime_online_url
    addresses = {f"{n.service}:{n.client_port}" for n in outputs.nodes}
    assert config["fundDaemonPorts"]
    assert set(config["fundDaemonPorts"]) <= addresses
    assert config["logFile"] == "/w/r1/orchestrator-logfile.log"
    assert "urlOverrides" not in config
    masked = run_cli(env, "config")
    assert json.loads(masked.stdout)["key"] == "[secret]"
    assert ORCHESTRATOR_KEY not in masked.stdout + masked.stderr


def test_bad_outputs_exit_2_naming_the_field(env: dict) -> None:
    data = make_outputs(orchestrator_key="c2hvcnQ=")
    write_outputs(env["outputs"], data)
    result = run_cli(env, "config")
    assert result.returncode == 2
    assert result.stderr.startswith("error: orchestrator config: key:")
    assert len(result.stderr.strip().splitlines()) == 1
    data = make_outputs()
    del data["workspace"]["minaExec"]
    write_outputs(env["outputs"], data)
    result = run_cli(env, "config")
    assert result.returncode == 2
    assert "workspace.minaExec" in result.stderr


def test_run_in_the_pod_through_kubectl_exec(env: dict) -> None:
    outputs = make_outputs(work_dir=str(env["tmp"] / "pod"))
    outputs["workspace"]["orchestratorExec"] = FAKE_ORCHESTRATOR
    write_outputs(env["outputs"], outputs)
    script = write_script(env, payments_script(_step("wait", sec=0)))
    out = env["tmp"] / "run"
    result = run_cli(
        env,
        "--kubectl",
        FAKE_KUBECTL,
        "run",
        "--script",
        script,
        "--out",
        str(out),
        extra={"CRASH_AT_STEP": "2"},
    )
    assert result.returncode == 1, result.stderr
    calls = [json.loads(x) for x in (env["tmp"] / "kubectl.jsonl").read_text().splitlines()]
    assert all(ORCHESTRATOR_KEY not in " ".join(c) for c in calls)
    reads = [c for c in calls if c[:2] == ["get", "pods"]]  # daemon restarts before and after
    assert reads == [["get", "pods", "-n", "exp1", "-o", "json"]] * 2
    assert all(
        c[:8] == ["exec", "-i", "-n", "exp1", "orchestrator-0", "-c", "orchestrator", "--"]
        for c in calls
        if c not in reads
    )
    remote = Path(json.loads((out / "run.json").read_text())["target"]["remoteDir"])
    assert remote.is_relative_to(env["tmp"] / "pod" / "runs")
    assert stat.S_IMODE((remote / "orchestrator-config.json").stat().st_mode) == 0o600
    remote_config = json.loads((remote / "orchestrator-config.json").read_text())
    assert remote_config["logFile"] == str(remote / "orchestrator-logfile.log")
    assert stopped_by_runner(env) == issued(out)


@pytest.fixture
def ready_network(env: dict):
    daemons = [FakeDaemon({ORCHESTRATOR_PUBLIC_KEY}) for _ in range(2)]
    uptime = FakeUptimeBackend(
        [{"remote_addr": "127.0.0.1", "submitter": f"B62q-n{i}"} for i in range(2)]
    )
    pods = env["tmp"] / "pods.json"
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
        for i, d in enumerate(daemons)
    ]
    write_outputs(
        env["outputs"],
        make_outputs(nodes=nodes, online_url=f"http://127.0.0.1:{uptime.port}/v1/online"),
    )
    yield daemons, pods
    for d in daemons:
        d.close()
    uptime.close()


def test_wait_gate_all_ready(env: dict, ready_network, monkeypatch, capsys) -> None:
    _, pods = ready_network
    listing = json.loads(pods.read_text())
    listing["items"][1]["status"]["containerStatuses"] = [
        {
            "name": "mina",
            "restartCount": 2,
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        }
    ]
    pods.write_text(json.dumps(listing))
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(pods))
    code = experiment.main(
        [
            "--outputs",
            str(env["outputs"]),
            "--kubectl",
            FAKE_KUBECTL,
            "wait",
            "--direct",
            "--timeout",
            "5",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "all 2 nodes ready" in captured.out
    assert "daemon restarts so far: n1 2 (last OOMKilled, exit 137)\n" in captured.err


def test_wait_gate_times_out_naming_the_node(env: dict, ready_network, monkeypatch, capsys) -> None:
    daemons, pods = ready_network
    daemons[1].sync_status = "CATCHUP"
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(pods))
    code = experiment.main(
        [
            "--outputs",
            str(env["outputs"]),
            "--kubectl",
            FAKE_KUBECTL,
            "wait",
            "--direct",
            "--timeout",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "n1: not synced (syncStatus CATCHUP)" in err
    assert "  n0:" not in err


def _wait(env: dict, *args: str) -> int:
    return experiment.main(
        ["--outputs", str(env["outputs"]), "--kubectl", FAKE_KUBECTL, "wait", *args]
    )


def test_wait_through_port_forward_by_default(
    env: dict, ready_network, monkeypatch, capsys
) -> None:
    """No --direct: every ITN request goes through `kubectl port-forward` and keeps its
    signature (the fake daemons answer 401 to an unsigned one)."""
    daemons, pods = ready_network
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(pods))
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(env["tmp"] / "kubectl.jsonl"))
    outputs = json.loads(env["outputs"].read_text())
    outputs["uptimeOnlineUrl"] = outputs["uptimeOnlineUrl"].replace(
        "127.0.0.1", "uptime-backend.exp1.svc.cluster.local"
    )
    write_outputs(env["outputs"], outputs)
    code = _wait(env, "--timeout", "20")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "all 2 nodes ready" in captured.out
    calls = [json.loads(x) for x in (env["tmp"] / "kubectl.jsonl").read_text().splitlines()]
    forwards = [c for c in calls if c[0] == "port-forward"]
    assert {c[-3] for c in forwards} >= {"pod/n0-0", "pod/n1-0"}
    assert [
        "port-forward",
        "-n",
        "exp1",
        "--address",
        "127.0.0.1",
        "--pod-running-timeout=20s",
        "service/uptime-backend",
    ] in [c[:-1] for c in forwards]
    assert all(d.requests and d.requests[-1]["status"] == 200 for d in daemons)
    assert all(ORCHESTRATOR_KEY not in " ".join(c) for c in calls)


def test_wait_ends_at_once_when_the_cluster_is_unreachable(
    env: dict, ready_network, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_UNREACHABLE", "1")
    started = time.monotonic()
    code = _wait(env, "--timeout", "600")
    err = capsys.readouterr().err
    assert code == 1
    assert time.monotonic() - started < 10
    assert err.splitlines() == [
        "error: cannot reach the cluster: couldn't get current server API group list: "
        'Get "https://127.0.0.1:6443/api?timeout=32s": dial tcp 127.0.0.1:6443: connect: '
        "connection refused"
    ]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-5", "soon"])
def test_wait_timeout_must_be_finite_and_positive(env: dict, value: str) -> None:
    result = run_cli(env, "wait", f"--timeout={value}")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: argument --timeout:")


def test_wait_gates_service_rollouts_and_names_them(
    env: dict, ready_network, monkeypatch, capsys
) -> None:
    """Pulumi skips awaiting these rollouts; `wait` must not pass while one is not ready."""
    _, pods = ready_network
    workloads = env["tmp"] / "workloads.json"
    workloads.write_text(
        json.dumps(
            {
                "items": [
                    {
                        "kind": "Deployment",
                        "metadata": {"name": "log-fetcher", "generation": 2},
                        "spec": {"replicas": 1},
                        "status": {"observedGeneration": 2, "updatedReplicas": 1},
                    },
                    {
                        "kind": "StatefulSet",
                        "metadata": {"name": "postgres", "generation": 1},
                        "spec": {"replicas": 1},
                        "status": {
                            "observedGeneration": 1,
                            "updatedReplicas": 1,
                            "readyReplicas": 1,
                        },
                    },
                ]
            }
        )
    )
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(pods))
    monkeypatch.setenv("FAKE_KUBECTL_WORKLOADS", str(workloads))
    code = _wait(env, "--direct", "--timeout", "1")
    err = capsys.readouterr().err
    assert code == 1
    assert "waiting for rollouts: deployment/log-fetcher (0/1 replicas ready)" in err
    assert "postgres" not in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty (no steps); nothing would run"),
        (b'"only a comment"\n', "is empty (no steps)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a UTF-8 text file"),
        (b'"a"\x00', "NUL bytes"),
    ],
)
def test_check_refuses_empty_and_binary_scripts_in_one_line(
    env: dict, content: bytes, expected: str
) -> None:
    path = env["tmp"] / "script.jsonl"
    path.write_bytes(content)
    result = run_cli(env, "check", str(path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: SCRIPT: ")
    assert expected in result.stderr


def test_check_of_deeply_nested_json_has_no_traceback(env: dict) -> None:
    path = env["tmp"] / "deep.jsonl"
    path.write_text("[" * 200_000 + "]" * 200_000)
    result = run_cli(env, "check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nested too deeply" in result.stderr


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda p: p.mkdir(), "is a directory; pass a regular file"),
        (lambda p: p.write_text("[" * 200_000 + "]" * 200_000), "JSON nested too deeply"),
        (lambda p: p.write_bytes(b"\xff\xfe{}"), "is not UTF-8 text (byte 0)"),
        (lambda p: p.write_text("[1, 2]"), "outputs: "),
    ],
)
def test_bad_outputs_files_are_one_line(env: dict, write, expected: str) -> None:
    path = env["tmp"] / "bad-outputs"
    write(path)
    result = subprocess.run(
        [sys.executable, "-m", "scripts.experiment", "--outputs", str(path), "config"],
        cwd=ROOT,
        env=env["env"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr


def _run(env: dict, script_text: str, *extra_args: str, extra: dict | None = None):
    out = env["tmp"] / "run"
    result = run_cli(
        env,
        "run",
        "--script",
        write_script(env, script_text),
        "--out",
        str(out),
        "--orchestrator",
        FAKE_ORCHESTRATOR,
        *extra_args,
        extra=extra,
    )
    return out, result


def test_one_forgotten_handle_does_not_hide_the_others(env: dict) -> None:
    """The first node forgot its schedule (e.g. it restarted): its stop fails, the other two
    are still stopped, in a second stop run (stop.go joins errors and fails the whole step)."""
    out, result = _run(
        env, payments_script(), extra={"CRASH_AT_STEP": "2", "FAKE_FORGET_FIRST": "1"}
    )
    assert result.returncode == 3
    state = json.loads((out / "run.json").read_text())
    first, *others = issued(out)
    assert sorted(r["handle"] for r in state["receiptsStopped"]) == sorted(
        r["handle"] for r in others
    )
    fates = state["receiptStates"]
    assert fates[f"{first['address']} {first['handle']}"]["state"] == "failed"
    assert [s["ok"] for s in state["stops"]] == [False, True]
    assert "STOP FAILED for 1 receipt(s)" in result.stderr


def test_load_that_already_ended_is_not_a_failed_stop(env: dict) -> None:
    """Receipts whose durationMin has run out are ended (the daemon forgot them): the failed run
    reports its own failure, not STOP FAILED, and `stop --run` is idempotent."""
    out, result = _run(
        env, payments_script(), extra={"CRASH_AT_STEP": "2", "FAKE_CLOCK_OFFSET_SEC": "-600"}
    )
    assert result.returncode == 1, result.stderr
    assert "STOP FAILED" not in result.stderr
    state = json.loads((out / "run.json").read_text())
    assert {f["state"] for f in state["receiptStates"].values()} == {"ended"}
    assert stop_records(env) == []
    for _ in range(2):
        again = run_cli(env, "stop", "--run", str(out))
        assert again.returncode == 0
        assert "nothing left to stop" in again.stderr


def test_a_comment_with_error_in_it_does_not_fail_the_run(env: dict) -> None:
    """The orchestrator logs each comment at INFO and echoes it raw (orchestrator.go:270-271)."""
    text = json.dumps("ERROR budget: if this fails, Error: see the runbook") + "\n"
    out, result = _run(env, text + payments_script(_step("stop", receipts=_ref(1, "receipt"))))
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "run.json").read_text())["outcome"] == "succeeded"


def test_relative_orchestrator_path_is_the_callers(env: dict) -> None:
    relative = os.path.relpath(FAKE_ORCHESTRATOR, ROOT)
    script = write_script(env, payments_script(_step("stop", receipts=_ref(1, "receipt"))))
    out = env["tmp"] / "run"
    result = run_cli(
        env, "run", "--script", script, "--out", str(out), "--orchestrator", relative,
    )  # fmt: skip
    assert json.loads((out / "run.json").read_text())["target"]["executable"] == FAKE_ORCHESTRATOR
    assert result.returncode == 0, result.stderr


def test_a_failed_fund_keys_is_that_steps_failure(env: dict) -> None:
    script = "\n".join(
        json.dumps(v)
        for v in [
            _step(
                "fund-keys",
                amount=40,
                fee=1,
                prefix="fund_keys/a/key",
                num=2,
                privkeys=["/work/keys/funding/funding-0"],
            ),
            _step("wait", sec=0),
        ]
    )
    out, result = _run(env, script, extra={"FAKE_FUND_FAIL": "1"})
    assert result.returncode == 1
    state = json.loads((out / "run.json").read_text())
    assert state["reason"].startswith("step 0 (fund-keys, line 1) funded nothing")
    ok_out = env["tmp"] / "funded"
    ok = run_cli(
        env, "run", "--script", str(env["tmp"] / "experiment.jsonl"), "--out", str(ok_out),
        "--orchestrator", FAKE_ORCHESTRATOR,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_a_run_that_cannot_start_says_so_and_frees_its_out(env: dict) -> None:
    out = env["tmp"] / "run"
    args = ["--kubectl", FAKE_KUBECTL, "run", "--script", write_script(env, payments_script())]
    unreachable = {"FAKE_KUBECTL_UNREACHABLE": "1"}
    result = run_cli(env, *args, "--out", str(out), extra=unreachable)
    assert result.returncode == 1
    state = json.loads((out / "run.json").read_text())
    assert state["outcome"] == "failed to start"
    assert "cannot reach the workspace pod orchestrator-0" in state["reason"]
    status = run_cli(env, "status", "--run", str(out))
    assert "failed to start" in status.stdout
    assert "running" not in status.stdout.splitlines()[0]
    again = run_cli(env, *args, "--out", str(out), extra=unreachable)
    assert "already holds a run" not in again.stderr


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        '{"target": "pod"}',
        '{"target": {"kind": "pod"}, "receiptsIssued": {}}',
        '{"target": {"kind": "local", "executable": 5}}',
        "[" * 100_000,
        "\udcff",
    ],
)
def test_run_json_of_the_wrong_shape_is_one_line(env: dict, content: str) -> None:
    run = env["tmp"] / "bad-run"
    run.mkdir()
    (run / "run.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    (run / "orchestrator-config.json").write_text("{}")
    for command in ("status", "stop"):
        result = run_cli(env, command, "--run", str(run))
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"error: --run: {run / 'run.json'}")


def _killed_runner(env: dict) -> Path:
    """A run whose runner was SIGKILLed with three receipts out (its orchestrator lives on)."""
    process, out = _hanging_run(env, _step("wait", sec=60))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    return out


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "sigterm-to-group", "sigterm-to-stop-only"],
)
def test_a_signal_during_stop_lets_the_stop_finish(env: dict, signum: int, to_group: bool) -> None:
    out = _killed_runner(env)
    process = cli(
        env, "stop", "--run", str(out), extra={"FAKE_STOP_DELAY_SEC": "1"}, start_new_session=True
    )
    deadline = time.monotonic() + 20
    while not list(out.glob("stop-1.script.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the stop run's orchestrator is at its first step
    _signal(process, signum, to_group)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    name = signal.Signals(signum).name
    assert f"{name}: still stopping the load; it finishes first" in err
    assert "Traceback" not in err
    assert stopped_by_runner(env) == issued(out)
    assert_none_left(env["marker"])


@pytest.mark.parametrize("to_group", [True, False], ids=["to-group", "to-runner-only"])
def test_sigterm_during_run_stops_the_load_leaving_no_process(env: dict, to_group: bool) -> None:
    """A CI cancel or `timeout` sends SIGTERM (to the group, or to the runner alone): the runner
    stops what it scheduled and ends its orchestrator, as on Ctrl-C."""
    process, out = _hanging_run(env, _step("wait", sec=60), _step("discovery"), new_session=True)
    _signal(process, signal.SIGTERM, to_group)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert_none_left(env["marker"])
    assert stopped_by_runner(env) == issued(out)
    assert json.loads((out / "run.json").read_text())["outcome"] == "interrupted"


def _waiting(env: dict, pods: Path) -> subprocess.Popen[str]:
    """`wait` through port-forwards on a network that never gets ready (n1 catching up)."""
    process = cli(
        env,
        "--kubectl",
        FAKE_KUBECTL,
        "wait",
        "--timeout",
        "600",
        extra={"FAKE_KUBECTL_PODS": str(pods)},
        start_new_session=True,
    )
    log = env["tmp"] / "kubectl.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count("port-forward") >= 3:
            return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError("wait never opened its port-forwards")


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "sigterm-to-group", "sigterm-to-wait-only"],
)
def test_a_signal_ends_wait_in_one_line_leaving_no_port_forward(
    env: dict, ready_network, signum: int, to_group: bool
) -> None:
    """Ctrl-C reaches the whole group; a CI cancel or `kill` may reach only `wait`, whose
    kubectl children then get nothing unless `wait` ends them."""
    daemons, pods = ready_network
    daemons[1].sync_status = "CATCHUP"
    process = _waiting(env, pods)
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.splitlines()[-1] == (
        f"wait: interrupted by {signal.Signals(signum).name}; not waiting any longer"
    )
    assert "Traceback" not in err
    assert_none_left(env["marker"])


def test_an_error_line_fails_an_otherwise_clean_run(env: dict) -> None:
    """Rule 4 of the runner: exit 0, every step's marker and every guaranteed output, and yet an
    ERROR line on stderr fails the run (and its load is stopped)."""
    out, result = _run(
        env, payments_script(_step("wait", sec=0)), extra={"LIBRARY_ERROR_AT_STEP": "2"}
    )
    assert result.returncode == 1, result.stderr
    state = json.loads((out / "run.json").read_text())
    assert state["exitStatus"] == 0
    assert 3 in state["stepsStarted"]  # the sentinel: every script step finished
    assert state["reason"].startswith("error logged: ")
    assert "graphql: transport failure" in state["reason"]
    assert stopped_by_runner(env) == issued(out)


@pytest.fixture
def daemons(env: dict):
    """Two daemons holding the schedule table the fake orchestrator writes, as participants."""
    table = env["tmp"] / "scheduler.json"
    made = [FakeDaemon({ORCHESTRATOR_PUBLIC_KEY}, scheduler_file=table) for _ in range(2)]
    env["env"]["FAKE_SCHEDULER_FILE"] = str(table)
    env["env"]["FAKE_PARTICIPANTS"] = ",".join(f"127.0.0.1:{d.itn.port}" for d in made)
    yield made
    for daemon in made:
        daemon.close()


def test_a_handle_the_daemon_forgot_is_ended_not_failed(env: dict, daemons) -> None:
    """The first daemon forgot its schedule (it restarted): the stop step fails without saying
    why (main.go:48), the runner asks that daemon itself, learns the handle is gone, and the
    run's own failure is all that is left (exit 1, not a failed stop)."""
    out, result = _run(
        env, payments_script(), extra={"CRASH_AT_STEP": "2", "FAKE_FORGET_FIRST": "1"}
    )
    assert result.returncode == 1, result.stderr
    first, *others = issued(out)
    state = json.loads((out / "run.json").read_text())
    fate = state["receiptStates"][f"{first['address']} {first['handle']}"]
    assert fate["state"] == "ended"
    assert "no longer knows the handle" in fate["reason"]
    assert {r["handle"] for r in state["receiptsStopped"]} == {r["handle"] for r in others}
    assert "STOP FAILED" not in result.stderr
    asked = [r for r in daemons[0].requests if b"stopScheduledTransactions" in r["body"]]
    assert [r["status"] for r in asked] == [200]  # signed and sequenced as the daemon wants


def test_a_stop_step_that_could_not_reach_is_finished_at_the_daemon(env: dict, daemons) -> None:
    out, result = _run(env, payments_script(), extra={"CRASH_AT_STEP": "2", "FAKE_STOP_FAIL": "1"})
    assert result.returncode == 1, result.stderr
    state = json.loads((out / "run.json").read_text())
    assert {r["handle"] for r in state["receiptsStopped"]} == {r["handle"] for r in issued(out)}
    assert json.loads((env["tmp"] / "scheduler.json").read_text()) == {}  # nothing scheduled
    assert "still knew" in result.stderr


def test_a_bad_field_of_run_json_is_named_and_the_rest_is_used(env: dict) -> None:
    """One odd field never blocks cleanup: status and stop name it (file and field) and go on."""
    run = env["tmp"] / "run"
    run.mkdir()
    state = {
        "target": {"kind": "local", "executable": FAKE_ORCHESTRATOR},
        "stepsStarted": ["1", 0],
        "receiptStates": {"a h": {"state": "failed"}},
        "stops": [{"tag": "stop-1", "ok": False, "receipts": 7}],
    }
    (run / "run.json").write_text(json.dumps(state))
    (run / "orchestrator-config.json").write_text("{}")
    status = run_cli(env, "status", "--run", str(run))
    assert status.returncode == 0, status.stderr
    assert f"note: {run / 'run.json'}: `stepsStarted[0]` is not a step number; skipped" in (
        status.stdout
    )
    assert "`stops[0].receipts` is not a list; read as empty" in status.stdout
    assert "stop-1: FAILED (None), 0 receipt(s)" in status.stdout
    stop = run_cli(env, "stop", "--run", str(run))
    assert stop.returncode == 0, stop.stderr
    assert "`stepsStarted[0]` is not a step number; skipped" in stop.stderr
    assert "nothing left to stop" in stop.stderr
