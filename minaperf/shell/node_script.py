"""Texts of the shell scripts under `minaperf/assets/`, for ConfigMaps and VM metadata.

- `mina-node.sh`: daemon container entrypoint (`install-keys`, `start`, `ready`, `alive`).
- `snark-worker-supervisor.sh`: snark worker pod entrypoint on the `kubernetes` platform.
- `snark-worker-vm.sh`: GCE VM startup script template (render it with
  `minaperf.shell.worker_script.render_worker_startup_script`).
- `snark-worker-status.sh`: publishes a worker VM's state as guest attributes (embedded in the
  startup script, which installs it).
"""

from __future__ import annotations

from importlib import resources

MINA_NODE_SCRIPT = "mina-node.sh"
SNARK_WORKER_SUPERVISOR_SCRIPT = "snark-worker-supervisor.sh"
SNARK_WORKER_VM_TEMPLATE = "snark-worker-vm.sh"
SNARK_WORKER_STATUS_SCRIPT = "snark-worker-status.sh"


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
