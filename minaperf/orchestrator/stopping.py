"""Stopping what a run scheduled, one receipt at a time, and remembering each receipt's fate.

A stop script has one `stop` step per receipt, written literally, so one failing receipt cannot
hide the others; a receipt whose step failed is then asked about at its own daemon (`handles`).
Each receipt's state (stopped, ended, failed, scheduled) is kept in `run.json`.
See docs/runner.md#receipts-and-stopping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from minaperf.files import read_regular_file
from minaperf.keys.itn import ItnKey
from minaperf.orchestrator.access import (
    Access,
    DirectAccess,
    PortForwardAccess,
    PortForwardError,
)
from minaperf.orchestrator.config import CONFIG_FILE_NAME
from minaperf.orchestrator.handles import stop_or_learn
from minaperf.orchestrator.process import OrchestratorProcess
from minaperf.orchestrator.readiness import ClusterUnreachableError, kubectl_json
from minaperf.orchestrator.rundir import (
    RunState,
    all_receipts,
    may_be_live,
    now_iso,
    read_capped,
    receipt_end,
    receipt_key,
    receipt_state,
    script_steps,
)
from minaperf.orchestrator.targets import PodTarget, Target, target_from_state

SENTINEL = {"action": "wait", "params": {"sec": 0}}
SENTINEL_COMMENT = "sentinel step added by scripts.experiment: proves the previous step finished"
EXIT_OK = 0
EXIT_STOP_FAILED = 3

# The only per-receipt signal of a stop run: `main` discards a failed step's error without printing
# it (itn_orchestrator/main.go:48), but each receipt stopped logs this INFO line (stop.go:17).
_STOPPED_LINE = re.compile(r"stopped scheduled transactions at (\S+) on (\S+):")


def stop_script(receipts: list[dict[str, Any]]) -> str:
    """One `stop` step per receipt, each with a literal one-element `receipts` array, then the
    sentinel step.

    The orchestrator only treats a param as a reference when it decodes as a JSON *object*
    (o1-labs/mina-perf-testing@7da1f2c orchestrator/src/params.go:78-82, `ResolveParam` passes
    the raw value on when it does not unmarshal into the reference struct), so an array of
    objects is decoded as the receipts list (stop.go:8-10). Literal receipts need no copy of our
    saved stdout next to the orchestrator and stop exactly the receipts we know of.
    """
    lines = [json.dumps(f"stop {len(receipts)} scheduled transaction receipt(s), one per step")]
    for r in receipts:
        literal = [{"address": r["address"], "handle": r["handle"]}]
        lines.append(json.dumps({"action": "stop", "params": {"receipts": literal}}))
    lines += [json.dumps(SENTINEL_COMMENT), json.dumps(SENTINEL)]
    return "\n".join(lines) + "\n"


def _set_state(state: RunState, receipt: dict[str, Any], fate: str, reason: str) -> None:
    with state.lock:
        if fate == "stopped":
            stopped = state.data.setdefault("receiptsStopped", [])
            if receipt_key(receipt) not in {receipt_key(r) for r in stopped}:
                stopped.append({"address": receipt["address"], "handle": receipt["handle"]})
        state.data.setdefault("receiptStates", {})[" ".join(receipt_key(receipt))] = {
            "state": fate,
            "reason": reason,
            "at": now_iso(),
        }


def _one_stop_run(
    run_dir: Path,
    target: Target,
    state: RunState,
    pending: list[dict[str, Any]],
    terminal: TextIO,
) -> tuple[set[tuple[str, str]], str | None]:
    """One orchestrator invocation over `pending`; (receipts it stopped, why it ended early)."""
    number = len(state.data.get("stops", [])) + 1
    tag = f"stop-{number}"
    text = stop_script(pending)
    (run_dir / f"{tag}.script.jsonl").write_text(text)
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
    stopped: set[tuple[str, str]] = set()
    try:
        process.start()
        result = process.wait()
    except (OSError, RuntimeError) as error:
        reason: str | None = f"could not start the stop run: {error}"
        record.update(exitStatus=None, ok=False, reason=reason)
    else:
        try:
            log = read_capped(run_dir / f"{tag}.log").decode(errors="replace")
        except OSError:
            log = ""  # no receipt reads as stopped from a log that is not there
        stopped = {(m.group(2), m.group(1)) for m in _STOPPED_LINE.finditer(log)}
        finished = {i for i in result.markers if i - 1 >= 0}
        for index, receipt in enumerate(pending):
            if index + 1 in finished:  # the next step began: this one returned without error
                stopped.add(receipt_key(receipt))
        ok = len(pending) in result.markers
        if ok:
            reason = None
        elif result.exit_status not in (0, None):
            reason = f"stop run exited {result.exit_status}"
            if result.error_lines:
                reason += f": {result.error_lines[0]}"
        else:
            reason = "the stop step failed (the orchestrator does not print why)"
        record.update(exitStatus=result.exit_status, ok=ok, reason=reason or "stopped")
    record["finished"] = now_iso()
    with state.lock:
        state.data.setdefault("stops", []).append(record)
    return stopped, reason


def stop_outstanding(
    run_dir: Path,
    target: Target,
    state: RunState,
    say: Callable[[str], None],
    terminal: TextIO,
    *,
    now: datetime | None = None,
) -> bool:
    """Stop every receipt that may still be live; True when none is left live.

    `StopTransactions` tries every receipt of a step and fails the step with the joined errors
    (stop.go:12-26); a failing step ends the run, and `main` discards that error without
    printing it (itn_orchestrator/main.go:48). With one receipt per step, the step that did not
    finish names the receipt that failed: it is marked failed and a new stop run starts with the
    receipts after it. A receipt whose `durationMin` has run out is ended, not stopped: the
    daemon has forgotten the handle by itself (mina_graphql.ml `schedule_payments`, see
    `rundir.receipt_end`), and a stop would only get "Could not find scheduled transactions with
    handle …". After failed steps each receipt's daemon is asked itself (`_ask_daemons`).
    """
    now = now or datetime.now(UTC)
    steps = script_steps(run_dir)
    receipts = all_receipts(run_dir, state.data)
    state.data["receiptsIssued"] = receipts
    pending = []
    for receipt in receipts:
        fate = receipt_state(state.data, receipt)["state"]
        if fate in ("stopped", "ended"):
            continue
        end = receipt_end(receipt, steps)
        if end is not None and end <= now:
            _set_state(state, receipt, "ended", f"its durationMin ran out at {end:%H:%M:%SZ}")
            continue
        pending.append(receipt)
    if not pending:
        state.save()
        say("nothing left to stop: every receipt is stopped or has ended")
        return True
    say(f"stopping {len(pending)} receipt(s), one `stop` step each")
    while pending:
        stopped, reason = _one_stop_run(run_dir, target, state, pending, terminal)
        rest = []
        failed_here = False
        for receipt in pending:
            if receipt_key(receipt) in stopped:
                _set_state(state, receipt, "stopped", "stopped")
            elif not failed_here and reason is not None:
                failed_here = True  # the first unconfirmed receipt is the step that failed
                _set_state(state, receipt, "failed", reason)
                if reason.startswith("could not start"):
                    for other in pending:  # nothing else can run either
                        if receipt_key(other) not in stopped:
                            _set_state(state, other, "failed", reason)
                    rest = []
                    break
            else:
                rest.append(receipt)
        state.save()
        pending = rest
    failed = [
        r
        for r in receipts
        if receipt_state(state.data, r)["state"] == "failed"
        and may_be_live(state.data, r, steps, now)
    ]
    if failed:
        _ask_daemons(run_dir, target, state, failed, say)
    live = [r for r in failed if receipt_state(state.data, r)["state"] == "failed"]
    if not live:
        say("stop succeeded: no scheduled transactions left running")
        return True
    say(
        f"STOP FAILED for {len(live)} receipt(s) that may still be running: "
        + ", ".join(
            f"{r['address']}/{r['handle']} ({receipt_state(state.data, r)['reason']})" for r in live
        )
        + f". Retry with `python -m scripts.experiment stop --run {run_dir}`"
    )
    return False


_CONFIG_LIMIT = 1 << 20


def _orchestrator_key(run_dir: Path) -> ItnKey | None:
    """The ITN key from the run's own orchestrator config (a regular file, at most 1 MiB)."""
    path = run_dir / CONFIG_FILE_NAME
    try:
        data = json.loads(read_regular_file(path, limit=_CONFIG_LIMIT, what="config").decode())
        return ItnKey.from_secret_b64(data["key"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _daemon_route(target: Target) -> tuple[Access, dict[str, str]]:
    """How to reach a daemon's address: as it is from a local orchestrator's network, or from
    outside the cluster through a port-forward to the pod that holds that IP."""
    if not isinstance(target, PodTarget):
        return DirectAccess(), {}
    try:
        listing = kubectl_json(target.kubectl, "get", "pods", "-n", target.namespace)
    except ClusterUnreachableError:
        listing = {}
    pods = {
        str(item.get("status", {}).get("podIP")): str(item.get("metadata", {}).get("name"))
        for item in listing.get("items", [])
        if isinstance(item, dict)
    }
    return PortForwardAccess(target.kubectl, target.namespace), pods


def _ask_daemons(
    run_dir: Path,
    target: Target,
    state: RunState,
    receipts: list[dict[str, Any]],
    say: Callable[[str], None],
) -> None:
    """After failed stop steps: each daemon says whether it still knows its handle (`handles`)."""
    key = _orchestrator_key(run_dir)
    if key is None:
        say(f"cannot ask the daemons directly: no readable key in {run_dir / CONFIG_FILE_NAME}")
        return
    access, pods = _daemon_route(target)
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0), trust_env=False) as client:
        for receipt in receipts:
            address, handle = str(receipt["address"]), str(receipt["handle"])
            host, _, port = address.rpartition(":")
            try:
                with access.open(host, [int(port)], pod=pods.get(host)) as base:
                    verdict = stop_or_learn(client, f"{base[int(port)]}/graphql", key, handle)
            except (httpx.HTTPError, ValueError, PortForwardError) as error:
                say(f"asked {address} directly about {handle}: {error}")
                continue
            if verdict == "stopped":
                _set_state(state, receipt, "stopped", "stopped at the daemon after the step failed")
                say(f"{address} still knew {handle}: stopped it there")
            else:
                _set_state(
                    state,
                    receipt,
                    "ended",
                    "the daemon no longer knows the handle (it restarted, or the load was "
                    "stopped elsewhere)",
                )
                say(f"{address} no longer knows {handle}: that load is over")
    state.save()


def stop_saved_run(
    run_dir: Path, *, kubectl: str, orchestrator: str | None, terminal: TextIO
) -> int:
    """`stop --run`: kill a leftover orchestrator, then stop what may still be live. Idempotent:
    a second call finds nothing left and exits 0."""
    state = RunState.load(run_dir)
    if not (run_dir / CONFIG_FILE_NAME).is_file():
        raise ValueError(f"--run: {run_dir} has no {CONFIG_FILE_NAME}; cannot authenticate a stop")
    if orchestrator:
        state.data["target"] = {"kind": "local", "executable": orchestrator}
    target = target_from_state(state.data, run_dir, kubectl)

    def say(message: str) -> None:
        print(f"[experiment] {message}", file=terminal, flush=True)

    for note in state.notes:
        say(f"note: {note}")
    killed = target.kill_orphan(state.data, "orchestrator")
    if killed:
        say(killed)
    if state.data.get("outcome") == "running":
        state.data.update(outcome="runner-died", finished=now_iso(), reason="runner died")
    if isinstance(target, PodTarget) and any(
        may_be_live(state.data, r, script_steps(run_dir), datetime.now(UTC))
        for r in all_receipts(run_dir, state.data)
    ):
        target.install_config(read_capped(run_dir / CONFIG_FILE_NAME).decode(errors="replace"))
    ok = stop_outstanding(run_dir, target, state, say, terminal)
    return EXIT_OK if ok else EXIT_STOP_FAILED
