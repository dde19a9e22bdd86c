"""Write a render's GCP resources as Terraform, for checkov's Terraform (CIS GCP) checks.

pulumi-gcp's inputs are terraform-provider-google's arguments in camelCase, so `DIR/<stack>.tf`
holds one `resource` per GCP resource of `resources.json`; each check a component states it does
not meet is written as checkov's skip comment with its reason.
See docs/security.md#gcp-resources-against-the-cis-benchmark.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from components.platform import CLUSTER_SCAN_EXCEPTIONS, SUBNET_SCAN_EXCEPTIONS
from components.postgres import DISK_SCAN_EXCEPTIONS
from components.worker_pool import template_scan_exceptions
from minaperf.files import FileInputError, read_regular_file
from scripts.cli import OneLineParser, bad_input

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"


TERRAFORM_TYPES = {
    CLUSTER: "google_container_cluster",
    NODE_POOL: "google_container_node_pool",
    "gcp:compute/instance:Instance": "google_compute_instance",
    "gcp:compute/instanceTemplate:InstanceTemplate": "google_compute_instance_template",
    "gcp:compute/instanceGroupManager:InstanceGroupManager": (
        "google_compute_instance_group_manager"
    ),
    "gcp:compute/firewall:Firewall": "google_compute_firewall",
    "gcp:compute/network:Network": "google_compute_network",
    "gcp:compute/subnetwork:Subnetwork": "google_compute_subnetwork",
    "gcp:compute/router:Router": "google_compute_router",
    "gcp:compute/routerNat:RouterNat": "google_compute_router_nat",
    "gcp:compute/address:Address": "google_compute_address",
    "gcp:compute/disk:Disk": "google_compute_disk",
    "gcp:compute/forwardingRule:ForwardingRule": "google_compute_forwarding_rule",
    "gcp:serviceaccount/account:Account": "google_service_account",
    "gcp:projects/iAMMember:IAMMember": "google_project_iam_member",
    "gcp:projects/service:Service": "google_project_service",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "google_kms_crypto_key_iam_member",
}
"""Pulumi type -> the terraform-provider-google resource it wraps (pulumi-gcp's schema)."""

REPEATED_BLOCKS = {
    "allows": "allow",
    "denies": "deny",
    "disks": "disk",
    "networkInterfaces": "network_interface",
    "accessConfigs": "access_config",
    "ipv6AccessConfigs": "ipv6_access_config",
    "aliasIpRanges": "alias_ip_range",
    "guestAccelerators": "guest_accelerator",
    "versions": "version",
    "namedPorts": "named_port",
    "secondaryIpRanges": "secondary_ip_range",
    "maintenanceExclusions": "maintenance_exclusion",
    "cidrBlocks": "cidr_blocks",
    "nodePools": "node_pool",
}
"""A repeated Terraform block as pulumi-gcp names it (pluralised, unless Terraform's name already
is) -> Terraform's name. A list of objects under any other name is refused, not guessed: a wrong
name would hide the block from every check that reads it (CKV_GCP_40 reads
network_interface.access_config)."""

MAP_ARGUMENTS = frozenset(
    {"labels", "resourceLabels", "metadata", "resourceManagerTags", "userLabels"}
)
"""Map-typed arguments (TypeMap in the provider): written as maps, never as blocks."""


def _always(reasons: dict[str, str]) -> Callable[[Mapping[str, Any]], dict[str, str]]:
    return lambda _inputs: reasons


GCP_SCAN_EXCEPTIONS: dict[str, Callable[[Mapping[str, Any]], dict[str, str]]] = {
    "gcp:container/cluster:Cluster": _always(CLUSTER_SCAN_EXCEPTIONS),
    "gcp:compute/subnetwork:Subnetwork": _always(SUBNET_SCAN_EXCEPTIONS),
    "gcp:compute/disk:Disk": _always(DISK_SCAN_EXCEPTIONS),
    "gcp:compute/instanceTemplate:InstanceTemplate": template_scan_exceptions,
}
"""Pulumi type -> (inputs -> {check id: the reason the program does not meet it})."""

REFERENCES = {
    "network": ("google_compute_network", "id"),
    "subnetwork": ("google_compute_subnetwork", "id"),
    "router": ("google_compute_router", "name"),
    "cluster": ("google_container_cluster", "name"),
}
"""Arguments that name another resource: the type they name and the attribute they take. Written
as a Terraform reference, so checkov's graph checks (CKV2_*) see the connection."""

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_NAME = re.compile(r"[^A-Za-z0-9_-]")


class ScanInputError(ValueError):
    """resources.json is not what scripts.render writes."""


def snake(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


def _value(value: Any, indent: str) -> str:
    """A Terraform (HCL) expression for a JSON value; JSON's literals are HCL's."""
    if isinstance(value, Mapping):
        inner = "".join(
            f"{indent}  {json.dumps(str(k))} = {_value(v, indent + '  ')}\n"
            for k, v in value.items()
        )
        return "{\n" + inner + indent + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v, indent) for v in value) + "]"
    text = json.dumps(value)
    # `${` and `%{` start template sequences in an HCL string; `$${` and `%%{` are literal.
    return text.replace("${", "$${").replace("%{", "%%{") if isinstance(value, str) else text


Names = Mapping[tuple[str, str], str]
"""(terraform type, the resource's GCP name) -> its Terraform resource name."""


def _reference(key: str, value: Any, names: Names) -> str | None:
    """`google_compute_network.<name>.id` when `value` names a scanned resource (by its name or a
    path ending in it, as the provider accepts both)."""
    target = REFERENCES.get(key)
    if target is None or not isinstance(value, str):
        return None
    resource = names.get((target[0], value.rstrip("/").rsplit("/", 1)[-1]))
    return f"{target[0]}.{resource}.{target[1]}" if resource else None


def _body(inputs: Mapping[str, Any], indent: str, names: Names) -> list[str]:
    """Each input as its Terraform argument: pulumi-gcp is generated from terraform-provider-google,
    so an input is the provider's argument under another spelling (`masterAuthorizedNetworksConfig`
    is `master_authorized_networks_config`); a nested object is a block, written once."""
    lines = []
    for key, value in inputs.items():
        name = snake(key)
        if value is None:
            continue
        reference = _reference(key, value, names)
        if reference is not None:
            lines.append(f"{indent}{name} = {reference}")
        elif isinstance(value, Mapping) and key not in MAP_ARGUMENTS:
            lines += [f"{indent}{name} {{", *_body(value, indent + "  ", names), f"{indent}}}"]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            block = REPEATED_BLOCKS.get(key)
            if block is None:
                raise ScanInputError(
                    f"`{key}` is a list of objects with no known Terraform block name; add it to "
                    "REPEATED_BLOCKS (scripts/gcp_scan.py)"
                )
            for item in value:
                lines += [f"{indent}{block} {{", *_body(item, indent + "  ", names), f"{indent}}}"]
        else:
            lines.append(f"{indent}{name} = {_value(value, indent)}")
    return lines


def _own_pools(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A cluster's `nodePools` as NodePool records. checkov reads a cluster's node settings only
    from its `node_config` (the default pool's), never from its `node_pool` blocks; a block has
    the NodePool's schema (resource_container_cluster.go:1714-1722), so each is scanned as one
    too and meets every node pool check."""
    pools = record["inputs"].get("nodePools") if record.get("type") == CLUSTER else None
    if not isinstance(pools, list):
        return []
    own = []
    for pool in pools:
        if not isinstance(pool, Mapping):
            raise ScanInputError("`nodePools` holds objects")
        inputs = {**pool, "cluster": record["inputs"].get("name")}
        own.append(
            {
                "type": NODE_POOL,
                "name": f"{record.get('name')}-{pool.get('name')}",
                "inputs": inputs,
            }
        )
    return own


def to_terraform(resources: Sequence[Mapping[str, Any]]) -> str:
    """The GCP resources of a render as Terraform, with each stated exception as a skip comment
    (`#checkov:skip=<id>:<reason>`): checkov reports it skipped with that reason, and any other
    failure fails the scan. Only the types in TERRAFORM_TYPES are written."""
    scanned = []
    for record in resources:
        if not isinstance(record, Mapping) or not isinstance(record.get("inputs"), Mapping):
            raise ScanInputError("every record needs `type`, `name` and `inputs`")
        for one in (record, *_own_pools(record)):
            terraform_type = TERRAFORM_TYPES.get(str(one.get("type")))
            if terraform_type is not None:
                scanned.append((terraform_type, _NAME.sub("_", str(one.get("name"))), one))
    names = {
        (terraform_type, str(record["inputs"].get("name"))): name
        for terraform_type, name, record in scanned
    }
    blocks = []
    for terraform_type, name, record in scanned:
        exceptions = GCP_SCAN_EXCEPTIONS.get(str(record["type"]))
        reasons = exceptions(record["inputs"]) if exceptions else {}
        skips = [
            f"  #checkov:skip={check}:{' '.join(reason.split())}"
            for check, reason in reasons.items()
        ]
        blocks.append(
            "\n".join(
                [
                    f'resource "{terraform_type}" "{name}" {{',
                    *skips,
                    *_body(record["inputs"], "  ", names),
                    "}",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m scripts.gcp_scan", description=__doc__)
    parser.add_argument("resources", type=Path, help="resources.json written by scripts.render")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    args = parser.parse_args(argv)
    try:
        data = read_regular_file(args.resources, limit=64 << 20, what="resources")
        resources = json.loads(data)
        if not isinstance(resources, list):
            raise ScanInputError("not a JSON list of resources")
        text = to_terraform(resources)
    except FileInputError as error:
        return bad_input(error, label="gcp_scan")
    except (ValueError, RecursionError, ScanInputError) as error:
        return bad_input(f"{args.resources}: {error}", label="gcp_scan")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.resources.parent.name or 'stack'}.tf").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
