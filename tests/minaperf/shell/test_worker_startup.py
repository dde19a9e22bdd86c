"""The snark worker VM startup script: renderer validation and runs in a sandboxed root.

The sandbox gives the script a temporary root (SANDBOX_ROOT) and stub system commands: a fake
package database behind apt-get/dpkg-query, a fake systemd behind systemctl (it keeps enabled
links in the sandbox's /etc/systemd/system/*.wants like the real one, and refuses to start a
unit whose file changed since the last daemon-reload), id/useradd and nproc.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf.shell.signing_key import SIGNING_KEY_URL
from minaperf.shell.worker_script import SETTINGS_MARKER, render_worker_startup_script
from tests.fakes.openpgp import sample_keys
from tests.minaperf.shell.shell_sandbox import Call, Sandbox, shellcheck

PACKAGE = "mina-devnet"
VERSION = "4.0.0-6965b50"
UNIT = "mina-snark-worker@.service"

APT_GET_STUB = """
import json, sys
from pathlib import Path
root = Path(os.environ["SANDBOX_ROOT"])
db_path = Path(STATE, "dpkg.json")
db = json.loads(db_path.read_text()) if db_path.exists() else {}
if argv and "update" in argv:
    sys.exit(0)
if "install" in argv:
    if Path(STATE, "apt_fail").exists():
        print("E: Version '4.0.0-6965b50' for 'mina-devnet' was not found", file=sys.stderr)
        sys.exit(100)
    for spec in argv[argv.index("install") + 1:]:
        if spec.startswith("-"):
            continue
        name, _, version = spec.partition("=")
        db[name] = version
    db_path.write_text(json.dumps(db))
    binary = root / "usr/local/bin/mina"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text("#!/bin/sh\\nexit 0\\n")
    binary.chmod(0o755)
    sys.exit(0)
sys.exit(64)
"""

DPKG_QUERY_STUB = """
import json, sys
from pathlib import Path
db_path = Path(STATE, "dpkg.json")
db = json.loads(db_path.read_text()) if db_path.exists() else {}
pkg = argv[-1]
fmt = next(a[3:] for a in argv if a.startswith("-f="))
if pkg not in db:
    print(f"dpkg-query: no packages found matching {pkg}", file=sys.stderr)
    sys.exit(1)
out = fmt.replace("${Status}", "install ok installed").replace("${Version}", db[pkg])
sys.stdout.write(out)
"""

SYSTEMCTL_STUB = """
import fnmatch, json, sys
from pathlib import Path
root = Path(os.environ["SANDBOX_ROOT"])
unit_dir = root / "etc/systemd/system"
state_path = Path(STATE, "systemd.json")
st = json.loads(state_path.read_text()) if state_path.exists() else {"active": [], "loaded": None}
def save():
    state_path.write_text(json.dumps(st))
def template_of(name):
    return name.split("@", 1)[0] + "@.service" if "@" in name else name
def wants_of(name):
    target = "timers.target" if name.endswith(".timer") else "multi-user.target"
    return unit_dir / f"{target}.wants"
def unit_text(name):
    p = unit_dir / template_of(name)
    return p.read_text() if p.exists() else None
args = [a for a in argv if not a.startswith("--")]
flags = [a for a in argv if a.startswith("--")]
verb, names = args[0], args[1:]
if verb == "daemon-reload":
    st["loaded"] = {
        p.name: p.read_text() for p in [*unit_dir.glob("*.service"), *unit_dir.glob("*.timer")]
    }
    save(); sys.exit(0)
if verb == "is-enabled":
    sys.exit(0 if (wants_of(names[0]) / names[0]).is_symlink() else 1)
if verb == "is-active":
    sys.exit(0 if names[0] in st["active"] else 3)
if verb == "list-units":
    pattern = names[0] if names else "*"
    for n in sorted(st["active"]):
        if fnmatch.fnmatch(n, pattern):
            print(f"{n} loaded active running Mina snark worker")
    sys.exit(0)
for name in names:
    if verb in ("enable", "start", "restart"):
        text = unit_text(name)
        if text is None:
            print(f"Failed to {verb} unit: Unit file {template_of(name)} does not exist.",
                  file=sys.stderr)
            sys.exit(1)
        if verb != "enable" and (st["loaded"] or {}).get(template_of(name)) != text:
            print(f"unit {name} changed on disk, run daemon-reload", file=sys.stderr)
            sys.exit(1)
    wants = wants_of(name)
    if verb == "enable":
        wants.mkdir(parents=True, exist_ok=True)
        if not (wants / name).is_symlink():
            (wants / name).symlink_to(f"../{template_of(name)}")
        if "--now" in flags and name not in st["active"]:
            st["active"].append(name)
    elif verb == "disable":
        if (wants / name).is_symlink():
            (wants / name).unlink()
        if "--now" in flags and name in st["active"]:
            st["active"].remove(name)
    elif verb in ("start", "restart"):
        if name not in st["active"]:
            st["active"].append(name)
    elif verb == "stop":
        if name in st["active"]:
            st["active"].remove(name)
    else:
        print(f"unsupported verb {verb}", file=sys.stderr)
        sys.exit(64)
save()
"""

ID_STUB = """
import sys
from pathlib import Path
users = Path(STATE, "users")
known = users.read_text().split() if users.exists() else []
if argv == ["-u"]:
    print(os.environ.get("STUB_UID", "0")); sys.exit(0)
if argv[:1] == ["-u"] and argv[1] in known:
    print(990 + known.index(argv[1])); sys.exit(0)
print(f"id: '{argv[-1]}': no such user", file=sys.stderr)
sys.exit(1)
"""

USERADD_STUB = """
import sys
from pathlib import Path
users = Path(STATE, "users")
known = users.read_text().split() if users.exists() else []
name = argv[-1]
if name in known:
    sys.exit(9)
users.write_text(" ".join(known + [name]))
"""

NPROC_STUB = "print(os.environ.get('STUB_NPROC', '32'))"

KEYS = sample_keys()
FINGERPRINT = KEYS.repository.fingerprint
"""The served repository key's fingerprint (a real key; the VM reads it with the real gpg)."""
KEYRING = "etc/apt/keyrings/mina-archive-keyring.gpg"

CURL_STUB = """
import sys
from pathlib import Path
url = argv[-1]
if "--proto" not in argv or argv[argv.index("--proto") + 1] != "=https" or not url.startswith("https://"):
    print("curl stub: refusing a non-HTTPS fetch", file=sys.stderr); sys.exit(1)
served = Path(STATE, "served_key")
if not served.exists():
    print("curl: (6) Could not resolve host: packages.o1test.net", file=sys.stderr); sys.exit(6)
Path(argv[argv.index("--output") + 1]).write_bytes(served.read_bytes())
"""

GPG_STUB = f"os.execv({shutil.which('gpg')!r}, ['gpg', *argv])"
"""The real gpg, recorded: the VM's fingerprint check runs on real keys."""


def render(**overrides: object) -> str:
    kwargs: dict[str, Any] = {
        "coordinator_host": "10.128.0.42",
        "coordinator_port": 8301,
        "processes": 4,
        "proof_level": "full",
        "mina_package": PACKAGE,
        "mina_version": VERSION,
        "apt_channel": "alpha",
        "apt_codename": None,
    }
    kwargs.update(overrides)
    return render_worker_startup_script(**kwargs)


class Vm:
    """A sandboxed 'VM': root filesystem + stubbed system commands."""

    def __init__(self, tmp: Path) -> None:
        self.sb = Sandbox(tmp / "sb")
        self.root = tmp / "root"
        (self.root / "etc").mkdir(parents=True)
        (self.root / "etc/os-release").write_text(
            'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
            'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n'
        )
        self.sb.stub("apt-get", APT_GET_STUB)
        self.sb.stub("dpkg-query", DPKG_QUERY_STUB)
        self.sb.stub("systemctl", SYSTEMCTL_STUB)
        self.sb.stub("id", ID_STUB)
        self.sb.stub("useradd", USERADD_STUB)
        self.sb.stub("nproc", NPROC_STUB)
        self.sb.stub("mina")
        self.sb.stub("curl", CURL_STUB)
        self.sb.stub("gpg", GPG_STUB)
        self.serve_key(KEYS.repository.data)
        self.script = tmp / "startup.sh"

    def serve_key(self, data: bytes) -> None:
        """What SIGNING_KEY_URL returns (a real binary OpenPGP key file)."""
        (self.sb.state / "served_key").write_bytes(data)

    def run(self, text: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.script.write_text(text)
        full_env = {"SANDBOX_ROOT": str(self.root), "APT_RETRY_DELAY": "0"}
        full_env.update(env)
        return self.sb.run(["bash", str(self.script)], full_env, timeout=60)

    def unit(self) -> Path:
        return self.root / "etc/systemd/system" / UNIT

    def systemd(self) -> dict[str, Any]:
        return json.loads((self.sb.state / "systemd.json").read_text())

    def workers_active(self) -> list[str]:
        return sorted(n for n in self.systemd()["active"] if n.startswith("mina-snark-worker@"))

    def enabled(self) -> list[str]:
        wants = self.root / "etc/systemd/system/multi-user.target.wants"
        return sorted(p.name for p in wants.iterdir()) if wants.exists() else []

    def systemctl(self, verb: str | None = None) -> list[Call]:
        calls = self.sb.calls("systemctl")
        return [c for c in calls if verb is None or verb in c.argv]

    def snapshot(self) -> dict[str, tuple[int, int, int]]:
        """inode, mtime and mode of everything under the root (plus directories)."""
        out = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                p = Path(dirpath, name)
                s = p.lstat()
                out[str(p.relative_to(self.root))] = (s.st_ino, s.st_mtime_ns, s.st_mode)
        return out


def instances(n: int) -> list[str]:
    return sorted(f"mina-snark-worker@{i}.service" for i in range(1, n + 1))


@pytest.fixture
def vm(tmp_path: Path) -> Vm:
    return Vm(tmp_path)


# --- renderer --------------------------------------------------------------------------------


def test_rendered_script_passes_shellcheck(tmp_path: Path) -> None:
    path = tmp_path / "startup.sh"
    path.write_text(render(apt_codename="bookworm"))
    result = shellcheck(path)
    assert result.returncode == 0, result.stdout


def test_rendered_header_is_quoted_assignments() -> None:
    text = render(apt_codename="jammy")
    assert SETTINGS_MARKER not in text
    assert text.startswith("#!/bin/bash\n")
    assert "readonly COORDINATOR_HOST='10.128.0.42'\n" in text
    assert "readonly COORDINATOR_PORT='8301'\n" in text
    assert "readonly WORKER_PROCESSES='4'\n" in text
    assert "readonly MINA_VERSION='4.0.0-6965b50'\n" in text
    assert "readonly APT_CODENAME='jammy'\n" in text
    assert "readonly APT_CODENAME=''\n" in render()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("coordinator_host", "coord; rm -rf /"),
        ("coordinator_host", "$(reboot)"),
        ("coordinator_host", "a'b"),
        ("coordinator_host", "host name"),
        ("coordinator_host", ""),
        ("coordinator_host", "-leading-dash"),
        ("coordinator_host", "x%i"),
        ("coordinator_port", 0),
        ("coordinator_port", 65536),
        ("coordinator_port", True),
        ("coordinator_port", "8301"),
        ("processes", 0),
        ("processes", 257),
        ("processes", True),
        ("processes", 2.0),
        ("proof_level", "fast"),
        ("mina_package", "mina devnet"),
        ("mina_package", "Mina"),
        ("mina_version", "4.0.0;reboot"),
        ("mina_version", "4.0.0 x"),
        ("mina_version", "`id`"),
        ("apt_channel", "alpha main"),
        ("apt_codename", "jammy\n"),
        ("apt_codename", ""),
    ],
)
def test_renderer_rejects_unsafe_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        render(**{field: value})


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_renderer_never_emits_unquoted_metacharacters(host: str) -> None:
    try:
        text = render(coordinator_host=host)
    except ValueError:
        return
    line = next(x for x in text.splitlines() if x.startswith("readonly COORDINATOR_HOST="))
    value = line.removeprefix("readonly COORDINATOR_HOST=")
    assert value == f"'{host}'"
    assert not set(host) & set("'\"`$;&|<>(){}\\ \t\n%*?[]!#~")


def test_unrendered_template_refuses_to_run(vm: Vm) -> None:
    from minaperf.shell.node_script import snark_worker_vm_template

    proc = vm.run(snark_worker_vm_template())
    assert proc.returncode != 0
    assert "unrendered template" in proc.stderr
    assert vm.sb.calls("apt-get") == []


# --- runs in the sandbox ---------------------------------------------------------------------


def test_first_run_installs_and_starts_workers(vm: Vm) -> None:
    proc = vm.run(render(processes=4), STUB_NPROC="32")
    assert proc.returncode == 0, proc.stderr

    # the binary signing key over HTTPS (upstream's newest URL: MinaProtocol/mina@19d3d5d
    # scripts/debian/verify-inside-docker/setup.sh:21-26), kept as `.gpg` (binary, for apt),
    # then the apt source from the os-release codename, signed-by it
    [fetch] = vm.sb.calls("curl")
    assert fetch.argv[-1] == SIGNING_KEY_URL == "https://packages.o1test.net/repo-signing-key.gpg"
    assert fetch.argv[:2] == ["--proto", "=https"]
    keyring = vm.root / KEYRING
    assert keyring.read_bytes() == KEYS.repository.data
    assert keyring.stat().st_mode & 0o777 == 0o644
    assert (vm.root / "etc/apt/sources.list.d/mina.list").read_text() == (
        f"deb [signed-by=/{KEYRING}] https://packages.o1test.net bookworm alpha\n"
    )
    apt = vm.sb.calls("apt-get")
    assert [c.argv for c in apt] == [
        ["-o", "DPkg::Lock::Timeout=300", "update"],
        [
            "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--allow-downgrades",
            f"{PACKAGE}={VERSION}",
        ],
    ]  # fmt: skip
    assert apt[1].env["DEBIAN_FRONTEND"] == "noninteractive"

    # the service user
    assert [c.argv for c in vm.sb.calls("useradd")] == [
        [
            "--system", "--user-group", "--home-dir", "/var/lib/mina-worker",
            "--no-create-home", "--shell", "/usr/sbin/nologin", "mina-worker",
        ]
    ]  # fmt: skip

    # the unit
    unit = vm.unit().read_text()
    assert vm.unit().stat().st_mode & 0o777 == 0o644
    lines = unit.splitlines()
    assert (
        "ExecStart=/usr/local/bin/mina internal snark-worker --daemon-address 10.128.0.42:8301"
        " --proof-level full --shutdown-on-disconnect false"
        " --config-directory /var/lib/mina-worker/%i"
    ) in lines
    for expected in (
        "Environment=RAYON_NUM_THREADS=8",  # 32 CPUs / 4 processes
        "User=mina-worker",
        "Restart=always",
        "RestartSec=10",
        "StandardOutput=journal",
        "StandardError=journal",
        "NoNewPrivileges=yes",
        "ProtectSystem=full",
        "PrivateTmp=yes",
        "StateDirectory=mina-worker/%i",
        # proving keys persist: OCaml's temp dir (TMPDIR) is the instance's cache directory
        "CacheDirectory=mina-worker/%i",
        "Environment=TMPDIR=/var/cache/mina-worker/%i",
        "WantedBy=multi-user.target",
    ):
        assert expected in lines

    # systemd: reload once, then exactly instances 1..4 enabled and running
    assert len(vm.systemctl("daemon-reload")) == 1
    assert vm.enabled() == instances(4)
    assert vm.workers_active() == instances(4)
    first_start = min(i for i, c in enumerate(vm.systemctl()) if {"restart", "start"} & set(c.argv))
    reload_at = next(i for i, c in enumerate(vm.systemctl()) if "daemon-reload" in c.argv)
    assert reload_at < first_start

    # the status publisher: script, oneshot service, enabled and started timer
    status = vm.root / "usr/local/bin/mina-worker-status"
    assert status.stat().st_mode & 0o777 == 0o755
    assert status.read_text().startswith("#!/bin/bash\n# snark-worker-status.sh")
    service = (vm.root / "etc/systemd/system/mina-worker-status.service").read_text()
    assert "Environment=WORKER_PROCESSES=4" in service.splitlines()
    assert f"Environment=MINA_PACKAGE={PACKAGE}" in service.splitlines()
    timer_link = vm.root / "etc/systemd/system/timers.target.wants/mina-worker-status.timer"
    assert timer_link.is_symlink()
    assert "mina-worker-status.timer" in vm.systemd()["active"]


def test_pinned_fingerprint_accepts_the_matching_key(vm: Vm) -> None:
    proc = vm.run(render(signing_key_fingerprint=FINGERPRINT))
    assert proc.returncode == 0, proc.stderr
    assert (vm.root / KEYRING).read_bytes() == KEYS.repository.data
    assert [c.argv[:3] for c in vm.sb.calls("gpg")] == [["--batch", "--show-keys", "--with-colons"]]


def test_pinned_fingerprint_refuses_another_key(vm: Vm) -> None:
    vm.serve_key(KEYS.other.data)
    proc = vm.run(render(signing_key_fingerprint=FINGERPRINT))
    assert proc.returncode != 0
    assert f"has fingerprint '{KEYS.other.fingerprint}', expected {FINGERPRINT}" in proc.stderr
    assert not (vm.root / KEYRING).exists()
    assert not (vm.root / "etc/apt/sources.list.d/mina.list").exists()
    assert vm.sb.calls("apt-get") == []


@pytest.mark.parametrize(
    "served",
    [
        pytest.param(lambda: KEYS.repository.data + KEYS.other.data, id="two-primary-keys"),
        pytest.param(lambda: KEYS.other.data + KEYS.repository.data, id="pinned-key-second"),
        pytest.param(lambda: KEYS.expired.data, id="expired"),
        pytest.param(lambda: b"<html>not a key</html>", id="not-a-key"),
    ],
)
def test_pinned_fingerprint_refuses_a_file_without_one_valid_primary_key(vm: Vm, served) -> None:
    """Also a file that holds the pinned key next to another: apt would trust both."""
    vm.serve_key(served())
    pinned = KEYS.expired.fingerprint if served() == KEYS.expired.data else FINGERPRINT
    proc = vm.run(render(signing_key_fingerprint=pinned))
    assert proc.returncode != 0
    assert "has fingerprint 'none: not exactly one unexpired, unrevoked primary key'" in (
        proc.stderr
    )
    assert not (vm.root / KEYRING).exists()
    assert vm.sb.calls("apt-get") == []


def test_a_kept_key_that_no_longer_matches_the_pin_is_replaced(vm: Vm) -> None:
    vm.serve_key(KEYS.other.data)
    assert vm.run(render()).returncode == 0  # unpinned: first key kept
    vm.serve_key(KEYS.repository.data)
    assert vm.run(render(signing_key_fingerprint=FINGERPRINT)).returncode == 0
    assert (vm.root / KEYRING).read_bytes() == KEYS.repository.data


def test_unreachable_key_server_fails_before_apt(vm: Vm) -> None:
    (vm.sb.state / "served_key").unlink()
    proc = vm.run(render())
    assert proc.returncode != 0
    assert "could not fetch the repository signing key" in proc.stderr
    assert vm.sb.calls("apt-get") == []


def test_second_run_is_a_no_op(vm: Vm) -> None:
    text = render(processes=3)
    assert vm.run(text).returncode == 0
    before = vm.snapshot()
    state_before = vm.systemd()
    vm.sb.clear_calls()

    proc = vm.run(text)
    assert proc.returncode == 0, proc.stderr
    assert "already installed" in proc.stderr
    assert vm.snapshot() == before, "a second run must not touch any file"
    assert vm.systemd() == state_before
    assert vm.sb.calls("apt-get") == []
    assert vm.sb.calls("useradd") == []
    assert vm.sb.calls("curl") == [], "the key is fetched once, then kept"
    changing = {"daemon-reload", "enable", "disable", "start", "restart", "stop"}
    assert [c.argv for c in vm.systemctl() if changing & set(c.argv)] == []


def test_stopped_instance_is_started_without_restarting_others(vm: Vm) -> None:
    text = render(processes=3)
    assert vm.run(text).returncode == 0
    state = vm.systemd()
    state["active"].remove("mina-snark-worker@2.service")
    (vm.sb.state / "systemd.json").write_text(json.dumps(state))
    vm.sb.clear_calls()
    assert vm.run(text).returncode == 0
    changes = [c.argv for c in vm.systemctl() if {"start", "restart"} & set(c.argv)]
    assert changes == [["start", "mina-snark-worker@2.service"]]


def test_smaller_count_disables_extra_instances(vm: Vm) -> None:
    assert vm.run(render(processes=5), STUB_NPROC="20").returncode == 0
    assert vm.enabled() == instances(5)
    vm.sb.clear_calls()

    proc = vm.run(render(processes=2), STUB_NPROC="20")
    assert proc.returncode == 0, proc.stderr
    assert vm.enabled() == instances(2)
    assert vm.workers_active() == instances(2)
    disabled = [c.argv for c in vm.systemctl("disable")]
    assert sorted(disabled) == [
        ["disable", "--now", f"mina-snark-worker@{i}.service"] for i in (3, 4, 5)
    ]
    # fewer processes -> more threads each; the unit changed, so the survivors restart
    assert "Environment=RAYON_NUM_THREADS=10" in vm.unit().read_text().splitlines()
    assert len(vm.systemctl("daemon-reload")) == 1
    assert sorted(c.argv[1] for c in vm.systemctl("restart") if "@" in c.argv[1]) == instances(2)
    assert vm.sb.calls("apt-get") == []


def test_active_but_not_enabled_extra_instance_is_stopped(vm: Vm) -> None:
    assert vm.run(render(processes=2)).returncode == 0
    state = vm.systemd()
    state["active"].append("mina-snark-worker@7.service")
    (vm.sb.state / "systemd.json").write_text(json.dumps(state))
    assert vm.run(render(processes=2)).returncode == 0
    assert vm.workers_active() == instances(2)


def test_threads_at_least_one(vm: Vm) -> None:
    assert vm.run(render(processes=8), STUB_NPROC="4").returncode == 0
    assert "Environment=RAYON_NUM_THREADS=1" in vm.unit().read_text().splitlines()


def test_failing_install_exits_non_zero_with_message(vm: Vm) -> None:
    (vm.sb.state / "apt_fail").write_text("")
    proc = vm.run(render(), APT_RETRIES="2")
    assert proc.returncode != 0
    assert f"could not install {PACKAGE}={VERSION}" in proc.stderr
    assert "after 2 attempt(s)" in proc.stderr
    assert len([c for c in vm.sb.calls("apt-get") if "install" in c.argv]) == 2
    assert not vm.unit().exists()
    assert vm.sb.calls("systemctl") == []


def test_other_installed_version_is_replaced(vm: Vm) -> None:
    (vm.sb.state / "dpkg.json").write_text(json.dumps({PACKAGE: "3.0.0"}))
    assert vm.run(render()).returncode == 0
    assert json.loads((vm.sb.state / "dpkg.json").read_text())[PACKAGE] == VERSION


def test_package_upgrade_restarts_workers_even_if_unit_is_unchanged(vm: Vm) -> None:
    assert vm.run(render(processes=2)).returncode == 0
    (vm.sb.state / "dpkg.json").write_text(json.dumps({PACKAGE: "3.0.0"}))
    vm.sb.clear_calls()
    assert vm.run(render(processes=2)).returncode == 0
    assert vm.systemctl("daemon-reload") == []
    assert sorted(c.argv[1] for c in vm.systemctl("restart") if "@" in c.argv[1]) == instances(2)


def test_explicit_codename_and_channel(vm: Vm) -> None:
    assert vm.run(render(apt_codename="jammy", apt_channel="devnet")).returncode == 0
    assert (vm.root / "etc/apt/sources.list.d/mina.list").read_text() == (
        f"deb [signed-by=/{KEYRING}] https://packages.o1test.net jammy devnet\n"
    )


def test_missing_codename_fails_clearly(vm: Vm) -> None:
    (vm.root / "etc/os-release").write_text('NAME="Something"\n')
    proc = vm.run(render())
    assert proc.returncode != 0
    assert "VERSION_CODENAME" in proc.stderr
    assert vm.sb.calls("apt-get") == []


def test_existing_user_is_not_recreated(vm: Vm) -> None:
    (vm.sb.state / "users").write_text("mina-worker")
    assert vm.run(render()).returncode == 0
    assert vm.sb.calls("useradd") == []


def test_refuses_non_root_outside_sandbox(vm: Vm) -> None:
    vm.script.write_text(render())
    proc = vm.sb.run(["bash", str(vm.script)], {"STUB_UID": "1000"}, timeout=30)
    assert proc.returncode != 0
    assert "must run as root" in proc.stderr
    assert vm.sb.calls("apt-get") == []
