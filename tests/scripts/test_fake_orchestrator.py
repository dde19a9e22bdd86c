"""The stand-in orchestrator fails on each class `check` refuses the way upstream does: its exit
code (0: main.go:48 drops RunActions' error; 2: a Go panic), and whether the failing step's
`Performing step` marker was logged (a decode error, an unknown action or an unresolvable
reference ends the run before it, orchestrator.go:260-291)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

FAKE = Path(__file__).parents[1] / "fakes" / "fake_orchestrator.py"
SENTINEL = '{"action": "wait", "params": {"sec": 0}}'


def _payments(**params: object) -> str:
    base = {"tps": 1, "minTps": 1, "durationMin": 1, "feePayers": ["EK"], "nodes": ["a:1"]}
    return json.dumps({"action": "payments", "params": {**base, **params}})


CASES = {  # name: (script before the sentinel, exit code, marker of the failing step logged)
    "tps-below-minTps": (_payments(tps=0.5), 2, True),
    "tps-over-minTps-overflows": (_payments(tps=1e300, minTps=1e-300), 2, True),
    "nan": ('{"action": "wait", "params": {"sec": NaN}}', 0, False),
    "float-overflow": ('{"action": "wait", "params": {"sec": 1e400}}', 0, False),
    "form-feed": ('\x0c{"action": "wait", "params": {"sec": 0}}', 0, False),
    "nbsp": ('\u00a0{"action": "wait", "params": {"sec": 0}}', 0, False),
    "empty-action": ('{"action": "", "params": {}}', 0, False),
    "params-twice": ('{"action": "wait", "params": {"sec": "x"}, "params": {"min": 0}}', 0, True),
    "join-outputs-nothing": (
        '{"action": "join", "params": {"group1": []}}\n{"action": "isolate", "params": '
        '{"nodes": {"type": "output", "step": 0, "name": "group"}}}',
        0,
        False,
    ),
    "file-reference": (
        '{"action": "stop", "params": {"receipts": '
        '{"type": "output", "step": 1, "name": "receipt", "file": "a.out"}}}',
        0,
        False,
    ),
    "fund-keys-prefix-without-directory": (
        '{"action": "fund-keys", "params": '
        '{"amount": 1, "fee": 1, "prefix": "key", "num": 1, "privkeys": ["k"]}}',
        0,
        False,
    ),
    "discovery-only-and-no-bps": (
        '{"action": "discovery", "params": {"onlyBPs": true, "noBPs": true}}',
        0,
        True,
    ),
    "load-keys-empty-dir": ('{"action": "load-keys", "params": {"dir": ""}}', 0, True),
    "allocate-slots-zero-group": (
        '{"action": "allocate-slots", "params": {"groups": [0], '
        '"slotsWon": [{"address": "a:1", "slots": [1]}], "minSlots": 1, "maxSlots": 2}}',
        0,
        True,
    ),
    "slots-covered-check-no-slots": (
        '{"action": "slots-covered-check", "params": {"threshold": 0.5, "slotsWon": []}}',
        0,
        True,
    ),
    "isolate-without-port": ('{"action": "isolate", "params": {"nodes": ["10.0.0.2"]}}', 2, True),
    "rotate-balance-mapping-out-of-range": (
        '{"action": "rotate-balance", "params": {"pubkeys": ["p"], "servers": ["s"], '
        '"ratio": 0.5, "mapping": [1]}}',
        0,
        True,
    ),
    "max-fee-below-min-fee": (_payments(maxFee=1, minFee=2), 0, True),
    "int-as-float": ('{"action": "wait", "params": {"sec": 100.0}}', 0, True),
    "int-as-string": ('{"action": "wait", "params": {"sec": "600"}}', 0, True),
}


def _orchestrate(
    tmp_path: Path, script: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The fake with a valid config, fed `script` and then the runner's sentinel step."""
    config = tmp_path / "config.json"
    key = base64.b64encode(bytes(32)).decode()
    config.write_text(json.dumps({"key": key, "onlineURL": "http://127.0.0.1:9/v1/online"}))
    return subprocess.run(
        [sys.executable, str(FAKE), str(config)],
        input=f"{script}\n{SENTINEL}\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("script", "code", "marked"), list(CASES.values()), ids=list(CASES))
def test_the_fake_fails_like_upstream(tmp_path: Path, script: str, code: int, marked: bool) -> None:
    result = _orchestrate(tmp_path, script)
    assert result.returncode == code, result.stderr
    last = script.count("\n")  # the failing step is the script's last value
    assert (f"({last})\n" in result.stderr) == marked, result.stderr
    assert f"Performing step wait ({last + 1})" not in result.stderr  # never reached the end


def test_a_stop_sent_to_another_daemon_fails_and_leaves_the_schedule(tmp_path: Path) -> None:
    """The schedule table is per daemon (mina_graphql.ml keeps `scheduler_tbl` per node)."""
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"h": {"address": "a:1", "expires": 4e9}}))
    stop = '{"action": "stop", "params": {"receipts": [{"address": "b:1", "handle": "h"}]}}'
    result = _orchestrate(tmp_path, stop, {"FAKE_SCHEDULER_FILE": str(table)})
    assert result.returncode == 0
    assert "Performing step wait (1)" not in result.stderr
    assert json.loads(table.read_text()) == {"h": {"address": "a:1", "expires": 4e9}}
