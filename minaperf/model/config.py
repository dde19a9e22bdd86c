"""What one experiment is: the stack config, validated once.

Every stack key under the `mina-itn:` namespace maps to one field of `ExperimentConfig`. The model
is strict (`extra="forbid"`, frozen) and checks meaning, not only types, so a bad stack fails
before any resource is registered, with one error naming the key path and the fix.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from collections.abc import Collection
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from minaperf.model.machines import machine_shape
from minaperf.rfc3339 import parse_utc
from minaperf.workloads.postgres_access import READER
from policy.markers import GCP_LABEL_KEY, GCP_MAX_LABELS, PROGRAM_GCP_LABELS
from policy.ranges import parse_range, public_width_error

CONFIG_NAMESPACE = "mina-itn"
MAX_MINA_NODES = 250
"""Upper bound on daemons per experiment: the seed issue sizes services for ~200 nodes."""

MIN_WORKER_MEMORY_GIB = 8.0
"""Memory one snark worker process needs (Mina docs, Mesa requirements: 8 GB per worker)."""

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_GCP_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]$")
_GCP_ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+[0-9])-[a-z]$")
_IMAGE = re.compile(
    r"^(?:(?P<registry>[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_QUANTITY_CPU = re.compile(r"^([0-9]+(\.[0-9]+)?|[0-9]+m)$")
_QUANTITY_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti)?$")
_MINA_AMOUNT = re.compile(r"^[0-9]{1,11}(\.[0-9]{1,9})?$")
# GCP labels: keys start with a lowercase letter, keys and values hold lowercase letters, digits,
# '-' and '_', at most 63 characters, 64 labels per resource
# (cloud.google.com/compute/docs/labeling-resources#requirements). The same values also land in
# Kubernetes labels (`mina-itn/<key>`), whose values must begin and end with an alphanumeric
# (kubernetes/apimachinery pkg/util/validation/validation.go: labelValueFmt, LabelValueMaxLength),
# so a value is the intersection of both rules.
_LABEL_VALUE = re.compile(r"^([a-z0-9]([-_a-z0-9]{0,61}[a-z0-9])?)?$")
_KMS_KEY = re.compile(
    r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/locations/(?P<location>[a-z0-9-]+)/keyRings/"
    r"[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$"
)

CONFIG_NAMESPACES = frozenset({"mina-itn", "gcp", "kubernetes", "pulumi"})
"""Namespaces a stack file may use: ours, the two providers' and the engine's."""

SECRET_CONFIG_PATHS = (
    re.compile(r"^keys\.seed$"),
    re.compile(r"^keys\.fundingSeed$"),
    re.compile(r"^keys\.imported\.[^.]+\.password$"),
)
"""Values that must be Pulumi secrets and never appear in an error message."""

MAX_PODS_PER_NODE = 110
"""GKE's default (and the program's) maximum pods per node: each node takes a /24 of the pods
range (cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr, "110 pods -> /24")."""


def _whole_number(value: Any) -> Any:
    """A count is an integer: YAML `20`, a digit string (`pulumi config set` without --type), or
    a float with an integral value (`20.0`). `true` is not 1 and `2.5` is not 2."""
    if isinstance(value, bool | date | datetime):
        raise ValueError(
            f"expects a whole number (e.g. 20), got {_kind(value)}; "
            "integers and integral floats like 20.0 are accepted"
        )
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(
                f"expects a whole number, got {value!r}; "
                "only integral floats like 20.0 are accepted"
            )
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value.strip()):
        return int(value)
    if isinstance(value, str):
        raise ValueError(f"expects a whole number (e.g. 20), got the string {value!r}")
    return value


def _flag(value: Any) -> Any:
    """A switch is `true`/`false` (or the strings Pulumi stores for them), never 1, 0 or 'yes'."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ValueError(f"expects true or false, got {_kind(value)}")


def _kind(value: Any) -> str:
    """What a value is, for messages (its text is shown only for short plain values)."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, datetime | date):
        return "a date/time (quote the timestamp)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _number_text(value: Any) -> Any:
    """Quantities and MINA amounts may be written as YAML numbers (`cpuRequest: 2`)."""
    if isinstance(value, bool):
        raise ValueError(f"expects a quantity, got {_kind(value)}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return format(Decimal(repr(value)), "f")
    return value


def _timestamp_text(value: Any) -> Any:
    if isinstance(value, datetime | date):
        raise ValueError(
            "YAML read an unquoted timestamp as a date/time; quote the timestamp, "
            'e.g. "2026-12-01T12:00:00Z"'
        )
    return value


Count = Annotated[int, BeforeValidator(_whole_number)]
Flag = Annotated[bool, BeforeValidator(_flag)]


def _at(key: str, reason: str) -> ValueError:
    """An error of a model-level check that belongs to one sub-key (see `_first_error`)."""
    return ValueError(f"@{key}@{reason}")


def _dns_label(max_length: int):
    def check(value: str) -> str:
        if len(value) > max_length or not _DNS_LABEL.match(value):
            raise ValueError(
                f"{value!r} is not a valid name: use lowercase letters, digits and '-', "
                f"start with a letter, at most {max_length} characters"
            )
        return value

    return check


def _cidr(value: str) -> str:
    """One reading of a range everywhere (`policy.ranges.parse_range`): an IPv4-mapped range
    is written as the IPv4 range Kubernetes reads it as; an IPv4-compatible one is refused."""
    try:
        network = parse_range(value, strict=True)
    except ValueError as error:
        raise ValueError(
            f"{value!r} is not a CIDR block (e.g. 203.0.113.0/24): {error}; "
            "use the network address with its prefix length"
        ) from None
    return str(network)


def _ipv4_cidr(value: str) -> str:
    """GKE subnet, secondary and control-plane ranges are IPv4 only."""
    if ipaddress.ip_network(value).version != 4:
        raise ValueError(
            f"{value} is an IPv6 range, but GCP needs an IPv4 range here (e.g. 10.10.0.0/20)"
        )
    return value


def _image(value: str) -> str:
    match = _IMAGE.match(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not an image reference; use registry/repository:tag or "
            "registry/repository@sha256:<digest>"
        )
    if match["tag"] is None and match["digest"] is None:
        raise ValueError(f"{value!r} has no tag or digest; pin it (e.g. {value}:1.2.3)")
    if match["tag"] == "latest" and match["digest"] is None:
        raise ValueError(f"{value!r} uses the mutable tag 'latest'; pin a version or a digest")
    return value


def _cpu(value: str) -> str:
    if not _QUANTITY_CPU.match(value) or value in {"0", "0m"}:
        raise ValueError(f"{value!r} is not a CPU quantity; use e.g. '2', '0.5' or '500m'")
    return value


def _memory(value: str) -> str:
    if not _QUANTITY_MEMORY.match(value):
        raise ValueError(f"{value!r} is not a memory quantity; use e.g. '8Gi' or '512Mi'")
    return value


def _amount(value: str) -> str:
    if not _MINA_AMOUNT.match(value):
        raise ValueError(
            f"{value!r} is not a MINA amount; use a decimal string with at most 9 decimals, "
            "e.g. '5000000' or '0.5'"
        )
    return value


def _machine_type(value: str) -> str:
    """A machine type the shape table knows (it names the closest shapes otherwise)."""
    machine_shape(value)
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
Ipv4Cidr = Annotated[str, AfterValidator(_cidr), AfterValidator(_ipv4_cidr)]
Image = Annotated[str, AfterValidator(_image)]
CpuQuantity = Annotated[str, BeforeValidator(_number_text), AfterValidator(_cpu)]
MemoryQuantity = Annotated[str, BeforeValidator(_number_text), AfterValidator(_memory)]
MinaAmount = Annotated[str, BeforeValidator(_number_text), AfterValidator(_amount)]
MachineType = Annotated[str, AfterValidator(_machine_type)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------------------------------------
# Quantities


def cpu_millis(quantity: str) -> int:
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return round(float(quantity) * 1000)


_MEMORY_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def memory_bytes(quantity: str) -> int:
    for unit, factor in _MEMORY_UNITS.items():
        if quantity.endswith(unit):
            return round(float(quantity[: -len(unit)]) * factor)
    return round(float(quantity))


# ---------------------------------------------------------------------------------------------
# Platform


class GkeNetwork(_Model):
    """Address ranges of the experiment's VPC; each experiment gets its own VPC."""

    subnet_cidr: Ipv4Cidr = Field("10.10.0.0/20", alias="subnetCidr")
    pods_cidr: Ipv4Cidr = Field("10.64.0.0/14", alias="podsCidr")
    services_cidr: Ipv4Cidr = Field("10.68.0.0/20", alias="servicesCidr")
    master_cidr: Ipv4Cidr = Field("172.16.0.0/28", alias="masterCidr")

    @model_validator(mode="after")
    def _disjoint(self) -> GkeNetwork:
        ranges = {
            "subnetCidr": self.subnet_cidr,
            "podsCidr": self.pods_cidr,
            "servicesCidr": self.services_cidr,
            "masterCidr": self.master_cidr,
        }
        items = list(ranges.items())
        for index, (name, cidr) in enumerate(items):
            for other_name, other in items[index + 1 :]:
                if ipaddress.ip_network(cidr).overlaps(ipaddress.ip_network(other)):
                    raise _at(other_name, f"{other} overlaps {name} {cidr}; choose disjoint ranges")
        if ipaddress.ip_network(self.master_cidr).prefixlen != 28:
            raise _at("masterCidr", f"{self.master_cidr} must be a /28 (GKE requirement)")
        return self


class NodePoolConfig(_Model):
    machine_type: MachineType = Field(alias="machineType")
    count: Count | None = Field(
        None, ge=1, le=100, description="Machines in the pool; computed from requests when unset"
    )
    spot: Flag = False
    disk_gb: Count = Field(100, alias="diskGb", ge=20, le=4000)


class GkePools(_Model):
    mina: NodePoolConfig = NodePoolConfig(machineType="n2-standard-16")  # type: ignore[call-arg]
    services: NodePoolConfig = NodePoolConfig(machineType="n2-standard-16")  # type: ignore[call-arg]


class GkePlatform(_Model):
    """Creates a VPC, Cloud NAT, a private GKE cluster and its node pools."""

    kind: Literal["gke"]
    project: str = Field(description="GCP project id")
    region: str = Field("us-central1", description="GCP region of the VPC and NAT")
    zone: str = Field(
        "us-central1-a", description="Zone of the (zonal) cluster, worker VMs and data disk"
    )
    network: GkeNetwork = GkeNetwork()  # type: ignore[call-arg]
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = Field(
        "REGULAR", alias="releaseChannel", description="GKE release channel (no pinned version)"
    )
    pools: GkePools = GkePools()
    secrets_kms_key: str | None = Field(
        None,
        alias="secretsKmsKey",
        description="Cloud KMS key for application-layer Secrets encryption: "
        "projects/<p>/locations/<cluster region>/keyRings/<r>/cryptoKeys/<k>",
    )
    docker_hub_mirror: Flag = Field(
        False,
        alias="dockerHubMirror",
        description="Pull Docker Hub images through an Artifact Registry remote repository "
        "in the region (no Docker Hub rate limit on the NAT address)",
    )

    @field_validator("secrets_kms_key")
    @classmethod
    def _kms_key(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_KEY.match(value):
            raise ValueError(
                f"{value!r} is not a Cloud KMS key name; use "
                "projects/<project>/locations/<region>/keyRings/<ring>/cryptoKeys/<key>"
            )
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not _GCP_PROJECT.match(value):
            raise ValueError(
                f"{value!r} is not a GCP project id; set it with "
                "`pulumi config set --path mina-itn:platform.project <your-project-id>`"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _GCP_REGION.match(value):
            raise ValueError(f"{value!r} is not a GCP region (e.g. us-central1)")
        return value

    @model_validator(mode="after")
    def _zone_in_region(self) -> GkePlatform:
        match = _GCP_ZONE.match(self.zone)
        if match is None or match["region"] != self.region:
            raise _at(
                "zone",
                f"{self.zone!r} is not a zone of region {self.region!r}; use e.g. {self.region}-a",
            )
        key = _KMS_KEY.match(self.secrets_kms_key or "")
        if key is not None and key["location"] != self.region:
            raise _at(
                "secretsKmsKey",
                f"is in location {key['location']!r}; GKE needs the key in the cluster's region "
                f"{self.region!r}: create it there",
            )
        return self

    @property
    def cluster_cidrs(self) -> list[str]:
        return [self.network.pods_cidr, self.network.subnet_cidr]


class KubernetesPlatform(_Model):
    """An existing cluster, reached through a kubeconfig (kind on a laptop, a lab cluster)."""

    kind: Literal["kubernetes"]
    kubeconfig: str | None = Field(None, description="Path; default: $KUBECONFIG or ~/.kube/config")
    context: str | None = Field(None, description="kubeconfig context; default: current")
    pod_cidrs: list[Cidr] = Field(
        ["10.0.0.0/8"],
        alias="podCidrs",
        min_length=1,
        description="Pod address ranges: trusted on the daemons' client port",
    )
    storage_class: str | None = Field(
        None, alias="storageClass", description="For PostgreSQL and node data; default class"
    )
    worker_pods: Count = Field(
        2, alias="workerPods", ge=0, le=64, description='Snark worker pods (one per "server")'
    )

    @field_validator("pod_cidrs")
    @classmethod
    def _pods_not_public(cls, value: list[str]) -> list[str]:
        """PostgreSQL admits every role from the pod ranges without TLS (pg_hba `host` lines)."""
        reason = public_width_error(value)
        if reason is not None:
            raise ValueError(
                f"{reason}; PostgreSQL trusts the pod ranges with the superuser, so list only "
                "the cluster's own pod ranges (kind: 10.244.0.0/16)"
            )
        return value


Platform = Annotated[GkePlatform | KubernetesPlatform, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------------------
# Mina network


class NodeCounts(_Model):
    seeds: Count = Field(1, ge=1, description="At least one seed: every other node peers with it")
    block_producers: Count = Field(
        3, alias="blockProducers", ge=1, description="Nodes with stake that produce blocks"
    )
    plain_nodes: Count = Field(
        5, alias="plainNodes", ge=0, description="Nodes that relay and take orchestrator load"
    )
    snark_coordinators: Count = Field(
        1, alias="snarkCoordinators", ge=0, le=1, description="0 or 1; the worker pool feeds it"
    )

    @property
    def total(self) -> int:
        return self.seeds + self.block_producers + self.plain_nodes + self.snark_coordinators

    @model_validator(mode="after")
    def _bounded(self) -> NodeCounts:
        if self.total > MAX_MINA_NODES:
            raise _at(
                "plainNodes",
                f"{self.total} Mina nodes requested; at most {MAX_MINA_NODES} per experiment "
                "(the log fetcher and PostgreSQL are sized for ~200): split it into stacks",
            )
        return self


class Resources(_Model):
    cpu_request: CpuQuantity = Field(alias="cpuRequest")
    memory_request: MemoryQuantity = Field(alias="memoryRequest")
    cpu_limit: CpuQuantity = Field(alias="cpuLimit")
    memory_limit: MemoryQuantity = Field(alias="memoryLimit")

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Resources:
        if cpu_millis(self.cpu_limit) < cpu_millis(self.cpu_request):
            raise _at("cpuLimit", f"{self.cpu_limit} is below cpuRequest {self.cpu_request}")
        if memory_bytes(self.memory_limit) < memory_bytes(self.memory_request):
            raise _at(
                "memoryLimit", f"{self.memory_limit} is below memoryRequest {self.memory_request}"
            )
        return self


def resources_over_defaults(model: type[BaseModel], values: Any) -> Any:
    """A partial resources block (`plain: {memoryRequest: 8Gi}`) merged over that field's
    default, as the config reference gives a default for every key of it."""
    if not isinstance(values, dict):
        return values
    merged = dict(values)
    for name, field in model.model_fields.items():
        key = field.alias or name
        given = values.get(key)
        if isinstance(given, dict) and isinstance(field.default, Resources):
            merged[key] = {**field.default.model_dump(by_alias=True), **given}
    return merged


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources(
        cpuRequest=cpu, memoryRequest=memory, cpuLimit=cpu_limit, memoryLimit=memory_limit
    )


FULL_PROOF_RESOURCES = _resources("4", "16Gi", "8", "16Gi")
"""Every role at proofLevel full or check: the Mina Foundation `mina-daemon` chart's defaults
(requests cpu 4 / memory 16.0Gi, limits cpu 8 / memory 16.0Gi; docs/upstream-facts.md
mina-nodes §6.1, MinaFoundation/helm-charts@8d46fc9 mina-daemon/values.yaml). The chart does not
distinguish roles: a seed or plain node verifies the same proofs and holds the same ledgers and
frontier as a block producer, so a 12Gi limit would be OOM-killed exactly when load makes blocks
large."""
NO_PROOF_RESOURCES = _resources("1", "4Gi", "2", "6Gi")
"""Every role at proofLevel none: no prover or verifier keys are built or held and no proof is
checked, so a daemon needs a fraction of the memory (our kind stack runs 2Gi/4Gi nodes)."""
ROLE_KEYS = ("seed", "blockProducer", "plain", "snarkCoordinator")


class RoleResources(_Model):
    """Per-role daemon resources. Defaults at proofLevel full/check follow the Mina Foundation
    chart for every role: 4 CPU / 16Gi requested, 8 CPU / 16Gi limit. At proofLevel none, roles
    left unset get 1 CPU / 4Gi requested, 2 CPU / 6Gi limit (no proving or verifying keys)."""

    seed: Resources = FULL_PROOF_RESOURCES
    block_producer: Resources = Field(FULL_PROOF_RESOURCES, alias="blockProducer")
    plain: Resources = FULL_PROOF_RESOURCES
    snark_coordinator: Resources = Field(FULL_PROOF_RESOURCES, alias="snarkCoordinator")

    @model_validator(mode="before")
    @classmethod
    def _partial_blocks(cls, values: Any) -> Any:
        return resources_over_defaults(cls, values)


class Images(_Model):
    """Pinned images. The daemon default is the devnet build the perf-testing stack runs with
    ITN features (docs/upstream-facts.md mina-nodes §2.3); a mainnet build cannot fund keys."""

    daemon: Image = "minaprotocol/mina-daemon:4.0.0-6965b50-jammy-devnet"
    orchestrator: Image = "o1labs/mina-perf-testing:orchestrator"
    # The only published tag whose recipe builds ITC with the log-saving fix af84d9c
    # (o1-labs/mina-perf-testing@7da1f2c load-tests-cluster/rebuild-dockers.sh:7,19-20, added in
    # ccf4616 with the submodule at ac5ae8a); `-persistence` dates from ITC cde858b, whose fetch
    # loop discards every log. No public source gives its digest: docs/trace-path.md; the
    # tagged defaults are pinned per stack by `python -m scripts.pin --write`
    # (docs/security.md, "Images").
    log_fetcher: Image = Field(
        "o1labs/mina-perf-testing:internal-trace-consumer-2.0.0", alias="logFetcher"
    )
    uptime_backend: Image = Field(
        "o1labs/mina-perf-testing:in-memory-uptime-backend", alias="uptimeBackend"
    )
    # Digests of the multi-platform index, from docker-library/repo-info
    # (repos/postgres/remote/15.10-bookworm.md, repos/busybox/remote/1.36.1.md) and, for curl,
    # as published in several independent public projects; see docs/security.md, "Images".
    postgres: Image = (
        "postgres:15.10-bookworm"
        "@sha256:06dd85a64e950719a3ee8435ce1bdc32b5f8acf406185d7ff875bcced5817165"
    )
    curl: Image = (
        "curlimages/curl:8.10.1"
        "@sha256:d9b4541e214bcd85196d6e92e2753ac6d0ea699f0af5741f8c6cccbfcf00ef4b"
    )
    busybox: Image = (
        "busybox:1.36.1@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7"
    )


DEBIAN_CODENAMES = frozenset(
    {"buster", "bullseye", "bookworm", "trixie", "focal", "jammy", "noble"}
)
"""Distribution codenames Mina's daemon image tags end in (`<version>-<codename>-<network>`)."""
_DAEMON_TAG = re.compile(
    r"^(?P<version>[0-9][A-Za-z0-9.+~]*(?:-[A-Za-z0-9.+~]+)*?)-(?P<codename>[a-z]+)-(?P<network>[a-z]+)$"
)


def package_of_daemon_image(image: str) -> tuple[str, str] | None:
    """(Debian package, version) built together with a daemon image, from its tag.

    Mina publishes each build as image `minaprotocol/mina-daemon:<version>-<codename>-<network>`
    and package `mina-<network>=<version>` (docs/upstream-facts.md mina-nodes §2.3, §7: image
    `4.0.0-6965b50-jammy-devnet` pairs with `mina-devnet=4.0.0-6965b50`). None when the tag does
    not follow that pattern (or the image is pinned by digest only).
    """
    match = _IMAGE.match(image)
    tag = match["tag"] if match else None
    parts = _DAEMON_TAG.match(tag) if tag else None
    if parts is None or parts["codename"] not in DEBIAN_CODENAMES:
        return None
    return f"mina-{parts['network']}", parts["version"]


class MinaPackage(_Model):
    """The Debian package the worker VMs install. Name and version default to the build of the
    daemon image (images.daemon tag `<version>-<codename>-<network>` -> `mina-<network>`
    `<version>`): the snark-work RPCs are versioned, so workers and coordinator must match."""

    name: str | None = Field(None, description="Default: `mina-<network>` from images.daemon")
    version: str | None = Field(None, description="Default: `<version>` from images.daemon")
    channel: str = "alpha"
    codename: str = "bookworm"
    signing_key_fingerprint: str | None = Field(
        None,
        alias="signingKeyFingerprint",
        description="OpenPGP fingerprint (40 hex) the repository signing key must have; the VM "
        "refuses a key with another one",
    )

    @field_validator("name", "channel", "codename")
    @classmethod
    def _word(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9][a-z0-9.+-]*$", value):
            raise ValueError(f"{value!r} is not a Debian package/channel/codename word")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[0-9][A-Za-z0-9.+~-]*$", value):
            raise ValueError(f"{value!r} is not a Debian version (e.g. 4.0.0-6965b50)")
        return value

    @field_validator("signing_key_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = value.replace(" ", "").upper()
        if not re.fullmatch(r"[0-9A-F]{40}", compact):
            raise ValueError(
                f"{value!r} is not an OpenPGP v4 fingerprint; use the 40 hex digits that "
                "`gpg --show-keys --with-fingerprint` prints"
            )
        return compact


class NetworkParams(_Model):
    slot_duration_ms: Count = Field(180_000, alias="slotDurationMs", ge=10_000, le=600_000)
    proof_level: Literal["full", "check", "none"] = Field("full", alias="proofLevel")
    genesis_timestamp: Annotated[str | None, BeforeValidator(_timestamp_text)] = Field(
        None,
        alias="genesisTimestamp",
        description="RFC 3339 UTC, quoted, in the future; unset: fixed at first deploy, "
        "genesisDelayMinutes after the cluster is ready, and kept on later runs",
    )
    allow_past_genesis: Flag = Field(
        False,
        alias="allowPastGenesis",
        description="Accept a genesisTimestamp in the past: only to keep running a chain that "
        "already started from it",
    )
    genesis_delay_minutes: Count = Field(15, alias="genesisDelayMinutes", ge=3, le=24 * 60)
    block_producer_stake: MinaAmount = Field("5000000", alias="blockProducerStake")
    funding_accounts: Count = Field(2, alias="fundingAccounts", ge=1, le=64)
    funding_balance: MinaAmount = Field("100000000", alias="fundingBalance")
    node_balance: MinaAmount = Field("1000", alias="nodeBalance")
    snark_worker_fee: MinaAmount = Field("0.001", alias="snarkWorkerFee")
    work_selection: Literal["seq", "rand"] = Field("seq", alias="workSelection")
    client_port: Count = Field(8301, alias="clientPort", ge=1024, le=65535)
    libp2p_port: Count = Field(8302, alias="libp2pPort", ge=1024, le=65535)
    graphql_port: Count = Field(3085, alias="graphqlPort", ge=1024, le=65535)
    itn_port: Count = Field(3086, alias="itnPort", ge=1024, le=9999)

    @field_validator("genesis_timestamp")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parse_utc(value)
        return value

    @model_validator(mode="after")
    def _genesis_ahead(self, info: ValidationInfo) -> NetworkParams:
        if self.genesis_timestamp is None or self.allow_past_genesis:
            return self
        now = (info.context or {}).get("now") or datetime.now(UTC)
        moment = parse_utc(self.genesis_timestamp)
        if moment <= now:
            raise _at(
                "genesisTimestamp",
                f"{self.genesis_timestamp} is in the past, so a new chain would start with its "
                "slots already gone; choose a future time (or unset it), or set "
                "network.allowPastGenesis: true to keep running a chain that started then",
            )
        return self

    @model_validator(mode="after")
    def _distinct_ports(self) -> NetworkParams:
        ports = [self.client_port, self.libp2p_port, self.graphql_port, self.itn_port]
        if len(set(ports)) != len(ports):
            raise _at(
                "itnPort", f"clientPort, libp2pPort, graphqlPort and itnPort must differ ({ports})"
            )
        return self


class ImportedKeyConfig(_Model):
    """A Mina key file the user already has (e.g. a funded block producer of an earlier run)."""

    key_file: str = Field(alias="keyFile", description="Path, relative to the project")
    password: str = Field(
        description="Secret: `pulumi config set --secret --path "
        "'mina-itn:keys.imported.<node>.password' ...`"
    )


class KeysConfig(_Model):
    """Where key material comes from. By default every stack derives its own keys from a random
    seed Pulumi keeps in state; these switches reuse or import keys."""

    seed: str | None = Field(
        None,
        description="Secret: base64 of 32 bytes. Reuse another stack's keys "
        "(`python -m scripts.keys new seed`)",
    )
    funding_seed: str | None = Field(
        None,
        alias="fundingSeed",
        description="Secret: base64 of 32 bytes; funding accounts only, reusable across stacks",
    )

    imported: dict[str, ImportedKeyConfig] = Field(
        {},
        description="Node name (e.g. bp-1) -> a user's existing Mina key file to use for that "
        "node instead of a derived key",
    )

    @field_validator("seed", "funding_seed")
    @classmethod
    def _seed(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import base64
        import binascii

        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            raise ValueError(
                "must be base64 of exactly 32 bytes; "
                "create one with `python -m scripts.keys new seed`"
            )
        return value


class WorkerPoolConfig(_Model):
    """Snark workers: on `gke`, bare GCE VMs running N worker processes each (no containers)."""

    servers: Count = Field(2, ge=0, le=64)
    machine_type: MachineType = Field("c2d-highcpu-32", alias="machineType")
    processes_per_server: Count = Field(4, alias="processesPerServer", ge=1, le=256)
    spot: Flag = Field(True, description="Spot VMs (cheaper, may be preempted)")
    disk_gb: Count = Field(50, alias="diskGb", ge=20, le=2000)
    mina_package: MinaPackage = Field(MinaPackage(), alias="minaPackage")  # type: ignore[call-arg]
    pod_resources: Resources = Field(
        _resources("4", "8Gi", "8", "12Gi"),
        alias="podResources",
        description="Per worker process, on the `kubernetes` platform",
    )

    @model_validator(mode="before")
    @classmethod
    def _partial_blocks(cls, values: Any) -> Any:
        return resources_over_defaults(cls, values)

    @model_validator(mode="after")
    def _fits_machine(self) -> WorkerPoolConfig:
        shape = machine_shape(self.machine_type)
        if shape.bare_metal and self.spot:
            raise _at(
                "spot",
                f"{self.machine_type} is a bare metal machine type, which GCE does not offer as "
                "Spot; set workerPool.spot: false or choose a VM machine type",
            )
        if self.processes_per_server > shape.vcpus:
            raise _at(
                "processesPerServer",
                f"{self.processes_per_server} exceeds the "
                f"{shape.vcpus} vCPUs of {self.machine_type}; use at most {shape.vcpus} "
                "(guidance: one process per 8 vCPUs) or a larger machine type",
            )
        most = int(shape.memory_gib // MIN_WORKER_MEMORY_GIB)
        if self.processes_per_server > most:
            raise _at(
                "processesPerServer",
                f"{self.processes_per_server} processes need "
                f"{self.processes_per_server * MIN_WORKER_MEMORY_GIB:g} GiB but "
                f"{self.machine_type} has {shape.memory_gib:g} GiB "
                f"({MIN_WORKER_MEMORY_GIB:g} GiB per worker); use at most {most}",
            )
        return self


class PostgresConfig(_Model):
    disk_gb: Count = Field(1000, alias="diskGb", ge=10, le=65536)
    disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard"] = Field(
        "pd-balanced", alias="diskType"
    )
    database: str = "logs"
    user: str = "postgres"
    allowed_cidrs: list[Cidr] = Field(
        [],
        alias="allowedCidrs",
        description="Who may reach PostgreSQL from outside; empty: the admin CIDRs",
    )
    keep_data_on_destroy: Flag = Field(True, alias="keepDataOnDestroy")
    existing_disk: str | None = Field(
        None,
        alias="existingDisk",
        description="GKE only: attach a disk kept by an earlier stack (its `postgres.dataDisk` "
        "output) instead of creating one",
    )
    resources: Resources = _resources("2", "8Gi", "4", "8Gi")

    @model_validator(mode="before")
    @classmethod
    def _partial_blocks(cls, values: Any) -> Any:
        return resources_over_defaults(cls, values)

    @field_validator("database", "user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", value):
            raise ValueError(f"{value!r} is not a plain PostgreSQL identifier")
        return value

    @field_validator("existing_disk")
    @classmethod
    def _disk(cls, value: str | None) -> str | None:
        if value is not None and not re.match(
            r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/zones/[a-z]+-[a-z]+[0-9]-[a-z]/disks/"
            r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?$",
            value,
        ):
            raise ValueError(
                f"{value!r} is not a disk path; use projects/<project>/zones/<zone>/disks/<name>"
            )
        return value


class AccessConfig(_Model):
    admin_cidrs: list[Cidr] = Field(
        [], alias="adminCidrs", description="Who may reach the cluster API and PostgreSQL"
    )
    allow_public: Flag = Field(
        False,
        alias="allowPublic",
        description="Must be true to allow 0.0.0.0/0 anywhere (never a good idea)",
    )


class MetadataConfig(_Model):
    owner: str = Field("unknown", description="Label value: who to ask about this experiment")
    ttl_hours: Count = Field(48, alias="ttlHours", ge=1, le=24 * 30)
    labels: dict[str, str] = {}

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        if not _LABEL_VALUE.match(value):
            raise ValueError(
                f"{value!r} is not a valid label value: lowercase letters, digits, '-' and '_'"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        room = GCP_MAX_LABELS - len(PROGRAM_GCP_LABELS)
        if len(value) > room:
            raise ValueError(
                f"{len(value)} labels; GCP allows {GCP_MAX_LABELS} per resource and the program "
                f"sets {len(PROGRAM_GCP_LABELS)} ({', '.join(PROGRAM_GCP_LABELS)}), "
                f"so use at most {room}"
            )
        for key, item in value.items():
            if not GCP_LABEL_KEY.match(key):
                raise ValueError(
                    f"label key {key!r}: start with a lowercase letter, then lowercase letters, "
                    "digits, '-' or '_', at most 63 characters"
                )
            if not isinstance(item, str) or not _LABEL_VALUE.match(item):
                raise ValueError(
                    f"label {key}={item!r}: a value holds lowercase letters, digits, '-' and '_', "
                    "begins and ends with a letter or digit, at most 63 characters"
                )
            if key in PROGRAM_GCP_LABELS:
                raise ValueError(f"label key {key!r} is set by the program; choose another key")
        return value


ROLE_PREFIXES = {
    "seed": "seed",
    "block-producer": "bp",
    "plain": "node",
    "snark-coordinator": "coordinator",
}
"""Daemon names are `<prefix>-<n>`, counted from 1 per role."""


def node_names(counts: NodeCounts) -> list[tuple[str, str]]:
    """Every daemon as (name, role), in a stable order."""
    per_role = {
        "seed": counts.seeds,
        "block-producer": counts.block_producers,
        "plain": counts.plain_nodes,
        "snark-coordinator": counts.snark_coordinators,
    }
    return [
        (f"{ROLE_PREFIXES[role]}-{index}", role)
        for role, count in per_role.items()
        for index in range(1, count + 1)
    ]


def _natural(name: str) -> tuple[str, int]:
    prefix, _, number = name.rpartition("-")
    return prefix, int(number)


class ExperimentConfig(_Model):
    """The whole experiment. Defaults reproduce the seed issue's topology: 1 seed, 3 block
    producers, 5 plain nodes, 1 snark coordinator, and a small worker pool."""

    name: Annotated[str, AfterValidator(_dns_label(30))] = Field(
        description="The stack name; names the namespace and cloud resources"
    )
    platform: Platform
    nodes: NodeCounts = NodeCounts()  # type: ignore[call-arg]
    resources: RoleResources = RoleResources()  # type: ignore[call-arg]
    images: Images = Images()  # type: ignore[call-arg]
    network: NetworkParams = NetworkParams()  # type: ignore[call-arg]
    keys: KeysConfig = KeysConfig()  # type: ignore[call-arg]
    worker_pool: WorkerPoolConfig = Field(WorkerPoolConfig(), alias="workerPool")  # type: ignore[call-arg]
    postgres: PostgresConfig = PostgresConfig()  # type: ignore[call-arg]
    access: AccessConfig = AccessConfig()  # type: ignore[call-arg]
    metadata: MetadataConfig = MetadataConfig()  # type: ignore[call-arg]

    @model_validator(mode="before")
    @classmethod
    def _resources_for_proof_level(cls, values: Any) -> Any:
        """At proofLevel none, roles without explicit resources get the small defaults."""
        if not isinstance(values, dict):
            return values
        network = values.get("network")
        if not isinstance(network, dict) or network.get("proofLevel") != "none":
            return values
        resources = values.get("resources") or {}
        if not isinstance(resources, dict):
            return values
        small = NO_PROOF_RESOURCES.model_dump(by_alias=True)
        given = {key: resources.get(key, {}) for key in ROLE_KEYS}
        filled = {
            key: {**small, **value} if isinstance(value, dict) else value
            for key, value in given.items()
        }
        return {**values, "resources": {**resources, **filled}}

    @model_validator(mode="after")
    def _worker_package_matches_daemon(self) -> ExperimentConfig:
        """Fill the worker package from the daemon image, or refuse a hand-set mismatch."""
        package = self.worker_pool.mina_package
        derived = package_of_daemon_image(self.images.daemon)
        if derived is None:
            if self.worker_pool.servers and (package.name is None or package.version is None):
                raise _at(
                    "workerPool.minaPackage.version",
                    f"cannot derive the worker package from images.daemon {self.images.daemon!r} "
                    "(its tag is not <version>-<codename>-<network>); set "
                    "workerPool.minaPackage.name and .version to the same build",
                )
            return self
        name, version = derived
        for key, given, wanted in (
            ("name", package.name, name),
            ("version", package.version, version),
        ):
            if given is not None and given != wanted:
                raise _at(
                    f"workerPool.minaPackage.{key}",
                    f"{given!r} does not match images.daemon {self.images.daemon!r}, which is "
                    f"{key} {wanted!r}: the snark-work RPCs are versioned, so workers and the "
                    f"coordinator must run one build; unset workerPool.minaPackage.{key} to "
                    "follow the daemon image, or pin both to the same build",
                )
        paired = package.model_copy(update={"name": name, "version": version})
        pool = self.worker_pool.model_copy(update={"mina_package": paired})
        object.__setattr__(self, "worker_pool", pool)
        return self

    @model_validator(mode="after")
    def _no_public_unless_allowed(self) -> ExperimentConfig:
        """Judge the address space a set of ranges covers, not its spelling. PostgreSQL is never
        public, whatever `access.allowPublic` says."""
        never_public = [
            (
                "postgres.allowedCidrs",
                self.postgres.allowed_cidrs,
                "PostgreSQL is never public: list only your own ranges",
            )
        ]
        if not self.postgres.allowed_cidrs:
            never_public.append(
                (
                    "access.adminCidrs",
                    self.access.admin_cidrs,
                    "PostgreSQL (which defaults to these ranges) is never public: set "
                    "postgres.allowedCidrs to your own ranges",
                )
            )
        for path, cidrs, fix in never_public:
            reason = public_width_error(cidrs)
            if reason is not None:
                raise _at(path, f"{reason}; {fix}, whatever access.allowPublic says")
        if self.access.allow_public:
            return self
        reason = public_width_error(self.access.admin_cidrs)
        if reason is not None:
            raise _at(
                "access.adminCidrs",
                f"{reason}; list your own ranges, or set access.allowPublic: true if you really "
                "mean it",
            )
        return self

    @model_validator(mode="after")
    def _postgres_roles_and_ranges(self) -> ExperimentConfig:
        """pg_hba admits every role without TLS from the pod ranges and only the read-only role
        over TLS from anywhere else (minaperf/workloads/postgres_access.py): a range PostgreSQL is
        reached from outside must not be a pod range, and the superuser must not be that role."""
        if self.postgres.user == READER:
            raise _at(
                "postgres.user",
                f"{READER!r} is the read-only role the program creates; choose another "
                "superuser name (default postgres)",
            )
        path = "postgres.allowedCidrs" if self.postgres.allowed_cidrs else "access.adminCidrs"
        for cidr in self.postgres_cidrs:
            outside = ipaddress.ip_network(cidr)
            for pod in self.pod_ranges:
                if outside.overlaps(ipaddress.ip_network(pod)):  # type: ignore[arg-type]
                    raise _at(
                        path,
                        f"{cidr} overlaps the pod range {pod}, from which PostgreSQL admits the "
                        "superuser without TLS; list only ranges outside the cluster's pods",
                    )
        return self

    @model_validator(mode="after")
    def _platform_specifics(self) -> ExperimentConfig:
        if isinstance(self.platform, GkePlatform) and not self.access.admin_cidrs:
            raise _at(
                "access.adminCidrs",
                "is empty, but the GKE control plane only answers listed ranges; add the ranges "
                "that run pulumi and kubectl (e.g. your address as x.y.z.w/32)",
            )
        if isinstance(self.platform, KubernetesPlatform) and self.postgres.existing_disk:
            raise _at(
                "postgres.existingDisk",
                "is only supported on platform.kind gke; on kubernetes the "
                "data stays in the retained namespace's PersistentVolumeClaim",
            )
        if isinstance(self.platform, GkePlatform) and self.postgres.existing_disk:
            zone = self.postgres.existing_disk.split("/")[3]
            if zone != self.platform.zone:
                raise _at(
                    "postgres.existingDisk",
                    f"is in zone {zone} but the cluster is in "
                    f"{self.platform.zone}; a zonal disk can only attach in its own zone",
                )
        known = {name for name, _ in node_names(self.nodes)}
        for node in self.keys.imported:
            if node not in known:
                raise _at(
                    f"keys.imported.{node}",
                    f"no node named {node!r} in this topology; nodes are "
                    f"{', '.join(sorted(known, key=_natural))}",
                )
        if self.worker_pool.servers > 0 and self.nodes.snark_coordinators == 0:
            raise _at(
                "workerPool.servers",
                "> 0 needs a snark coordinator (nodes.snarkCoordinators: 1), "
                "or set workerPool.servers: 0",
            )
        return self

    @property
    def namespace(self) -> str:
        return f"itn-{self.name}"

    @property
    def postgres_cidrs(self) -> list[str]:
        return self.postgres.allowed_cidrs or self.access.admin_cidrs

    @property
    def pod_ranges(self) -> list[str]:
        """The cluster's pod ranges: where in-cluster clients connect from."""
        if isinstance(self.platform, GkePlatform):
            return [self.platform.network.pods_cidr]
        return list(self.platform.pod_cidrs)


# ---------------------------------------------------------------------------------------------
# Loading and errors


class ConfigError(Exception):
    """A bad stack config: `key` is the dotted config path, `reason` says what to do."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{one_line(key)}: {one_line(reason)}")
        self.key = key
        self.reason = reason


def one_line(text: str) -> str:
    """`text` safe to print as one line: characters that break or hide a line (newlines, NEL,
    U+2028, controls) are shown escaped, so a hostile key name cannot add lines to an error."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def stderr_line(stderr: str) -> str:
    """The one line of a tool's stderr worth relaying: its first `error:` line (the Pulumi CLI
    and gcloud print one), else its first non-blank line; shown as `one_line`."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = next((line for line in lines if line.lower().startswith("error")), None)
    return one_line(chosen or (lines[0] if lines else "(no message)"))


def _wire_path(loc: tuple[int | str, ...]) -> str:
    """Dotted config path from a pydantic error location (discriminator tags dropped)."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        elif item in {"gke", "kubernetes"} and parts and parts[-1] == "platform":
            continue
        else:
            parts.append(str(item))
    return ".".join(parts) if parts else "(top level)"


def is_secret_path(path: str) -> bool:
    """A config path whose value is a secret (`keys.seed`, an imported key's password...)."""
    return any(pattern.match(path) for pattern in SECRET_CONFIG_PATHS)


REMOVED_KEYS = {
    "dashboard": "removed: no dashboard image can show this deployment's traces "
    "(docs/trace-path.md, 'No dashboard'); delete the key",
    "images.dashboard": "removed with the dashboard; delete the key",
    "images.experimentsApi": "removed with the dashboard; delete the key",
}
"""Keys earlier versions accepted, with why they are gone (instead of "unknown key")."""

INERT_REMOVED_VALUES = {"dashboard": ({"enabled": False}, {})}
"""Removed keys whose value asks for nothing: a stack file written for an earlier release keeps
working with them, after a warning (any other value is the REMOVED_KEYS error)."""
_warned: set[str] = set()


def config_warning(message: str) -> None:
    """Print `warning: <message>` on stderr, once per process: a render validates the config
    before the program runs and the program validates it again."""
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {one_line(message)}", file=sys.stderr)


def _without_inert_removed(values: dict[str, Any]) -> dict[str, Any]:
    kept = dict(values)
    for key, inert in INERT_REMOVED_VALUES.items():
        if key in kept and kept[key] in inert:
            del kept[key]
            config_warning(f"{key}: {REMOVED_KEYS[key]}; ignored because it asks for nothing")
    return kept


def _first_error(error: ValidationError) -> ConfigError:
    detail = error.errors(include_url=False)[0]
    secret = is_secret_path(_wire_path(tuple(detail["loc"])))
    message = str(detail["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if detail["type"] == "extra_forbidden":
        message = REMOVED_KEYS.get(
            _wire_path(tuple(detail["loc"])),
            "unknown key; check the spelling against the config reference in docs/config.md",
        )
    elif detail["type"] == "missing":
        message = "required key is missing"
    elif detail["type"] == "union_tag_invalid":
        message = "platform.kind must be 'gke' or 'kubernetes'"
    elif detail["type"] == "union_tag_not_found":
        message = "set kind: 'gke' (create a cluster) or 'kubernetes' (use an existing one)"
    elif secret:
        # Never echo a secret, even one of the wrong type (`keys.seed: 123456789`).
        message = f"{message.split(',')[0]}; the value is not shown because it is a secret"
    elif detail["type"] not in {"value_error", "assertion_error"} and "input" in detail:
        message = f"{message} (got {_kind(detail['input'])})"
    loc = tuple(detail["loc"])
    if message.startswith("@"):
        sub_key, _, message = message[1:].partition("@")
        loc = (*loc, *sub_key.split("."))
    return ConfigError(_wire_path(loc), message)


def validate_model(
    name: str,
    values: dict[str, Any],
    *,
    secret_paths: Collection[str] | None = None,
    now: datetime | None = None,
) -> ExperimentConfig:
    """Validate the stack's `mina-itn:*` values (namespace already stripped) against the model.

    The sizing rules (does the experiment fit its pools?) run on top of this in
    `minaperf.model.load.parse_config`; the model itself knows nothing about them.
    `secret_paths` are the config paths the engine holds as secrets (a top-level key such as
    `keys` covers everything under it); when given, secret values in plain text are refused.
    `now` judges `network.genesisTimestamp` (default: the clock).
    """
    if "name" in values:
        raise ConfigError("name", "is the stack name and cannot be set in config")
    values = _without_inert_removed(values)
    try:
        config = ExperimentConfig.model_validate(
            {"name": name, **values}, context={"now": now or datetime.now(UTC)}
        )
    except ValidationError as error:
        raise _first_error(error) from None
    except RecursionError:
        raise ConfigError("(top level)", "the config is nested too deeply") from None
    if secret_paths is not None:
        _require_secrets(config, secret_paths)
    return config


def _require_secrets(config: ExperimentConfig, secret_paths: Collection[str]) -> None:
    """Seeds and key passwords must be stored encrypted by Pulumi, never in the stack file."""

    def covered(path: str) -> bool:
        parts = path.split(".")
        return any(".".join(parts[:end]) in secret_paths for end in range(1, len(parts) + 1))

    present = [
        ("keys.seed", config.keys.seed is not None),
        ("keys.fundingSeed", config.keys.funding_seed is not None),
        *((f"keys.imported.{node}.password", True) for node in config.keys.imported),
    ]
    for path, is_set in present:
        if is_set and not covered(path):
            raise ConfigError(
                path,
                "is a secret but is stored in plain text; remove it and set it with "
                f"`pulumi config set --secret --path 'mina-itn:{path}' <value>`",
            )


def _decode(value: Any) -> Any:
    """Structured values reach a program as JSON text; plain strings stay strings."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def check_namespace(key: str) -> None:
    """A stack key under a namespace nobody reads would be silently ignored: refuse it.

    The Pulumi CLI itself refuses a key without a namespace in a stack file
    (pulumi/pulumi sdk/go/common/resource/config/key.go, ParseKey: "configuration keys should be
    of the form `<namespace>:<name>`").
    """
    namespace, sep, name = key.partition(":")
    if not sep:
        raise ConfigError(
            key,
            f"has no namespace, so nothing reads it; did you mean {CONFIG_NAMESPACE}:{key}?",
        )
    if namespace not in CONFIG_NAMESPACES:
        known = ", ".join(f"{n}:" for n in sorted(CONFIG_NAMESPACES))
        raise ConfigError(
            key,
            f"unknown namespace {namespace!r} (known: {known}), so nothing reads it; "
            f"did you mean {CONFIG_NAMESPACE}:{name}?",
        )


def prepare_values(config: dict[str, Any]) -> dict[str, Any]:
    """This project's values out of a flat `namespace:key` config map, ready for
    `minaperf.model.load.parse_config`.

    Keys of other namespaces belong to providers or the engine; the one borrowed is
    `gcp:project`, the usual place for a GCP project, when `platform.project` is not set.
    """
    prefix = f"{CONFIG_NAMESPACE}:"
    for key in config:
        check_namespace(key)
    values = {
        key.removeprefix(prefix): _decode(value)
        for key, value in config.items()
        if key.startswith(prefix)
    }
    platform = values.get("platform")
    project = _decode(config.get("gcp:project"))
    if isinstance(platform, dict) and platform.get("kind") == "gke" and "project" not in platform:
        if project is None:
            raise ConfigError(
                "platform.project",
                "no GCP project: run `pulumi config set gcp:project <your-project-id>`",
            )
        values["platform"] = {**platform, "project": project}
    return values
