"""The offline runner finds exactly what the real analyzer finds.

The parity test starts the policy pack the way the engine does (`python -m pulumi.policy` with the
pack directory) and calls its gRPC `Analyze` for every recorded resource.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy import policies as p
from policy.runner import (
    Violation,
    build_args,
    evaluate,
    main,
    pack_levels,
    pack_settings,
)
from tests.policy.test_policies import (
    CONFIG,
    K8S_LABELS,
    STACK,
    cluster,
    firewall,
    good_container,
    instance,
    k8s,
    node_pool,
    record,
    service,
    stateful_set,
)


def run_policies(
    resources: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    *,
    levels: Mapping[str, str] | None = None,
) -> list[Violation]:
    """The violations (mandatory findings) over the recorded resources, in record order."""
    return [f for f in evaluate(resources, config, levels=levels) if f.level == "mandatory"]


POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"


def sane_render() -> list[dict]:
    """What a careful GKE experiment looks like: no policy should object."""
    return [
        record("mina-itn:index:Experiment", STACK, {}) | {"custom": False},
        record("pulumi:providers:kubernetes", "k8s", {"kubeconfig": "[secret]"}),
        cluster(),
        node_pool(
            {"resourceLabels": {p.GCP_LABEL_EXPERIMENT: STACK, p.GCP_LABEL_EXPIRY: "2031-05-01"}}
        ),
        firewall(["203.0.113.7/32"]),
        instance(),
        k8s(
            "kubernetes:core/v1:Namespace",
            "mina-dev",
            {**K8S_LABELS, "pod-security.kubernetes.io/enforce": "baseline"},
        ),
        record(
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "deny",
            {
                "kind": "NetworkPolicy",
                "metadata": {
                    "name": "default-deny-ingress",
                    "namespace": "mina-dev",
                    "labels": K8S_LABELS,
                },
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            },
        ),
        service("postgres", ranges=["203.0.113.7/32"]),
        service("log-api", internal=True, name="log-api"),
        stateful_set([good_container()], [good_container("init-keys")]),
    ]


def unsafe_render() -> list[dict]:
    """One planted problem per policy."""
    bad_pod = good_container("sysctl")
    bad_pod["securityContext"] = {"privileged": True}
    unlimited = {"name": "fetcher", "image": "busybox"}
    no_expiry = {p.GCP_LABEL_EXPERIMENT: STACK}
    return [
        firewall(["0.0.0.0/0"]),
        service("dashboard", ranges=None, name="dashboard"),
        stateful_set([unlimited]),
        stateful_set([good_container()], [bad_pod]) | {"name": "seed", "urn": "urn:seed"},
        instance([{}]),
        k8s("kubernetes:core/v1:ConfigMap", "genesis", None),
        cluster(labels=no_expiry),
    ]


def test_sane_render_is_clean():
    assert run_policies(sane_render(), CONFIG) == []


def test_unsafe_render_gives_one_violation_per_planted_problem():
    found = run_policies(unsafe_render(), CONFIG)
    by_policy = sorted((v.policy, v.name) for v in found)
    assert by_policy == [
        ("cluster-deletion-protection-needs-expiry", "mina-dev"),
        ("containers-have-resources", "bp-1"),
        ("experiment-labels", "genesis"),
        ("experiment-labels", "mina-dev"),  # the cluster's missing expiry label, too
        ("no-privileged-containers", "seed"),
        ("no-public-ingress", "dev-allow-postgres"),
        ("no-vm-public-ip", "dev-snark-worker-0"),
        ("restricted-services-need-source-ranges", "dashboard"),
    ]
    firewall_violation = next(v for v in found if v.policy == "no-public-ingress")
    assert firewall_violation.urn.endswith("::dev-allow-postgres")
    assert firewall_violation.resource_type == "gcp:compute/firewall:Firewall"
    assert "dev-allow-postgres" in str(firewall_violation)


def test_allow_public_is_read_from_the_given_config():
    recs = [firewall(["0.0.0.0/0"])]
    assert len(run_policies(recs, {"experiment": STACK})) == 1
    assert run_policies(recs, {"experiment": STACK, "allowPublic": True}) == []


def test_given_config_beats_ambient_stack_config(monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"mina-itn:allowPublic": "true"}))
    assert len(run_policies([firewall(["0.0.0.0/0"])], {})) == 1


def test_build_args_mirrors_the_engine():
    rec = stateful_set([good_container()])
    rec["options"] = {
        "protect": True,
        "ignoreChanges": ["spec.replicas"],
        "deleteBeforeReplace": True,
        "customTimeouts": {"create": "30m", "update": "1h2m3s", "delete": ""},
    }
    args = build_args(rec, {"allowPublic": False}, {})
    assert args.props["spec"]["replicas"] == 1.0
    assert args.opts.protect is True
    assert args.opts.ignore_changes == ["spec.replicas"]
    assert args.opts.delete_before_replace is True
    assert args.opts.custom_timeouts.create_seconds == 1800.0
    assert args.opts.custom_timeouts.update_seconds == 3723.0
    assert args.opts.parent == rec["parent"]
    assert args.provider is not None
    assert args.provider.resource_type == "pulumi:providers:kubernetes"
    assert args.provider.name == "k8s"
    assert args.get_config() == {"allowPublic": False}


def test_provider_reference_resolves_to_the_recorded_provider():
    provider = record("pulumi:providers:kubernetes", "k8s", {"kubeconfig": "[secret]"})
    provider["urn"] = f"urn:pulumi:{STACK}::mina-itn::pulumi:providers:kubernetes::k8s"
    rec = service("postgres", ranges=["10.0.0.0/8"])
    args = build_args(rec, {}, {provider["urn"]: provider})
    assert args.provider is not None
    assert args.provider.props["kubeconfig"] == "[secret]"


def test_cli_exit_status(tmp_path, capsys):
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(unsafe_render()))
    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "[no-public-ingress] gcp:compute/firewall:Firewall dev-allow-postgres" in out
    path.write_text(json.dumps(sane_render()))
    assert main([str(path), "--experiment", "dev"]) == 0
    # An advisory finding is printed and blocks nothing; made mandatory, it fails the run.
    out, err = capsys.readouterr()
    assert "advisory: [images-pinned-by-digest]" in out
    assert err.strip().endswith("0 violation(s), 2 advisory finding(s)")
    mandatory = tmp_path / "pack.json"
    mandatory.write_text(json.dumps({"all": "mandatory"}))
    assert main([str(path), "--experiment", "dev", "--pack-config", str(mandatory)]) == 1


def test_pack_levels_read_the_pack_config_as_pulumi_does():
    own = {x.name: x.enforcement_level for x in p.ALL_POLICIES}
    assert pack_levels({}) == {name: level.value for name, level in own.items() if level}
    assert len(pack_levels({})) == len(own)
    levels = pack_levels({"all": "advisory", "no-vm-public-ip": {"enforcementLevel": "mandatory"}})
    assert levels["no-vm-public-ip"] == "mandatory"
    assert levels["private-cluster"] == "advisory"
    assert pack_levels({"images-pinned-by-digest": "disabled"})["images-pinned-by-digest"] == (
        "disabled"
    )
    with pytest.raises(ValueError, match="unknown enforcement level 'strict'"):
        pack_levels({"all": "strict"})
    rec = stateful_set([{**good_container(), "image": "busybox:1"}])
    assert evaluate([rec], CONFIG, levels={"images-pinned-by-digest": "disabled"}) == []


# --- parity with the real analyzer ---------------------------------------------------------------


@contextlib.contextmanager
def start_analyzer(env: dict[str, str] | None = None) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """Run the pack as the engine does: `python -m pulumi.policy <engine> <pack dir>`."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=POLICY_DIR,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    with start_analyzer() as stub:
        yield stub


PACK_LEVELS = pack_levels(json.loads((POLICY_DIR / "config.json").read_text()))
"""Levels of the checked-in pack config, as `--policy-pack-config policy/config.json` sets them."""
_WIRE_LEVELS = {
    "advisory": analyzer_pb2.EnforcementLevel.ADVISORY,
    "mandatory": analyzer_pb2.EnforcementLevel.MANDATORY,
    "disabled": analyzer_pb2.EnforcementLevel.DISABLED,
}


def configure(stub: analyzer_pb2_grpc.AnalyzerStub, config: dict) -> None:
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for policy in p.ALL_POLICIES:
        entry = request.policyConfig[policy.name]
        entry.enforcementLevel = _WIRE_LEVELS[PACK_LEVELS[policy.name]]
        entry.properties.update(config)
    stub.Configure(request)


def analyze_levels(stub: analyzer_pb2_grpc.AnalyzerStub, rec: dict) -> list[tuple[str, str, str]]:
    """(policy, message, level) of each diagnostic."""
    properties = struct_pb2.Struct()
    properties.update(rec["inputs"])
    response = stub.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=rec["type"], properties=properties, urn=rec["urn"], name=rec["name"]
        )
    )
    names = {v: k for k, v in _WIRE_LEVELS.items()}
    return [
        (d.policyName, d.message.split("\n", 1)[-1], names[d.enforcementLevel])
        for d in response.diagnostics
    ]


def analyze(stub: analyzer_pb2_grpc.AnalyzerStub, rec: dict) -> list[tuple[str, str]]:
    properties = struct_pb2.Struct()
    properties.update(rec["inputs"])
    response = stub.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=rec["type"], properties=properties, urn=rec["urn"], name=rec["name"]
        )
    )
    # The engine prefixes each message with the policy description.
    return [(d.policyName, d.message.split("\n", 1)[-1]) for d in response.diagnostics]


def test_pack_registers_every_policy_as_mandatory(analyzer):
    """All but the digest policy, which is advisory until an operator makes it mandatory."""
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "mina-itn-guardrails"
    assert sorted(x.name for x in info.policies) == sorted(x.name for x in p.ALL_POLICIES)
    levels = {x.name: x.enforcementLevel for x in info.policies}
    assert levels.pop("images-pinned-by-digest") == analyzer_pb2.EnforcementLevel.ADVISORY
    assert levels.pop("worker-signing-key-pinned") == analyzer_pb2.EnforcementLevel.ADVISORY
    assert set(levels.values()) == {analyzer_pb2.EnforcementLevel.MANDATORY}


@pytest.mark.parametrize("allow_public", [False, True])
def test_runner_matches_the_analyzer(analyzer, allow_public):
    config = {"allowPublic": allow_public, "experiment": STACK}
    configure(analyzer, config)
    records = sane_render() + unsafe_render()
    engine = sorted(
        (policy, rec["urn"], message, level)
        for rec in records
        for policy, message, level in analyze_levels(analyzer, rec)
    )
    offline = sorted(
        (v.policy, v.urn, v.message, v.level) for v in evaluate(records, config, levels=PACK_LEVELS)
    )
    assert engine == offline
    assert {level for *_, level in engine} == {"mandatory", "advisory"}


def test_a_stack_cannot_waive_its_own_guardrail():
    # The engine hands the stack's config to the analyzer in PULUMI_CONFIG; the opt-in there is
    # ignored. Only the pack's own config (set by the operator) opens public ranges.
    stack_config = {
        "mina-itn:access": json.dumps({"adminCidrs": [], "allowPublic": True}),
        "mina-itn:allowPublic": "true",
    }
    env = {"PULUMI_CONFIG": json.dumps(stack_config), "PULUMI_STACK": STACK}
    with start_analyzer(env) as stub:
        configure(stub, {})
        assert [x for x, _ in analyze(stub, firewall(["0.0.0.0/0"]))] == ["no-public-ingress"]
        old = instance(labels={p.GCP_LABEL_EXPERIMENT: "exp-old", p.GCP_LABEL_EXPIRY: "2031-01-01"})
        assert [x for x, _ in analyze(stub, old)] == ["experiment-labels"]
        configure(stub, {"allowPublic": True})  # the operator's opt-in
        assert analyze(stub, firewall(["0.0.0.0/0"])) == []


def test_violation_is_a_value():
    violation = Violation("p", "urn:x", "x", "t", "m")
    assert violation == Violation("p", "urn:x", "x", "t", "m")


def configure_as_the_engine(stub: analyzer_pb2_grpc.AnalyzerStub, pack_config: dict) -> None:
    """What the engine sends for `--policy-pack-config`: each named policy's own entry (its level
    and its properties), nothing for the others."""
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    levels = pack_levels(pack_config)
    for policy in p.ALL_POLICIES:
        entry = request.policyConfig[policy.name]
        entry.enforcementLevel = _WIRE_LEVELS[levels[policy.name]]
        own = pack_config.get(policy.name)
        if isinstance(own, dict):
            entry.properties.update({k: v for k, v in own.items() if k != "enforcementLevel"})
    stub.Configure(request)


@pytest.mark.parametrize(
    ("pack_config", "firewall_finding"),
    [
        ({"no-public-ingress": {"allowPublic": True}}, None),
        # Another policy's setting does not open no-public-ingress's ranges.
        ({"private-cluster": {"allowPublic": True}}, "mandatory"),
        (
            {
                "all": "mandatory",
                "no-public-ingress": {"enforcementLevel": "advisory", "allowPublic": False},
            },
            "advisory",
        ),
        ({"no-public-ingress": "disabled"}, None),
    ],
)
def test_per_policy_settings_as_the_engine_reads_them(analyzer, pack_config, firewall_finding):
    records = [firewall(["0.0.0.0/0"]), service("log-api", name="log-api"), instance()]
    configure_as_the_engine(analyzer, pack_config)
    engine = sorted(
        (policy, rec["urn"], level)
        for rec in records
        for policy, _, level in analyze_levels(analyzer, rec)
        if policy != "experiment-labels"  # the analyzer has no PULUMI_STACK here
    )
    offline = sorted(
        (v.policy, v.urn, v.level)
        for v in evaluate(
            records, {}, levels=pack_levels(pack_config), settings=pack_settings(pack_config)
        )
        if v.policy != "experiment-labels"
    )
    assert engine == offline
    found = {level for policy, urn, level in offline if urn == records[0]["urn"]}
    assert found == ({firewall_finding} if firewall_finding else set())


def test_a_pack_config_of_the_wrong_type_is_refused_with_the_setting_named(tmp_path, capsys):
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps(sane_render()))
    pack = tmp_path / "pack.json"
    pack.write_text(json.dumps({"no-public-ingress": {"allowPublic": "yes"}}))
    assert main([str(resources), "--pack-config", str(pack)]) == 2
    err = capsys.readouterr().err
    assert "no-public-ingress.allowPublic" in err
    assert "boolean" in err
    assert "Traceback" not in err


def test_the_cli_honours_the_operators_per_policy_opt_in(tmp_path, capsys):
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps([firewall(["0.0.0.0/0"])]))
    pack = tmp_path / "pack.json"
    pack.write_text(json.dumps({"no-public-ingress": {"allowPublic": True}}))
    assert main([str(resources), "--experiment", STACK, "--pack-config", str(pack)]) == 0
    pack.write_text(json.dumps({"firewall-names-sources": {"allowPublic": True}}))
    assert main([str(resources), "--experiment", STACK, "--pack-config", str(pack)]) == 1


def test_stack_policies_match_the_analyzer(analyzer):
    """The default-deny stack policy: the runner reports what the analyzer's AnalyzeStack does,
    on the namespace's URN."""
    configure(analyzer, {"experiment": STACK})
    with_deny = sane_render()
    without_deny = [r for r in with_deny if r["type"] != p.NETWORK_POLICY]
    for records in (with_deny, without_deny):
        request = analyzer_pb2.AnalyzeStackRequest()
        for rec in records:
            resource = request.resources.add(type=rec["type"], urn=rec["urn"], name=rec["name"])
            resource.properties.update(rec["inputs"])
        engine = sorted((d.policyName, d.urn) for d in analyzer.AnalyzeStack(request).diagnostics)
        offline = sorted(
            (v.policy, v.urn)
            for v in evaluate(records, CONFIG, levels=PACK_LEVELS)
            if v.policy == "network-policies-deny-by-default"
        )
        assert engine == offline
    namespace = next(r for r in without_deny if r["type"] == p.NAMESPACE)
    assert offline == [("network-policies-deny-by-default", namespace["urn"])]
