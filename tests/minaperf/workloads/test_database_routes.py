"""Every database client against a real PostgreSQL configured from the render (issue 22 §2).

The server runs with the StatefulSet's own arguments, with the TLS Secret, the pg_hba.conf and
the password mounted where the kubelet would put them (files taken from the rendered Secret and
ConfigMap objects, paths rewritten to a temporary directory), and the read-only role made by the
log fetcher's `reader-role` init container with its rendered environment. Each client then
connects with exactly the parameters our code builds: the report through `scripts.report.connect`
from the rendered stack outputs, the fetcher shards and the log API from their containers'
environment. Only the address and port differ from the cloud (no cluster DNS, no Service here),
and each client's source address is chosen through `SourceRelay`:

- the pod range of the test stack is 127.0.0.16/28 (`platform.podCidrs`): "a pod" is 127.0.0.17;
- the load balancer's source range is 127.0.0.64/26 (`access.adminCidrs`): "a person" is
  127.0.0.70, outside the pods;
- a port-forward arrives at 127.0.0.1 inside the pod.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from minaperf.model.outputs import StackOutputs, parse_outputs
from minaperf.report.verdict import EXIT_INCOMPLETE
from minaperf.workloads.postgres_access import server_certificate
from scripts import report
from tests.conftest import ROOT, Rendered, render
from tests.fakes import report_scenario as sc
from tests.fakes.pg_hba import Client, first_match
from tests.fakes.source_relay import SourceRelay

from .conftest import SUPERUSER, PgImage, RunAs

pytestmark = pytest.mark.postgres

POD = "127.0.0.17"
PODS_EDGE = "127.0.0.32"
"""The first address after the pod range 127.0.0.16/28."""
OUTSIDE = "127.0.0.70"
STACK = [
    "platform.podCidrs=[127.0.0.16/28]",
    "access.adminCidrs=[127.0.0.64/26]",
]
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
WHO = (
    "SELECT current_user, s.ssl, host(inet_client_addr()) FROM pg_stat_ssl s "
    "WHERE s.pid = pg_backend_pid()"
)


# --------------------------------------------------------------------------- the kubelet's part


def _pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["inputs"]["spec"]["template"]["spec"]


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = _pod_spec(resource)
    return [*spec.get("initContainers", []), *spec["containers"]]


def _object_data(rendered: Rendered, volume: dict[str, Any]) -> dict[str, str] | None:
    if "secret" in volume:
        obj = rendered.named(SECRET, volume["secret"]["secretName"])["inputs"]
        return obj["stringData"]
    if "configMap" in volume:
        return rendered.named(CONFIG_MAP, volume["configMap"]["name"])["inputs"]["data"]
    return None


def _mount(
    rendered: Rendered, workload: dict[str, Any], container: dict[str, Any], root: Path
) -> dict[str, Path]:
    """Write the container's Secret and ConfigMap volumes under `root`; mount path -> directory."""
    volumes = {v["name"]: v for v in _pod_spec(workload).get("volumes", [])}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        data = _object_data(rendered, volume)
        if data is None:
            continue
        source = volume.get("secret") or volume.get("configMap") or {}
        items = source.get("items") or [{"key": key, "path": key} for key in data]
        directory = root / container["name"] / mount["name"]
        directory.mkdir(parents=True, exist_ok=True)
        for item in items:
            (directory / item["path"]).write_text(data[item["key"]])
        mounts[mount["mountPath"]] = directory
    return mounts


def _rewrite(value: str, mounts: dict[str, Path]) -> str:
    for mount_path, directory in sorted(mounts.items(), key=lambda m: -len(m[0])):
        value = value.replace(mount_path, str(directory))
    return value


def _env(rendered: Rendered, container: dict[str, Any], mounts: dict[str, Path]) -> dict[str, str]:
    """The container's environment, Secret references resolved from the rendered Secrets."""
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = _rewrite(entry["value"], mounts)
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        env[entry["name"]] = rendered.named(SECRET, ref["name"])["inputs"]["stringData"][ref["key"]]
    return env


def _workload_with(rendered: Rendered, container_name: str) -> tuple[dict, dict]:
    for workload in [*rendered.of_type(DEPLOYMENT), *rendered.of_type(STATEFULSET)]:
        for container in _containers(workload):
            if container["name"] == container_name:
                return workload, container
    raise KeyError(container_name)


# --------------------------------------------------------------------------- the deployment


@dataclass
class Deployed:
    rendered: Rendered
    server: PgImage
    pod: SourceRelay
    pods_edge: SourceRelay
    outside: SourceRelay
    root: Path

    def outputs_json(self, relay: SourceRelay, **postgres: Any) -> dict[str, Any]:
        """The rendered outputs.json, the load balancer being `relay`."""
        data = dict(self.rendered.outputs)
        data["postgres"] = {
            **data["postgres"],
            "externalAddress": relay.address,
            "port": relay.port,
            **postgres,
        }
        return data

    def outputs(self, relay: SourceRelay, **postgres: Any) -> StackOutputs:
        return parse_outputs(self.outputs_json(relay, **postgres))

    def in_cluster_env(self, container: dict[str, Any], mounts: dict[str, Path]) -> dict[str, str]:
        """A pod's libpq environment: the rendered one, reaching the server through `pod`."""
        env = _env(self.rendered, container, mounts)
        assert env["PGHOST"] == self.rendered.outputs["postgres"]["host"]
        return {
            **env,
            "PGHOSTADDR": self.pod.address,  # PGHOST stays: no cluster DNS here
            "PGPORT": str(self.pod.port),
            "PATH": f"{self.server.bindir}:/usr/bin:/bin",
            "HOME": str(self.root),
        }


def _start_server(rendered: Rendered, bindir: Path, run_as: RunAs, root: Path) -> PgImage:
    workload, container = _workload_with(rendered, "postgres")
    mounts = _mount(rendered, workload, container, root / "mounts")
    for directory in mounts.values():
        run_as.own(directory.parent)
        run_as.own(directory)
        for path in directory.iterdir():
            run_as.own(path)
            path.chmod(0o600)  # the server's own key file (be-secure-common.c check_ssl_key_file)
    env = _env(rendered, container, mounts)
    server = PgImage(
        bindir=bindir,
        run_as=run_as,
        base=root / "server",
        password=Path(env["POSTGRES_PASSWORD_FILE"]).read_text(),
        server_args=[_rewrite(arg, mounts) for arg in container["args"]],
        db=env["POSTGRES_DB"],
    )
    assert env["POSTGRES_USER"] == SUPERUSER
    server.base.mkdir()
    server.start()
    return server


def _make_reader_role(deployed: Deployed) -> None:
    workload, container = _workload_with(deployed.rendered, "reader-role")
    mounts = _mount(deployed.rendered, workload, container, deployed.root / "fetcher")
    env = deployed.in_cluster_env(container, mounts)
    command = [_rewrite(part, mounts) for part in container["command"]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def deployed(pg_bindir: Path, run_as: RunAs) -> Iterator[Deployed]:
    rendered = render(config_file=ROOT / "stacks" / "kind.yaml", overrides=STACK)
    root = Path(tempfile.mkdtemp(prefix="minaperf-pg-"))  # the server's user reads it
    root.chmod(0o755)
    server = _start_server(rendered, pg_bindir, run_as, root)
    target = ("127.0.0.1", server.port)
    try:
        with (
            SourceRelay.running(POD, target) as pod,
            SourceRelay.running(PODS_EDGE, target) as edge,
            SourceRelay.running(OUTSIDE, target) as outside,
        ):
            deployed = Deployed(rendered, server, pod, edge, outside, root)
            _make_reader_role(deployed)
            with _socket(server) as conn:
                # A table created after the role, as the consumers create theirs.
                conn.execute("CREATE TABLE probe (block_hash text)")
                conn.execute("INSERT INTO probe VALUES ('3NKtest')")
            yield deployed
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _psql(uri: str, query: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-At", "-F", " ", uri, "-c", query],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _report_connect(outputs: StackOutputs, *options: str) -> psycopg.Connection:
    args = report.build_parser().parse_args(["--run", "r", "--outputs", "o", *options])
    return report.connect(args, outputs)


def _refused(outputs: StackOutputs, *options: str) -> str:
    with pytest.raises(report.CliError) as raised:
        _report_connect(outputs, *options)
    return str(raised.value)


# --------------------------------------------------------------------------- the clients


def test_the_report_reaches_the_server_by_default_as_the_reader_over_verified_tls(
    deployed: Deployed,
) -> None:
    outputs = deployed.outputs(deployed.outside)
    with _report_connect(outputs) as conn:
        assert conn.execute(WHO).fetchone() == ("logs_reader", True, OUTSIDE)
        options = {o.keyword.decode(): o.val for o in conn.pgconn.info}
        assert options["sslmode"] == b"verify-full"
        assert options["host"] == outputs.postgres.host.encode()  # the name in the certificate
        assert options["hostaddr"] == OUTSIDE.encode()
        assert conn.execute("SELECT block_hash FROM probe").fetchall() == [("3NKtest",)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO probe VALUES ('x')")


def test_scripts_report_needs_no_database_option(
    deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`scripts.report --outputs F --run R`, F being what `pulumi stack output --json
    --show-secrets` prints (the render's outputs.json): a report, here of a database without
    the consumers' schema, which the report says and marks incomplete (exit 3), having connected."""
    written = tmp_path / "outputs.json"
    written.write_text(json.dumps(deployed.outputs_json(deployed.outside)))
    run_dir = sc.write_run(tmp_path / "run", sc.run_start())
    assert report.main(["--run", str(run_dir), "--outputs", str(written)]) == EXIT_INCOMPLETE
    captured = capsys.readouterr()
    assert captured.out.startswith(f"wrote {run_dir}/report/report.html")
    assert captured.err.startswith("note: schema missing")


def test_the_report_refuses_a_server_without_this_stacks_certificate(deployed: Deployed) -> None:
    other, _ = server_certificate(bytes(32), [deployed.rendered.outputs["postgres"]["host"]])
    outputs = deployed.outputs(deployed.outside, caCertificate=other)
    error = _refused(outputs)
    assert error.startswith(
        f"database: the external route to {OUTSIDE}:{deployed.outside.port} as logs_reader "
        "(sslmode=verify-full) failed ("
    )
    assert "did not prove it holds this stack's certificate" in error


def test_a_person_with_the_superuser_is_refused_from_outside(deployed: Deployed) -> None:
    outputs = deployed.outputs(deployed.outside)
    port = str(deployed.outside.port)
    error = _refused(outputs, "--db-host", OUTSIDE, "--db-port", port)
    assert "no pg_hba.conf entry" in error
    assert "admitted only from inside the pod and the pod ranges" in error
    password = deployed.rendered.outputs["postgresPassword"]
    for sslmode in ("disable", "require"):
        with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
            psycopg.connect(
                host=OUTSIDE,
                port=deployed.outside.port,
                user=SUPERUSER,
                password=password,
                dbname="logs",
                sslmode=sslmode,
            )


def test_the_reader_without_tls_is_refused_from_outside(deployed: Deployed) -> None:
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        psycopg.connect(
            host=OUTSIDE,
            port=deployed.outside.port,
            user="logs_reader",
            password=deployed.rendered.outputs["postgresReaderPassword"],
            dbname="logs",
            sslmode="disable",
        )


def test_the_superuser_through_a_port_forward_is_admitted_over_verified_tls(
    deployed: Deployed,
) -> None:
    outputs = deployed.outputs(deployed.outside)
    port = str(deployed.server.port)
    with _report_connect(outputs, "--db-host", "127.0.0.1", "--db-port", port) as conn:
        assert conn.execute(WHO).fetchone() == (SUPERUSER, True, "127.0.0.1")


@pytest.mark.parametrize("container_name", ["fetcher", "log-api"])
def test_in_cluster_clients_connect_from_the_pod_range(
    deployed: Deployed, container_name: str
) -> None:
    """Every fetcher shard and the log API, with the environment and `--db-uri` they run with."""
    found = [
        (workload, container)
        for workload in deployed.rendered.of_type(DEPLOYMENT)
        for container in _containers(workload)
        if container["name"] == container_name
    ]
    assert found
    for workload, container in found:
        mounts = _mount(deployed.rendered, workload, container, deployed.root / "clients")
        env = deployed.in_cluster_env(container, mounts)
        arguments = [*container.get("command", []), *container.get("args", [])]
        uri = arguments[arguments.index("--db-uri") + 1]
        result = _psql(uri, WHO, env)
        assert result.returncode == 0, result.stderr
        # libpq's default sslmode (prefer) takes the TLS the server offers.
        assert result.stdout.split() == [SUPERUSER, "t", POD]
        # The same client one address past the pod range is a stranger.
        edge = env | {"PGHOSTADDR": PODS_EDGE, "PGPORT": str(deployed.pods_edge.port)}
        result = _psql(uri, "SELECT 1", edge)
        assert result.returncode == 2
        assert "no pg_hba.conf entry" in result.stderr


def _hba_of(rendered: Rendered) -> str:
    return rendered.named(CONFIG_MAP, "postgres-scripts")["inputs"]["data"]["pg_hba.conf"]


def _decisions(deployed: Deployed, hba: str) -> dict[tuple[str | None, str, bool], str | None]:
    """Both roles, with and without TLS, from the socket, inside the pod, the pod range, just
    past it and outside, on the real server: each admitted or refused exactly as the stand-in
    (tests/fakes/pg_hba.py) says for `hba`. Returns the deciding line per attempt."""
    outputs = deployed.rendered.outputs
    passwords = {
        SUPERUSER: outputs["postgresPassword"],
        "logs_reader": outputs["postgresReaderPassword"],
    }
    server = deployed.server
    places: list[tuple[str | None, str, int]] = [
        (None, str(server.sockdir), server.port),
        ("127.0.0.1", "127.0.0.1", server.port),
        *((r.address, r.address, r.port) for r in (deployed.pod, deployed.pods_edge)),
        (OUTSIDE, OUTSIDE, deployed.outside.port),
    ]
    decided: dict[tuple[str | None, str, bool], str | None] = {}
    for address, host, port in places:
        for user, password in passwords.items():
            for tls in (False, True) if address is not None else (False,):
                rule = first_match(hba, Client(address, user, "logs", tls))
                refusal = ""
                try:
                    with psycopg.connect(
                        host=host,
                        port=port,
                        user=user,
                        password=password,
                        dbname="logs",
                        sslmode="require" if tls else "disable",
                    ) as conn:
                        assert conn.execute(WHO).fetchone() == (user, tls, address)
                except psycopg.OperationalError as error:
                    refusal = str(error)
                assert (not refusal) == (rule is not None), (address, user, tls, refusal)
                assert not refusal or "no pg_hba.conf entry" in refusal
                decided[(address, user, tls)] = " ".join(rule) if rule else None
    return decided


def test_every_rule_of_the_rendered_pg_hba_decides_as_the_stand_in_says(
    deployed: Deployed,
) -> None:
    """Each IPv4 line of the rendered file (this server listens on 127.0.0.1 only)."""
    decided = _decisions(deployed, _hba_of(deployed.rendered))
    assert set(decided.values()) == {
        None,
        "local all all scram-sha-256",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all 127.0.0.16/28 scram-sha-256",
        "hostssl logs logs_reader 0.0.0.0/0 scram-sha-256",
    }


@pytest.mark.parametrize(
    ("pods", "pod_lines"),
    [
        ("['::ffff:127.0.0.16/124']", ["127.0.0.16/28"]),  # IPv4-mapped, written as Go reads it
        (
            "[127.0.0.16/29, 127.0.0.24/29, 'fd00:10::/64']",
            ["127.0.0.16/29", "127.0.0.24/29", "fd00:10::/64"],
        ),
    ],
)
def test_other_accepted_range_configs_keep_the_promise_on_the_real_server(
    deployed: Deployed, pods: str, pod_lines: list[str]
) -> None:
    """The pg_hba.conf of another config, loaded into the running server (as the kubelet updates
    a mounted ConfigMap, then a reload): the superuser is refused from outside, TLS or not."""
    variant = render(
        config_file=ROOT / "stacks" / "kind.yaml",
        overrides=[f"platform.podCidrs={pods}", "access.adminCidrs=[127.0.0.64/26]"],
    )
    hba_file = Path(
        next(a for a in deployed.server.server_args if a.startswith("hba_file=")).split("=", 1)[1]
    )
    inside_pod = {"127.0.0.1/32", "::1/128"}
    host_lines = [line.split()[3] for line in _hba_of(variant).splitlines() if line[:5] == "host "]
    assert [cidr for cidr in host_lines if cidr not in inside_pod] == pod_lines
    original = hba_file.read_text()
    try:
        hba_file.write_text(_hba_of(variant))
        _reload(deployed.server)
        decided = _decisions(deployed, _hba_of(variant))
    finally:
        hba_file.write_text(original)
        _reload(deployed.server)
    for tls in (False, True):
        assert decided[(OUTSIDE, SUPERUSER, tls)] is None
        assert decided[(PODS_EDGE, SUPERUSER, tls)] is None
    assert decided[(POD, SUPERUSER, False)] is not None
    assert (
        decided[(OUTSIDE, "logs_reader", True)]
        == "hostssl logs logs_reader 0.0.0.0/0 scram-sha-256"
    )


def _socket(server: PgImage) -> psycopg.Connection:
    """The superuser over the Unix socket, as inside the pod."""
    return psycopg.connect(
        host=str(server.sockdir),
        port=server.port,
        user=SUPERUSER,
        password=server.password,
        dbname="logs",
        autocommit=True,
    )


def _reload(server: PgImage) -> None:
    with _socket(server) as conn:
        assert conn.execute("SELECT pg_reload_conf()").fetchone() == (True,)
        errors = conn.execute("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL")
        assert errors.fetchone() == (0,)


def test_no_rule_trusts_a_client_without_its_password(deployed: Deployed) -> None:
    server = deployed.server
    for host, port in ((str(server.sockdir), server.port), (POD, deployed.pod.port)):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host=host, port=port, user=SUPERUSER, dbname="logs", password="")
