"""The render's GCP resources as Terraform for checkov's CIS GCP checks (scripts.gcp_scan).

checkov itself runs in `.ci/run` (its own venv); here: the conversion is faithful (arguments,
blocks, maps, references), every shipped GKE stack's exceptions are written as skip comments with
their reasons, and bad input is one line, exit 2.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.gcp_scan import GCP_SCAN_EXCEPTIONS, ScanInputError, main, snake, to_terraform
from tests.conftest import ROOT, render

SKIP = re.compile(r"^  #checkov:skip=(?P<check>CKV2?_GCP_\d+):(?P<reason>.+)$", re.M)


def _block(text: str, terraform_type: str) -> str:
    start = text.index(f'resource "{terraform_type}" ')
    return text[start : text.index("\n}\n", start) + 2]


def test_names_are_the_providers_arguments() -> None:
    assert snake("masterAuthorizedNetworksConfig") == "master_authorized_networks_config"
    assert snake("gcpPublicCidrsAccessEnabled") == "gcp_public_cidrs_access_enabled"
    assert snake("ipv6AccessConfigs") == "ipv6_access_configs"
    assert snake("name") == "name"


def test_blocks_maps_references_and_literal_templates() -> None:
    resources = [
        {
            "type": "gcp:compute/network:Network",
            "name": "net",
            "inputs": {"name": "itn-dev-vpc", "autoCreateSubnetworks": False},
        },
        {
            "type": "gcp:compute/firewall:Firewall",
            "name": "fw",
            "inputs": {
                "network": "projects/p/global/networks/itn-dev-vpc",
                "allows": [{"protocol": "tcp", "ports": ["22"]}],
                "sourceRanges": ["35.235.240.0/20"],
            },
        },
        {
            "type": "gcp:compute/instanceTemplate:InstanceTemplate",
            "name": "tpl",
            "inputs": {
                "metadata": {"startup-script": "echo ${HOME} %{x}", "enable-oslogin": "TRUE"},
                "labels": {"experiment": "dev"},
                "shieldedInstanceConfig": {"enableSecureBoot": True},
            },
        },
        {"type": "kubernetes:core/v1:Namespace", "name": "ns", "inputs": {"metadata": {}}},
    ]
    text = to_terraform(resources)
    assert "kubernetes" not in text
    assert "Namespace" not in text
    firewall = _block(text, "google_compute_firewall")
    assert "  network = google_compute_network.net.id\n" in firewall
    assert '  allow {\n    protocol = "tcp"\n    ports = ["22"]\n  }' in firewall
    template = _block(text, "google_compute_instance_template")
    assert '  metadata = {\n    "startup-script" = "echo $${HOME} %%{x}"' in template
    assert '  labels = {\n    "experiment" = "dev"\n  }' in template
    assert "  shielded_instance_config {\n    enable_secure_boot = true\n  }" in template
    assert "#checkov:skip" not in template, "a shielded template needs no exception"


@pytest.mark.parametrize(
    ("stack", "unshielded"),
    [
        pytest.param(lambda: render("dev"), False, id="dev"),
        pytest.param(
            lambda: render(config_file=ROOT / "stacks" / "large-200.yaml"), True, id="large-200"
        ),
    ],
)
def test_every_exception_is_a_skip_with_its_reason_on_its_resource(stack, unshielded) -> None:
    text = to_terraform(stack().resources)
    skips = {
        terraform_type: {m["check"] for m in SKIP.finditer(_block(text, terraform_type))}
        for terraform_type in (
            "google_container_cluster",
            "google_compute_subnetwork",
            "google_compute_disk",
            "google_compute_instance_template",
        )
    }
    assert skips == {
        "google_container_cluster": {
            *("CKV_GCP_12", "CKV_GCP_61", "CKV_GCP_65", "CKV_GCP_66", "CKV_GCP_69", "CKV_GCP_123")
        },
        "google_compute_subnetwork": {"CKV_GCP_26"},
        "google_compute_disk": {"CKV_GCP_37"},
        "google_compute_instance_template": {"CKV_GCP_39"} if unshielded else set(),
    }
    assert all(len(m["reason"].split()) >= 8 for m in SKIP.finditer(text))
    # What the program meets instead of skipping: client certificates off, the firewall on
    # the experiment's own network (CKV2_GCP_18 follows the reference).
    cluster = _block(text, "google_container_cluster")
    assert "issue_client_certificate = false" in cluster
    assert "gcp_public_cidrs_access_enabled = false" in cluster
    assert re.search(r"network = google_compute_network\.\S+\.id", text)


def test_a_cluster_s_own_pools_are_blocks_and_scanned_as_node_pools() -> None:
    """checkov reads a cluster's node settings only from `node_config`: each `node_pool`
    block is written a second time as the `google_container_node_pool` it would be."""
    pool = {
        "name": "mina",
        "nodeCount": 4,
        "nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}},
    }
    cluster = {
        "type": "gcp:container/cluster:Cluster",
        "name": "itn-dev",
        "inputs": {"name": "itn-dev", "nodePools": [pool, {**pool, "name": "services"}]},
    }
    text = to_terraform([cluster])
    block = _block(text, "google_container_cluster")
    assert block.count("\n  node_pool {\n    name = ") == 2
    for name in ("mina", "services"):
        start = text.index(f'resource "google_container_node_pool" "itn-dev-{name}" {{')
        scanned = text[start : text.index("\n}\n", start) + 1]
        assert "  cluster = google_container_cluster.itn-dev.name\n" in scanned
        assert f'  name = "{name}"\n' in scanned
        assert '    workload_metadata_config {\n      mode = "GKE_METADATA"' in scanned
    with pytest.raises(ScanInputError, match="nodePools"):
        to_terraform([{**cluster, "inputs": {"name": "c", "nodePools": ["x"]}}])


def test_exceptions_are_keyed_by_types_the_converter_writes() -> None:
    from scripts.gcp_scan import TERRAFORM_TYPES

    assert set(GCP_SCAN_EXCEPTIONS) <= set(TERRAFORM_TYPES)


def test_the_cli_writes_one_file_per_render(tmp_path: Path) -> None:
    rendered = render("dev")
    out = tmp_path / "terraform"
    assert main([str(rendered.directory / "resources.json"), "--out", str(out)]) == 0
    (written,) = out.iterdir()
    assert written.name == f"{rendered.directory.name}.tf"
    assert written.read_text() == to_terraform(rendered.resources)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{}", "not a JSON list of resources"),
        ("[1]", "every record needs"),
        ("[{", "Expecting"),
        (
            '[{"type": "gcp:compute/firewall:Firewall", "name": "f", "inputs": {"rules": [{}]}}]',
            "`rules` is a list of objects with no known Terraform block name",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys, content: str, message: str) -> None:
    path = tmp_path / "resources.json"
    path.write_text(content)
    assert main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert not (tmp_path / "out").exists()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    document=st.lists(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["gcp:compute/firewall:Firewall", "x"]),
                "name": st.text(max_size=8),
            },
            optional={"inputs": _json},
        ),
        max_size=3,
    )
    | _json
)
def test_any_json_is_written_or_refused_in_one_line(tmp_path: Path, capsys, document) -> None:
    import json

    path = tmp_path / "resources.json"
    path.write_text(json.dumps(document))
    status = main([str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status in (0, 2)
    assert (status == 2) is bool(err)
    assert len(err.strip().splitlines()) <= 1
