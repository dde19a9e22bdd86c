"""The longest chain of a `pulumi up` through a render's resource graph, for given durations.

The engine starts a custom resource once everything it waits for is done: its `dependencies`
and `propertyDependencies`, and its provider (a provider reference is `<urn>::<id>`; the
provider is a resource with dependencies of its own). A dependency on a component resource
waits for every resource under it. A component itself takes no time. The durations are the
caller's (`benchmarks/bench_critical_path.py` assumes them per type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Record = Mapping[str, Any]


@dataclass(frozen=True)
class CriticalPath:
    total: float
    """When the last resource is done, in seconds from the start."""
    chain: tuple[tuple[str, float], ...]
    """The custom resources (URN, finish) of the longest chain, first to last."""
    finish: Mapping[str, float]
    """Every resource's finish by URN."""


def provider_urn(reference: str) -> str:
    """The provider resource a `provider` reference (`<urn>::<id>`) names."""
    return reference.rsplit("::", 1)[0]


def waits_for(resource: Record) -> set[str]:
    """The URNs a custom resource waits for before the engine creates it."""
    urns: set[str] = set(resource.get("dependencies") or ())
    for dependencies in (resource.get("propertyDependencies") or {}).values():
        urns.update(dependencies)
    if resource.get("provider"):
        urns.add(provider_urn(resource["provider"]))
    return urns


def critical_path(resources: Sequence[Record], duration: Callable[[Record], float]) -> CriticalPath:
    """Finish times of every resource and the chain that decides the last one.

    A URN nothing in `resources` defines (a default provider the render does not record)
    is done at 0. Ties go to the greater URN, so the chain is the same on every run. Raises
    ValueError on a cycle (a resource waiting on a component that holds it, for example).
    """
    by_urn = {r["urn"]: r for r in resources}
    children: dict[str, list[str]] = {}
    for r in resources:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])
    done: dict[str, tuple[float, str | None]] = {}
    walking: set[str] = set()

    def finish(urn: str) -> tuple[float, str | None]:
        """When `urn` is done, and the URN that decided it."""
        if urn in done:
            return done[urn]
        resource = by_urn.get(urn)
        if resource is None:
            return 0.0, None
        if urn in walking:
            raise ValueError(f"dependency cycle through {urn}")
        walking.add(urn)
        if resource["custom"]:
            waited = waits_for(resource)
            own = duration(resource)
        else:
            waited = set(children.get(urn, ()))
            own = 0.0
        start, via = max(((finish(u)[0], u) for u in waited), default=(0.0, None))
        walking.discard(urn)
        done[urn] = (start + own, via)
        return done[urn]

    for urn in by_urn:
        finish(urn)
    if not by_urn:
        return CriticalPath(0.0, (), {})
    last = max(by_urn, key=lambda u: (done[u][0], u))
    chain: list[tuple[str, float]] = []
    step: str | None = last
    while step is not None and step in by_urn:
        if by_urn[step]["custom"]:
            chain.append((step, done[step][0]))
        step = done[step][1]
    return CriticalPath(
        total=done[last][0],
        chain=tuple(reversed(chain)),
        finish={u: t for u, (t, _) in done.items()},
    )
