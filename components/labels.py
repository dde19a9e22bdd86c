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

PART_OF = "mina-itn"
K8S_PREFIX = "mina-itn"
OWN_GCP_LABEL = "mina-itn-experiment"
"""A GCP label only this project sets (the experiment as value): the janitor selects by it, never
by look-alike generic labels (`experiment`, `managed-by=pulumi`) another team may also use."""
EXPIRY_FORMAT = "%Y-%m-%d_%H-%M"
"""Expiry label values: UTC, minute precision, valid for both GCP and Kubernetes labels."""


def expires_at(created: str, ttl_hours: int) -> str:
    """RFC 3339 UTC expiry of an experiment created at `created`."""
    moment = datetime.strptime(created, TIMESTAMP_FORMAT) + timedelta(hours=ttl_hours)
    return moment.strftime(TIMESTAMP_FORMAT)


def expiry_label(created: str, ttl_hours: int) -> str:
    moment = datetime.strptime(created, TIMESTAMP_FORMAT) + timedelta(hours=ttl_hours)
    return moment.strftime(EXPIRY_FORMAT)


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
