"""The Mina network as rendered by the real program under the recording engine.

Uses the session renders of tests/conftest.py (secrets shown): the dev stack (GKE, 10 daemons),
the existing-cluster stack (stacks/kind.yaml) and the 200-node stack (stacks/large-200.yaml).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from components.mina_network import COMPONENT
from minaperf.keys import mina, secret_box
from minaperf.keys.itn import ItnKey
from minaperf.model.config import MAX_MINA_NODES
from minaperf.shell.node_script import mina_node_script
from minaperf.workloads import daemon
from minaperf.workloads.genesis import build_runtime_config
from tests.conftest import KUBERNETES_VERSION, Rendered, render
from tests.minaperf.keys import read_key_file

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
ADDRESS = "gcp:compute/address:Address"
ROLE_LABEL = "mina-itn/role"
ENTRIES = ("node-key", "node-password", "libp2p-key", "libp2p-password")
GROUPS = {
    "seed": "seed",
    "block-producer": "bp",
    "plain": "node",
    "snark-coordinator": "coordinator",
}
"""Role -> group: the name of the role's headless Service, and `<group>-keys` its Secret."""


# ---------------------------------------------------------------------------------------------
# Helpers over the recorded resources


def daemons(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Daemon StatefulSets by name."""
    return {
        r["inputs"]["metadata"]["name"]: r
        for r in rendered.of_type(STATEFULSET)
        if r["inputs"]["metadata"]["labels"].get("app.kubernetes.io/component") == COMPONENT
    }


def role_of(statefulset: dict[str, Any]) -> str:
    return statefulset["inputs"]["metadata"]["labels"][ROLE_LABEL]


def pod_spec(statefulset: dict[str, Any]) -> dict[str, Any]:
    return statefulset["inputs"]["spec"]["template"]["spec"]


def main_container(statefulset: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec(statefulset)["containers"]
    return container


def env_of(statefulset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in main_container(statefulset)["env"]}


def env_value(statefulset: dict[str, Any], name: str) -> str:
    return env_of(statefulset)[name]["value"]


def group_of(rendered: Rendered, node: str) -> str:
    (role,) = [n["role"] for n in rendered.outputs["nodes"] if n["name"] == node]
    return GROUPS[role]


def members(rendered: Rendered) -> dict[str, list[str]]:
    """Group -> its nodes, from the `nodes` output."""
    groups: dict[str, list[str]] = {}
    for node in rendered.outputs["nodes"]:
        groups.setdefault(GROUPS[node["role"]], []).append(node["name"])
    return groups


def group_secret(rendered: Rendered, group: str) -> dict[str, str]:
    return rendered.named(SECRET, f"{group}-keys")["inputs"]["stringData"]


def secret_data(rendered: Rendered, node: str) -> dict[str, str]:
    """The node's own entries of its group's Secret (`<node>.<entry>`), by entry."""
    data = group_secret(rendered, group_of(rendered, node))
    own = {entry: data[f"{node}.{entry}"] for entry in ENTRIES}
    assert len(set(own.values())) == len(own)
    return own


def peer_id_of(rendered: Rendered, node: str) -> str:
    data = secret_data(rendered, node)
    return read_key_file(data["libp2p-key"], data["libp2p-password"]).peer_id


def public_key_of(rendered: Rendered, node: str) -> str:
    data = secret_data(rendered, node)
    plaintext = secret_box.decrypt(data["node-key"], data["node-password"])
    return mina.public_key_of_scalar(mina.scalar_from_private_key_bytes(plaintext))


def expected_counts(rendered: Rendered) -> Counter[str]:
    return Counter(node["role"] for node in rendered.outputs["nodes"])


# ---------------------------------------------------------------------------------------------
# Shape


def test_dev_has_the_seed_issue_topology(dev: Rendered) -> None:
    sets = daemons(dev)
    assert Counter(role_of(s) for s in sets.values()) == {
        "seed": 1,
        "block-producer": 3,
        "plain": 5,
        "snark-coordinator": 1,
    }
    expected = [
        "seed-1",
        "bp-1",
        "bp-2",
        "bp-3",
        "node-1",
        "node-2",
        "node-3",
        "node-4",
        "node-5",
        "coordinator-1",
    ]
    assert sorted(sets) == sorted(expected)
    # The `nodes` output (MinaNetwork.nodes) keeps node_specs order.
    assert [node["name"] for node in dev.outputs["nodes"]] == expected
    assert [node["pod"] for node in dev.outputs["nodes"]] == [f"{n}-0" for n in expected]


def test_200_node_stack_renders_the_counts_asked(large: Rendered) -> None:
    sets = daemons(large)
    assert Counter(role_of(s) for s in sets.values()) == {
        "seed": 2,
        "block-producer": 20,
        "plain": 177,
        "snark-coordinator": 1,
    }
    # One Secret and one headless Service per role group, not one per node.
    secrets = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in large.of_type(SECRET)}
    assert {name for name in secrets if name.endswith("-keys")} == {
        "seed-keys",
        "bp-keys",
        "node-keys",
        "coordinator-keys",
        "orchestrator-funding-keys",
    }
    for group, nodes in members(large).items():
        assert set(secrets[f"{group}-keys"]["stringData"]) == {
            f"{node}.{entry}" for node in nodes for entry in ENTRIES
        }
    names = {r["inputs"]["metadata"]["name"] for r in large.of_type(SERVICE)}
    assert {"seed", "bp", "node", "coordinator", "coordinator-1-workers"} <= names
    assert not names & set(sets)
    assert {s["inputs"]["spec"]["serviceName"] for s in sets.values()} == set(GROUPS.values())
    # Every daemon, the second seed included, peers with the first seed's pod.
    multiaddr = large.outputs["seedMultiaddr"]
    assert multiaddr == (
        f"/dns4/seed-1-0.seed.{large.outputs['namespace']}.svc.cluster.local/tcp/8302"
        f"/p2p/{peer_id_of(large, 'seed-1')}"
    )
    without = [name for name, s in sets.items() if env_of(s).get("SEED_PEER") is None]
    assert without == ["seed-1"]
    assert {env_value(s, "SEED_PEER") for n, s in sets.items() if n != "seed-1"} == {multiaddr}


def test_dev_with_196_plain_nodes_renders_201_daemons() -> None:
    rendered = render("dev", overrides=["nodes.plainNodes=196"])
    sets = daemons(rendered)
    assert Counter(role_of(s) for s in sets.values()) == {
        "seed": 1,
        "block-producer": 3,
        "plain": 196,
        "snark-coordinator": 1,
    }
    assert [node["name"] for node in rendered.outputs["nodes"]][-2:] == [
        "node-196",
        "coordinator-1",
    ]
    multiaddr = rendered.outputs["seedMultiaddr"]
    assert multiaddr.endswith(f"/p2p/{peer_id_of(rendered, 'seed-1')}")
    assert {env_value(s, "SEED_PEER") for n, s in sets.items() if n != "seed-1"} == {multiaddr}
    plain = group_secret(rendered, "node")
    assert set(plain) == {f"node-{i}.{entry}" for i in range(1, 197) for entry in ENTRIES}
    for name in sets:
        assert set(secret_data(rendered, name)) == set(ENTRIES)


def test_group_secrets_stay_far_below_the_object_size_limit(large: Rendered) -> None:
    """A Secret object is at most 1 MiB (etcd); its data is stored base64-encoded. The largest
    group of the largest network allowed must fit with room to spare."""
    per_node = max(
        sum(len(base64.b64encode(value.encode())) + len(key) for key, value in data.items())
        / len(nodes)
        for group, nodes in members(large).items()
        for data in [group_secret(large, group)]
    )
    assert per_node * MAX_MINA_NODES < 512 * 1024, per_node


def test_network_registers_one_object_per_node_plus_a_few_per_group(large: Rendered) -> None:
    by_urn = {r["urn"]: r for r in large.resources}
    (network,) = [r for r in large.resources if r["type"] == "mina-itn:mina:MinaNetwork"]
    inside = Counter(r["type"] for r in large.resources if _under(r, network["urn"], by_urn))
    nodes = len(large.outputs["nodes"])
    assert inside[STATEFULSET] == nodes
    assert inside[SECRET] == len(GROUPS)
    assert inside[SERVICE] == len(GROUPS) + 1  # and the coordinator's worker-facing Service
    assert inside[CONFIGMAP] == 2
    assert sum(inside.values()) <= nodes + 3 * len(GROUPS) + 8


@pytest.mark.parametrize("stack", ["dev", "kubernetes_stack"])
def test_statefulset_per_node_headless_service_and_secret_per_group(
    stack: str, request: pytest.FixtureRequest
) -> None:
    rendered: Rendered = request.getfixturevalue(stack)
    sets = daemons(rendered)
    assert Counter(role_of(s) for s in sets.values()) == expected_counts(rendered)
    namespace = rendered.outputs["namespace"]
    outputs = {node["name"]: node for node in rendered.outputs["nodes"]}
    services = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in rendered.of_type(SERVICE)}
    pods = {f"{name}-0" for name in sets}
    # Group Services never take a StatefulSet's or a pod's name.
    assert not set(services) & (set(sets) | pods)
    for name, statefulset in sets.items():
        role = role_of(statefulset)
        group = GROUPS[role]
        spec = statefulset["inputs"]["spec"]
        metadata = statefulset["inputs"]["metadata"]
        assert metadata["namespace"] == namespace
        assert metadata["annotations"]["pulumi.com/skipAwait"] == "true"
        assert spec["replicas"] == 1
        assert spec["serviceName"] == group
        selector = spec["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/instance"] == name
        assert not any("expiry" in key for key in selector)
        pod_labels = spec["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()
        (claim,) = spec["volumeClaimTemplates"]
        assert claim["metadata"] == {"name": "data"}
        assert claim["spec"]["resources"]["requests"]["storage"] == daemon.DATA_VOLUME_SIZE
        # The pod's own DNS name under its group's headless Service.
        assert outputs[name]["pod"] == f"{name}-0"
        assert outputs[name]["service"] == f"{name}-0.{group}.{namespace}.svc.cluster.local"

        service = services[group]
        assert service["metadata"]["namespace"] == namespace
        assert service["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["publishNotReadyAddresses"] is True
        # The Service selects this pod and no pod of another role.
        service_selector = service["spec"]["selector"]
        assert service_selector == {
            "app.kubernetes.io/name": COMPONENT,
            "app.kubernetes.io/component": COMPONENT,
            ROLE_LABEL: role,
        }
        assert service_selector.items() <= pod_labels.items()
        for other in sets.values():
            other_labels = other["inputs"]["spec"]["template"]["metadata"]["labels"]
            selected = service_selector.items() <= other_labels.items()
            assert selected == (role_of(other) == role)
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
            "client": 8301,
            "graphql": 3085,
            "itn": 3086,
            "libp2p": 8302,
        }
        assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]} == {
            "client": "client",
            "graphql": "graphql",
            "itn": "itn",
            "libp2p": "libp2p",
        }
        assert set(secret_data(rendered, name)) == set(ENTRIES)
    # Each group's Secret holds exactly its members' entries.
    groups = members(rendered)
    assert set(groups) <= set(services)
    for group, nodes in groups.items():
        secret = rendered.named(SECRET, f"{group}-keys")["inputs"]
        assert secret["metadata"]["namespace"] == namespace
        assert secret["type"] == "Opaque"
        assert set(secret["stringData"]) == {
            f"{node}.{entry}" for node in nodes for entry in ENTRIES
        }
        assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", key) for key in secret["stringData"])


# ---------------------------------------------------------------------------------------------
# The env contract of mina-node.sh


def test_env_contract_per_role(dev: Rendered) -> None:
    sets = daemons(dev)
    namespace = dev.outputs["namespace"]
    for name, statefulset in sets.items():
        role = role_of(statefulset)
        env = env_of(statefulset)
        container = main_container(statefulset)
        assert container["command"] == [daemon.SCRIPT_PATH, "start"]
        assert env_value(statefulset, "NODE_ROLE") == role
        assert env_value(statefulset, "RUNTIME_CONFIG") == "/config/daemon.json"
        assert env_value(statefulset, "CONFIG_DIR") == "/root/.mina-config"
        assert env_value(statefulset, "KEYS_DIR") == "/keys"
        assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert env_value(statefulset, "UPTIME_URL") == dev.outputs["uptimeSubmitUrl"]
        assert env_value(statefulset, "MINA_CLIENT_TRUSTLIST") == "10.64.0.0/14,10.10.0.0/20"
        assert env_value(statefulset, "ITN_FEATURES") == "1"
        for variable, key in (
            ("MINA_PRIVKEY_PASS", "node-password"),
            ("UPTIME_PRIVKEY_PASS", "node-password"),
            ("MINA_LIBP2P_PASS", "libp2p-password"),
        ):
            assert "value" not in env[variable]
            assert env[variable]["valueFrom"]["secretKeyRef"] == {
                "name": f"{GROUPS[role]}-keys",
                "key": f"{name}.{key}",
                "optional": False,
            }
        coordinator_vars = {"SNARK_COORDINATOR_KEY", "SNARK_WORKER_FEE", "WORK_SELECTION"}
        if role == "snark-coordinator":
            assert coordinator_vars <= set(env)
            assert env_value(statefulset, "SNARK_WORKER_FEE") == "0.001"
            assert env_value(statefulset, "WORK_SELECTION") == "seq"
        else:
            assert not coordinator_vars & set(env)
        if role == "seed":
            assert "SEED_PEER" not in env
        else:
            assert env_value(statefulset, "SEED_PEER").startswith(
                f"/dns4/seed-1-0.seed.{namespace}.svc.cluster.local/tcp/8302/p2p/"
            )
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for variable, port in (
            ("CLIENT_PORT", "client"),
            ("REST_PORT", "graphql"),
            ("EXTERNAL_PORT", "libp2p"),
            ("ITN_GRAPHQL_PORT", "itn"),
        ):
            assert env_value(statefulset, variable) == str(ports[port])


def test_every_seed_peer_names_the_seeds_real_peer_id(dev: Rendered) -> None:
    peer_id = peer_id_of(dev, "seed-1")
    # The peer id comes from decrypting the seed's own libp2p key file out of `seed-keys`.
    expected = f"/dns4/seed-1-0.seed.itn-dev.svc.cluster.local/tcp/8302/p2p/{peer_id}"
    assert dev.outputs["seedMultiaddr"] == expected
    peers = {
        name: env_value(s, "SEED_PEER") for name, s in daemons(dev).items() if role_of(s) != "seed"
    }
    assert len(peers) == 9
    assert set(peers.values()) == {expected}


def test_itn_keys_hold_the_orchestrators_and_the_fetchers_public_keys(dev: Rendered) -> None:
    orchestrator = ItnKey(base64.b64decode(dev.outputs["orchestratorKey"])).public_b64
    assert orchestrator == dev.outputs["orchestratorPublicKey"]
    fetcher = dev.outputs["fetcherPublicKey"]
    # The fetcher's public key belongs to the secret the fetcher is given.
    fetcher_secrets = [
        value
        for secret in dev.of_type(SECRET)
        for value in (secret["inputs"].get("stringData") or {}).values()
        if isinstance(value, str) and _itn_public(value) == fetcher
    ]
    assert fetcher_secrets, "no Secret holds the fetcher's ITN key"
    for statefulset in daemons(dev).values():
        assert env_value(statefulset, "ITN_KEYS").split(",") == [orchestrator, fetcher]


def _itn_public(value: str) -> str | None:
    try:
        return ItnKey.from_secret_b64(value.strip()).public_b64
    except (ValueError, TypeError):
        return None


def test_uptime_submitter_keys_match_the_public_key_outputs(dev: Rendered) -> None:
    """The node key file is also the uptime submitter key: what it opens to must be the public
    key the stack exports (the uptime backend's whitelist and the ledger use that)."""
    sets = daemons(dev)
    for node in dev.outputs["nodes"]:
        assert public_key_of(dev, node["name"]) == node["publicKey"]
    coordinator = next(n for n in dev.outputs["nodes"] if n["role"] == "snark-coordinator")
    assert env_value(sets["coordinator-1"], "SNARK_COORDINATOR_KEY") == coordinator["publicKey"]


# ---------------------------------------------------------------------------------------------
# ConfigMaps


def _configmap(rendered: Rendered, prefix: str) -> dict[str, Any]:
    (found,) = [
        r["inputs"]
        for r in rendered.of_type(CONFIGMAP)
        if r["inputs"]["metadata"]["name"].startswith(prefix)
    ]
    return found


def test_runtime_config_is_public_immutable_and_content_named(dev: Rendered) -> None:
    config_map = _configmap(dev, "mina-runtime-config-")
    text = config_map["data"]["daemon.json"]
    assert config_map["immutable"] is True
    assert config_map["metadata"]["name"] == daemon.hashed_name("mina-runtime-config", text)
    document = json.loads(text)
    summary = {
        "nodes": {
            n["name"]: {
                "role": n["role"],
                "public_key": n["publicKey"],
                "peer_id": peer_id_of(dev, n["name"]),
            }
            for n in dev.outputs["nodes"]
        },
        "itn": {"orchestrator": "", "fetcher": ""},
        "funding": [account["publicKey"] for account in dev.outputs["fundingKeys"]],
    }
    assert document == build_runtime_config(
        summary,  # type: ignore[arg-type]
        genesis_timestamp=dev.outputs["genesisTimestamp"],
        slot_duration_ms=dev.outputs["slotDurationMs"],
        proof_level=dev.outputs["proofLevel"],
        block_producer_stake="5000000",
        funding_balance="100000000",
        node_balance="1000",
        ledger_name="itn-dev",
    )
    assert document["genesis"]["genesis_state_timestamp"] == dev.outputs["genesisTimestamp"]
    assert all("sk" not in account for account in document["ledger"]["accounts"])
    assert (dev.directory / "files" / f"configmap-{config_map['metadata']['name']}").is_dir()
    for statefulset in daemons(dev).values():
        volumes = {v["name"]: v for v in pod_spec(statefulset)["volumes"]}
        assert volumes["runtime-config"]["configMap"]["name"] == config_map["metadata"]["name"]


def test_node_script_configmap(dev: Rendered) -> None:
    config_map = _configmap(dev, "mina-node-script-")
    assert config_map["immutable"] is True
    assert config_map["data"] == {"mina-node.sh": mina_node_script()}
    for statefulset in daemons(dev).values():
        volumes = {v["name"]: v for v in pod_spec(statefulset)["volumes"]}
        script = volumes["node-script"]["configMap"]
        assert script == {"name": config_map["metadata"]["name"], "defaultMode": 0o555}


# ---------------------------------------------------------------------------------------------
# Pods: keys, resources, security, probes


def test_pod_spec_keys_resources_security_and_probes(dev: Rendered) -> None:
    for name, statefulset in daemons(dev).items():
        spec = pod_spec(statefulset)
        (init,) = spec["initContainers"]
        assert init["command"] == [daemon.SCRIPT_PATH, "install-keys", "/secrets", "/keys"]
        assert init["image"] == main_container(statefulset)["image"]
        for container in (init, main_container(statefulset)):
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}, container["name"]
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["privileged"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        key_files = volumes["key-files"]["secret"]
        group = GROUPS[role_of(statefulset)]
        assert key_files["secretName"] == f"{group}-keys"
        assert key_files["defaultMode"] == 0o400
        # Only the node's own key files are mounted, under the names install-keys copies;
        # passwords reach the daemon through secretKeyRefs.
        assert key_files["items"] == [
            {"key": f"{name}.node-key", "path": "node-key", "mode": 0o400},
            {"key": f"{name}.libp2p-key", "path": "libp2p-key", "mode": 0o400},
        ]
        init_mounts = {m["name"]: m for m in init["volumeMounts"]}
        assert init_mounts["key-files"]["mountPath"] == "/secrets"
        assert init_mounts["key-files"]["readOnly"] is True
        assert init_mounts["keys"]["mountPath"] == "/keys"
        # Every Secret key the pod references anywhere is one of its own.
        referenced = _secret_refs(spec)
        assert referenced == {
            (f"{group}-keys", f"{name}.{entry}")
            for entry in ("node-key", "libp2p-key", "node-password", "libp2p-password")
        }
        assert volumes["keys"]["emptyDir"]["medium"] == "Memory"
        mounts = {m["name"]: m["mountPath"] for m in main_container(statefulset)["volumeMounts"]}
        assert mounts == {
            "runtime-config": "/config",
            "node-script": daemon.SCRIPT_DIR,
            "keys": "/keys",
            "data": "/root/.mina-config",
        }
        container = main_container(statefulset)
        assert container["startupProbe"]["tcpSocket"]["port"] == 8301
        assert (
            container["startupProbe"]["periodSeconds"]
            * container["startupProbe"]["failureThreshold"]
            >= 15 * 60
        )
        assert container["livenessProbe"]["exec"]["command"] == [daemon.SCRIPT_PATH, "alive"]
        assert container["livenessProbe"]["periodSeconds"] == 60
        assert container["livenessProbe"]["timeoutSeconds"] == 30
        assert container["livenessProbe"]["failureThreshold"] == 5
        assert container["readinessProbe"]["exec"]["command"] == [daemon.SCRIPT_PATH, "ready"]
        assert container["readinessProbe"]["periodSeconds"] == 30
        assert spec["terminationGracePeriodSeconds"] == 60
        assert spec["enableServiceLinks"] is False
        assert spec["nodeSelector"] == {"mina-itn/pool": "mina"}
        anti = spec["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == {
            "app.kubernetes.io/component": COMPONENT
        }


def _secret_refs(value: Any) -> set[tuple[str, str]]:
    """(Secret, key) pairs a pod spec references: volume items and env secretKeyRefs."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, dict):
        if "secretName" in value:
            found |= {(value["secretName"], item["key"]) for item in value.get("items") or []}
            assert value.get("items"), "a Secret volume must mount named items only"
        if "secretKeyRef" in value:
            found.add((value["secretKeyRef"]["name"], value["secretKeyRef"]["key"]))
        for item in value.values():
            found |= _secret_refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= _secret_refs(item)
    return found


def test_every_role_gets_the_chart_resources_at_full_proof(dev: Rendered) -> None:
    """Mina Foundation mina-daemon chart: requests 4 CPU / 16Gi, limits 8 CPU / 16Gi."""
    resources = {role_of(s): main_container(s)["resources"] for s in daemons(dev).values()}
    assert set(resources) == {"seed", "block-producer", "plain", "snark-coordinator"}
    for role, given in resources.items():
        assert given == {
            "requests": {"cpu": "4", "memory": "16Gi"},
            "limits": {"cpu": "8", "memory": "16Gi"},
        }, role


# ---------------------------------------------------------------------------------------------
# No secret outside Secrets


def test_no_password_or_key_appears_outside_secrets(dev: Rendered) -> None:
    secrets: set[str] = set()
    for node in dev.outputs["nodes"]:
        data = secret_data(dev, node["name"])
        secrets |= set(data.values())
        key_file = json.loads(data["node-key"])
        secrets |= {key_file["ciphertext"], key_file["nonce"], key_file["pwsalt"]}
        plaintext = secret_box.decrypt(data["node-key"], data["node-password"])
        secrets.add(mina.format_private_key(mina.scalar_from_private_key_bytes(plaintext)))
        triple = secret_box.decrypt(data["libp2p-key"], data["libp2p-password"]).decode()
        secrets.add(triple.split(",")[0])
    assert all(len(secret) >= 16 for secret in secrets)
    leaks = []
    for resource in dev.resources:
        if resource["type"] == SECRET:
            continue
        text = json.dumps(resource["inputs"])
        leaks += [resource["name"] for secret in secrets if secret in text]
    public_outputs = {k: v for k, v in dev.outputs.items() if k not in dev.run.secret_outputs}
    for key, value in public_outputs.items():
        text = json.dumps(value)
        leaks += [f"output {key}" for secret in secrets if secret in text]
    for path in (dev.directory / "manifests").rglob("*.yaml"):
        if not path.name.startswith("secret-"):
            body = path.read_text()
            leaks += [str(path.name) for secret in secrets if secret in body]
    assert not leaks, sorted(set(leaks))
    # The Secrets themselves are registered as secret values (masked in state and previews).
    for group in members(dev):
        recorded = next(
            r
            for r in dev.run.resources
            if r.type == SECRET and r.inputs["metadata"]["name"] == f"{group}-keys"
        )
        assert _is_secret(recorded.inputs["stringData"])


def _is_secret(value: Any) -> bool:
    from scripts.engine import SECRET_SIG, SECRET_VALUE

    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE


# ---------------------------------------------------------------------------------------------
# Snark coordinator reachability


def test_gke_coordinator_behind_an_internal_load_balancer_on_a_reserved_address(
    dev: Rendered,
) -> None:
    (address,) = [r for r in dev.of_type(ADDRESS) if "coordinator" in r["name"]]
    inputs = address["inputs"]
    assert inputs["addressType"] == "INTERNAL"
    assert inputs["region"] == "us-central1"
    assert inputs["subnetwork"]
    assert inputs["labels"]["experiment"] == "dev"
    assert address["provider"]
    assert "providers:gcp" in address["provider"]
    service = dev.named(SERVICE, "coordinator-1-workers")["inputs"]
    spec = service["spec"]
    assert spec["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"] == {
        "networking.gke.io/load-balancer-type": "Internal"
    }
    assert spec["loadBalancerSourceRanges"] == ["10.10.0.0/20"]
    assert spec["ports"] == [{"name": "client", "port": 8301, "targetPort": "client"}]
    assert spec["selector"]["app.kubernetes.io/instance"] == "coordinator-1"
    host = spec["loadBalancerIP"]
    assert dev.outputs["workerPool"]["coordinatorAddress"] == f"{host}:8301"


def test_kubernetes_coordinator_behind_a_cluster_ip_service(kubernetes_stack: Rendered) -> None:
    assert not kubernetes_stack.of_type(ADDRESS)
    service = kubernetes_stack.named(SERVICE, "coordinator-1-workers")["inputs"]
    assert service["spec"]["type"] == "ClusterIP"
    sets = daemons(kubernetes_stack)
    for statefulset in sets.values():
        assert "nodeSelector" not in pod_spec(statefulset)
        assert env_value(statefulset, "MINA_CLIENT_TRUSTLIST") == "10.244.0.0/16"


# ---------------------------------------------------------------------------------------------
# Pulumi structure and schema


@pytest.mark.parametrize("stack", ["dev", "kubernetes_stack"])
def test_children_are_parented_and_prefixed(stack: str, request: pytest.FixtureRequest) -> None:
    rendered: Rendered = request.getfixturevalue(stack)
    by_urn = {r["urn"]: r for r in rendered.resources}
    (network,) = [r for r in rendered.resources if r["type"] == "mina-itn:mina:MinaNetwork"]
    inside = [r for r in rendered.resources if _under(r, network["urn"], by_urn)]
    assert len(inside) >= len(rendered.outputs["nodes"]) + 2 * len(members(rendered))
    for resource in inside:
        parent = by_urn[resource["parent"]]
        assert resource["name"].startswith(f"{parent['name']}-"), resource["name"]
        assert not resource["type"].startswith("pulumi:providers:")
        if resource["type"].startswith("kubernetes:"):
            assert resource["provider"], resource["name"]
            assert "providers:kubernetes" in resource["provider"]


def _under(resource: dict[str, Any], ancestor: str, by_urn: dict[str, dict[str, Any]]) -> bool:
    parent = resource["parent"]
    while parent:
        if parent == ancestor:
            return True
        parent = by_urn[parent]["parent"] if parent in by_urn else None
    return False


@pytest.mark.parametrize("stack", ["dev", "kubernetes_stack"])
def test_network_manifests_pass_strict_schema_validation(
    stack: str, request: pytest.FixtureRequest
) -> None:
    rendered: Rendered = request.getfixturevalue(stack)
    groups = set(members(rendered))
    expected = (
        {f"statefulset-{name}" for name in daemons(rendered)}
        | {f"service-{group}" for group in groups}
        | {f"secret-{group}-keys" for group in groups}
        | {"service-coordinator-1-workers"}
    )
    paths: list[Path] = [
        path
        for path in rendered.manifests()
        if path.stem in expected
        or path.stem.startswith(("configmap-mina-runtime-config", "configmap-mina-node-script"))
    ]
    assert len(paths) == len(expected) + 2
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("kubernetes-validate")),
            "--strict",
            "--quiet",
            "-k",
            KUBERNETES_VERSION,
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
