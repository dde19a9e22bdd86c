"""Parse and lint orchestrator scripts before anything runs.

The orchestrator reads a stream of JSON values: strings are comments, objects are steps numbered
from 0 (comments excluded). A param that decodes as a JSON object is always taken as an output
reference; anything else (numbers, strings, arrays, even arrays of objects) is passed literally
(perf-services §1.4). A failing step only ends the run silently (§0.1), so catching mistakes here
is the only early warning a user gets.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from minaperf.model.config import one_line


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


# Upstream: o1-labs/mina-perf-testing@7da1f2c orchestrator/src. Each action decodes its params with
# Go's encoding/json into the struct named below, so these are the Go field types:
#   uint64 / int: a JSON integer literal only (strconv.ParseUint/ParseInt refuse `1e9`, `1.5`,
#                 and a string), in range; float64: any number; bool: true/false; string: a
#                 string; []T: an array of T (a scalar fails); *int: an int.
#   node / privkey / pubkey are strings (NodeAddress data.go:34, itn_json_types keys).
# Go is more lenient in two ways the linter refuses on purpose, saying why: it matches JSON keys
# to fields case-insensitively, and ResolveParams skips `null` (params.go:119-123), which then
# leaves the field at its zero value: both silently run something else than what was written.
_PAYMENT_SUB = {  # PaymentSubParams, payments.go:10-19
    "experimentName": "string",
    "tps": "float64",
    "minTps": "float64",
    "durationMin": "int",
    "maxFee": "uint64",
    "minFee": "uint64",
    "amount": "uint64",
    "receiver": "string",
}
_ZKAPP_SUB = {  # ZkappSubParams, zkapp.go:11-27
    "experimentName": "string",
    "tps": "float64",
    "minTps": "float64",
    "durationMin": "int",
    "maxFee": "uint64",
    "minFee": "uint64",
    "zkapps": "int",
    "newAccountRatio": "float64",
    "queueSize": "int",
    "gap": "int",
    "noPrecondition": "bool",
    "maxCost": "bool",
    "minBalanceChange": "uint64",
    "maxBalanceChange": "uint64",
    "deploymentFee": "uint64",
}
PARAM_TYPES: dict[str, dict[str, str]] = {
    "load-keys": {"dir": "string", "limit": "int", "passwordEnv": "string"},  # keyloader.go:62
    "discovery": {  # DiscoveryParams, discovery.go:29-34
        "limit": "int",
        "onlyBPs": "bool",
        "noBPs": "bool",
        "exactly": "bool",
    },
    # PaymentParams, payments.go:21-25
    "payments": {**_PAYMENT_SUB, "feePayers": "[]string", "nodes": "[]string"},
    # ZkappCommandParams, zkapp.go:29-33
    "zkapp-txs": {**_ZKAPP_SUB, "feePayers": "[]string", "nodes": "[]string"},
    "stop": {"receipts": "[]receipt"},  # StopParams, stop.go:8-10
    "stop-daemon": {"nodes": "[]string", "clean": "bool"},  # StopDaemonParams, stop.go:42-45
    "restart": {"nodes": "[]string", "clean": "bool"},  # RestartParams, restart.go:11-14
    "wait": {"min": "int", "sec": "int", "slot": "int"},  # WaitParams, misc.go:22-26
    "fund-keys": {  # FundParams, fund.go:15-22
        "amount": "uint64",
        "fee": "uint64",
        "prefix": "string",
        "num": "int",
        "privkeys": "[]string",
        "passwordEnv": "string",
    },
    "rotate-balance": {  # RotateParams, rotate.go:12-29
        "pubkeys": "[]string",
        "servers": "[]string",
        "ratio": "float64",
        "mapping": "[]int",
        "fee": "uint64",
        "passwordEnv": "string",
    },
    "join": {f"group{i}": "[]any" for i in range(1, 10)},  # JoinParams, misc.go:96-106
    "except": {"group": "[]string", "except": "[]string"},  # ExceptParams, misc.go:137-140
    "sample": {"group": "[]string", "ratios": "[]float64"},  # SampleParams, misc.go:166-169
    "slots-won": {"nodes": "[]string"},  # SlotsWonParams, slots_won.go:9-11
    # SlotsCoveredCheckParams, slots_won.go:50-53
    "slots-covered-check": {"threshold": "float64", "slotsWon": "[]slotsWon"},
    "allocate-slots": {  # AllocateSlotsParams, slots_allocation.go:12-21
        "groups": "[]int",
        "slotsWon": "[]slotsWon",
        "minSlots": "int",
        "maxSlots": "int",
    },
    "isolate": {"nodes": "[]string"},  # IsolateParams, gating.go:10-12
    "reset-gating": {"nodes": "[]string", "addRandomPeers": "int"},  # gating.go:64-67
    # SetZkappSoftLimitParams, set_zkapp_soft_limit.go:7-10
    "set-zkapp-soft-limit": {"nodes": "[]string", "limit": "*int"},
}

ACTIONS: dict[str, ActionSpec] = {
    "load-keys": _spec(PARAM_TYPES["load-keys"], ("dir",), ("key",)),
    "discovery": _spec(PARAM_TYPES["discovery"], (), ("participant",)),
    "payments": _spec(
        PARAM_TYPES["payments"],
        ("tps", "minTps", "durationMin", "feePayers", "nodes", "receiver"),
        ("receipt", "participant"),
    ),
    "zkapp-txs": _spec(
        PARAM_TYPES["zkapp-txs"],
        ("tps", "minTps", "durationMin", "feePayers", "nodes"),
        ("receipt", "participant"),
    ),
    "stop": _spec(PARAM_TYPES["stop"], ("receipts",)),
    "stop-daemon": _spec(PARAM_TYPES["stop-daemon"], ("nodes",)),
    "restart": _spec(PARAM_TYPES["restart"], ("nodes",)),
    "wait": _spec(PARAM_TYPES["wait"]),
    "fund-keys": _spec(
        PARAM_TYPES["fund-keys"],
        ("amount", "fee", "prefix", "num", "privkeys"),
    ),
    "rotate-balance": _spec(
        PARAM_TYPES["rotate-balance"],
        ("pubkeys", "servers", "ratio", "mapping"),
    ),
    "join": _spec(PARAM_TYPES["join"], (), ("group",)),
    "except": _spec(PARAM_TYPES["except"], ("group", "except"), ("group",)),
    "sample": _spec(PARAM_TYPES["sample"], ("group", "ratios"), ("rest",), r"group[1-9][0-9]*"),
    "slots-won": _spec(PARAM_TYPES["slots-won"], ("nodes",), ("slotsWon",)),
    "slots-covered-check": _spec(PARAM_TYPES["slots-covered-check"], ("threshold", "slotsWon")),
    "allocate-slots": _spec(
        PARAM_TYPES["allocate-slots"],
        ("groups", "slotsWon", "minSlots", "maxSlots"),
        ("nextEmptySlot", "lastSlot"),
        r"group[0-9]+",
    ),
    "isolate": _spec(PARAM_TYPES["isolate"], ("nodes",)),
    "reset-gating": _spec(PARAM_TYPES["reset-gating"], ("nodes",)),
    "set-zkapp-soft-limit": _spec(
        PARAM_TYPES["set-zkapp-soft-limit"], ("nodes", "limit"), ("participant",)
    ),
}

_INT_RANGE = {"uint64": (0, 2**64 - 1), "int": (-(2**63), 2**63 - 1), "*int": (-(2**63), 2**63 - 1)}


def type_problem(kind: str, value: Any) -> str | None:
    """Why Go's encoding/json would refuse `value` for a field of type `kind` (None: it decodes).

    Python's json reads `1e9` and `1.0` as floats and `1` as an int, which is exactly Go's split:
    an integer field takes only an integer literal (no fraction, no exponent).
    """
    if kind in _INT_RANGE:
        if isinstance(value, bool) or not isinstance(value, int):
            what = "a fraction or exponent" if isinstance(value, float) else type(value).__name__
            return f"must be a JSON integer literal ({kind}); Go refuses {what} here"
        low, high = _INT_RANGE[kind]
        if not low <= value <= high:
            return f"out of {kind} range ({low}..{high})"
        return None
    if kind == "float64":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number (float64)"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false (bool)"
    if kind == "string":
        return None if isinstance(value, str) else "must be a string"
    if kind.startswith("[]"):
        if not isinstance(value, list):
            return f"must be an array ({kind}); Go refuses a scalar here"
        element = kind[2:]
        for index, item in enumerate(value):
            problem = _element_problem(element, item)
            if problem:
                return f"element {index} {problem}"
        return None
    return None


def _element_problem(element: str, item: Any) -> str | None:
    if element == "any":
        return None
    if element == "receipt":  # ScheduledPaymentsReceipt, payments.go:27-30
        if not isinstance(item, dict):
            return "must be an object {address, handle}"
        for key in ("address", "handle"):
            if key in item and not isinstance(item[key], str):
                return f"`{key}` must be a string"
        return None
    if element == "slotsWon":  # SlotsWonOutput, slots_won.go:13-16
        if not isinstance(item, dict):
            return "must be an object {address, slots}"
        if "slots" in item:
            return type_problem("[]int", item["slots"])
        return None
    return type_problem(element, item)


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
        # A param name is the script's text: a control character in it (`\x1e` is a line
        # break to str.splitlines) must not split the finding over two lines.
        return f"line {self.line}: {one_line(self.message)}"


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


class _LineCounter:
    """Line of a position, counting only the newlines since the last question: linear overall
    (counting from the start for each value made `check` quadratic in the script's size)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def __call__(self, pos: int) -> int:
        if pos < self.pos:
            return self.text.count("\n", 0, pos) + 1
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


class _NotGoJsonError(ValueError):
    """A value Python's json reads and Go's encoding/json refuses."""


def _refuse_constant(name: str) -> Any:
    raise _NotGoJsonError(f"`{name}` is not JSON; Go's decoder refuses it")


def _go_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotGoJsonError(f"{text} overflows float64; Go's decoder refuses it")
    return value


def _go_decoder(duplicates: list[str]) -> json.JSONDecoder:
    """Python's json as strict as Go's where they differ: no NaN/Infinity, no float overflow.
    A key given twice is collected: Go merges both objects into one struct (so a bad key in the
    first still fails), Python keeps only the last."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    return json.JSONDecoder(
        parse_constant=_refuse_constant, parse_float=_go_float, object_pairs_hook=pairs
    )


def parse_script(text: str) -> Script:
    """Split the value stream into steps and comments, recording each value's line."""
    script = Script()
    duplicates: list[str] = []
    decoder = _go_decoder(duplicates)
    line_of = _LineCounter(text)
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        line = line_of(pos)
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            script.errors.append(
                LintError(
                    line_of(error.pos),
                    f"invalid JSON ({error.msg}); the orchestrator stops reading here",
                )
            )
            break
        except RecursionError:
            script.errors.append(
                LintError(line, "JSON nested too deeply to check; no step needs nesting this deep")
            )
            break
        except ValueError as error:  # NaN, Infinity, 1e400, an integer past Python's limit
            script.errors.append(
                LintError(
                    line,
                    f"not JSON to Go: {error}; the orchestrator stops reading here "
                    "(orchestrator.go:260-266)",
                )
            )
            break
        pos = end
        for key in duplicates:
            script.errors.append(
                LintError(
                    line,
                    f"key `{key}` given twice in one object: Go decodes both into the same struct "
                    "(a bad key in the first still fails), Python keeps the last; write it once",
                )
            )
        duplicates.clear()
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
        elif not action:
            script.errors.append(
                LintError(
                    line,
                    f"step {index}: empty `action`; the orchestrator knows no such action and "
                    "exits (code 10, orchestrator.go:285-290)",
                )
            )
        if params is None:
            params = {}
        if not isinstance(params, dict):
            script.errors.append(LintError(line, f"step {index}: `params` must be an object"))
            params = {}
        script.steps.append(Step(index, line, action, params))
    return script


def decode_script(data: bytes) -> str:
    """The script's text; a binary or non-UTF-8 file is a ValueError naming the byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"not a UTF-8 text file (byte {error.start}); a script is JSON lines"
        ) from None
    if "\x00" in text:
        raise ValueError("holds NUL bytes: a binary file, not a script of JSON lines")
    return text


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict)


def _output_known(spec: ActionSpec, name: str, producer: Step) -> bool:
    if name in spec.outputs:
        return True
    if spec.output_pattern and re.fullmatch(spec.output_pattern, name):
        ratios = producer.params.get("ratios")
        if producer.action == "sample" and isinstance(ratios, list):
            return int(name[len("group") :]) <= len(ratios)
        groups = _literal(producer.params, "groups")
        if producer.action == "allocate-slots" and isinstance(groups, list):
            # slots_allocation.go:278-293 outputs group0 … group{len(groups)-1}
            return int(name[len("group") :]) < len(groups)
        return True
    return False


def _certainly_empty(producer: Step) -> bool:
    """`join` / `except` output only members (misc.go:110-117, 144-157): with literal lists
    that leave none, the `group` output never exists."""
    params = producer.params
    if producer.action == "join":
        groups = [params.get(f"group{i}") for i in range(1, 10) if f"group{i}" in params]
        return bool(groups) and all(isinstance(g, list) and not g for g in groups)
    if producer.action == "except":
        group, excluded = _literal(params, "group"), _literal(params, "except")
        if isinstance(group, list) and isinstance(excluded, list):
            try:
                return set(group) <= set(excluded)
            except TypeError:  # unhashable members: the type check names them
                return False
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
        problems.append(
            f"{where}: the orchestrator opens `file` {file!r} in its run directory "
            "(params.go:89-92), which holds only what this run writes, never an earlier run's "
            "outputs; write the values into the script instead"
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
    elif "onEmpty" not in ref and _certainly_empty(producer):
        problems.append(
            f"{where}: step {target} ({producer.action}) outputs no member, so `{name}` never "
            'exists: the orchestrator fails with "couldn\'t find output" (params.go:99-103); '
            "add `onEmpty` or fix its lists"
        )
    return problems


def _literal(params: dict[str, Any], key: str) -> Any:
    """The literal value of a param, or None when absent or an output reference."""
    value = params.get(key)
    return None if _is_reference(value) else value


def _won_slots(p: dict[str, Any]) -> list[tuple[Any, list[int]]] | None:
    """A literal `slotsWon` as (address, ascending slots) for entries that won any, or None when
    it is a reference or its slots are not ascending ints (joinSlots then merges as they come)."""
    won = _literal(p, "slotsWon")
    if not isinstance(won, list) or not all(isinstance(w, dict) for w in won):
        return None
    entries = [(w.get("address"), w.get("slots") or []) for w in won]
    for _, slots in entries:
        if not isinstance(slots, list) or not all(_is_int(s) for s in slots):
            return None
        if slots != sorted(set(slots)):
            return None
    return [(address, slots) for address, slots in entries if slots]


def _allocate_slots_problems(where: str, p: dict[str, Any]) -> list[str]:
    """`allocate-slots` (AllocateSlots, slots_allocation.go:240-283): what fails or panics
    whatever the network did, from the literal params alone."""
    problems: list[str] = []
    groups = _literal(p, "groups")
    if isinstance(groups, list) and any(_is_int(n) and n <= 0 for n in groups):
        problems.append(
            f"{where}: every entry of `groups` must be > 0 (slots_allocation.go:242-246)"
        )
    elif groups == []:
        # zero groups: entries := make([]slotEntry, 0); entries[groups-1] panics
        problems.append(
            f"{where}: `groups` must list at least one group size; with none the orchestrator "
            "panics at entries[groups-1] (slots_allocation.go:140)"
        )
    min_slots = _literal(p, "minSlots")
    if _is_int(min_slots) and min_slots <= 0:
        # filterGt(emptySlot) (:273) keeps slots above the first empty slot and filterLte(end)
        # (:135) those up to emptySlot+minSlots (:275): nothing, so the heap is empty (:153)
        problems.append(
            f"{where}: `minSlots` must be >= 1: only slots after the first empty slot and up to "
            "it plus minSlots are split, so with 0 none are and the orchestrator panics "
            '"partitionNumSets: empty heap" (slots_allocation.go:135, 153, 273-275)'
        )
    won = _won_slots(p)
    if won is None:
        return problems
    if not won:
        problems.append(
            f"{where}: `slotsWon` holds no slot; the step always fails "
            '(slots_allocation.go:261-263, "no slots won provided")'
        )
        return problems
    if any(not isinstance(address, str) or ":" not in address for address, _ in won):
        # addr[:strings.IndexRune(addr, ':')] slices to -1 without a port
        problems.append(
            f"{where}: every `slotsWon` address must be host:port (slots_allocation.go:256)"
        )
        return problems
    if _is_int(min_slots) and min_slots > 0:
        every = sorted({slot for _, slots in won for slot in slots})
        empty = every[0]
        for slot in every[1:]:  # slots_allocation.go:264-270
            empty += 1
            if slot > empty:
                break
        if not any(empty < slot <= empty + min_slots for slot in every):
            problems.append(
                f"{where}: no slot won lies after the first empty slot {empty} and up to "
                f"{empty + min_slots} (minSlots {min_slots}): the orchestrator panics "
                '"partitionNumSets: empty heap" (slots_allocation.go:135, 153, 264-275)'
            )
    return problems


def _slots_covered_problems(where: str, p: dict[str, Any]) -> list[str]:
    """`slots-covered-check` (SlotsCoveredCheck, slots_won.go:55-79): the share of slots covered
    is at most 1, and with no slot it is -0 (0 over a negative range, :70-73)."""
    threshold = _literal(p, "threshold")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        return []
    if threshold > 1:
        return [
            f"{where}: `threshold` {threshold} is above 1, a share no network reaches "
            "(slots_won.go:72-75)"
        ]
    won = _won_slots(p)
    if won == [] and threshold > 0:
        return [
            f"{where}: `slotsWon` holds no slot, so the share covered is -0, below `threshold` "
            f"{threshold}: the step always fails (slots_won.go:55-75)"
        ]
    return []


def _load_problems(where: str, p: dict[str, Any]) -> list[str]:
    """`payments` and `zkapp-txs`: rates, duration, senders and node selection."""
    problems: list[str] = []
    for key in ("tps", "minTps"):
        value = _literal(p, key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            problems.append(f"{where}: `{key}` must be a number > 0, got {value!r}")
    duration = _literal(p, "durationMin")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration <= 0:
        problems.append(f"{where}: `durationMin` must be a whole number of minutes > 0")
    for key in ("nodes", "feePayers"):
        if _literal(p, key) == []:
            # len(FeePayers)/len(nodes) divides by zero (payments.go:66, zkapp.go:127); the
            # daemon refuses no senders ("Empty list of senders", mina_graphql.ml)
            problems.append(f"{where}: `{key}` must be a non-empty list or an output reference")
    problems.extend(_node_selection_problems(where, _literal(p, "tps"), _literal(p, "minTps")))
    return problems


def _fund_keys_problems(where: str, p: dict[str, Any]) -> list[str]:
    """`fund-keys`: a prefix in a new directory, a key count and funding keys."""
    problems: list[str] = []
    prefix = _literal(p, "prefix")
    if isinstance(prefix, str) and posixpath.dirname(prefix) in ("", ".", "/"):
        # fund.go:146-156: Validate fails when filepath.Dir(prefix) exists; "." and "/" do
        problems.append(
            f"{where}: `prefix` {prefix!r} needs a new directory part (e.g. keys-<name>/key): "
            f"its directory {posixpath.dirname(prefix) or '.'!r} exists, so Validate fails "
            "(fund.go:146-156)"
        )
    num = _literal(p, "num")
    if isinstance(num, int) and not isinstance(num, bool) and num <= 0:
        # fund.go:77 divides the amount by num (a Go panic at 0)
        problems.append(f"{where}: `num` must be > 0 (the orchestrator divides by it)")
    if _literal(p, "privkeys") == []:
        # fund.go:51-52 divides num by len(privkeys)
        problems.append(f"{where}: `privkeys` must name at least one funding key file")
    return problems


def _rotate_balance_problems(where: str, p: dict[str, Any]) -> list[str]:
    """`rotate-balance`: equal list lengths, a ratio and mapping indexes in range."""
    problems: list[str] = []
    lengths = {
        k: len(v)
        for k in ("pubkeys", "servers", "mapping")
        if isinstance(v := _literal(p, k), list)
    }
    if len(lengths) == 3 and len(set(lengths.values())) > 1:
        # rotate.go:38-43
        problems.append(
            f"{where}: `pubkeys`, `servers` and `mapping` must have equal lengths, got "
            + ", ".join(f"{k} {n}" for k, n in lengths.items())
        )
    ratio = _literal(p, "ratio")
    if isinstance(ratio, int | float) and not isinstance(ratio, bool) and ratio < 1e-3:
        problems.append(f"{where}: `ratio` must be at least 0.001 (rotate.go: ratio too small)")
    mapping = _literal(p, "mapping")
    if isinstance(mapping, list) and any(_is_int(m) and not 0 <= m < len(mapping) for m in mapping):
        # rotate.go:41-43 makes len(mapping) == len(pubkeys); :53-57 "wrong index"
        problems.append(
            f"{where}: `mapping` indexes must be in 0..{len(mapping) - 1} "
            '(rotate.go:41-43 and 53-57, "wrong index in the mapping")'
        )
    return problems


def _check_literals(step: Step) -> list[str]:
    """Literal values that the orchestrator refuses, or on which it crashes."""
    problems: list[str] = []
    p = step.params
    where = f"step {step.index} ({step.action})"
    if step.action in ("payments", "zkapp-txs"):
        problems.extend(_load_problems(where, p))
    if step.action == "payments":
        max_fee, min_fee = _literal(p, "maxFee"), _literal(p, "minFee")
        if _is_int(max_fee) and _is_int(min_fee) and max_fee < min_fee:
            # MinaProtocol/mina mina_graphql.ml schedule_payments, for every node
            problems.append(
                f"{where}: `maxFee` {max_fee} < `minFee` {min_fee}; every daemon refuses it "
                '("Maximum fee less than mininum fee")'
            )
    if step.action == "discovery" and p.get("onlyBPs") is True and p.get("noBPs") is True:
        problems.append(
            f"{where}: `onlyBPs` and `noBPs` together keep no node (discovery.go:130-135): "
            '"didn\'t find any participants" (discovery.go:176) after 30 minutes of retries'
        )
    if step.action == "load-keys" and _literal(p, "dir") == "":
        problems.append(f'{where}: `dir` is empty; listing "" fails (misc.go:246)')
    if step.action == "allocate-slots":
        problems.extend(_allocate_slots_problems(where, p))
    if step.action == "slots-covered-check":
        problems.extend(_slots_covered_problems(where, p))
    if step.action == "isolate":
        nodes = _literal(p, "nodes")
        if isinstance(nodes, list) and any(isinstance(n, str) and ":" not in n for n in nodes):
            # gating.go:17 slices the address up to its ':' (a panic without one)
            problems.append(f"{where}: every node must be host:port (gating.go:17 needs the port)")
    if step.action == "zkapp-txs" and not p.get("zkapps") and not p.get("gap"):
        # zkapp.go:120-122: "either zkappsToDeploy or gap parameters should be specified"
        problems.append(
            f"{where}: set `zkapps` or `gap` to a non-zero value (the action requires one)"
        )
    if step.action == "join" and not any(k.startswith("group") for k in p):
        problems.append(f"{where}: needs at least one of group1…group9")
    if step.action == "restart":
        # restart.go:19-21: "no restart exec provided"; our config never sets controlExec
        problems.append(
            f"{where}: the orchestrator config of this stack sets no `controlExec`, so `restart` "
            "always fails; use `stop-daemon` (the pod restarts the daemon)"
        )
    if step.action == "fund-keys":
        problems.extend(_fund_keys_problems(where, p))
    if step.action == "rotate-balance":
        problems.extend(_rotate_balance_problems(where, p))
    if step.action == "stop":
        receipts = _literal(p, "receipts")
        if isinstance(receipts, list) and not all(
            isinstance(r, dict) and {"address", "handle"} <= set(r) for r in receipts
        ):
            problems.append(
                f"{where}: `receipts` must be a list of {{address, handle}} or a reference"
            )
    if step.action == "sample":
        ratios = _literal(p, "ratios")
        numbers = isinstance(ratios, list) and all(
            isinstance(r, int | float) and not isinstance(r, bool) for r in ratios
        )
        # misc.go:178-186: each ratio in [0, 1], their sum at most 1
        if numbers and (any(not 0 <= r <= 1 for r in ratios) or sum(ratios) > 1):
            problems.append(f"{where}: `ratios` must be numbers in [0, 1] summing to ≤ 1")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _node_selection_problems(where: str, tps: Any, min_tps: Any) -> list[str]:
    """selectNodes (misc.go:206-216) keeps floor(tps/minTps) nodes; the caller then divides
    len(feePayers) by that count (payments.go:65-66, zkapp.go:126-127)."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (tps, min_tps))
    if not numbers or tps <= 0 or min_tps <= 0:
        return []
    try:
        ratio = tps / min_tps
    except OverflowError:
        ratio = math.inf
    if ratio < 1:
        return [
            f"{where}: `tps` {tps} < `minTps` {min_tps} selects 0 nodes (misc.go:206-216); "
            "len(feePayers)/0 then panics (payments.go:66, zkapp.go:127)"
        ]
    if not math.isfinite(ratio) or ratio >= 2**63:
        return [
            f"{where}: `tps`/`minTps` = {ratio:g} overflows Go's int (misc.go:207-208); "
            "the node slice then panics"
        ]
    return []


def _param_problems(step: Step, spec: ActionSpec, steps: list[Step]) -> list[str]:
    where = f"step {step.index} ({step.action})"
    types = PARAM_TYPES[step.action]
    by_folded = {name.lower(): name for name in spec.params}
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
            folded = by_folded.get(param.lower())
            if folded:
                messages.append(
                    f"{where}: write `{folded}`, not `{param}` (Go would match it "
                    "case-insensitively, but nothing else in the toolchain does)"
                )
            else:
                messages.append(
                    f"{where}: unknown param `{param}`; {step.action} takes "
                    f"{', '.join(sorted(spec.params)) or 'no params'}"
                )
            continue
        if value is None:
            messages.append(
                f"{where}: `{param}` is null; the orchestrator skips nulls and runs with the "
                "zero value instead, so write the value or leave the param out"
            )
        elif _is_reference(value):
            messages.extend(_check_reference(step, param, value, steps))
        elif problem := type_problem(types[param], value):
            messages.append(f"{where}: `{param}` {problem}, got {json.dumps(value)[:60]}")
    return messages


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
        messages = _param_problems(step, spec, script.steps)
        for param in spec.required:
            if param not in step.params:
                messages.append(f"{where}: missing required param `{param}`")
        messages.extend(_check_literals(step))
        script.errors.extend(LintError(step.line, m) for m in messages)
    script.errors.sort(key=lambda e: e.line)
    return script
