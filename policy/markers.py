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
