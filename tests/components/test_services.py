"""The perf services (uptime backend, PostgreSQL, log fetchers, log API) as the real
program renders them under the recording engine, checked against their consumers' rules."""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from minaperf.keys.itn import ItnKey
from minaperf.keys.mina import is_valid_public_key
from tests.conftest import KUBERNETES_VERSION, ROOT, Rendered, render

SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
DISK = "gcp:compute/disk:Disk"
KIND = ROOT / "stacks" / "kind.yaml"
EXISTING_DISK = "projects/kept-project/zones/us-central1-a/disks/itn-old-postgres"
SERVICE_WORKLOADS = {
    (DEPLOYMENT, "uptime-backend"),
    (STATEFULSET, "postgres"),
    (DEPLOYMENT, "log-fetcher-1"),
    (DEPLOYMENT, "log-fetcher-2"),
    (DEPLOYMENT, "log-api"),
}


def kind_closed() -> Rendered:
    """The existing-cluster stack with no admin range at all (allowed on that platform)."""
    return render(config_file=KIND, overrides=["access.adminCidrs=[]"])


def spec_of(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["inputs"]["spec"]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return spec_of(resource)["template"]["spec"]


def containers(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = pod_spec(resource)
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def volumes_of(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(resource)["volumes"]}


def mounts_of(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container["volumeMounts"]}


def workloads(rendered: Rendered) -> list[dict[str, Any]]:
    found = []
    for resource_type, name in SERVICE_WORKLOADS:
        try:
            found.append(rendered.named(resource_type, name))
        except KeyError:
            continue
    return found


# ------------------------------------------------------------------------------ uptime backend


def test_uptime_whitelist_is_exactly_the_node_keys(dev: Rendered) -> None:
    config_map = dev.named(CONFIG_MAP, "uptime-backend-config")
    config = json.loads(config_map["inputs"]["data"]["config.json"])
    assert config["in_memory"] is True
    node_keys = {node["publicKey"] for node in dev.outputs["nodes"]}
    assert len(node_keys) == 10  # the dev topology: 1 seed, 3 BPs, 5 plain, 1 coordinator
    assert len(config["whitelist"]) == len(set(config["whitelist"]))
    assert set(config["whitelist"]) == node_keys
    assert all(is_valid_public_key(key) for key in config["whitelist"])


def test_uptime_backend_is_one_in_memory_replica_behind_a_cluster_ip(dev: Rendered) -> None:
    deployment = dev.named(DEPLOYMENT, "uptime-backend")
    assert spec_of(deployment)["replicas"] == 1
    assert spec_of(deployment)["strategy"] == {"type": "Recreate"}
    container = containers(deployment)["uptime-backend"]
    env = env_of(container)
    assert env["CONFIG_FILE"] == "/config/config.json"
    assert env["NETWORK"] == "testnet"  # devnet daemon image
    assert container["readinessProbe"]["httpGet"]["path"] == "/"
    service = dev.named(SERVICE, "uptime-backend")
    assert spec_of(service)["type"] == "ClusterIP"
    assert [p["port"] for p in spec_of(service)["ports"]] == [8080]
    assert dev.outputs["uptimeSubmitUrl"].endswith(":8080/v1/submit")


# ------------------------------------------------------------------------------ log fetcher


def fetcher_shards(rendered: Rendered) -> list[dict[str, Any]]:
    shards = [
        d
        for d in rendered.of_type(DEPLOYMENT)
        if d["inputs"]["metadata"]["labels"]["app.kubernetes.io/component"] == "log-fetcher"
    ]
    return sorted(shards, key=lambda d: int(d["inputs"]["metadata"]["name"].rsplit("-", 1)[1]))


def cpu(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_fetcher_secret_key_derives_the_published_fetcher_public_key(dev: Rendered) -> None:
    secret = dev.named(SECRET, "log-fetcher-key")
    text = secret["inputs"]["stringData"]["secret_key"]
    assert ItnKey.from_secret_b64(text).public_b64 == dev.outputs["fetcherPublicKey"]
    # One key for every shard; it reaches the containers only as a mounted file.
    for fetcher in fetcher_shards(dev):
        volumes = {v["name"]: v for v in pod_spec(fetcher)["volumes"]}
        assert volumes["key"]["secret"]["secretName"] == "log-fetcher-key"


def test_fetcher_takes_the_database_from_the_environment_never_argv(dev: Rendered) -> None:
    fetcher = containers(dev.named(DEPLOYMENT, "log-fetcher-1"))
    main = fetcher["fetcher"]
    assert main["args"] == [
        "fetcher",
        "-k",
        "/keys/secret_key",
        "-o",
        "/output",
        "-n",
        "/names-data/node_names.json",
        "--db-uri",
        "postgresql://",
        "discovery",
    ]
    env = env_of(main)
    assert env["PGPASSWORD"] == {
        "secretKeyRef": {"name": "postgres-credentials", "key": "password"}
    }
    assert env["PGHOST"] == "postgres.itn-dev.svc.cluster.local"
    assert (env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == ("5432", "postgres", "logs")
    # Its own static node list, not the uptime backend (served by the node-list container).
    assert env["ONLINE_URL"] == "http://127.0.0.1:8081/online.json"
    assert fetcher["node-list"]["command"] == [
        "httpd", "-f", "-p", "127.0.0.1:8081", "-h", "/srv/node-list"
    ]  # fmt: skip
    # MPT@7da1f2c load-tests-cluster/docker-compose.yaml:47
    assert env["FETCH_INTERVAL_MS"] == "5000"
    assert env["INTERNAL_TRACE_CONSUMER_EXE"] == "/internal_trace_consumer"
    assert env["HANDLE_STATUS_CHANGE"] == "true"

    row = env_of(fetcher["deployment-row"])
    assert row["DEPLOYMENT_NAME"] == "dev"
    assert row["PGPASSWORD"] == {
        "secretKeyRef": {"name": "postgres-credentials", "key": "password"}
    }
    assert row["PGHOST"] == "postgres.itn-dev.svc.cluster.local"

    quota = env_of(fetcher["log-quota"])
    assert quota["OUTPUT_DIR"] == "/output"
    assert int(quota["LOG_MAX_BYTES"]) == 64 * 1024**2
    assert int(quota["QUOTA_BYTES"]) == 256 * 1024**2
    # The quota sidecar must see the fetcher's and consumers' open files.
    assert pod_spec(dev.named(DEPLOYMENT, "log-fetcher-1"))["shareProcessNamespace"] is True

    api = containers(dev.named(DEPLOYMENT, "log-api"))["log-api"]
    assert api["args"] == ["consumer", "serve", "--db-uri", "postgresql://", "--port", "9080"]
    assert env_of(api)["PGPASSWORD"] == env["PGPASSWORD"]
    assert [p["port"] for p in spec_of(dev.named(SERVICE, "log-api"))["ports"]] == [9080]


def test_no_service_reaches_the_fetchers_rest_api(dev: Rendered) -> None:
    """`POST /reset` deletes every node's output (ITC main.rs:266-285): nothing publishes :4000."""
    for service in dev.of_type(SERVICE):
        ports = [p.get("targetPort") for p in spec_of(service).get("ports", [])]
        selector = spec_of(service).get("selector") or {}
        assert selector.get("app.kubernetes.io/component") != "log-fetcher", service
        assert 4000 not in ports


def test_shards_follow_every_node_once_by_dns_name_and_key(dev: Rendered) -> None:
    followed: list[dict[str, Any]] = []
    for index, _ in enumerate(fetcher_shards(dev), start=1):
        text = dev.named(CONFIG_MAP, f"log-fetcher-{index}-nodes")["inputs"]["data"]["online.json"]
        followed += json.loads(text)
    names = json.loads(
        dev.named(CONFIG_MAP, "log-fetcher-names")["inputs"]["data"]["node_names.json"]
    )
    # Every node exactly once, named in the -n map (so /nodes shows its name).
    assert sorted(entry["submitter"] for entry in followed) == sorted(names)
    hosts = {names[e["submitter"]]: e["remote_addr"] for e in followed}
    for node, host in hosts.items():
        assert host.startswith(f"{node}-0.")  # the pod's DNS name under its group's Service
    assert {e["graphql_control_port"] for e in followed} == {3086}


def test_fetcher_output_volumes_are_sized_for_the_trace_rate(dev: Rendered) -> None:
    for index, shard in enumerate(fetcher_shards(dev), start=1):
        count = len(
            json.loads(
                dev.named(CONFIG_MAP, f"log-fetcher-{index}-nodes")["inputs"]["data"]["online.json"]
            )
        )
        claim = dev.named(PVC, f"log-fetcher-{index}-output")
        size = int(spec_of(claim)["resources"]["requests"]["storage"].removesuffix("Gi"))
        # per node: 72 MB/h of traces for the 48 h TTL + 384 MiB of logs and leftovers.
        assert size * 1024**3 >= count * (72_000_000 * 48 + 384 * 1024**2)
        assert containers(shard)["fetcher"]["resources"]["requests"]["cpu"] == (
            f"{count * 500}m" if count % 2 else f"{count // 2}"
        )


def test_large_stack_gives_the_fetchers_half_a_cpu_per_node(large: Rendered) -> None:
    shards = fetcher_shards(large)
    requested = sum(cpu(containers(s)["fetcher"]["resources"]["requests"]["cpu"]) for s in shards)
    assert len(shards) == 25
    assert requested >= 0.5 * 200


# ------------------------------------------------------------------------------ secrets


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("variant", ["dev", "kind"])
def test_database_password_appears_only_in_secrets(variant: str) -> None:
    rendered = {"dev": lambda: render("dev"), "kind": kind_closed}[variant]()
    password = rendered.outputs["postgresPassword"]
    assert isinstance(password, str)
    assert len(password) >= 24
    credentials = rendered.named(SECRET, "postgres-credentials")["inputs"]["stringData"]
    assert credentials["password"] == password
    assert password in credentials["uri"]

    leaks = [
        resource["urn"]
        for resource in rendered.resources
        if resource["type"] != SECRET
        and any(password in text for text in _strings(resource["inputs"]))
    ]
    assert leaks == []
    for path in rendered.manifests():
        if path.name.startswith("secret-"):
            continue
        assert password not in path.read_text(), path


def test_postgres_password_is_a_kept_random_password_without_specials(dev: Rendered) -> None:
    # (The mock engine ignores `special`; what the provider would get is the input.)
    # The superuser's and the read-only role's.
    passwords = dev.of_type("random:index/randomPassword:RandomPassword")
    assert len(passwords) == 2
    for random_password in passwords:
        assert random_password["inputs"]["special"] is False
        assert random_password["inputs"]["length"] == 32
    assert {"postgresPassword", "postgresReaderPassword"} <= set(dev.run.secret_outputs)


# ------------------------------------------------------------------------------ PostgreSQL


def test_postgres_server_pod(dev: Rendered) -> None:
    statefulset = dev.named(STATEFULSET, "postgres")
    assert spec_of(statefulset)["replicas"] == 1
    pods = containers(statefulset)
    server = pods["postgres"]
    env = env_of(server)
    assert env["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert env["POSTGRES_USER"] == "postgres"
    assert env["POSTGRES_DB"] == "logs"
    # The password as a file (the entrypoint's POSTGRES_PASSWORD_FILE), never an env value.
    assert "POSTGRES_PASSWORD" not in env
    password_dir = env["POSTGRES_PASSWORD_FILE"].rsplit("/", 1)[0]
    credentials = {v["name"]: v for v in pod_spec(statefulset)["volumes"]}[
        {m["mountPath"]: m["name"] for m in server["volumeMounts"]}[password_dir]
    ]["secret"]
    assert credentials["secretName"] == "postgres-credentials"
    assert credentials["items"] == [{"key": "password", "path": "password"}]
    assert server["args"] == [
        *["-c", "max_connections=10000", "-c", "shared_buffers=2048MB"],
        *["-c", "ssl=on", "-c", "ssl_cert_file=/etc/postgresql/tls/tls.crt"],
        *["-c", "ssl_key_file=/etc/postgresql/tls/tls.key"],
        *["-c", "hba_file=/etc/postgresql/hba/pg_hba.conf"],
    ]
    # The TLS key and pg_hba.conf the args name are mounted there, from the stack's own objects.
    tls = volumes_of(statefulset)[mounts_of(server)["/etc/postgresql/tls"]]["secret"]
    assert tls["secretName"] == "postgres-tls"
    assert tls["defaultMode"] == 0o440
    assert dev.named(SECRET, "postgres-tls")["inputs"]["type"] == "kubernetes.io/tls"
    hba = volumes_of(statefulset)[mounts_of(server)["/etc/postgresql/hba"]]["configMap"]
    assert hba["items"] == [{"key": "pg_hba.conf", "path": "pg_hba.conf"}]
    hba_text = dev.named(CONFIG_MAP, "postgres-scripts")["inputs"]["data"]["pg_hba.conf"]
    assert "host all all 10.64.0.0/14 scram-sha-256" in hba_text  # the dev pod range
    assert "hostssl logs logs_reader 0.0.0.0/0 scram-sha-256" in hba_text
    assert server["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    volumes = {v["name"]: v for v in pod_spec(statefulset)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    initdb = volumes[mounts["/docker-entrypoint-initdb.d"]]["configMap"]
    assert initdb["defaultMode"] == 0o555
    assert [item["key"] for item in initdb["items"]] == ["pg-init.sh"]
    assert volumes[mounts["/var/lib/postgresql/data"]]["persistentVolumeClaim"] == {
        "claimName": "postgres-data"
    }
    fetch = pods["fetch-schema"]
    # dev pulls Docker Hub images through its Artifact Registry remote (dockerHubMirror)
    assert fetch["image"].startswith(
        "us-central1-docker.pkg.dev/your-gcp-project/itn-dev-docker-hub/curlimages/curl:"
    )
    assert env_of(fetch)["SCHEMA_BASE_URL"].endswith(
        "/o1-labs/mina-perf-testing/7da1f2cbff669178a4723619bf6ce52ae0737a2a/"
        "load-tests-cluster/init-sql"
    )
    pins = dev.named(CONFIG_MAP, "postgres-scripts")["inputs"]["data"]["schema.sha256"]
    assert (
        "f6eadf95911a88c29f50d1942ae2c970538103c0eabbf184748b13e20e901dab  001-init-schema.sql"
        in pins
    )


def test_postgres_load_balancer_allows_only_the_configured_ranges(dev: Rendered) -> None:
    service = dev.named(SERVICE, "postgres-external")
    spec = spec_of(service)
    assert spec["type"] == "LoadBalancer"
    assert spec["loadBalancerSourceRanges"] == ["203.0.113.0/24"]  # adminCidrs by default
    labels = service["inputs"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "postgres"
    assert dev.outputs["postgres"]["externalAddress"]
    assert spec_of(dev.named(SERVICE, "postgres"))["type"] == "ClusterIP"

    own = render("dev", overrides=["postgres.allowedCidrs=[198.51.100.7/32]"])
    assert spec_of(own.named(SERVICE, "postgres-external"))["loadBalancerSourceRanges"] == [
        "198.51.100.7/32"
    ]


def test_no_postgres_load_balancer_without_allowed_ranges() -> None:
    rendered = kind_closed()
    with pytest.raises(KeyError):
        rendered.named(SERVICE, "postgres-external")
    assert not [r for r in rendered.of_type(SERVICE) if spec_of(r).get("type") == "LoadBalancer"]
    assert rendered.outputs["postgres"]["externalAddress"] is None


def test_gke_data_disk_is_kept_by_default(dev: Rendered) -> None:
    [disk] = dev.of_type(DISK)
    assert disk["options"]["retainOnDelete"] is True
    assert disk["inputs"]["size"] == 1000
    assert disk["inputs"]["type"] == "pd-balanced"
    assert disk["inputs"]["zone"] == "us-central1-a"
    assert disk["inputs"]["labels"]["experiment"] == "dev"
    path = dev.outputs["postgres"]["dataDisk"]
    assert re.fullmatch(
        r"projects/your-gcp-project/zones/us-central1-a/disks/itn-dev-postgres-[0-9a-f]{6}", path
    )
    volume = dev.named(PV, "itn-dev-postgres-data")
    spec = spec_of(volume)
    assert spec["csi"]["driver"] == "pd.csi.storage.gke.io"
    assert spec["csi"]["volumeHandle"] == path
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["claimRef"]["name"] == "postgres-data"
    assert spec["claimRef"]["namespace"] == "itn-dev"
    claim = dev.named(PVC, "postgres-data")
    assert spec_of(claim)["volumeName"] == "itn-dev-postgres-data"
    assert spec_of(claim)["storageClassName"] == ""


def test_gke_data_disk_is_deleted_when_asked() -> None:
    rendered = render("dev", overrides=["postgres.keepDataOnDestroy=false"])
    [disk] = rendered.of_type(DISK)
    assert disk["options"]["retainOnDelete"] is False


def test_existing_disk_is_attached_not_created() -> None:
    rendered = render("dev", overrides=[f"postgres.existingDisk={EXISTING_DISK}"])
    assert rendered.of_type(DISK) == []
    volume = rendered.named(PV, "itn-dev-postgres-data")
    assert spec_of(volume)["csi"]["volumeHandle"] == EXISTING_DISK
    assert rendered.outputs["postgres"]["dataDisk"] == EXISTING_DISK


def test_kubernetes_platform_claims_storage_dynamically_and_retains_the_claim() -> None:
    rendered = render(config_file=KIND, overrides=["platform.storageClass=fast"])
    assert rendered.of_type(DISK) == []
    assert rendered.of_type(PV) == []
    claim = rendered.named(PVC, "postgres-data")
    assert spec_of(claim)["storageClassName"] == "fast"
    assert spec_of(claim)["resources"]["requests"]["storage"] == "20Gi"
    assert claim["options"]["retainOnDelete"] is True
    assert rendered.outputs["postgres"]["dataDisk"] is None


# ------------------------------------------------------------------------------ pod hygiene


@pytest.mark.parametrize("variant", ["dev", "kind"])
def test_every_service_container_is_bounded_and_unprivileged(variant: str) -> None:
    rendered = {"dev": lambda: render("dev"), "kind": kind_closed}[variant]()
    found = workloads(rendered)
    assert len(found) >= 4
    for workload in found:
        for name, container in containers(workload).items():
            where = f"{workload['inputs']['metadata']['name']}/{name}"
            resources = container.get("resources") or {}
            for part in ("requests", "limits"):
                assert set(resources.get(part) or {}) >= {"cpu", "memory"}, where
            security = container.get("securityContext") or {}
            assert security.get("privileged") is not True, where
            assert security.get("allowPrivilegeEscalation") is not True, where


def test_service_objects_are_labelled_and_prefixed(dev: Rendered) -> None:
    components = ("UptimeBackend", "Postgres", "LogFetcher")
    for resource in dev.resources:
        parent = resource["parent"] or ""
        if not any(f"mina-itn:services:{c}::" in parent for c in components):
            continue
        component_name = parent.rsplit("::", 1)[-1]
        assert resource["name"].startswith(f"{component_name}-"), resource["urn"]
        if resource["type"].startswith("kubernetes:"):
            labels = resource["inputs"]["metadata"]["labels"]
            assert labels["app.kubernetes.io/part-of"] == "mina-itn", resource["urn"]


@pytest.mark.parametrize("variant", ["dev", "kind", "existing-disk"])
def test_service_manifests_pass_the_strict_schema(variant: str) -> None:
    rendered = {
        "dev": lambda: render("dev"),
        "kind": kind_closed,
        "existing-disk": lambda: render(
            "dev", overrides=[f"postgres.existingDisk={EXISTING_DISK}"]
        ),
    }[variant]()
    failures = []
    manifests = rendered.manifests()
    assert manifests
    for path in manifests:
        document = yaml.safe_load(path.read_text())
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{path.name}: {error.message}")
    assert failures == []


def test_log_fetchers_output_names_nodes_as_the_fetcher_will(dev: Rendered) -> None:
    """ITC node.rs:29-37: `<submitter[-8:]>-<remote_addr>-<port>`, from each shard's list."""
    names = json.loads(
        dev.named(CONFIG_MAP, "log-fetcher-names")["inputs"]["data"]["node_names.json"]
    )
    published = dev.outputs["logFetchers"]
    assert [s["deployment"] for s in published] == [
        d["inputs"]["metadata"]["name"] for d in fetcher_shards(dev)
    ]
    for index, shard in enumerate(published, start=1):
        listed = json.loads(
            dev.named(CONFIG_MAP, f"log-fetcher-{index}-nodes")["inputs"]["data"]["online.json"]
        )
        assert shard["nodes"] == {
            names[e["submitter"]]: (
                f"{e['submitter'][-8:]}-{e['remote_addr']}-{e['graphql_control_port']}"
            )
            for e in listed
        }
