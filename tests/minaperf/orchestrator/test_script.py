from __future__ import annotations

import json
from pathlib import Path

import pytest

from minaperf.orchestrator.script import lint_script, parse_script

RECEIVER = "B62qii4xfjQ3Vg5dsq7RakYTENQkdD8pFPMgqtUdC9FhgvBbwEbRoML"


def _payments(**override: object) -> dict:
    params = {
        "experimentName": "e",
        "tps": 1,
        "minTps": 0.5,
        "durationMin": 5,
        "maxFee": 2,
        "minFee": 1,
        "amount": 1,
        "receiver": RECEIVER,
        "feePayers": {"type": "output", "step": 0, "name": "key"},
        "nodes": {"type": "output", "step": 1, "name": "participant"},
    }
    params.update(override)
    return {"action": "payments", "params": params}


def _script(*values: object) -> str:
    return "\n".join(json.dumps(v) for v in values) + "\n"


GOOD = [
    "comment",
    {"action": "load-keys", "params": {"dir": "keys"}},
    {"action": "discovery", "params": {"limit": 2}},
    _payments(),
    {"action": "wait", "params": {"sec": 1}},
    {"action": "stop", "params": {"receipts": {"type": "output", "step": -2, "name": "receipt"}}},
]


def _errors(*values: object) -> list[str]:
    return [str(e) for e in lint_script(_script(*values)).errors]


def test_good_script_passes_and_numbers_steps_without_comments() -> None:
    script = lint_script(_script(*GOOD))
    assert script.errors == []
    assert [(s.index, s.line, s.action) for s in script.steps][:2] == [
        (0, 2, "load-keys"),
        (1, 3, "discovery"),
    ]
    assert script.summary().startswith("ok: 5 steps")


@pytest.mark.parametrize(
    ("old", "new", "action"),
    [
        ("durationInMinutes", "durationMin", "payments"),
        ("feeMax", "maxFee", "payments"),
        ("feeMin", "minFee", "payments"),
        ("senders", "feePayers", "payments"),
    ],
)
def test_outdated_readme_names_are_flagged_with_the_fix(old: str, new: str, action: str) -> None:
    step = _payments()
    step["params"][old] = step["params"].pop(new)
    errors = _errors(*GOOD[:3], step)
    assert any(f"`{old}`" in e and f"rename it to `{new}`" in e and "line 4" in e for e in errors)


def test_wait_minutes_fund_keys_privkey_and_password_env() -> None:
    errors = _errors(
        {"action": "wait", "params": {"minutes": 3}},
        {
            "action": "fund-keys",
            "params": {
                "amount": 1,
                "fee": 1,
                "prefix": "k/a",
                "num": 2,
                "privkey": "x",
                "password-env": "P",
            },
        },
    )
    text = "\n".join(errors)
    assert "`minutes`" in text
    assert "`min`" in text
    assert "`privkey`" in text
    assert "`privkeys`" in text
    assert "`password-env`" in text
    assert "`passwordEnv`" in text


def test_reference_rules() -> None:
    errors = _errors(
        {"action": "discovery", "params": {}},
        {
            "action": "stop",
            "params": {"receipts": {"type": "output", "step": 0, "name": "receipt"}},
        },
        {
            "action": "stop",
            "params": {"receipts": {"type": "output", "step": 5, "name": "receipt"}},
        },
        {"action": "stop", "params": {"receipts": {"type": "output", "step": -9, "name": "r"}}},
        {
            "action": "stop",
            "params": {"receipts": {"type": "output", "step": -1, "name": "r", "file": "o.jsonl"}},
        },
        {"action": "stop-daemon", "params": {"nodes": {"a": 1}}},
    )
    assert any("line 2" in e and "discovery) has no output `receipt`" in e for e in errors)
    assert any("line 3" in e and "earlier step" in e for e in errors)
    assert any("line 4" in e and "lands before step 0" in e for e in errors)
    assert any("line 5" in e and "cannot be combined with `file`" in e for e in errors)
    assert any("line 6" in e and "Object literals are not allowed" in e for e in errors)


def test_outputs_per_action() -> None:
    sample = {
        "action": "sample",
        "params": {
            "group": {"type": "output", "step": 0, "name": "participant"},
            "ratios": [0.5, 0.5],
        },
    }
    ok = lint_script(
        _script(
            {"action": "discovery", "params": {}},
            sample,
            {
                "action": "slots-won",
                "params": {"nodes": {"type": "output", "step": 1, "name": "group2"}},
            },
            {
                "action": "slots-covered-check",
                "params": {
                    "threshold": 0.5,
                    "slotsWon": {"type": "output", "step": 2, "name": "slotsWon"},
                },
            },
        )
    )
    assert ok.errors == []
    bad = _errors(
        {"action": "discovery", "params": {}},
        sample,
        {"action": "isolate", "params": {"nodes": {"type": "output", "step": 1, "name": "group3"}}},
    )
    assert any("has no output `group3`" in e for e in bad)


def test_required_params_and_literal_checks() -> None:
    errors = _errors(*GOOD[:3], _payments(minTps=0), {"action": "zkapp-txs", "params": {}})
    assert any("`minTps` must be a number > 0" in e for e in errors)
    assert any("line 5" in e and "missing required param `tps`" in e for e in errors)
    assert any("set `zkapps` or `gap`" in e for e in errors)


def test_unknown_action_and_param_and_bad_values() -> None:
    errors = _errors(
        {"action": "pay", "params": {}}, {"action": "wait", "params": {"hours": 1}}, 42
    )
    assert any("line 1" in e and "unknown action 'pay'" in e for e in errors)
    assert any("line 2" in e and "unknown param `hours`" in e for e in errors)
    assert any("line 3" in e and "must be a string (comment) or an object" in e for e in errors)


@pytest.mark.parametrize("name", ["\x1e", "a\nb", "\u2028", "\x85"])
def test_a_param_name_with_a_line_break_stays_on_one_line(name: str) -> None:
    """str.splitlines breaks at \\x1e, \\x85 and U+2028 too: the finding is escaped instead
    (found by the contract fuzzing in tests/test_cli_contract.py)."""
    (error,) = _errors({"action": "wait", "params": {"min": 3, name: None}})
    assert len(error.splitlines()) == 1
    assert "unknown param `" + repr(name)[1:-1] + "`" in error


def test_invalid_json_reports_its_line() -> None:
    script = lint_script('"c"\n{"action": "wait",\n "params": {"sec": }}\n')
    assert script.errors
    assert script.errors[0].line == 3


def test_literal_receipts_list_is_accepted() -> None:
    receipts = [{"address": "10.0.0.1:3086", "handle": "h1"}]
    assert _errors({"action": "stop", "params": {"receipts": receipts}}) == []
    assert parse_script(_script({"action": "stop", "params": {"receipts": receipts}})).steps


def test_shipped_examples_pass() -> None:
    examples = sorted(Path("stacks/scripts").glob("*.jsonl"))
    assert examples
    for path in examples:
        assert lint_script(path.read_text()).errors == [], path


# Each script below is one that the orchestrator at o1-labs/mina-perf-testing@7da1f2c refuses
# (Go's encoding/json into the action's *Params struct) or crashes on.
_FUND = {
    "amount": 40,
    "fee": 1,
    "prefix": "fund_keys/a/key",
    "num": 4,
    "privkeys": ["/work/keys/funding/funding-0"],
}


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        # uint64 from a literal with an exponent or a fraction: strconv.ParseUint refuses
        (_payments(maxFee=1e9), "`maxFee` must be a JSON integer literal (uint64)"),
        (_payments(amount=1.5), "`amount` must be a JSON integer literal (uint64)"),
        (_payments(minFee="1"), "`minFee` must be a JSON integer literal (uint64); Go refuses str"),
        (_payments(amount=-1), "`amount` out of uint64 range"),
        (_payments(durationMin=2.0), "`durationMin` must be a JSON integer literal (int)"),
        (_payments(tps="1"), "`tps` must be a number (float64)"),
        (_payments(receiver=5), "`receiver` must be a string"),
        (_payments(nodes="10.0.0.1:3086"), "`nodes` must be an array ([]string)"),
        (_payments(feePayers=[1]), "`feePayers` element 0 must be a string"),
        (_payments(nodes=[]), "`nodes` must be a non-empty list"),  # payments.go:66 divides
        ({"action": "discovery", "params": {"noBPs": "yes"}}, "`noBPs` must be true or false"),
        ({"action": "wait", "params": {"sec": 1.5}}, "`sec` must be a JSON integer literal"),
        ({"action": "wait", "params": {"sec": None}}, "`sec` is null; the orchestrator skips"),
        ({"action": "wait", "params": {"Sec": 1}}, "write `sec`, not `Sec` (Go would match"),
        ({"action": "fund-keys", "params": {**_FUND, "num": 0}}, "`num` must be > 0"),
        ({"action": "fund-keys", "params": {**_FUND, "privkeys": []}}, "`privkeys` must name"),
        ({"action": "fund-keys", "params": {**_FUND, "amount": 4e10}}, "`amount` must be a JSON"),
        ({"action": "restart", "params": {"nodes": ["a:1"]}}, "sets no `controlExec`"),
        (
            {
                "action": "zkapp-txs",
                "params": {
                    "tps": 1,
                    "minTps": 1,
                    "durationMin": 1,
                    "feePayers": ["k"],
                    "nodes": ["a:1"],
                    "gap": 0,
                },
            },
            "set `zkapps` or `gap` to a non-zero value",
        ),
        (
            {
                "action": "rotate-balance",
                "params": {
                    "pubkeys": ["a", "b"],
                    "servers": ["s"],
                    "ratio": 0.5,
                    "mapping": [1, 0],
                },
            },
            "must have equal lengths, got pubkeys 2, servers 1, mapping 2",
        ),
        (
            {
                "action": "rotate-balance",
                "params": {"pubkeys": ["a"], "servers": ["s"], "ratio": 0.0001, "mapping": [0]},
            },
            "`ratio` must be at least 0.001",
        ),
        (
            {"action": "sample", "params": {"group": ["a"], "ratios": [0.7, 0.4]}},
            "`ratios` must be numbers in [0, 1] summing to ≤ 1",
        ),
        (
            {"action": "stop", "params": {"receipts": [{"address": "a:1", "handle": 7}]}},
            "`receipts` element 0 `handle` must be a string",
        ),
        (
            {"action": "set-zkapp-soft-limit", "params": {"nodes": ["a:1"], "limit": 1.5}},
            "`limit` must be a JSON integer literal (*int)",
        ),
    ],
)
def test_what_go_refuses_is_refused(step: dict, expected: str) -> None:
    errors = _errors(*GOOD[:3], step)
    assert any(expected in e for e in errors), errors


def test_every_action_has_a_type_for_every_param() -> None:
    from minaperf.orchestrator.script import ACTIONS, PARAM_TYPES

    assert set(PARAM_TYPES) == set(ACTIONS)
    for action, spec in ACTIONS.items():
        assert set(spec.params) == set(PARAM_TYPES[action]), action


def test_integral_values_decode_as_go_does() -> None:
    from minaperf.orchestrator.script import type_problem

    assert type_problem("uint64", 2**64 - 1) is None
    assert type_problem("uint64", 2**64) is not None
    assert type_problem("int", True) is not None  # a bool is not a number to Go
    assert type_problem("float64", 3) is None  # an integer literal decodes into float64
    assert type_problem("[]int", [1, 2]) is None


def test_deep_nesting_and_binary_input_are_one_error() -> None:
    from minaperf.orchestrator.script import decode_script

    script = lint_script("[" * 100_000 + "]" * 100_000)
    assert len(script.errors) == 1
    assert "nested too deeply" in str(script.errors[0])
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        decode_script(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="NUL bytes"):
        decode_script(b'"a"\x00')


def test_line_numbers_stay_right_in_a_long_script() -> None:
    text = "\n".join(json.dumps({"action": "wait", "params": {"sec": 1}}) for _ in range(5000))
    text += '\n{"action": "wait", "params": {"sec": 1.5}}\n'
    errors = lint_script(text).errors
    assert [e.line for e in errors] == [5001]


# Issue 24 §1: what upstream (o1-labs/mina-perf-testing@7da1f2c orchestrator/src) refuses or
# crashes on, each with the upstream lines the refusal cites.
_DISCOVERY = {"action": "discovery", "params": {}}


def _allocate_slots(**params: object) -> dict[str, object]:
    """An allocate-slots step that runs upstream (slot 2 is the first empty one, 3 is split),
    with `params` replacing its own."""
    base = {
        "groups": [1],
        "slotsWon": [{"address": "a:1", "slots": [1, 3]}, {"address": "b:1", "slots": [3, 4]}],
        "minSlots": 1,
        "maxSlots": 3,
    }
    return {"action": "allocate-slots", "params": {**base, **params}}


# What upstream runs to the end, though `check` could have guessed otherwise.
ACCEPTED_AS_UPSTREAM = {
    "allocate-slots": _script(_allocate_slots()),
    # No slot: the share is -0 over a negative range, not below 0 (slots_won.go:70-73).
    "slots-covered-check-no-slots-threshold-0": _script(
        {"action": "slots-covered-check", "params": {"threshold": 0, "slotsWon": []}}
    ),
}


_REFUSED_BY_UPSTREAM = {
    "tps-below-minTps": (
        _script(_DISCOVERY, _payments(tps=0.5, minTps=1, feePayers=["EK"], nodes=["a:1"])),
        "misc.go:206-216",
    ),
    "tps-over-minTps-overflows": (
        _script(_payments(tps=1e300, minTps=1e-300, feePayers=["EK"], nodes=["a:1"])),
        "misc.go:207-208",
    ),
    "nan": ('{"action": "wait", "params": {"sec": NaN}}\n', "orchestrator.go:260-266"),
    "infinity": ('{"action": "wait", "params": {"sec": -Infinity}}\n', "orchestrator.go:260-266"),
    "float-overflow": ('{"action": "payments", "params": {"tps": 1e400}}\n', "overflows float64"),
    "form-feed": ('{"action": "wait", "params": {"sec": 1}}\n\x0c\n', "invalid JSON"),
    "nbsp": ('\u00a0{"action": "wait", "params": {"sec": 1}}\n', "invalid JSON"),
    "empty-action": ('{"action": "", "params": {}}\n', "orchestrator.go:285-290"),
    "params-twice": (
        '{"action": "wait", "params": {"bogus": 1}, "params": {"sec": 1}}\n',
        "key `params` given twice",
    ),
    "allocate-slots-group-out-of-range": (
        _script(
            {
                "action": "allocate-slots",
                "params": {
                    "groups": [1],
                    "slotsWon": [{"address": "a:1", "slots": [1, 3]}],
                    "minSlots": 1,
                    "maxSlots": 2,
                },
            },
            {
                "action": "isolate",
                "params": {"nodes": {"type": "output", "step": 0, "name": "group1"}},
            },
        ),
        "has no output `group1`",
    ),
    "join-outputs-nothing": (
        _script(
            {"action": "join", "params": {"group1": [], "group2": []}},
            {
                "action": "isolate",
                "params": {"nodes": {"type": "output", "step": 0, "name": "group"}},
            },
        ),
        "params.go:99-103",
    ),
    "except-outputs-nothing": (
        _script(
            {"action": "except", "params": {"group": ["a:1"], "except": ["a:1", "b:1"]}},
            {
                "action": "isolate",
                "params": {"nodes": {"type": "output", "step": 0, "name": "group"}},
            },
        ),
        "params.go:99-103",
    ),
    "file-reference": (
        _script(
            {
                "action": "stop",
                "params": {
                    "receipts": {"type": "output", "step": 3, "name": "receipt", "file": "a.out"}
                },
            }
        ),
        "params.go:89-92",
    ),
    "fund-keys-prefix-without-directory": (
        _script(
            {
                "action": "fund-keys",
                "params": {"amount": 1, "fee": 1, "prefix": "key", "num": 1, "privkeys": ["k"]},
            }
        ),
        "fund.go:146-156",
    ),
    "discovery-only-and-no-bps": (
        _script({"action": "discovery", "params": {"onlyBPs": True, "noBPs": True}}),
        "discovery.go:130-135",
    ),
    "load-keys-empty-dir": (
        _script({"action": "load-keys", "params": {"dir": ""}}),
        "misc.go:246",
    ),
    "allocate-slots-zero-group": (
        _script(
            {
                "action": "allocate-slots",
                "params": {
                    "groups": [2, 0],
                    "slotsWon": [{"address": "a:1", "slots": [1, 3]}],
                    "minSlots": 1,
                    "maxSlots": 2,
                },
            }
        ),
        "slots_allocation.go:242-246",
    ),
    "allocate-slots-no-slots": (
        _script(
            {
                "action": "allocate-slots",
                "params": {
                    "groups": [1],
                    "slotsWon": [{"address": "a:1", "slots": []}],
                    "minSlots": 1,
                    "maxSlots": 2,
                },
            }
        ),
        "slots_allocation.go:261-263",
    ),
    "allocate-slots-no-groups": (
        _script(_allocate_slots(groups=[])),
        "slots_allocation.go:140",
    ),
    "allocate-slots-min-slots-zero": (
        _script(_allocate_slots(minSlots=0)),
        "slots_allocation.go:135, 153, 273-275",
    ),
    "allocate-slots-contiguous-slots": (
        _script(_allocate_slots(slotsWon=[{"address": "a:1", "slots": [1, 2, 3]}])),
        "slots_allocation.go:135, 153, 264-275",
    ),
    "allocate-slots-address-without-port": (
        _script(_allocate_slots(slotsWon=[{"address": "10.0.0.1", "slots": [1, 3]}])),
        "slots_allocation.go:256",
    ),
    "slots-covered-check-threshold-above-one": (
        _script(
            {
                "action": "slots-covered-check",
                "params": {"threshold": 1.5, "slotsWon": [{"address": "a:1", "slots": [1, 2]}]},
            }
        ),
        "slots_won.go:72-75",
    ),
    "slots-covered-check-no-slots": (
        _script({"action": "slots-covered-check", "params": {"threshold": 0.5, "slotsWon": []}}),
        "slots_won.go:55-75",
    ),
    "isolate-without-port": (
        _script({"action": "isolate", "params": {"nodes": ["10.0.0.1:3086", "10.0.0.2"]}}),
        "gating.go:17",
    ),
    "rotate-balance-mapping-out-of-range": (
        _script(
            {"action": "load-keys", "params": {"dir": "keys"}},
            {
                "action": "rotate-balance",
                "params": {
                    "pubkeys": {"type": "output", "step": 0, "name": "key"},
                    "servers": ["s"],
                    "ratio": 0.5,
                    "mapping": [1],
                },
            },
        ),
        "rotate.go:41-43",
    ),
    "max-fee-below-min-fee": (
        _script(_DISCOVERY, _payments(maxFee=1, minFee=2)),
        "Maximum fee less than mininum fee",
    ),
    "no-fee-payers": (_script(_DISCOVERY, _payments(feePayers=[])), "`feePayers` must be"),
    "int-as-float": ('{"action": "wait", "params": {"sec": 100.0}}\n', "JSON integer literal"),
    "int-as-string": ('{"action": "wait", "params": {"sec": "600"}}\n', "JSON integer literal"),
    "int-with-fraction": ('{"action": "wait", "params": {"sec": 1.5}}\n', "JSON integer literal"),
}


@pytest.mark.parametrize(
    ("text", "cited"), list(_REFUSED_BY_UPSTREAM.values()), ids=list(_REFUSED_BY_UPSTREAM)
)
def test_check_refuses_what_the_orchestrator_refuses(text: str, cited: str) -> None:
    errors = [str(e) for e in lint_script(text).errors]
    assert any(cited in e for e in errors), errors


@pytest.mark.parametrize(
    "text", list(ACCEPTED_AS_UPSTREAM.values()), ids=list(ACCEPTED_AS_UPSTREAM)
)
def test_check_accepts_what_the_orchestrator_runs(text: str) -> None:
    assert lint_script(text).errors == []


def test_slots_by_reference_are_left_to_the_run() -> None:
    """Slots known only when the network runs: the literal-window rules do not apply."""
    text = _script(
        {"action": "slots-won", "params": {"nodes": ["a:1"]}},
        {
            "action": "allocate-slots",
            "params": {
                "groups": [1],
                "slotsWon": {"type": "output", "step": 0, "name": "slotsWon"},
                "minSlots": 1,
                "maxSlots": 2,
            },
        },
    )
    assert lint_script(text).errors == []
