"""The worker VM's status publisher (`snark-worker-status.sh`) in a sandbox.

Stubs: systemctl (is-active, show InvocationID), journalctl (log lines per invocation id, as
`--output=cat` prints them), dpkg-query, and curl standing in for the metadata server's
guest-attributes endpoint (PUT only, `Metadata-Flavor: Google` required, as the real server
refuses requests without it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minaperf.shell.node_script import snark_worker_status_script
from tests.minaperf.shell.shell_sandbox import ASSETS, Sandbox, shellcheck

SCRIPT = ASSETS / "snark-worker-status.sh"
URL = "http://metadata.google.internal/computeMetadata/v1/instance/guest-attributes/mina-workers"

SYSTEMCTL_STUB = """
import json, sys
from pathlib import Path
units = json.loads(Path(STATE, "units.json").read_text())
args = [a for a in argv if not a.startswith("--")]
if args[0] == "is-active":
    sys.exit(0 if units.get(args[1], {}).get("active") else 3)
if args[0] == "show":
    print(units.get(args[1], {}).get("invocation", ""))
    sys.exit(0)
sys.exit(64)
"""

JOURNALCTL_STUB = """
import json, sys
from pathlib import Path
logs = json.loads(Path(STATE, "journal.json").read_text())
match = next(a for a in argv if a.startswith("_SYSTEMD_INVOCATION_ID="))
for line in logs.get(match.split("=", 1)[1], []):
    print(line)
"""

DPKG_QUERY_STUB = """
import sys
print("4.0.0-6965b50", end="")
"""

CURL_STUB = """
import json, sys
from pathlib import Path
if Path(STATE, "metadata_down").exists():
    print("curl: (7) Failed to connect to metadata.google.internal", file=sys.stderr); sys.exit(7)
if "-X" not in argv or argv[argv.index("-X") + 1] != "PUT":
    sys.exit(22)
if "Metadata-Flavor: Google" not in argv:
    print("curl: (22) The requested URL returned error: 403", file=sys.stderr); sys.exit(22)
url = argv[-1]
value = argv[argv.index("--data") + 1]
path = Path(STATE, "attributes.json")
attributes = json.loads(path.read_text()) if path.exists() else {}
attributes[url] = value
path.write_text(json.dumps(attributes))
"""


def worker_log(message: str) -> str:
    """One log line as `mina internal snark-worker --log-json` prints it (journal, cat)."""
    return json.dumps({"timestamp": "2026-11-29 12:00:00.000000Z", "level": "Info",
                       "source": {"module": "Snark_worker__Functor"}, "message": message,
                       "metadata": {}})  # fmt: skip


class Vm:
    def __init__(self, tmp: Path) -> None:
        self.sb = Sandbox(tmp / "sb")
        self.sb.stub("systemctl", SYSTEMCTL_STUB)
        self.sb.stub("journalctl", JOURNALCTL_STUB)
        self.sb.stub("dpkg-query", DPKG_QUERY_STUB)
        self.sb.stub("curl", CURL_STUB)

    def workers(self, units: dict[int, tuple[bool, list[str]]]) -> None:
        """Instance number -> (active, its current run's log messages)."""
        state = {
            f"mina-snark-worker@{i}.service": {"active": active, "invocation": f"inv{i}"}
            for i, (active, _) in units.items()
        }
        journal = {f"inv{i}": [worker_log(m) for m in log] for i, (_, log) in units.items()}
        (self.sb.state / "units.json").write_text(json.dumps(state))
        (self.sb.state / "journal.json").write_text(json.dumps(journal))

    def run(self, processes: int = 3) -> tuple[int, str, dict[str, str]]:
        proc = self.sb.run(
            ["bash", str(SCRIPT)],
            {"WORKER_PROCESSES": str(processes), "MINA_PACKAGE": "mina-devnet"},
        )
        path = self.sb.state / "attributes.json"
        published = json.loads(path.read_text()) if path.exists() else {}
        keys = {url.rsplit("/", 1)[1]: value for url, value in published.items()}
        return proc.returncode, proc.stderr, keys


@pytest.fixture
def vm(tmp_path: Path) -> Vm:
    return Vm(tmp_path)


NAP = "No jobs available. Napping for $time seconds"
GOT = "SNARK work $work_ids received from $address. Starting proof generation"
SUBMITTED = "Submitted completed SNARK work $work_ids to $address"
REFUSED = "Error getting work: (Error using the RPC call, get_work: Connection refused)"


def test_counts_running_and_connected_workers(vm: Vm) -> None:
    vm.workers(
        {
            1: (True, [NAP, GOT, SUBMITTED]),
            2: (True, [NAP, REFUSED]),  # reached it once, then lost it
            3: (False, [NAP]),  # stopped
        }
    )
    code, stderr, published = vm.run(processes=3)
    assert code == 0, stderr
    assert {k: v for k, v in published.items() if k != "updated"} == {
        "configured": "3",
        "running": "2",
        "connected": "1",
        "version": "4.0.0-6965b50",
    }
    assert published["updated"].isdigit()


def test_a_worker_proving_its_first_job_is_connected(vm: Vm) -> None:
    vm.workers({1: (True, [GOT])})
    assert vm.run(processes=1)[2]["connected"] == "1"


def test_a_worker_still_building_keys_is_running_not_connected(vm: Vm) -> None:
    vm.workers({1: (True, ["Snark worker working directory $dir"])})
    _, _, published = vm.run(processes=1)
    assert (published["running"], published["connected"]) == ("1", "0")


def test_missing_units_count_as_not_running(vm: Vm) -> None:
    vm.workers({1: (True, [NAP])})
    _, _, published = vm.run(processes=4)
    assert (published["configured"], published["running"]) == ("4", "1")


def test_metadata_server_down_fails_the_run(vm: Vm) -> None:
    vm.workers({1: (True, [NAP])})
    (vm.sb.state / "metadata_down").write_text("")
    code, stderr, _ = vm.run(processes=1)
    assert code != 0
    assert "Failed to connect" in stderr


def test_bad_environment_is_refused(vm: Vm) -> None:
    proc = vm.sb.run(["bash", str(SCRIPT)], {"WORKER_PROCESSES": "x", "MINA_PACKAGE": "m"})
    assert proc.returncode == 2
    assert "WORKER_PROCESSES must be a number" in proc.stderr


def test_published_under_the_namespace_wait_reads(vm: Vm) -> None:
    vm.workers({1: (True, [NAP])})
    vm.run(processes=1)
    urls = json.loads((vm.sb.state / "attributes.json").read_text())
    assert sorted(urls) == sorted(
        f"{URL}/{key}" for key in ("configured", "running", "connected", "version", "updated")
    )


def test_status_script_passes_shellcheck() -> None:
    assert snark_worker_status_script() == SCRIPT.read_text()
    result = shellcheck(SCRIPT)
    assert result.returncode == 0, result.stdout
