"""Stopping what a run scheduled.

Stop format. The stop script is one `stop` step whose `receipts` param is a literal JSON array of
`{"address","handle"}`. The orchestrator only treats a param as a reference when it decodes as a
JSON *object* (`ResolveParam` unmarshals into the reference struct and passes the raw value through
on failure); an array, even of objects, is passed literally and decoded into the receipts list.
Unlike `{"type":"output",...,"file":...}` references this needs no copy of our saved stdout next to
the orchestrator (in the pod), can stop exactly the receipts seen so far (a reference takes a whole
step's output), and still works when the run's step numbering is unknown. A sentinel step follows
it so a failed stop is visible.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from minaperf.orchestrator.config import CONFIG_FILE_NAME
from minaperf.orchestrator.process import OrchestratorProcess
from minaperf.orchestrator.rundir import (
    STDOUT_FILE,
    RunState,
    now_iso,
    read_outputs,
    receipt_key,
    receipts_from_outputs,
)
from minaperf.orchestrator.targets import PodTarget, Target, target_from_state

SENTINEL = {"action": "wait", "params": {"sec": 0}}
SENTINEL_COMMENT = "sentinel step added by scripts.experiment: proves the previous step finished"
EXIT_OK = 0
EXIT_STOP_FAILED = 3


def stop_script(receipts: list[dict[str, Any]]) -> str:
    literal = [{"address": r["address"], "handle": r["handle"]} for r in receipts]
    lines = [
        json.dumps(f"stop {len(literal)} scheduled transaction receipt(s)"),
        json.dumps({"action": "stop", "params": {"receipts": literal}}),
        json.dumps(SENTINEL_COMMENT),
        json.dumps(SENTINEL),
    ]
    return "\n".join(lines) + "\n"


def stop_outstanding(
    run_dir: Path, target: Target, state: RunState, say: Callable[[str], None], terminal: TextIO
) -> bool:
    """Stop every receipt issued and not yet stopped; True when nothing is left scheduled."""
    issued = receipts_from_outputs(read_outputs(run_dir / STDOUT_FILE))
    known = {receipt_key(r) for r in state.data.get("receiptsIssued", [])}
    for receipt in issued:  # the state file may lag the saved stdout if we were killed
        if receipt_key(receipt) not in known:
            state.data["receiptsIssued"].append(receipt)
            known.add(receipt_key(receipt))
    stopped = {receipt_key(r) for r in state.data.get("receiptsStopped", [])}
    pending = [r for r in state.data["receiptsIssued"] if receipt_key(r) not in stopped]
    seen: set[tuple[str, str]] = set()
    pending = [r for r in pending if not (receipt_key(r) in seen or seen.add(receipt_key(r)))]
    if not pending:
        say("nothing to stop: no scheduled transactions outstanding")
        state.save()
        return True
    number = len(state.data.get("stops", [])) + 1
    tag = f"stop-{number}"
    text = stop_script(pending)
    (run_dir / f"{tag}.script.jsonl").write_text(text)
    say(f"stopping {len(pending)} receipt(s) with a `stop` run ({tag})")
    process = OrchestratorProcess(
        target,
        tag,
        text,
        run_dir / f"{tag}.stdout.jsonl",
        run_dir / f"{tag}.log",
        terminal=terminal,
    )
    record: dict[str, Any] = {
        "tag": tag,
        "started": now_iso(),
        "receipts": [{"address": r["address"], "handle": r["handle"]} for r in pending],
    }
    try:
        process.start()
        result = process.wait()
        ok = result.exit_status == 0 and 1 in result.markers and not result.error_lines
        if ok:
            reason = "stopped"
        elif result.exit_status != 0:
            reason = f"stop run exited {result.exit_status}"
        elif result.error_lines:
            reason = f"stop reported: {result.error_lines[0]}"
        else:
            reason = "the stop step did not finish (no sentinel)"
        record.update(exitStatus=result.exit_status, ok=ok, reason=reason)
    except (OSError, RuntimeError) as error:
        ok = False
        record.update(exitStatus=None, ok=False, reason=f"could not start: {error}")
    record["finished"] = now_iso()
    with state.lock:
        state.data.setdefault("stops", []).append(record)
        if ok:
            state.data.setdefault("receiptsStopped", []).extend(record["receipts"])
        state.save()
    if ok:
        say(f"stop succeeded for {len(pending)} receipt(s)")
    else:
        say(
            f"STOP FAILED ({record['reason']}); still scheduled: "
            + ", ".join(f"{r['address']}/{r['handle']}" for r in pending)
            + f". Retry with `python -m scripts.experiment stop --run {run_dir}`"
        )
    return ok


def stop_saved_run(
    run_dir: Path, *, kubectl: str, orchestrator: str | None, terminal: TextIO
) -> int:
    """`stop --run`: kill a leftover orchestrator, then stop what its saved stdout issued."""
    state = RunState.load(run_dir)
    if not (run_dir / CONFIG_FILE_NAME).is_file():
        raise ValueError(f"--run: {run_dir} has no {CONFIG_FILE_NAME}; cannot authenticate a stop")
    if orchestrator:
        state.data["target"] = {"kind": "local", "executable": orchestrator}
    target = target_from_state(state.data, run_dir, kubectl)

    def say(message: str) -> None:
        print(f"[experiment] {message}", file=terminal, flush=True)

    killed = target.kill_orphan(state.data, "orchestrator")
    if killed:
        say(killed)
    if state.data.get("outcome") == "running":
        state.data.update(outcome="runner-died", finished=now_iso(), reason="runner died")
    if isinstance(target, PodTarget):
        target.install_config((run_dir / CONFIG_FILE_NAME).read_text())
    return EXIT_OK if stop_outstanding(run_dir, target, state, say, terminal) else EXIT_STOP_FAILED
