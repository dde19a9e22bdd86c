""".ci/setup-system, the install-and-detect part of .ci/run, as a user who is not root.

GitHub's hosted runners run the job as a user with passwordless sudo; this project's CI runs as
root. The script runs here as `nobody` (when the tests run as root) with a PATH holding only the
tools it needs and stand-ins for `sudo`, `apt-get` and `apt-cache`, so what it would install and how
is recorded. The stand-ins copy the refusals of the real tools: `sudo -n` without a sudoers rule
says "sudo: a password is required" and exits 1 (sudo(8), -n); `apt-get install` by a user who is
not root cannot take the dpkg lock and exits 100 (apt-get(8), "DIAGNOSTICS": 100 on error).
Last, .ci/other-pythons' search for the other supported Pythons, on a machine without them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from minaperf.python_version import HIGHEST, LOWEST

ROOT = Path(__file__).resolve().parents[1]
TOOLS = (
    "bash", "id", "readlink", "head", "grep", "timeout", "sed", "true", "cat", "chmod", "mktemp",
    "rm", "mkdir",
)  # fmt: skip

SUDO = """#!/bin/bash
if [ "$1" != -n ]; then echo "fake sudo: only -n is expected" >&2; exit 2; fi
shift
if [ -n "${FAKE_SUDO_REFUSES:-}" ]; then echo "sudo: a password is required" >&2; exit 1; fi
echo "sudo $*" >> "$CALLS"
FAKE_SUDO=1 exec "$@"
"""
APT_GET = """#!/bin/bash
echo "apt-get $* (uid $(id -u), sudo ${FAKE_SUDO:-0})" >> "$CALLS"
if [ "$(id -u)" != 0 ] && [ -z "${FAKE_SUDO:-}" ]; then
  echo "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)" >&2
  exit 100
fi
if [ "$1" = install ]; then
  for package in "$@"; do
    if [ "$package" = chromium ]; then
      printf '#!/bin/bash\\necho "Chromium 120.0"\\n' > "$BIN/chromium"
      chmod 755 "$BIN/chromium"
    fi
  done
fi
"""
APT_CACHE = """#!/bin/bash
[ "$*" = "policy chromium" ] || { echo "fake apt-cache: unexpected $*" >&2; exit 2; }
printf 'chromium:\\n  Installed: (none)\\n  Candidate: %s\\n' "$CANDIDATE"
"""
# Debian's python3 without python3-venv: `-m venv` stops before writing a usable environment.
PYTHON3 = """#!/bin/bash
[ "$1 $2" = "-m venv" ] || { echo "fake python3: unexpected $*" >&2; exit 2; }
if [ -n "${FAKE_NO_ENSUREPIP:-}" ]; then
  echo "The virtual environment was not created successfully because ensurepip is not" >&2
  echo "available.  On Debian/Ubuntu systems, you need to install the python3-venv" >&2
  exit 1
fi
mkdir -p "$3/bin"
"""
BROWSER = '#!/bin/bash\necho "Google Chrome 131.0"\n'
SNAP_WRAPPER = (
    '#!/bin/sh\n# Ubuntu: the chromium deb installs the snap\nexec /snap/bin/chromium "$@"\n'
)
DEBIAN_CANDIDATE = "120.0.6099.224-1~deb12u1"
UBUNTU_CANDIDATE = "2:1snap1-0ubuntu2"
ALL_PACKAGES = "postgresql busybox curl gnupg"


@dataclass
class Sandbox:
    home: Path
    bin: Path
    pg_bindir: Path
    uid: int | None

    def add(self, name: str, text: str) -> Path:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)
        return path

    def have_everything_but_a_browser(self) -> None:
        for tool in ("busybox", "curl", "gpg"):
            self.add(tool, "#!/bin/bash\n")
        (self.pg_bindir / "initdb").write_text("#!/bin/bash\n")
        (self.pg_bindir / "initdb").chmod(0o755)

    def run(self, candidate: str = DEBIAN_CANDIDATE, **env: str) -> subprocess.CompletedProcess:
        environ = {
            "PATH": str(self.bin),
            "HOME": str(self.home),
            "CALLS": str(self.home / "calls"),
            "BIN": str(self.bin),
            "CANDIDATE": candidate,
            "MINAPERF_PG_BINDIR": str(self.pg_bindir),
            **env,
        }
        gid = None if self.uid is None else pwd.getpwuid(self.uid).pw_gid
        return subprocess.run(
            [str(self.bin / "bash"), str(self.home / "setup-system")], env=environ,
            capture_output=True, text=True, timeout=120, check=False,
            user=self.uid, group=gid, extra_groups=None if self.uid is None else [],
        )  # fmt: skip

    def calls(self) -> list[str]:
        """What ran through sudo and apt-get, less the script's `sudo -n true` probes."""
        path = self.home / "calls"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line for line in lines if line != "sudo true"]


def _nobody() -> int | None:
    """Who runs the script: `nobody` when the tests run as root, else the tests' own user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("running as root and there is no `nobody` user to run the script as")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # Under /tmp with open modes: pytest's tmp_path is private to root, and `nobody` must write.
    home = Path(tempfile.mkdtemp(prefix="minaperf-setup-"))
    try:
        uid = _nobody()
        bin_dir, pg_bindir = home / "bin", home / "pg"
        for path in (home, bin_dir, pg_bindir):
            path.mkdir(exist_ok=True)
            path.chmod(0o777)
        for tool in TOOLS:
            real = shutil.which(tool)
            assert real, f"{tool} is needed to run .ci/setup-system"
            (bin_dir / tool).symlink_to(real)
        shutil.copy(ROOT / ".ci" / "setup-system", home / "setup-system")
        (home / "setup-system").chmod(0o755)
        box = Sandbox(home, bin_dir, pg_bindir, uid)
        box.add("sudo", SUDO)
        box.add("apt-get", APT_GET)
        box.add("apt-cache", APT_CACHE)
        box.add("python3", PYTHON3)
        yield box
    finally:
        shutil.rmtree(home)


def test_a_user_with_sudo_installs_what_is_missing_through_sudo(sandbox: Sandbox) -> None:
    result = sandbox.run()
    assert result.returncode == 0, result.stderr
    calls = sandbox.calls()
    install = f"apt-get install -y -qq --no-install-recommends {ALL_PACKAGES} chromium"
    assert calls[0] == "sudo apt-get update -qq"
    assert calls[2] == f"sudo {install}"
    # The script itself is not root: every apt-get ran as its user, through sudo.
    user = os.geteuid() if sandbox.uid is None else sandbox.uid
    assert user != 0
    assert calls[1::2] == [
        f"apt-get update -qq (uid {user}, sudo 1)",
        f"{install} (uid {user}, sudo 1)",
    ]
    # The browser it installed is the one it reports, and the only thing on stdout.
    assert result.stdout == f"{sandbox.bin / 'chromium'}\n"


def test_a_user_without_sudo_is_told_what_to_install(sandbox: Sandbox) -> None:
    result = sandbox.run(FAKE_SUDO_REFUSES="1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: installing needs root: run .ci/run as root, or give this user passwordless sudo",
        f"       (or install these first: {ALL_PACKAGES} and Chromium or Chrome for the page test)",
    ]
    assert sandbox.calls() == []
    assert result.stdout == ""


def test_a_system_without_apt_get_is_told_what_to_install(sandbox: Sandbox) -> None:
    (sandbox.bin / "apt-get").unlink()
    sandbox.add("google-chrome", BROWSER)
    result = sandbox.run()
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: apt-get not found",
        f"       (or install these first: {ALL_PACKAGES})",
    ]
    assert sandbox.calls() == []


def test_a_python_without_ensurepip_gets_python3_venv(sandbox: Sandbox) -> None:
    sandbox.have_everything_but_a_browser()
    chrome = sandbox.add("google-chrome", BROWSER)
    result = sandbox.run(FAKE_NO_ENSUREPIP="1")
    assert result.returncode == 0, result.stderr
    install = "apt-get install -y -qq --no-install-recommends python3-venv"
    assert sandbox.calls()[2] == f"sudo {install}"
    assert result.stdout == f"{chrome}\n"


def test_a_user_without_sudo_and_without_a_browser_goes_on_without_it(sandbox: Sandbox) -> None:
    sandbox.have_everything_but_a_browser()
    result = sandbox.run(FAKE_SUDO_REFUSES="1")
    assert result.returncode == 0, result.stderr
    assert "note: no Chromium or Chrome, and no root to install one" in result.stderr
    assert "the report page test will be skipped" in result.stderr
    assert sandbox.calls() == []
    assert result.stdout == ""


def test_nothing_is_installed_when_everything_is_there(sandbox: Sandbox) -> None:
    sandbox.have_everything_but_a_browser()
    chrome = sandbox.add("google-chrome", BROWSER)
    result = sandbox.run(FAKE_SUDO_REFUSES="1")
    assert result.returncode == 0, result.stderr
    assert sandbox.calls() == []
    assert result.stdout == f"{chrome}\n"


def test_ubuntu_snap_wrappers_are_neither_used_nor_installed(sandbox: Sandbox) -> None:
    sandbox.have_everything_but_a_browser()
    wrapper = sandbox.add("chromium-browser", SNAP_WRAPPER)
    result = sandbox.run(candidate=UBUNTU_CANDIDATE)
    assert result.returncode == 0, result.stderr
    assert f"skipping {wrapper}: a snap wrapper" in result.stderr
    assert f"the chromium package here ({UBUNTU_CANDIDATE}) is a snap wrapper" in result.stderr
    assert sandbox.calls()[0] == "sudo apt-get update -qq"
    assert not any("install" in call for call in sandbox.calls())
    assert result.stdout == ""


def test_minaperf_chromium_names_the_browser(sandbox: Sandbox) -> None:
    sandbox.have_everything_but_a_browser()
    sandbox.add("chromium", BROWSER)
    chosen = sandbox.add("my-browser", BROWSER)
    result = sandbox.run(MINAPERF_CHROMIUM=str(chosen))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{chosen}\n"


def test_root_calls_apt_get_without_sudo(sandbox: Sandbox) -> None:
    if os.geteuid() != 0:
        pytest.skip("the tests do not run as root here; root's path needs no sudo")
    sandbox.uid = None
    result = sandbox.run(FAKE_SUDO_REFUSES="1")
    assert result.returncode == 0, result.stderr
    assert sandbox.calls()[0] == "apt-get update -qq (uid 0, sudo 0)"
    assert not any(call.startswith("sudo") for call in sandbox.calls())


def test_other_pythons_names_each_supported_version_the_machine_lacks(tmp_path: Path) -> None:
    """.ci/other-pythons with only this Python on PATH (no python3.X, no pyenv): all skipped."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "sort"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "uv").write_text("#!/bin/bash\necho 'uv must not run' >&2; exit 1\n")
    (bin_dir / "uv").chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    run = [str(bin_dir / "bash"), str(ROOT / ".ci" / "other-pythons")]
    result = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    others = [f"3.{m}" for m in range(LOWEST[1], HIGHEST[1] + 1) if m != sys.version_info[1]]
    assert result.stdout.splitlines() == [
        f"skipped: Python {v} (no python{v} on PATH or in pyenv)" for v in others
    ]
    skip = subprocess.run(
        run, env=env | {"MINAPERF_OTHER_PYTHONS": "skip"}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert (skip.returncode, skip.stdout) == (0, "skipped: MINAPERF_OTHER_PYTHONS=skip\n")
