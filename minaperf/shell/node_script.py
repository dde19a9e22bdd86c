"""Texts of the shell scripts under `minaperf/assets/`, for ConfigMaps and VM metadata.

The scripts ship as package data; each constant below names one, with what runs it.
See docs/design.md#snark-workers-are-a-managed-instance-group-why-mig.
"""

from __future__ import annotations

from importlib import resources

MINA_NODE_SCRIPT = "mina-node.sh"
"""The daemon container's entrypoint (`install-keys`, `start`, `ready`, `alive`)."""
SNARK_WORKER_SUPERVISOR_SCRIPT = "snark-worker-supervisor.sh"
"""The snark worker pod's entrypoint on the `kubernetes` platform."""
SNARK_WORKER_VM_TEMPLATE = "snark-worker-vm.sh"
"""The GCE VM startup script template; render it with
`minaperf.shell.worker_script.render_worker_startup_script`."""
SNARK_WORKER_STATUS_SCRIPT = "snark-worker-status.sh"
"""Publishes a worker VM's state as guest attributes (the startup script embeds and installs it)."""


def asset_text(name: str) -> str:
    """The text of one file in `minaperf/assets/`."""
    return resources.files("minaperf.assets").joinpath(name).read_text(encoding="utf-8")


def mina_node_script() -> str:
    return asset_text(MINA_NODE_SCRIPT)


def snark_worker_supervisor_script() -> str:
    return asset_text(SNARK_WORKER_SUPERVISOR_SCRIPT)


def snark_worker_vm_template() -> str:
    return asset_text(SNARK_WORKER_VM_TEMPLATE)


def snark_worker_status_script() -> str:
    return asset_text(SNARK_WORKER_STATUS_SCRIPT)
