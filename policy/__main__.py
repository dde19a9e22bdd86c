"""Entry point the Pulumi engine runs for `--policy-pack policy`.

Constructing a PolicyPack starts the analyzer's gRPC server and never returns, so this file does
nothing else; the policies and their tests live in `policies.py`.
"""

from policies import ALL_POLICIES  # the engine puts this directory first on sys.path
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="mina-itn-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(ALL_POLICIES),
)
