"""The ITN orchestrator's config file, built from what the stack knows (placeholder builder)."""

from __future__ import annotations

import json


def orchestrator_config_json(
    *,
    key: str,
    online_url: str,
    fund_daemon_ports: list[str],
    mina_exec: str,
    slot_duration_ms: int,
    genesis_timestamp: str,
    log_file: str,
) -> str:
    return json.dumps(
        {
            "key": key,
            "onlineURL": online_url,
            "fundDaemonPorts": fund_daemon_ports,
            "minaExec": mina_exec,
            "slotDurationMs": slot_duration_ms,
            "genesisTimestamp": genesis_timestamp,
            "logFile": log_file,
            "logLevel": "info",
        },
        indent=2,
    )
