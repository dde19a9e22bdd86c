"""The orchestrator's `config.json`, built from the stack outputs.

Field names and rules follow the Go struct `OrchestratorConfig` (perf-services §1.2): the key is a
base64 32-byte Ed25519 seed, `genesisTimestamp` is RFC3339, and exactly one discovery method is set.
We only ever use `onlineURL` (the in-memory uptime backend), so `aws` is never written.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minaperf.model.outputs import SECRET_MARKER, StackOutputs
from minaperf.rfc3339 import parse

LOG_FILE_NAME = "orchestrator-logfile.log"
CONFIG_FILE_NAME = "orchestrator-config.json"

LogLevel = Literal["debug", "info", "warn", "error", "dpanic", "panic", "fatal"]


class AwsDiscovery(BaseModel):
    """S3 discovery; modelled only so the exactly-one rule can be checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    region: str
    account_id: str
    prefix: str


class OrchestratorConfig(BaseModel):
    """Exactly the keys the orchestrator decodes; anything else would be silently ignored by it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    key: str = Field(description="base64 of the 32-byte Ed25519 seed (secret)")
    online_url: str | None = Field(default=None, alias="onlineURL")
    aws: AwsDiscovery | None = None
    fund_daemon_ports: list[str] = Field(default_factory=list, alias="fundDaemonPorts")
    mina_exec: str = Field(alias="minaExec")
    slot_duration_ms: int = Field(alias="slotDurationMs", gt=0)
    genesis_timestamp: str = Field(alias="genesisTimestamp")
    log_file: str = Field(alias="logFile")
    log_level: LogLevel = Field(default="info", alias="logLevel")
    url_overrides: list[str] = Field(default_factory=list, alias="urlOverrides")

    @field_validator("key")
    @classmethod
    def _key_is_seed(cls, value: str) -> str:
        if value == SECRET_MARKER:
            raise ValueError(
                "is masked ([secret]); read outputs with --stack NAME or render with --show-secrets"
            )
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("must be standard padded base64 of a 32-byte Ed25519 seed") from error
        if len(raw) != 32:
            raise ValueError(f"must decode to exactly 32 bytes (an Ed25519 seed), got {len(raw)}")
        return value

    @field_validator("genesis_timestamp")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        parse(value)
        return value

    @field_validator("fund_daemon_ports")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for entry in value:
            host, sep, port = entry.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{entry!r} is not host:port (a daemon client-RPC address)")
        return value

    @model_validator(mode="after")
    def _one_discovery(self) -> OrchestratorConfig:
        if (self.online_url is None) == (self.aws is None):
            raise ValueError("set exactly one of onlineURL and aws (the orchestrator exits 11)")
        return self

    def to_json_dict(self, *, show_secrets: bool) -> dict[str, Any]:
        """The wire form; `urlOverrides`/`aws` only when set, the key masked unless asked."""
        data = self.model_dump(by_alias=True, exclude_none=True)
        if not self.url_overrides:
            data.pop("urlOverrides", None)
        if not show_secrets:
            data["key"] = SECRET_MARKER
        return data


def build_config(outputs: StackOutputs, run_dir: str | PurePath) -> OrchestratorConfig:
    """Derive the config from the outputs; `run_dir` is where the orchestrator runs (log file)."""
    return OrchestratorConfig(
        key=outputs.orchestrator_key,
        onlineURL=outputs.uptime_online_url,
        fundDaemonPorts=list(outputs.fund_daemon_ports),
        minaExec=outputs.workspace.mina_exec,
        slotDurationMs=outputs.slot_duration_ms,
        genesisTimestamp=outputs.genesis_timestamp,
        logFile=str(PurePosixPath(str(run_dir)) / LOG_FILE_NAME),
        logLevel="info",
    )


def default_run_dir(outputs: StackOutputs) -> PurePosixPath:
    """Where `config` places the log file when no run directory is given."""
    return PurePosixPath(outputs.workspace.work_dir) / "runs" / "current"


def config_text(config: OrchestratorConfig, *, show_secrets: bool) -> str:
    return json.dumps(config.to_json_dict(show_secrets=show_secrets), indent=2) + "\n"


def write_secret_file(path: Path, text: str) -> None:
    """Create the file 0600 from the start, so the key is never readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
