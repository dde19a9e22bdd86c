"""The critical-path walk on small graphs whose longest path is worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from minaperf.plan.critical_path import critical_path, provider_urn, waits_for

STACK = "urn:pulumi:dev::mina-itn::"


def urn(name: str, kind: str = "test:index:Thing") -> str:
    return f"{STACK}{kind}::{name}"


def custom(name: str, seconds: float, *, depends: tuple[str, ...] = (), **extra: Any) -> dict:
    return {
        "urn": urn(name),
        "type": "test:index:Thing",
        "name": name,
        "custom": True,
        "dependencies": [urn(d) for d in depends],
        "inputs": {"seconds": seconds},
        **extra,
    }


def component(name: str, **extra: Any) -> dict:
    return {"urn": urn(name), "type": "test:index:Group", "name": name, "custom": False, **extra}


def seconds(resource: Any) -> float:
    return float(resource.get("inputs", {}).get("seconds", 0))


def names(chain: tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
    return [(u.rsplit("::", 1)[-1], t) for u, t in chain]


def test_the_longest_of_two_branches_decides() -> None:
    # a(10) -> b(5) -> d(1) and a(10) -> c(20) -> d: d starts at 10+20 = 30, ends at 31.
    graph = [
        custom("a", 10),
        custom("b", 5, depends=("a",)),
        custom("c", 20, depends=("a",)),
        custom("d", 1, depends=("b", "c")),
    ]
    path = critical_path(graph, seconds)
    assert path.total == 31
    assert names(path.chain) == [("a", 10), ("c", 30), ("d", 31)]
    assert path.finish[urn("b")] == 15


def test_a_provider_edge_delays_everything_created_through_it() -> None:
    # apis(60) <- provider (0, depends on apis) <- network(30): 90, though the network
    # names no dependency at all; a slow unrelated resource (50) does not decide.
    provider = {
        "urn": f"{STACK}pulumi:providers:gcp::gcp",
        "type": "pulumi:providers:gcp",
        "name": "gcp",
        "custom": True,
        "dependencies": [urn("apis")],
        "inputs": {},
    }
    graph = [
        custom("apis", 60),
        provider,
        custom("network", 30, provider=f"{provider['urn']}::0f1e2d"),
        custom("other", 50),
    ]
    path = critical_path(graph, seconds)
    assert path.total == 90
    assert [u for u, _ in path.chain] == [urn("apis"), provider["urn"], urn("network")]


def test_a_dependency_on_a_component_waits_for_everything_under_it() -> None:
    # The group holds x(5) and y(40), side by side; z depends on the group: 40 + 3.
    graph = [
        component("group"),
        custom("x", 5, parent=urn("group")),
        custom("y", 40, parent=urn("group")),
        custom("z", 3, depends=("group",)),
    ]
    path = critical_path(graph, seconds)
    assert path.total == 43
    assert names(path.chain) == [("y", 40), ("z", 43)]


def test_a_parent_alone_is_no_dependency() -> None:
    # w is under the group that also holds the slow v, but waits for nothing: it ends at 2.
    graph = [
        component("group"),
        custom("v", 100, parent=urn("group")),
        custom("w", 2, parent=urn("group")),
    ]
    assert critical_path(graph, seconds).finish[urn("w")] == 2


def test_property_dependencies_count_like_dependencies() -> None:
    reader = custom("reader", 1)
    reader["propertyDependencies"] = {"source": [urn("writer")]}
    path = critical_path([custom("writer", 7), reader], seconds)
    assert path.total == 8


def test_an_unknown_urn_is_done_at_the_start() -> None:
    # A default provider the render did not record: nothing to wait for.
    lone = custom("lone", 4, provider=f"{STACK}pulumi:providers:gcp::default::abc")
    path = critical_path([lone], seconds)
    assert path.total == 4
    assert names(path.chain) == [("lone", 4)]


def test_ties_resolve_the_same_way_every_time() -> None:
    graph = [custom("p", 5), custom("q", 5), custom("r", 1, depends=("p", "q"))]
    first = critical_path(graph, seconds)
    assert names(first.chain) == [("q", 5), ("r", 6)]
    assert critical_path(list(reversed(graph)), seconds).chain == first.chain


def test_a_cycle_is_refused() -> None:
    graph = [component("group"), custom("inner", 1, parent=urn("group"), depends=("group",))]
    with pytest.raises(ValueError, match="cycle"):
        critical_path(graph, seconds)


def test_an_empty_render_takes_no_time() -> None:
    assert critical_path([], seconds).total == 0


def test_provider_references_and_waits() -> None:
    assert provider_urn("urn:a::b::c::id-1") == "urn:a::b::c"
    record = {"dependencies": ["d"], "propertyDependencies": {"x": ["e"]}, "provider": "p::1"}
    assert waits_for(record) == {"d", "e", "p"}
