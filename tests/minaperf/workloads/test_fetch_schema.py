"""pg-fetch-schema.sh against a real HTTP server on 127.0.0.1, with our own test SQL files."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from minaperf.workloads import schema_pins

from .conftest import ASSETS, TEST_SCHEMA, pins_for, write_schema

SCRIPT = ASSETS / "pg-fetch-schema.sh"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, directory served) at http://127.0.0.1:<port>/<commit>/init-sql."""
    root = tmp_path / "www"
    d = write_schema(root / "0123abc" / "init-sql")
    handler = functools.partial(_Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/0123abc/init-sql", d
    finally:
        srv.shutdown()
        srv.server_close()


def _run(
    base_url: str,
    pins: str,
    target: Path,
    *,
    argv0: list[str] | None = None,
    path: str | None = None,
) -> subprocess.CompletedProcess[str]:
    pinfile = target.parent / "pins.txt"
    pinfile.write_text(pins)
    env = {
        "PATH": path or "/usr/bin:/bin",
        "SCHEMA_BASE_URL": base_url,
        "SCHEMA_SHA256_FILE": str(pinfile),
        "SCHEMA_DIR": str(target),
        "FETCH_RETRIES": "0",
        "FETCH_TIMEOUT": "10",
    }
    return subprocess.run(
        [*(argv0 or ["sh"]), str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _target(tmp_path: Path) -> Path:
    t = tmp_path / "out" / "schema"
    t.mkdir(parents=True)
    return t


def test_downloads_and_verifies_all_files(served: tuple[str, Path], tmp_path: Path) -> None:
    url, src = served
    target = _target(tmp_path)
    r = _run(url, pins_for(src), target)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in target.iterdir()) == sorted(TEST_SCHEMA)
    for name, text in TEST_SCHEMA.items():
        assert (target / name).read_text() == text
    assert "verified 002-functions.sql sha256=" in r.stderr


def test_pin_list_from_schema_pins_module_is_accepted(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, src = served
    import hashlib

    files = [
        schema_pins.SchemaFile(p.name, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in src.iterdir()
    ]
    target = _target(tmp_path)
    r = _run(url, schema_pins.sha256sums(files), target)
    assert r.returncode == 0, r.stderr


def test_tampered_file_is_refused_and_nothing_left(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, src = served
    pins = pins_for(src)
    (src / "002-functions.sql").write_text("DROP TABLE deployment;\n")  # upstream changed under us
    target = _target(tmp_path)
    (target / "001-base.sql").write_text("stale copy from an earlier run\n")
    r = _run(url, pins, target)
    assert r.returncode == 1
    assert "checksum mismatch for 002-functions.sql" in r.stderr
    assert list(target.iterdir()) == []  # no file, no staging directory


def test_missing_upstream_file_is_refused(served: tuple[str, Path], tmp_path: Path) -> None:
    url, src = served
    pins = pins_for(src)
    (src / "010-later.sql").unlink()
    target = _target(tmp_path)
    r = _run(url, pins, target)
    assert r.returncode == 1
    assert "could not download 010-later.sql" in r.stderr
    assert list(target.iterdir()) == []


@pytest.mark.parametrize(
    ("pins", "message"),
    [
        ("", "lists no files"),
        ("TODO  001-base.sql\n", "not a hex SHA-256"),
        (f"{'a' * 63}  001-base.sql\n", "not a 64-digit SHA-256"),
        (f"{'a' * 64}  ../etc/passwd\n", "unsafe file name"),
        (f"{'a' * 64}  x.sql\n{'b' * 64}  x.sql\n", "listed twice"),
        (f"{'a' * 64}\n", "malformed pin line"),
    ],
)
def test_bad_pin_list_is_refused(
    served: tuple[str, Path], tmp_path: Path, pins: str, message: str
) -> None:
    url, _ = served
    target = _target(tmp_path)
    r = _run(url, pins, target)
    assert r.returncode == 2
    assert message in r.stderr
    assert list(target.iterdir()) == []


def test_binary_mode_marker_and_comments_in_pin_list(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, src = served
    pins = "# pinned schema\n\n" + pins_for(src).replace("  0", " *0")
    target = _target(tmp_path)
    r = _run(url, pins, target)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in target.iterdir()) == sorted(TEST_SCHEMA)


def test_runs_with_busybox_applets_and_curl(
    served: tuple[str, Path], tmp_path: Path, busybox_bin: Path
) -> None:
    url, src = served
    if not (busybox_bin / "curl").exists():
        pytest.skip("curl not installed")
    target = _target(tmp_path)
    bb = str(shutil.which("busybox"))
    ok = _run(url, pins_for(src), target, argv0=[bb, "sh"], path=str(busybox_bin))
    assert ok.returncode == 0, ok.stderr
    pins = pins_for(src)
    (src / "001-base.sql").write_text("tampered\n")
    bad = _run(url, pins, target, argv0=[bb, "sh"], path=str(busybox_bin))
    assert bad.returncode == 1
    assert "checksum mismatch for 001-base.sql" in bad.stderr
    assert list(target.iterdir()) == []


def test_schema_pins_module() -> None:
    assert len(schema_pins.SCHEMA_COMMIT) == 40
    url = schema_pins.schema_base_url()
    assert url == (
        "https://raw.githubusercontent.com/o1-labs/mina-perf-testing/"
        f"{schema_pins.SCHEMA_COMMIT}/load-tests-cluster/init-sql"
    )
    text = schema_pins.sha256sums()
    names = [line.split("  ")[1] for line in text.splitlines()]
    assert names == sorted(names)
    assert names[0] == "001-init-schema.sql"
    with pytest.raises(ValueError, match="40-digit"):
        schema_pins.schema_base_url(commit="7da1f2c")
    with pytest.raises(ValueError, match="unsafe"):
        schema_pins.schema_base_url(directory="../x")
    with pytest.raises(ValueError, match="64 lower-case hex"):
        schema_pins.SchemaFile("a.sql", "TODO")
    with pytest.raises(ValueError, match="only"):
        schema_pins.SchemaFile("../a.sql", "a" * 64)
    with pytest.raises(ValueError, match="twice"):
        schema_pins.sha256sums([schema_pins.SchemaFile("a", "a" * 64)] * 2)
