"""Parse and lint orchestrator scripts before anything runs.

The orchestrator reads a stream of JSON values: strings are comments, objects are steps numbered
from 0 (comments excluded). A param that decodes as a JSON object is always taken as an output
reference; anything else (numbers, strings, arrays, even arrays of objects) is passed literally
(perf-services §1.4). A failing step only ends the run silently (§0.1), so catching mistakes here
is the only early warning a user gets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ActionSpec:
    """What the orchestrator's action accepts and prints."""

    params: frozenset[str]
    required: tuple[str, ...] = ()
    outputs: frozenset[str] = frozenset()
    output_pattern: str | None = None  # regex for numbered outputs (group1…groupN)


def _spec(
    params: Iterable[str],
    required: Iterable[str] = (),
    outputs: Iterable[str] = (),
    output_pattern: str | None = None,
) -> ActionSpec:
    return ActionSpec(frozenset(params), tuple(required), frozenset(outputs), output_pattern)


_TX_COMMON = ("experimentName", "tps", "minTps", "durationMin", "maxFee", "minFee", "feePayers")
_ZKAPP_EXTRA = (
    "zkapps",
    "newAccountRatio",
    "queueSize",
    "gap",
    "noPrecondition",
    "maxCost",
    "minBalanceChange",
    "maxBalanceChange",
    "deploymentFee",
)

ACTIONS: dict[str, ActionSpec] = {
    "load-keys": _spec(("dir", "limit", "passwordEnv"), ("dir",), ("key",)),
    "discovery": _spec(("limit", "onlyBPs", "noBPs", "exactly"), (), ("participant",)),
    "payments": _spec(
        (*_TX_COMMON, "amount", "receiver", "nodes"),
        ("tps", "minTps", "durationMin", "feePayers", "nodes", "receiver"),
        ("receipt", "participant"),
    ),
    "zkapp-txs": _spec(
        (*_TX_COMMON, "nodes", *_ZKAPP_EXTRA),
        ("tps", "minTps", "durationMin", "feePayers", "nodes"),
        ("receipt", "participant"),
    ),
    "stop": _spec(("receipts",), ("receipts",)),
    "stop-daemon": _spec(("nodes", "clean"), ("nodes",)),
    "restart": _spec(("nodes", "clean"), ("nodes",)),
    "wait": _spec(("min", "sec", "slot")),
    "fund-keys": _spec(
        ("amount", "fee", "prefix", "num", "privkeys", "passwordEnv"),
        ("amount", "fee", "prefix", "num", "privkeys"),
    ),
    "rotate-balance": _spec(
        ("pubkeys", "servers", "ratio", "mapping", "fee", "passwordEnv"),
        ("pubkeys", "servers", "ratio", "mapping"),
    ),
    "join": _spec(tuple(f"group{i}" for i in range(1, 10)), (), ("group",)),
    "except": _spec(("group", "except"), ("group", "except"), ("group",)),
    "sample": _spec(("group", "ratios"), ("group", "ratios"), ("rest",), r"group[1-9][0-9]*"),
    "slots-won": _spec(("nodes",), ("nodes",), ("slotsWon",)),
    "slots-covered-check": _spec(("threshold", "slotsWon"), ("threshold", "slotsWon")),
    "allocate-slots": _spec(
        ("groups", "slotsWon", "minSlots", "maxSlots"),
        ("groups", "slotsWon", "minSlots", "maxSlots"),
        ("nextEmptySlot", "lastSlot"),
        r"group[0-9]+",
    ),
    "isolate": _spec(("nodes",), ("nodes",)),
    "reset-gating": _spec(("nodes", "addRandomPeers"), ("nodes",)),
    "set-zkapp-soft-limit": _spec(("nodes", "limit"), ("nodes", "limit"), ("participant",)),
}

# Names from the orchestrator README that the code no longer reads (perf-services §1.5).
RENAMED: dict[str, str] = {
    "durationInMinutes": "durationMin",
    "feeMax": "maxFee",
    "feeMin": "minFee",
    "senders": "feePayers",
    "password-env": "passwordEnv",
    "privkey": "privkeys",
}
RENAMED_PER_ACTION: dict[tuple[str, str], str] = {("wait", "minutes"): "min"}

# Steps that, when they succeed, always print at least one value of this output.
GUARANTEED_OUTPUTS: dict[str, str] = {
    "payments": "receipt",
    "zkapp-txs": "receipt",
    "discovery": "participant",
}

_REFERENCE_KEYS = frozenset({"type", "step", "name", "file", "onEmpty"})


@dataclass(frozen=True)
class Step:
    index: int
    line: int
    action: str
    params: dict[str, Any]


@dataclass(frozen=True)
class LintError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Script:
    steps: list[Step] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)
    errors: list[LintError] = field(default_factory=list)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.action] = counts.get(step.action, 0) + 1
        actions = ", ".join(f"{name} x{n}" for name, n in counts.items())
        return f"ok: {len(self.steps)} steps ({actions or 'none'}), {len(self.comments)} comments"


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def parse_script(text: str) -> Script:
    """Split the value stream into steps and comments, recording each value's line."""
    script = Script()
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        line = _line_of(text, pos)
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            script.errors.append(
                LintError(
                    _line_of(text, error.pos),
                    f"invalid JSON ({error.msg}); the orchestrator stops reading here",
                )
            )
            break
        pos = end
        if isinstance(value, str):
            script.comments.append((line, value))
            continue
        index = len(script.steps)
        if not isinstance(value, dict):
            script.errors.append(
                LintError(line, f"step {index}: a value must be a string (comment) or an object")
            )
            continue
        action = value.get("action")
        params = value.get("params", {})
        extra = sorted(set(value) - {"action", "params"})
        if extra:
            script.errors.append(
                LintError(
                    line, f"step {index}: unknown key(s) {extra}; a step is {{action, params}}"
                )
            )
        if not isinstance(action, str):
            script.errors.append(LintError(line, f"step {index}: `action` must be a string"))
            action = ""
        if params is None:
            params = {}
        if not isinstance(params, dict):
            script.errors.append(LintError(line, f"step {index}: `params` must be an object"))
            params = {}
        script.steps.append(Step(index, line, action, params))
    return script


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict)


def _output_known(spec: ActionSpec, name: str, producer: Step) -> bool:
    if name in spec.outputs:
        return True
    if spec.output_pattern and re.fullmatch(spec.output_pattern, name):
        ratios = producer.params.get("ratios")
        if producer.action == "sample" and isinstance(ratios, list):
            return int(name[len("group") :]) <= len(ratios)
        return True
    return False


def _check_reference(step: Step, param: str, ref: dict[str, Any], steps: list[Step]) -> list[str]:
    where = f"step {step.index} ({step.action}) param `{param}`"
    problems: list[str] = []
    if ref.get("type") != "output":
        return [
            f"{where}: object values are always read as output references "
            '{"type":"output","step":N,"name":…}; this one has no "type":"output" '
            "(the orchestrator fails with `unknown type`). Object literals are not allowed"
        ]
    unknown = sorted(set(ref) - _REFERENCE_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_REFERENCE_KEYS))
        problems.append(f"{where}: unknown reference key(s) {unknown}; allowed: {allowed}")
    ref_step = ref.get("step")
    name = ref.get("name")
    file = ref.get("file")
    if not isinstance(ref_step, int) or isinstance(ref_step, bool):
        problems.append(f"{where}: reference `step` must be an integer")
        return problems
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: reference `name` must be a non-empty string")
        return problems
    if file is not None and not isinstance(file, str):
        problems.append(f"{where}: reference `file` must be a path string")
        return problems
    if file:
        if ref_step < 0:
            problems.append(
                f"{where}: a relative step ({ref_step}) cannot be combined with `file`; "
                "use the absolute step number of the earlier run"
            )
        return problems
    target = ref_step + step.index if ref_step < 0 else ref_step
    if ref_step < 0 and target < 0:
        problems.append(
            f"{where}: relative step {ref_step} lands before step 0 (this is step {step.index})"
        )
        return problems
    if target >= step.index:
        problems.append(
            f"{where}: reference to step {ref_step} must point to an earlier step "
            f"(< {step.index}); use a negative step for relative references"
        )
        return problems
    producer = steps[target]
    spec = ACTIONS.get(producer.action)
    if spec is None:
        return problems
    if not _output_known(spec, name, producer):
        produced = sorted(spec.outputs)
        if spec.output_pattern:
            produced.append(f"/{spec.output_pattern}/")
        problems.append(
            f"{where}: step {target} ({producer.action}) has no output `{name}`"
            + (f"; it produces {', '.join(produced)}" if produced else "; it produces no outputs")
        )
    return problems


def _check_literals(step: Step) -> list[str]:
    """Literal values that the orchestrator's code rejects."""
    problems: list[str] = []
    p = step.params
    where = f"step {step.index} ({step.action})"
    if step.action in ("payments", "zkapp-txs"):
        for key in ("tps", "minTps"):
            value = p.get(key)
            if (
                key in p
                and not _is_reference(value)
                and (not isinstance(value, int | float) or isinstance(value, bool) or value <= 0)
            ):
                problems.append(f"{where}: `{key}` must be a number > 0, got {value!r}")
        duration = p.get("durationMin")
        if (
            "durationMin" in p
            and not _is_reference(duration)
            and (not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0)
        ):
            problems.append(f"{where}: `durationMin` must be a whole number of minutes > 0")
        for key in ("nodes", "feePayers"):
            value = p.get(key)
            if key in p and not _is_reference(value) and (not isinstance(value, list) or not value):
                problems.append(f"{where}: `{key}` must be a non-empty list or an output reference")
    if step.action == "zkapp-txs" and "zkapps" not in p and "gap" not in p:
        problems.append(f"{where}: set `zkapps` or `gap` (the action requires one of them)")
    if step.action == "join" and not any(k.startswith("group") for k in p):
        problems.append(f"{where}: needs at least one of group1…group9")
    if step.action == "stop" and "receipts" in p and not _is_reference(p["receipts"]):
        receipts = p["receipts"]
        if not isinstance(receipts, list) or not all(
            isinstance(r, dict) and {"address", "handle"} <= set(r) for r in receipts
        ):
            problems.append(
                f"{where}: `receipts` must be a list of {{address, handle}} or a reference"
            )
    if step.action == "sample" and isinstance(p.get("ratios"), list):
        ratios = p["ratios"]
        if not all(isinstance(r, int | float) and r >= 0 for r in ratios) or sum(ratios) > 1:
            problems.append(f"{where}: `ratios` must be non-negative numbers summing to ≤ 1")
    return problems


def lint_script(text: str) -> Script:
    """Parse and check everything the orchestrator would reject or silently mis-read."""
    script = parse_script(text)
    for step in script.steps:
        where = f"step {step.index} ({step.action or '?'})"
        spec = ACTIONS.get(step.action)
        if spec is None:
            if step.action:
                script.errors.append(
                    LintError(
                        step.line,
                        f"{where}: unknown action {step.action!r}; "
                        f"known: {', '.join(sorted(ACTIONS))}",
                    )
                )
            continue
        messages: list[str] = []
        for param, value in step.params.items():
            renamed = RENAMED_PER_ACTION.get((step.action, param)) or RENAMED.get(param)
            if renamed and renamed in spec.params:
                messages.append(
                    f"{where}: param `{param}` is an out-of-date README name the code ignores; "
                    f"rename it to `{renamed}`"
                )
                continue
            if param not in spec.params:
                messages.append(
                    f"{where}: unknown param `{param}`; {step.action} takes "
                    f"{', '.join(sorted(spec.params)) or 'no params'}"
                )
                continue
            if _is_reference(value):
                messages.extend(_check_reference(step, param, value, script.steps))
        for param in spec.required:
            if param not in step.params:
                messages.append(f"{where}: missing required param `{param}`")
        messages.extend(_check_literals(step))
        script.errors.extend(LintError(step.line, m) for m in messages)
    script.errors.sort(key=lambda e: e.line)
    return script


def lint_file(path: Path) -> Script:
    return lint_script(path.read_text())
