"""Bad input that once ended in a traceback or showed what it must not: one line each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from minaperf.model.stack_file import _placeholder
from scripts import render, report


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_ctrl_c_during_render_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(**_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "read_stack_input", interrupted)
    assert render.main(["--stack", "dev", "--out", "never"]) == 130
    assert _one_line(capsys).startswith("error: interrupted; ")


@pytest.mark.parametrize(
    ("records", "says"),
    [
        ({"urn": "x"}, "is not a list of resource records"),
        ([{"urn": "u", "type": 1, "name": "n"}], "record 0 is not a resource record"),
        ([{"urn": "u", "type": "t"}], "record 0 is not a resource record"),
        ([{"urn": "u", "type": "t", "name": "n", "inputs": [1]}], "record 0: inputs is not"),
        (["x"], "record 0 is not a resource record"),
    ],
)
def test_diff_against_records_of_the_wrong_types_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], records: object, says: str
) -> None:
    (tmp_path / "resources.json").write_text(json.dumps(records))
    assert render.main(["--stack", "dev", "--diff", str(tmp_path)]) == 2
    assert says in _one_line(capsys)


def test_an_encrypted_values_stand_in_is_never_shown_as_the_users(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "Pulumi.enc.yaml"
    document = yaml.safe_load((Path(render.ROOT) / "Pulumi.dev.yaml").read_text())
    document["config"].setdefault("mina-itn:metadata", {})["owner"] = {"secure": "v1:abc"}
    stack.write_text(yaml.safe_dump(document))
    assert render.main(["--config", str(stack), "--out", str(tmp_path / "o")]) == 2
    err = _one_line(capsys)
    assert err.startswith("config error: metadata")
    assert _placeholder("enc", "mina-itn:metadata.owner") not in err
    assert "[secret]" in err or "not shown" in err


@pytest.mark.parametrize("host", ["a" * 100_000, "", "db host", "x\ny"])
def test_a_db_host_that_is_no_host_is_one_line(
    capsys: pytest.CaptureFixture[str], host: str
) -> None:
    code = report.main(["--run", "r", "--outputs", "o.json", "--db-host", host])
    assert code == 2
    assert "--db-host" in _one_line(capsys)
