"""The key library stays pure: importing it must not pull in Pulumi (tools use it standalone)."""

import subprocess
import sys
from pathlib import Path

import minaperf.keys

REPO = Path(__file__).resolve().parents[3]


def test_importing_keys_and_genesis_does_not_load_pulumi() -> None:
    code = (
        "import sys, minaperf.keys, minaperf.workloads.genesis; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pulumi'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_public_api_is_exported() -> None:
    for name in minaperf.keys.__all__:
        assert hasattr(minaperf.keys, name), name
    assert callable(minaperf.keys.derive_key_material)
