"""The experiment's key material, derived in Python from one secret seed Pulumi keeps.

A `RandomBytes` resource holds the seed in state (encrypted), so every `pulumi up` of a stack
derives byte-identical keys and key files, while each new stack gets its own. `keys.seed` and
`keys.fundingSeed` in config reuse another stack's keys instead.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pulumi
import pulumi_random as random

from minaperf.config import KeysConfig
from minaperf.keys.material import KeyMaterial, NodeSpec, PublicSummary, derive_key_material


class ExperimentKeys(pulumi.ComponentResource):
    material: pulumi.Output[KeyMaterial]
    """Secret: every private key, key file and password."""
    public: pulumi.Output[PublicSummary]
    """Public keys, peer ids and ITN public keys only (not secret)."""

    def __init__(
        self,
        name: str,
        keys: KeysConfig,
        nodes: Sequence[NodeSpec],
        funding_accounts: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:keys:ExperimentKeys", name, None, opts)
        if keys.seed is not None:
            seed = pulumi.Output.secret(keys.seed)
        else:
            seed = pulumi.Output.secret(
                random.RandomBytes(
                    f"{name}-seed", length=32, opts=pulumi.ResourceOptions(parent=self)
                ).base64
            )
        funding_seed = (
            pulumi.Output.secret(keys.funding_seed)
            if keys.funding_seed is not None
            else pulumi.Output.from_input(None)
        )
        node_list = list(nodes)

        def derive(values: list[str | None]) -> KeyMaterial:
            master, funding = values
            assert master is not None
            return derive_key_material(
                base64.b64decode(master),
                node_list,
                funding_accounts=funding_accounts,
                funding_seed=base64.b64decode(funding) if funding else None,
            )

        self.material = pulumi.Output.secret(pulumi.Output.all(seed, funding_seed).apply(derive))
        self.public = pulumi.Output.unsecret(self.material.apply(lambda m: m.public_summary()))
        self.register_outputs({})
