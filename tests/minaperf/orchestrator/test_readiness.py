from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from minaperf.keys.itn import ItnKey
from minaperf.model.outputs import parse_outputs
from minaperf.orchestrator.access import DirectAccess
from minaperf.orchestrator.readiness import itn_auth, parse_auth_response, wait_ready
from tests.fakes.outputs_fixture import (
    ORCHESTRATOR_KEY,
    ORCHESTRATOR_PUBLIC_KEY,
    OTHER_PUBLIC_KEY,
    make_outputs,
    node,
)
from tests.fakes.servers import FakeDaemon, FakeUptimeBackend

FAKE_KUBECTL = str(Path(__file__).parents[2] / "fakes" / "fake_kubectl.py")
KEY = ItnKey.from_secret_b64(ORCHESTRATOR_KEY)


@pytest.fixture
def network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    daemons = {
        "bp-1": FakeDaemon({ORCHESTRATOR_PUBLIC_KEY}),
        "plain-1": FakeDaemon({ORCHESTRATOR_PUBLIC_KEY}, uint16_as_string=False),
    }
    uptime = FakeUptimeBackend(
        [
            {"remote_addr": "127.0.0.1", "submitter": f"B62q-{n}", "graphql_control_port": 1}
            for n in daemons
        ]
    )
    pods = tmp_path / "pods.json"
    pods.write_text(
        json.dumps(
            {
                "items": [
                    {
                        "metadata": {"name": f"{n}-0"},
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                    }
                    for n in daemons
                ]
            }
        )
    )
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(pods))
    nodes = [node(n, itn_port=d.itn.port, graphql_port=d.graphql.port) for n, d in daemons.items()]
    outputs = make_outputs(
        nodes=nodes, online_url=f"http://127.0.0.1:{uptime.port}/v1/online", work_dir=str(tmp_path)
    )
    yield {"daemons": daemons, "uptime": uptime, "outputs": outputs, "pods": pods}
    for daemon in daemons.values():
        daemon.close()
    uptime.close()


def test_auth_request_is_accepted_by_the_fake_daemon(network: dict) -> None:
    daemon = network["daemons"]["bp-1"]
    with httpx.Client(trust_env=False) as client:
        info = itn_auth(
            client, f"http://127.0.0.1:{daemon.itn.port}/graphql", KEY.authorization_header
        )
    assert info.server_uuid == daemon.server_uuid
    assert info.libp2p_port == 8302
    request = daemon.requests[-1]
    assert request["status"] == 200
    assert request["authorization"] == KEY.authorization_header(request["body"])
    # The next request must be sequenced: 412 for a wrong seqno, 200 for the right one.
    body = b'{"query":"mutation { x }"}'
    url = f"http://127.0.0.1:{daemon.itn.port}/graphql"
    wrong = KEY.sequenced_authorization_header(body, info.server_uuid, 5)
    right = KEY.sequenced_authorization_header(body, info.server_uuid, info.signer_sequence_number)
    assert httpx.post(url, content=body, headers={"Authorization": wrong}).status_code == 412
    assert httpx.post(url, content=body, headers={"Authorization": right}).status_code == 200
    unsequenced = KEY.authorization_header(body)
    assert httpx.post(url, content=body, headers={"Authorization": unsequenced}).status_code == 401


def test_unknown_key_gets_401(network: dict) -> None:
    daemon = FakeDaemon({OTHER_PUBLIC_KEY})
    try:
        with httpx.Client(trust_env=False) as client, pytest.raises(ValueError, match="401"):
            itn_auth(
                client, f"http://127.0.0.1:{daemon.itn.port}/graphql", KEY.authorization_header
            )
    finally:
        daemon.close()


def test_uint16_fields_as_string_or_number() -> None:
    for seq, port in (("3", "8302"), (3, 8302)):
        payload = {
            "data": {"auth": {"serverUuid": "u", "signerSequenceNumber": seq, "libp2pPort": port}}
        }
        info = parse_auth_response(payload)
        assert (info.signer_sequence_number, info.libp2p_port) == (3, 8302)
    with pytest.raises(ValueError, match="UInt16"):
        parse_auth_response({"data": {"auth": {"serverUuid": "u", "signerSequenceNumber": "x"}}})


def test_all_ready(network: dict) -> None:
    out = io.StringIO()
    sweep = wait_ready(
        parse_outputs(network["outputs"]),
        DirectAccess(),
        KEY.authorization_header,
        kubectl=FAKE_KUBECTL,
        timeout=5,
        out=out,
    )
    assert sweep.ready
    assert all(r.ready for r in sweep.nodes)
    assert "ready 2/2" in out.getvalue()


def test_unsynced_and_wrong_key_nodes_are_named(network: dict) -> None:
    network["daemons"]["bp-1"].sync_status = "BOOTSTRAP"
    network["daemons"]["plain-1"].itn_keys = {OTHER_PUBLIC_KEY}
    network["uptime"].online = network["uptime"].online[:1]
    sweep = wait_ready(
        parse_outputs(network["outputs"]),
        DirectAccess(),
        KEY.authorization_header,
        kubectl=FAKE_KUBECTL,
        timeout=0.5,
        out=io.StringIO(),
        first_interval=0.1,
    )
    problems = {r.name: " | ".join(r.problems) for r in sweep.nodes}
    assert "not synced (syncStatus BOOTSTRAP)" in problems["bp-1"]
    assert "ITN auth failed" in problems["plain-1"]
    assert "401" in problems["plain-1"]
    assert "not listed by uptime backend" in problems["plain-1"]
