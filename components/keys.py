"""The experiment's key material, derived in Python from one secret seed Pulumi keeps.

A `RandomBytes` resource holds the seed in state (encrypted), so every `pulumi up` of a stack
derives byte-identical keys and key files, while each new stack gets its own. `keys.seed` and
`keys.fundingSeed` in config reuse another stack's keys instead, and `keys.imported` puts a user's
own key file on a node.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_random as random

from minaperf.keys.material import (
    ImportedMinaKey,
    KeyMaterial,
    NodeSpec,
    PublicSummary,
    derive_key_material,
)
from minaperf.model.config import ConfigError, KeysConfig
from minaperf.model.local_inputs import read_imported_key


def _read_imported(node: str, key_file: str, password: str) -> ImportedMinaKey:
    """A user's key file for `node`, decrypted once to prove file and password belong together."""
    try:
        return read_imported_key(node, key_file, password)
    except ConfigError as error:
        raise pulumi.RunError(f"config error: {error}") from None


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
        imported = {
            node: pulumi.Output.secret(entry.password).apply(
                lambda password, entry=entry, node=node: _read_imported(
                    node, entry.key_file, password
                )
            )
            for node, entry in keys.imported.items()
        }

        def derive(values: list[Any]) -> KeyMaterial:
            master, funding, *imported_keys = values
            assert master is not None
            return derive_key_material(
                base64.b64decode(master),
                node_list,
                funding_accounts=funding_accounts,
                funding_seed=base64.b64decode(funding) if funding else None,
                imported=dict(zip(imported, imported_keys, strict=True)),
            )

        self.material = pulumi.Output.secret(
            pulumi.Output.all(seed, funding_seed, *imported.values()).apply(derive)
        )
        self.public = pulumi.Output.unsecret(self.material.apply(lambda m: m.public_summary()))
        self.register_outputs({})
