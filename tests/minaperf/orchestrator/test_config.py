from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from minaperf.keys.itn import ItnKey
from minaperf.model.outputs import parse_outputs
from minaperf.orchestrator.config import (
    OrchestratorConfig,
    build_config,
    config_text,
    write_secret_file,
)
from minaperf.rfc3339 import parse
from tests.fakes.outputs_fixture import ORCHESTRATOR_KEY, make_outputs


def test_config_from_outputs_has_the_orchestrator_fields() -> None:
    outputs = parse_outputs(make_outputs())
    config = build_config(outputs, "/work/runs/r1")
    data = json.loads(config_text(config, show_secrets=True))
    assert set(data) == {
        "key",
        "onlineURL",
        "fundDaemonPorts",
        "minaExec",
        "slotDurationMs",
        "genesisTimestamp",
        "logFile",
        "logLevel",
    }
    assert ItnKey.from_secret_b64(data["key"]).public_b64 == outputs.orchestrator_public_key
    assert data["onlineURL"] == outputs.uptime_online_url
    assert data["fundDaemonPorts"] == [n.client_address for n in outputs.nodes]
    assert data["minaExec"] == outputs.workspace.mina_exec
    assert data["logFile"].startswith("/work/runs/r1/")


def test_key_is_masked_unless_asked() -> None:
    config = build_config(parse_outputs(make_outputs()), "/r")
    assert json.loads(config_text(config, show_secrets=False))["key"] == "[secret]"
    assert ORCHESTRATOR_KEY not in config_text(config, show_secrets=False)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("c2hvcnQ=", "32 bytes"),
        ("not base64!", "base64"),
        ("A" * 86 + "==", "32 bytes"),  # a 64-byte expanded key is not a seed
    ],
)
def test_bad_key_names_the_field(key: str, why: str) -> None:
    with pytest.raises(ValidationError) as info:
        build_config(parse_outputs(make_outputs(orchestrator_key=key)), "/r")
    assert info.value.errors()[0]["loc"] == ("key",)
    assert why in str(info.value)


def test_exactly_one_discovery_method() -> None:
    base = {
        "key": ORCHESTRATOR_KEY,
        "minaExec": "mina",
        "slotDurationMs": 1000,
        "genesisTimestamp": "2024-01-01T00:00:00Z",
        "logFile": "/x",
    }
    with pytest.raises(ValidationError, match="exactly one"):
        OrchestratorConfig.model_validate(base)
    aws = {"region": "r", "account_id": "1", "prefix": "p"}
    with pytest.raises(ValidationError, match="exactly one"):
        OrchestratorConfig.model_validate({**base, "onlineURL": "http://x", "aws": aws})
    OrchestratorConfig.model_validate({**base, "aws": aws})


@pytest.mark.parametrize(
    "value", ["2024-01-01", "2024-01-01T00:00:00", "yesterday", "2024-13-01T00:00:00Z"]
)
def test_genesis_must_be_rfc3339(value: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse(value)


def test_rfc3339_accepts_offsets_and_fractions() -> None:
    parse("2024-01-01T00:00:00.123456789Z"[:26] + "Z")
    parse("2024-01-01T00:00:00+02:00")


def test_secret_file_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    write_secret_file(path, "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_url_overrides_only_when_set() -> None:
    config = build_config(parse_outputs(make_outputs()), "/r")
    with_overrides = config.model_copy(update={"url_overrides": ["node-{}.example"]})
    assert "urlOverrides" not in config.to_json_dict(show_secrets=False)
    assert with_overrides.to_json_dict(show_secrets=False)["urlOverrides"] == ["node-{}.example"]
