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
