"""The policy pack over what the real program registers, as `pulumi preview` would run it."""

from __future__ import annotations

import pytest

from policy.runner import run_policies
from tests.conftest import ROOT, Rendered, render

ORGANISATION_CONFIG = {"allowPublic": False}


@pytest.mark.parametrize(
    "stack",
    [
        pytest.param(lambda: render("dev"), id="dev"),
        pytest.param(lambda: render(config_file=ROOT / "stacks" / "kind.yaml"), id="kind"),
        pytest.param(
            lambda: render(config_file=ROOT / "stacks" / "large-200.yaml"), id="large-200"
        ),
        pytest.param(lambda: render("dev", overrides=["dashboard.enabled=true"]), id="dashboard"),
    ],
)
def test_safe_stacks_pass_every_policy(stack) -> None:
    rendered: Rendered = stack()
    config = {**ORGANISATION_CONFIG, "experiment": rendered.run.stack}
    violations = run_policies(rendered.resources, config)
    assert [f"{v.policy}: {v.urn}: {v.message}" for v in violations] == []


def test_unsafe_stack_yields_one_violation_per_planted_problem() -> None:
    rendered = render(config_file=ROOT / "tests" / "data" / "stacks" / "unsafe.yaml")
    violations = run_policies(rendered.resources, {**ORGANISATION_CONFIG, "experiment": "unsafe"})
    found = sorted((v.resource_type, v.name) for v in violations)
    assert found == sorted(
        [
            ("gcp:container/cluster:Cluster", "itn-unsafe"),
            ("kubernetes:core/v1:Service", "unsafe-postgres-external"),
            ("kubernetes:core/v1:Service", "unsafe-dashboard-service"),
        ]
    ), [f"{v.policy}: {v.name}: {v.message}" for v in violations]
    for violation in violations:
        assert "0.0.0.0/0" in violation.message


def test_the_stack_opt_in_is_honoured_when_the_organisation_allows_it() -> None:
    rendered = render(config_file=ROOT / "tests" / "data" / "stacks" / "unsafe.yaml")
    assert run_policies(rendered.resources, {"allowPublic": True, "experiment": "unsafe"}) == []
