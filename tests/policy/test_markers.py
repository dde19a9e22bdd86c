"""The contract module stands alone: the standard library only, so the policy pack (run with only
`policy/` on `sys.path`) and the janitor (which must not load Pulumi) can both import it. The time
and signal kits (minaperf/rfc3339.py, minaperf/signals.py) stand alone the same way."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from policy import markers

ROOT = Path(__file__).resolve().parents[2]
LOADED = "import json, sys; print(json.dumps(sorted(sys.modules)))"


def loaded_after(statement: str, *, path: Path = ROOT) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"{statement}; {LOADED}"],
        cwd=path,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


def foreign_modules(loaded: set[str], own: str) -> list[str]:
    """What `loaded` holds beyond the standard library and the `own` package (private helpers
    such as `_io` aside)."""
    allowed = sys.stdlib_module_names | {own, "__main__"}
    return sorted(
        name for name in loaded if name.split(".")[0] not in allowed and not name.startswith("_")
    )


def test_the_janitor_loads_no_pulumi() -> None:
    loaded = loaded_after("import scripts.janitor")
    assert "scripts.janitor" in loaded
    pulumi = sorted(name for name in loaded if name.split(".")[0].startswith("pulumi"))
    assert not pulumi, f"importing scripts.janitor loads {pulumi[:5]}"


def test_the_markers_need_only_the_standard_library() -> None:
    loaded = loaded_after("import markers", path=ROOT / "policy")
    foreign = foreign_modules(loaded, "markers")
    assert not foreign, f"policy/markers.py loads {foreign}"


def test_the_time_and_signal_kits_need_only_the_standard_library() -> None:
    loaded = loaded_after("import minaperf.rfc3339, minaperf.signals")
    foreign = foreign_modules(loaded, "minaperf")
    assert not foreign, f"minaperf/rfc3339.py or minaperf/signals.py loads {foreign}"
    assert {name for name in loaded if name.startswith("minaperf")} == {
        "minaperf",
        "minaperf.rfc3339",
        "minaperf.signals",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2031-05-01", dt.datetime(2031, 5, 1, tzinfo=dt.UTC)),
        ("2031-05-01_06-45", dt.datetime(2031, 5, 1, 6, 45, tzinfo=dt.UTC)),
        ("2031-05-01t12-30z", dt.datetime(2031, 5, 1, 12, 30, tzinfo=dt.UTC)),
        ("2031-05-01T123005Z", dt.datetime(2031, 5, 1, 12, 30, 5, tzinfo=dt.UTC)),
        ("2031-05-01 06:45", None),  # labels hold no blank and no `:`
        ("2031-02-30", None),
        ("", None),
        (20310501, None),
    ],
)
def test_parse_expiry_label(text: object, expected: dt.datetime | None) -> None:
    assert markers.parse_expiry_label(text) == expected


def test_the_expiry_label_reads_back() -> None:
    moment = dt.datetime(2031, 5, 1, 6, 45, tzinfo=dt.UTC)
    assert markers.parse_expiry_label(markers.expiry_label(moment)) == moment


def test_the_kept_disk_pattern_matches_the_disk_names_only() -> None:
    pattern = markers.data_disk_pattern("dev")
    named = markers.data_disk_name("dev", "0a1b2c")
    assert re.fullmatch(pattern, named)
    assert re.fullmatch(pattern, "itn-dev-postgres")
    assert not re.fullmatch(pattern, markers.data_disk_name("dev2", "0a1b2c"))
    assert not re.fullmatch(pattern, markers.data_disk_name("dev", "0a1b2"))
