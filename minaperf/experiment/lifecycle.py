"""The rules of `python -m scripts.experiment up`, free of Pulumi and processes.

`up` runs stack → config → preflight → up → wait → run → report, then always stop → destroy.
Each step ends ok, failed or interrupted; from those this module decides the exit code, whether
the stack is destroyed, and the one summary printed at the end.
See docs/cli.md#experiment-up-one-command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from minaperf.exit_codes import EXIT_BAD_INPUT

EXIT_OK = 0
EXIT_UP_FAILED = 3
EXIT_WAIT_FAILED = 4
EXIT_RUN_FAILED = 5
EXIT_REPORT_FAILED = 6
EXIT_LOAD_LEFT = 7
EXIT_STACK_LEFT = 8
EXIT_INTERRUPTED = 130

STEP_EXIT = {
    "stack": EXIT_UP_FAILED,
    "preflight": EXIT_BAD_INPUT,
    "up": EXIT_UP_FAILED,
    "wait": EXIT_WAIT_FAILED,
    "run": EXIT_RUN_FAILED,
    "report": EXIT_REPORT_FAILED,
    "stop": EXIT_LOAD_LEFT,
    "destroy": EXIT_STACK_LEFT,
}

Status = Literal["ok", "failed", "interrupted"]


@dataclass
class Step:
    name: str
    status: Status
    detail: str = ""
    exit_code: int | None = None
    """Overrides the step's usual exit code (e.g. a missing passphrase is bad input, not a
    failed up)."""


@dataclass
class Lifecycle:
    """What happened, step by step."""

    stack: str
    steps: list[Step] = field(default_factory=list)
    stack_created: bool = False
    run_dir: str | None = None
    report_path: str | None = None

    def add(self, name: str, status: Status, detail: str = "", exit_code: int | None = None):
        self.steps.append(Step(name, status, detail, exit_code))

    def step(self, name: str) -> Step | None:
        return next((step for step in self.steps if step.name == name), None)

    @property
    def interrupted(self) -> bool:
        return any(step.status == "interrupted" for step in self.steps)

    @property
    def failed(self) -> bool:
        return any(step.status in {"failed", "interrupted"} for step in self.steps)


def should_destroy(life: Lifecycle, *, destroy_after: bool, keep_on_failure: bool) -> bool:
    """Destroy what `up` created when asked: on success, on failure and on Ctrl-C, unless
    --keep-on-failure and something went wrong. A stack `up` never touched is left alone."""
    if not destroy_after or not life.stack_created:
        return False
    up = life.step("up")
    if up is None:
        return False
    return not (keep_on_failure and life.failed)


def exit_code(life: Lifecycle) -> int:
    """`up`'s exit status (the table in docs/cli.md#experiment-up-one-command): when several
    apply, the first of 8 (destroy failed), 7 (load left) and 130 (interrupted) wins, then the
    code of the first failed step."""
    by_name = {step.name: step for step in life.steps}
    for name in ("destroy", "stop"):
        step = by_name.get(name)
        if step is not None and step.status == "failed":
            return STEP_EXIT[name]
    if life.interrupted:
        return EXIT_INTERRUPTED
    for step in life.steps:
        if step.status == "failed":
            return step.exit_code if step.exit_code is not None else STEP_EXIT[step.name]
    return EXIT_OK


def stack_state(life: Lifecycle, *, destroy_asked: bool) -> str:
    destroy = life.step("destroy")
    if destroy is not None and destroy.status == "ok":
        return "destroyed"
    if destroy is not None and destroy.status == "failed":
        return (
            f"STILL UP: destroy failed ({destroy.detail}); "
            f"run `pulumi destroy --stack {life.stack}`"
        )
    if not life.stack_created:
        return "not created"
    up = life.step("up")
    if up is None:
        return "nothing deployed"
    kept = " (kept: --keep-on-failure)" if destroy_asked and life.failed else ""
    partial = "" if up.status == "ok" else " (partly: up did not finish)"
    return f"up{partial}{kept}; remove it with `python -m scripts.teardown --stack {life.stack}`"


def summary_text(life: Lifecycle, *, destroy_asked: bool) -> str:
    code = exit_code(life)
    first_bad = next((s for s in life.steps if s.status in {"failed", "interrupted"}), None)
    if first_bad is None:
        outcome = "succeeded"
    else:
        verb = "interrupted during" if first_bad.status == "interrupted" else "failed at"
        outcome = f"{verb} {first_bad.name}" + (f": {first_bad.detail}" if first_bad.detail else "")
    steps = " · ".join(
        f"{step.name} {step.status if step.status != 'failed' else 'FAILED'}" for step in life.steps
    )
    lines = [
        f"experiment up: {outcome}",
        f"  stack {life.stack}: {stack_state(life, destroy_asked=destroy_asked)}",
        f"  run directory: {life.run_dir or 'none (the run never started)'}",
        f"  report: {life.report_path or _report_note(life)}",
        f"  steps: {steps}",
        f"  exit status: {code}",
    ]
    return "\n".join(lines) + "\n"


def _report_note(life: Lifecycle) -> str:
    step = life.step("report")
    if step is None:
        return "not made"
    return f"not made ({step.detail})" if step.detail else "not made"


def set_all_json(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Config for `pulumi config set-all --json`, in the shape `pulumi config --json` prints:
    objects go as `objectValue` with `value` their JSON text (pulumi/pulumi@1b594989
    pkg/cmd/pulumi/config/config.go:1030-1070)."""
    document: dict[str, dict[str, Any]] = {}
    for key, value in sorted(config.items()):
        if isinstance(value, dict | list):
            document[key] = {"value": _json(value), "objectValue": value, "secret": False}
        elif isinstance(value, str):
            document[key] = {"value": value, "secret": False}
        else:
            document[key] = {"value": _json(value), "secret": False}
    return document


def stale_config_keys(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The keys of a stack's config (as `pulumi config --json` lists it) that `up --config FILE`
    removes so the stack holds that file's config, not a merge with an earlier one. Kept:
    secrets set on the stack itself (a config file cannot carry them) and `gcp:project` when the
    file gives none (the stack's own project is used then)."""
    stale = []
    for key, entry in current.items():
        secret = isinstance(entry, dict) and entry.get("secret") is True
        if key in wanted or secret or key == "gcp:project":
            continue
        stale.append(key)
    return sorted(stale)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def cli_error_line(message: str) -> str:
    """The `error: …` line of a failed Pulumi command (its stderr), without the prefix."""
    stderr = message.split(" stderr: ", 1)[-1]
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return lines[-1] if lines else "the pulumi command failed"
