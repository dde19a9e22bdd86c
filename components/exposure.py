"""Publishing a service outside the cluster: only through a load balancer limited to given ranges.

PostgreSQL is what is reached from outside; it goes through here, so
the rules (explicit source ranges, client addresses kept, no wait on clusters without a load
balancer implementation) live in one place.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.context import ExperimentNamespace


def restricted_load_balancer(
    resource_name: str,
    where: ExperimentNamespace,
    *,
    name: str,
    component: str,
    selector: dict[str, str],
    ports: list[k8s.core.v1.ServicePortArgsDict],
    source_ranges: list[str],
    parent: pulumi.Resource,
) -> pulumi.Output[str | None]:
    """A LoadBalancer Service reachable only from `source_ranges`; returns its address
    (None until one is assigned)."""
    service = k8s.core.v1.Service(
        resource_name,
        metadata={
            **where.metadata(name, component),
            "annotations": where.load_balancer_annotations(),
        },
        spec={
            "type": "LoadBalancer",
            "load_balancer_source_ranges": source_ranges,
            # Keep the client address, so the source ranges see the real caller.
            "external_traffic_policy": "Local",
            "selector": selector,
            "ports": ports,
        },
        opts=pulumi.ResourceOptions(
            parent=parent,
            # A cloud load balancer takes minutes; the awaiter also waits for the pods.
            custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
        ),
    )
    return service.status.apply(ingress_address)


def ingress_address(status: object) -> str | None:
    """The first load-balancer ingress IP (or host name); None until one is assigned."""
    load_balancer = getattr(status, "load_balancer", None)
    for entry in getattr(load_balancer, "ingress", None) or []:
        address = getattr(entry, "ip", None) or getattr(entry, "hostname", None)
        if address:
            return address
    return None
