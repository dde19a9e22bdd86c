"""Labels on everything, so a leaked resource can be traced to its experiment and owner.

GCP labels and Kubernetes labels follow different character rules; both carry the experiment,
the owner and the expiry. Selectors use only the stable name labels, never the expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import pulumi

from minaperf.rfc3339 import format_utc, parse_utc
from policy import markers
from policy.markers import K8S_PREFIX


def expires_at(created: str, ttl_hours: int) -> str:
    """RFC 3339 UTC expiry of an experiment created at `created`."""
    return format_utc(parse_utc(created) + timedelta(hours=ttl_hours))


def expiry_label(created: str, ttl_hours: int) -> str:
    return markers.expiry_label(parse_utc(created) + timedelta(hours=ttl_hours))


@dataclass(frozen=True)
class Labels:
    experiment: str
    owner: str
    expiry: pulumi.Output[str]
    extra: Mapping[str, str] = field(default_factory=dict)

    def gcp(self) -> pulumi.Output[dict[str, str]]:
        base = {
            markers.GCP_LABEL_EXPERIMENT: self.experiment,
            markers.OWN_GCP_LABEL: self.experiment,
            markers.GCP_LABEL_OWNER: self.owner,
            markers.GCP_LABEL_MANAGED_BY: "pulumi",
        }
        return self.expiry.apply(
            lambda expiry: {**self.extra, **base, markers.GCP_LABEL_EXPIRY: expiry}
        )

    def service_account_description(self) -> pulumi.Output[str]:
        """The marker a service account carries in place of labels (it has none), with the same
        expiry as the GCP `expiry` label. Setting or changing it updates the account in place: the
        provider's `description` is not ForceNew (terraform-provider-google@e03b762
        google/services/resourcemanager/resource_google_service_account.go:108-113) and its Update
        patches it (:345-347), so existing stacks keep their accounts and IAM bindings."""
        return self.expiry.apply(lambda expiry: markers.own_description(self.experiment, expiry))

    def k8s(self, component: str, instance: str | None = None) -> pulumi.Output[dict[str, str]]:
        static = {
            **{f"{K8S_PREFIX}/{key}": value for key, value in self.extra.items()},
            **self.selector(component, instance),
            markers.K8S_PART_OF_LABEL: markers.K8S_PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
            markers.K8S_EXPERIMENT_LABEL: self.experiment,
            markers.K8S_OWNER_LABEL: self.owner,
        }
        return self.expiry.apply(lambda expiry: {**static, markers.K8S_EXPIRY_LABEL: expiry})

    @staticmethod
    def selector(component: str, instance: str | None = None) -> dict[str, str]:
        labels = {"app.kubernetes.io/name": component, markers.K8S_COMPONENT_LABEL: component}
        if instance is not None:
            labels["app.kubernetes.io/instance"] = instance
        return labels
