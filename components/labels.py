"""Labels on everything, so a leaked resource can be traced to its experiment and owner.

GCP labels and Kubernetes labels follow different character rules; both carry the experiment,
the owner and the expiry. Selectors use only the stable name labels, never the expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pulumi

from components.clock import TIMESTAMP_FORMAT
from policy.markers import GROUP_MARKER, OWN_GCP_LABEL, SERVICE_ACCOUNT_MARKER

PART_OF = "mina-itn"
K8S_PREFIX = "mina-itn"
EXPIRY_FORMAT = "%Y-%m-%d_%H-%M"
"""Expiry label values: UTC, minute precision, valid for both GCP and Kubernetes labels."""
OWN_DESCRIPTION_MAX = 256
"""IAM keeps at most 256 UTF-8 bytes of a service account's description (terraform-provider-google
@e03b762 google/services/resourcemanager/resource_google_service_account.go:111)."""


def expires_at(created: str, ttl_hours: int) -> str:
    """RFC 3339 UTC expiry of an experiment created at `created`."""
    moment = datetime.strptime(created, TIMESTAMP_FORMAT) + timedelta(hours=ttl_hours)
    return moment.strftime(TIMESTAMP_FORMAT)


def expiry_label(created: str, ttl_hours: int) -> str:
    moment = datetime.strptime(created, TIMESTAMP_FORMAT) + timedelta(hours=ttl_hours)
    return moment.strftime(EXPIRY_FORMAT)


def own_description(experiment: str, expiry: str) -> str:
    """`mina-itn-experiment=<experiment>; expiry=<expiry label>`, what `parse_own_description`
    reads back."""
    text = f"{OWN_GCP_LABEL}={experiment}; expiry={expiry}"
    if SERVICE_ACCOUNT_MARKER.fullmatch(text) is None or len(text.encode()) > OWN_DESCRIPTION_MAX:
        raise ValueError(f"no service account marker for {experiment!r} expiring {expiry!r}")
    return text


def parse_own_description(text: object) -> tuple[str, str] | None:
    """(experiment, expiry label) if `text` is exactly our marker; None for anything else,
    including a description that merely quotes the marker inside other words."""
    if not isinstance(text, str):
        return None
    match = SERVICE_ACCOUNT_MARKER.fullmatch(text)
    return (match["experiment"], match["expiry"]) if match else None


def group_description(experiment: str) -> str:
    """`mina-itn-experiment=<experiment>`: a managed instance group's whole description (groups
    carry no labels), what `parse_group_description` reads back. No expiry: the provider replaces
    a group whose description changes (terraform-provider-google
    google/services/compute/resource_compute_instance_group_manager.go, `description` ForceNew),
    and its members carry the expiry label."""
    text = f"{OWN_GCP_LABEL}={experiment}"
    if GROUP_MARKER.fullmatch(text) is None:
        raise ValueError(f"no instance group marker for {experiment!r}")
    return text


def parse_group_description(text: object) -> str | None:
    """The experiment if `text` is exactly our group marker; None for anything else."""
    if not isinstance(text, str):
        return None
    match = GROUP_MARKER.fullmatch(text)
    return match["experiment"] if match else None


@dataclass(frozen=True)
class Labels:
    experiment: str
    owner: str
    expiry: pulumi.Output[str]
    extra: Mapping[str, str] = field(default_factory=dict)

    def gcp(self) -> pulumi.Output[dict[str, str]]:
        base = {
            "experiment": self.experiment,
            OWN_GCP_LABEL: self.experiment,
            "owner": self.owner,
            "managed-by": "pulumi",
        }
        return self.expiry.apply(lambda expiry: {**self.extra, **base, "expiry": expiry})

    def service_account_description(self) -> pulumi.Output[str]:
        """The marker a service account carries in place of labels (it has none), with the same
        expiry as the GCP `expiry` label. Setting or changing it updates the account in place: the
        provider's `description` is not ForceNew (terraform-provider-google@e03b762
        google/services/resourcemanager/resource_google_service_account.go:108-113) and its Update
        patches it (:345-347), so existing stacks keep their accounts and IAM bindings."""
        return self.expiry.apply(lambda expiry: own_description(self.experiment, expiry))

    def k8s(self, component: str, instance: str | None = None) -> pulumi.Output[dict[str, str]]:
        static = {
            **{f"{K8S_PREFIX}/{key}": value for key, value in self.extra.items()},
            **self.selector(component, instance),
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
            f"{K8S_PREFIX}/experiment": self.experiment,
            f"{K8S_PREFIX}/owner": self.owner,
        }
        return self.expiry.apply(lambda expiry: {**static, f"{K8S_PREFIX}/expiry": expiry})

    @staticmethod
    def selector(component: str, instance: str | None = None) -> dict[str, str]:
        labels = {"app.kubernetes.io/name": component, "app.kubernetes.io/component": component}
        if instance is not None:
            labels["app.kubernetes.io/instance"] = instance
        return labels
