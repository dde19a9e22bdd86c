"""The service-account marker shared by the program that writes it (components/labels.py), the
janitor that finds leaked accounts by it and the policy pack that requires it. Imports nothing but
the standard library (the engine runs the pack with only `policy/` on `sys.path`).
"""

import re

OWN_GCP_LABEL = "mina-itn-experiment"
"""A GCP label only this project sets (the experiment as value): the janitor selects by it, never
by look-alike generic labels (`experiment`, `managed-by=pulumi`) another team may also use."""

SERVICE_ACCOUNT_MARKER = re.compile(
    rf"{OWN_GCP_LABEL}=(?P<experiment>[a-z](?:[-a-z0-9]*[a-z0-9])?); "
    r"expiry=(?P<expiry>\d{4}-\d{2}-\d{2}_\d{2}-\d{2})"
)
"""The whole description of a service account this project creates. Service accounts carry no
labels, so this marker is what the janitor finds them by; only an exact full match counts."""

GROUP_MARKER = re.compile(rf"{OWN_GCP_LABEL}=(?P<experiment>[a-z](?:[-a-z0-9]*[a-z0-9])?)")
"""The whole description of a managed instance group this project creates (groups carry no
labels). The janitor deletes a group only when the group itself carries it, exactly."""

K8S_PART_OF_LABEL = "app.kubernetes.io/part-of"
K8S_PART_OF = "mina-itn"
K8S_EXPERIMENT_LABEL = "mina-itn/experiment"
"""A namespace is this project's only when it carries both labels (part-of=mina-itn and the
experiment); the janitor never treats look-alike labels as ours."""

K8S_KEPT_DATA_LABEL = "mina-itn/kept-data"
"""On a namespace the program keeps on `pulumi destroy` (PostgreSQL's claim lives in it): the
janitor reports such a namespace and never deletes it."""

POSTGRES_DATA_CLAIM = "postgres-data"
"""The PersistentVolumeClaim holding PostgreSQL's data (components/postgres.py): the janitor never
deletes a namespace that holds it."""
