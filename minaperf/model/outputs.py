"""The stack outputs, as every post-deploy tool reads them.

`__main__.py` exports exactly these keys; `scripts.render` writes them to `outputs.json`; `pulumi
stack output --json [--show-secrets]` prints them. Secret outputs appear as the string `[secret]`
when they were not shown, so every secret field also accepts that marker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from minaperf.files import FileInputError, parse_json_text, read_json_file
from minaperf.model.config import stderr_line

SECRET_MARKER = "[secret]"  # noqa: S105 (the marker Pulumi prints, not a secret)

NodeRole = Literal["seed", "block-producer", "plain", "snark-coordinator"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeEndpoint(_Model):
    """One Mina daemon, addressed the way in-cluster tools reach it."""

    name: str = Field(description="Workload name, e.g. `bp-1`")
    role: NodeRole
    public_key: str = Field(alias="publicKey", description="B62 key of the node's own key pair")
    service: str = Field(description="In-cluster DNS name of the node's Service")
    pod: str = Field(description="Pod name (StatefulSet ordinal 0)")
    client_port: int = Field(alias="clientPort")
    graphql_port: int = Field(alias="graphqlPort")
    itn_port: int = Field(alias="itnPort")
    libp2p_port: int = Field(alias="libp2pPort")

    @property
    def client_address(self) -> str:
        return f"{self.service}:{self.client_port}"


class FundingKey(_Model):
    """A funded genesis account the orchestrator pays from (secret as a whole)."""

    public_key: str = Field(alias="publicKey")
    private_key: str = Field(alias="privateKey", description="EK... private key")
    key_file: str = Field(alias="keyFile", description="daemon secret-box key file JSON text")
    password: str


class Workspace(_Model):
    """The orchestrator workspace pod (`kubectl exec` target)."""

    namespace: str
    pod: str
    container: str
    work_dir: str = Field(alias="workDir")
    config_path: str = Field(alias="configPath")
    funding_key_dir: str = Field(alias="fundingKeyDir")
    mina_exec: str = Field(alias="minaExec")
    orchestrator_exec: str = Field(alias="orchestratorExec")


class PostgresEndpoint(_Model):
    host: str = Field(description="In-cluster DNS name")
    port: int
    database: str
    user: str
    external_address: str | None = Field(
        alias="externalAddress", default=None, description="Load balancer address, when known"
    )
    data_disk: str | None = Field(alias="dataDisk", default=None)
    keep_data_on_destroy: bool = Field(alias="keepDataOnDestroy")
    reader_user: str | None = Field(
        alias="readerUser",
        default=None,
        description="Read-only role for connections from outside (TLS only)",
    )
    ca_certificate: str | None = Field(
        alias="caCertificate",
        default=None,
        description="PEM of the server's self-signed TLS certificate: what clients verify "
        "(sslmode=verify-full against `host`)",
    )


class WorkerPool(_Model):
    kind: Literal["gce", "pods"]
    servers: int
    machine_type: str | None = Field(alias="machineType", default=None)
    processes_per_server: int = Field(alias="processesPerServer")
    coordinator_address: str = Field(alias="coordinatorAddress")
    group: str | None = Field(None, description="gce: the managed instance group of the VMs")
    project: str | None = Field(None, description="gce: GCP project of the group")
    zone: str | None = Field(None, description="gce: zone of the group")
    deployment: str | None = Field(None, description="pods: the worker Deployment")
    package_version: str | None = Field(
        None, alias="packageVersion", description="gce: the Mina package version the VMs install"
    )


class LogFetcherShard(_Model):
    """One fetcher shard: its Deployment and, per node it follows, the name the fetcher gives
    the node (its output directory and `node_name` in PostgreSQL)."""

    deployment: str
    nodes: dict[str, str] = Field(description="Node name -> trace name")


class StackOutputs(_Model):
    """Everything downstream tools need, so nobody copies a value by hand."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    experiment: str
    namespace: str
    platform: Literal["gke", "kubernetes"]
    expires_at: str = Field(alias="expiresAt")
    nodes: list[NodeEndpoint]
    seed_multiaddr: str = Field(alias="seedMultiaddr")
    uptime_online_url: str = Field(alias="uptimeOnlineUrl")
    uptime_submit_url: str = Field(alias="uptimeSubmitUrl")
    genesis_timestamp: str = Field(alias="genesisTimestamp")
    slot_duration_ms: int = Field(alias="slotDurationMs")
    proof_level: Literal["full", "check", "none"] = Field(alias="proofLevel")
    fund_daemon_ports: list[str] = Field(alias="fundDaemonPorts")
    orchestrator_key: str = Field(alias="orchestratorKey", description="secret: base64 seed")
    orchestrator_public_key: str = Field(alias="orchestratorPublicKey")
    fetcher_public_key: str = Field(alias="fetcherPublicKey")
    funding_keys: list[FundingKey] | Literal["[secret]"] = Field(alias="fundingKeys")
    workspace: Workspace
    log_api_url: str = Field(alias="logApiUrl")
    log_fetchers: list[LogFetcherShard] = Field(alias="logFetchers", default=[])
    postgres: PostgresEndpoint
    postgres_password: str = Field(alias="postgresPassword", description="secret")
    postgres_reader_password: str | None = Field(
        alias="postgresReaderPassword", default=None, description="secret"
    )
    worker_pool: WorkerPool = Field(alias="workerPool")
    estimated_hourly_cost_usd: float | None = Field(
        alias="estimatedHourlyCostUsd", description="List-price estimate; None if unpriced"
    )
    mock_values: list[str] = Field(
        default=[],
        alias="mockValues",
        description="Written by render only: output paths the mock engine invented (addresses, "
        "the clock, random bytes); never real values",
    )

    @property
    def secrets_shown(self) -> bool:
        return self.orchestrator_key != SECRET_MARKER

    def require_secrets(self) -> None:
        """Fail clearly when a tool needs secrets but was given masked outputs."""
        if not self.secrets_shown or self.funding_keys == SECRET_MARKER:
            raise ValueError(
                "the stack outputs hold masked secrets ([secret]); read them with "
                "`--stack NAME` (uses `pulumi stack output --show-secrets`) or render with "
                "`--show-secrets`"
            )


def load_outputs(path: Path, *, what: str = "--outputs") -> StackOutputs:
    """Read an `outputs.json` written by render or by `pulumi stack output --json`."""
    data = read_json_file(path, what=what)
    if not isinstance(data, dict):
        raise FileInputError(what, f"{path} holds no JSON object; pass the outputs.json file")
    return parse_outputs(data)


def parse_outputs(data: dict[str, Any]) -> StackOutputs:
    return StackOutputs.model_validate(data)


def read_stack_outputs(stack: str, *, show_secrets: bool, cwd: Path | None = None) -> StackOutputs:
    """Read a deployed stack's outputs through the Pulumi CLI."""
    import subprocess

    command = ["pulumi", "stack", "output", "--json", "--stack", stack]
    if show_secrets:
        command.append("--show-secrets")
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    except FileNotFoundError as error:
        raise ValueError(
            "the `pulumi` CLI is not on PATH; install it, or pass `--outputs FILE`"
        ) from error
    if result.returncode != 0:
        raise ValueError(f"`pulumi stack output` failed: {stderr_line(result.stderr)}")
    data = parse_json_text(result.stdout, path="stdout", what="`pulumi stack output --json`")
    if not isinstance(data, dict):
        raise ValueError("`pulumi stack output --json` printed no JSON object; is it a stack?")
    return parse_outputs(data)
