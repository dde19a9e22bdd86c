"""Checks every render must pass, whatever the stack: the rules of the real consumers.

Each check runs over the dev stack, an existing-cluster stack and a 200-node stack.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import kubernetes_validate
import pytest
import yaml

from minaperf.model.outputs import StackOutputs
from scripts.engine import SECRET_SIG, SECRET_VALUE
from scripts.render import _plain
from tests.conftest import KUBERNETES_VERSION, ROOT, Rendered, render

STACKS = {
    "dev": lambda: render("dev"),
    "kind": lambda: render(config_file=ROOT / "stacks" / "kind.yaml"),
    "large-200": lambda: render(config_file=ROOT / "stacks" / "large-200.yaml"),
}

PRIVATE_KEY = re.compile(r"EK[1-9A-HJ-NP-Za-km-z]{49,50}")


@pytest.fixture(params=sorted(STACKS), scope="module")
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return STACKS[request.param]()


def test_canary_program_ran_under_the_recording_engine(dev: Rendered) -> None:
    """Guards against a false green: the program body ran with our monitor as the engine and
    its `apply` callbacks really executed (the genesis time is computed inside one)."""
    assert dev.run.engine_was_mocked
    assert len(dev.resources) > 20
    assert dev.outputs["genesisTimestamp"] == "2030-01-01T00:15:00Z"
    assert dev.outputs["namespace"] == "itn-dev"


def test_every_manifest_passes_the_strict_kubernetes_schema(rendered: Rendered) -> None:
    manifests = rendered.manifests()
    assert manifests, "the render wrote no manifests"
    failures = []
    for path in manifests:
        document = yaml.safe_load(path.read_text())
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{path.relative_to(rendered.directory)}: {error.message}")
    assert not failures, "\n".join(failures)


def test_kubernetes_resources_use_the_explicit_provider(rendered: Rendered) -> None:
    providers = [r for r in rendered.resources if r["type"] == "pulumi:providers:kubernetes"]
    assert len(providers) == 1
    explicit = providers[0]["urn"]
    for resource in rendered.resources:
        if resource["type"].startswith("kubernetes:") and resource["custom"]:
            assert resource["provider"] is not None, resource["urn"]
            assert resource["provider"].startswith(explicit + "::"), resource["urn"]


def test_no_two_resources_share_type_and_name(rendered: Rendered) -> None:
    counts = Counter((r["type"], r["name"]) for r in rendered.resources)
    assert [key for key, count in counts.items() if count > 1] == []


def test_kubernetes_object_names_are_unique_per_namespace(rendered: Rendered) -> None:
    keys = Counter(
        (
            r["type"],
            (r["inputs"].get("metadata") or {}).get("namespace"),
            (r["inputs"].get("metadata") or {}).get("name"),
        )
        for r in rendered.resources
        if r["type"].startswith("kubernetes:") and r["custom"]
    )
    assert [key for key, count in keys.items() if count > 1] == []


def test_every_resource_is_a_child_of_one_of_our_components(rendered: Rendered) -> None:
    by_urn = {r["urn"]: r for r in rendered.resources}
    tops = [r for r in rendered.resources if r["parent"] not in by_urn]
    assert [r["type"] for r in tops] == ["mina-itn:index:Experiment"]
    for resource in rendered.resources:
        if resource is tops[0]:
            continue
        parent = by_urn[resource["parent"]]
        assert parent["type"].startswith("mina-itn:"), (resource["urn"], parent["type"])
        assert not parent["custom"], resource["urn"]


def _secret_values(value: Any, found: set[str], inside: bool = False) -> None:
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            _secret_values(value.get("value"), found, inside=True)
            return
        for item in value.values():
            _secret_values(item, found, inside)
    elif isinstance(value, list):
        for item in value:
            _secret_values(item, found, inside)
    elif inside and isinstance(value, str) and len(value) >= 12:
        # Generated secrets are >= 22 characters; shorter values kept in Secrets (a user
        # name such as "postgres") are not secret and would only produce false alarms.
        found.add(value)


def test_no_secret_value_appears_outside_secrets(rendered: Rendered) -> None:
    secrets: set[str] = set()
    for resource in rendered.run.resources:
        _secret_values(resource.inputs, secrets)
        if resource.type == "kubernetes:core/v1:Secret":
            for field in ("data", "stringData"):
                _secret_values(resource.inputs.get(field) or {}, secrets, inside=True)
    assert secrets, "expected the render to hold secrets (key files, passwords)"
    exposed = []
    for resource in rendered.run.resources:
        inputs = dict(resource.inputs)
        if resource.type == "kubernetes:core/v1:Secret":
            inputs.pop("data", None)
            inputs.pop("stringData", None)
        visible = json.dumps(_plain(inputs, show_secrets=False))
        exposed += [f"{resource.urn}: {value[:12]}..." for value in secrets if value in visible]
        exposed += [f"{resource.urn}: private key" for _ in PRIVATE_KEY.finditer(visible)]
    public_outputs = json.dumps(
        {k: v for k, v in rendered.run.outputs.items() if k not in rendered.run.secret_outputs}
    )
    exposed += [f"output: {value[:12]}..." for value in secrets if value in public_outputs]
    assert not exposed, "\n".join(sorted(exposed))


def test_secret_outputs_are_masked_unless_shown(dev: Rendered) -> None:
    for key in ("orchestratorKey", "fundingKeys", "postgresPassword"):
        assert key in dev.run.secret_outputs
    from scripts.render import write_render

    masked = dev.directory.parent / "dev-masked"
    masked.mkdir(exist_ok=True)
    write_render(dev.run, masked, show_secrets=False)
    outputs = json.loads((masked / "outputs.json").read_text())
    assert outputs["orchestratorKey"] == "[secret]"
    assert outputs["fundingKeys"] == "[secret]"
    text = (masked / "resources.json").read_text()
    assert dev.outputs["orchestratorKey"] not in text


def test_outputs_follow_the_stack_outputs_contract(rendered: Rendered) -> None:
    outputs = StackOutputs.model_validate(rendered.outputs)
    assert outputs.secrets_shown


def test_every_kubernetes_object_is_labelled(rendered: Rendered) -> None:
    for resource in rendered.resources:
        if not (resource["type"].startswith("kubernetes:") and resource["custom"]):
            continue
        labels = (resource["inputs"].get("metadata") or {}).get("labels") or {}
        assert labels.get("mina-itn/experiment") == rendered.run.stack, resource["urn"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}", labels.get("mina-itn/expiry", "")), (
            resource["urn"]
        )


def test_gcp_resources_carry_experiment_and_expiry_labels(dev: Rendered) -> None:
    labelled = {
        "gcp:container/cluster:Cluster": "resourceLabels",
        "gcp:compute/instance:Instance": "labels",
        "gcp:compute/disk:Disk": "labels",
        "gcp:compute/address:Address": "labels",
    }
    seen = 0
    for resource in dev.resources:
        field = labelled.get(resource["type"])
        if field is None:
            continue
        seen += 1
        labels = resource["inputs"].get(field) or {}
        assert labels.get("experiment") == "dev", resource["urn"]
        assert labels.get("expiry") == "2030-01-03_00-00", resource["urn"]
    assert seen >= 1


def test_a_second_run_registers_exactly_the_same_inputs(dev: Rendered) -> None:
    """No churn: a repeated `pulumi up` of the same stack sends the engine identical inputs."""
    from minaperf.model.stack_file import read_stack_input
    from scripts.engine import run_program

    stack_input = read_stack_input(stack="dev", config_file=None, overrides=())
    again = run_program(stack_input.name, stack_input.config, stack_input.secret_keys)

    def by_urn(resources: list[Any]) -> dict[str, tuple[Any, ...]]:
        return {
            r.urn: (_plain(r.inputs, show_secrets=True), r.options, r.dependencies, r.parent)
            for r in resources
        }

    first, second = by_urn(dev.run.resources), by_urn(again.resources)
    assert len(first) == len(dev.run.resources)
    assert sorted(first) == sorted(second)
    assert [urn for urn in first if first[urn] != second[urn]] == []
    assert again.outputs == dev.run.outputs


def test_two_stacks_get_different_keys(
    dev: Rendered, tmp_path_factory: pytest.TempPathFactory
) -> None:
    copy = tmp_path_factory.mktemp("stacks") / "other.yaml"
    copy.write_text((ROOT / "Pulumi.dev.yaml").read_text())
    other = render(config_file=copy)
    assert other.outputs["orchestratorPublicKey"] != dev.outputs["orchestratorPublicKey"]
    assert other.outputs["orchestratorKey"] != dev.outputs["orchestratorKey"]


def test_gcp_resources_use_the_explicit_provider(dev: Rendered) -> None:
    """Two explicit providers: one enables the project's APIs, the other (which depends on
    those APIs, see tests/components/test_platform.py) serves every other GCP resource."""
    providers = {r["name"]: r for r in dev.of_type("pulumi:providers:gcp")}
    assert set(providers) == {"dev-gcp", "dev-gcp-apis"}
    gcp = [r for r in dev.resources if r["type"].startswith("gcp:")]
    assert gcp

    def served_by(name: str) -> list[str]:
        urn = providers[name]["urn"]
        # A provider reference is "<urn>::<id>".
        return [r["type"] for r in gcp if (r["provider"] or "").rsplit("::", 1)[0] == urn]

    assert set(served_by("dev-gcp-apis")) == {"gcp:projects/service:Service"}
    assert len(served_by("dev-gcp")) + len(served_by("dev-gcp-apis")) == len(gcp)


@pytest.mark.parametrize("path", ["Pulumi.dev.yaml", "stacks/kind.yaml", "stacks/large-200.yaml"])
def test_stacks_disable_default_providers(path: str) -> None:
    config = yaml.safe_load((ROOT / path).read_text())["config"]
    assert set(config["pulumi:disable-default-providers"]) >= {"kubernetes", "gcp"}
