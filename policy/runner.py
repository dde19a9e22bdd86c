"""Run the policy pack over a recorded render, without the Pulumi CLI.

Each record of `resources.json` (from `python -m scripts.render`) becomes the arguments the engine
would build, and every policy runs at the level the operator's pack config gives it
(`--pack-config policy/config.json`). Only mandatory findings are violations (exit 1); a bad
pack config exits 2. See docs/security.md#the-offline-runner-agrees-with-the-engine.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policy.policies import ALL_POLICIES, CONFIG_ALLOW_PUBLIC, CONFIG_EXPERIMENT
from scripts.cli import OneLineParser, bad_input


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    name: str
    resource_type: str
    message: str
    level: str = "mandatory"

    def __str__(self) -> str:
        prefix = "" if self.level == "mandatory" else f"{self.level}: "
        return f"{prefix}[{self.policy}] {self.resource_type} {self.name}: {self.message}"


LEVELS = {level.value: level for level in EnforcementLevel}


def pack_levels(
    pack_config: Mapping[str, Any], policies: Iterable[Policy] = ALL_POLICIES
) -> dict[str, str]:
    """Each policy's effective level: its own, then `all`, then its entry in the pack config.

    An entry is a level or `{"enforcementLevel": ...}`, as Pulumi reads it
    (pulumi.com/docs/using-pulumi/crossguard/configuration "Enforcement Level")."""

    def level_of(entry: Any) -> str | None:
        value = entry.get("enforcementLevel") if isinstance(entry, Mapping) else entry
        if value is None:
            return None
        if value not in LEVELS:
            raise ValueError(f"unknown enforcement level {value!r} (known: {sorted(LEVELS)})")
        return str(value)

    levels = {}
    for policy in policies:
        own = policy.enforcement_level or EnforcementLevel.ADVISORY
        levels[policy.name] = (
            level_of(pack_config.get(policy.name)) or level_of(pack_config.get("all")) or own.value
        )
    return levels


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "boolean": bool,
    "string": str,
    "object": dict,
    "array": list,
}


def pack_settings(
    pack_config: Mapping[str, Any], policies: Iterable[Policy] = ALL_POLICIES
) -> dict[str, dict[str, Any]]:
    """Each policy's own settings from the pack config, as the engine passes them to it: the
    properties of its entry without `enforcementLevel` (pulumi_policy policy.py Configure and
    _get_policy_config), each of the type its schema declares, as the CLI checks them; `all`
    sets levels only."""
    settings: dict[str, dict[str, Any]] = {}
    for policy in policies:
        entry = pack_config.get(policy.name)
        if not isinstance(entry, Mapping):
            continue
        properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        schema = policy.config_schema.properties if policy.config_schema else {}
        for key, value in properties.items():
            expected = _JSON_TYPES.get(str((schema.get(key) or {}).get("type")))
            if expected is not None and not isinstance(value, expected):
                raise ValueError(
                    f"pack config `{policy.name}.{key}` is {json.dumps(value)}; the policy's "
                    f"schema wants a {schema[key]['type']}"
                )
        settings[policy.name] = properties
    return settings


def _seconds(value: Any) -> float:
    """Custom timeouts are recorded as Go durations ("10m") or numbers of seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value or "").strip()
    if not text:
        return 0.0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    total, number = 0.0, ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total, number = total + float(number) * units[char], ""
        else:
            raise ValueError(f"cannot read custom timeout {value!r}")
    return total + (float(number) if number else 0.0)


def _options(record: Mapping[str, Any]) -> PolicyResourceOptions:
    options = record.get("options") or {}
    timeouts = options.get("customTimeouts") or {}
    return PolicyResourceOptions(
        protect=bool(options.get("protect", False)),
        ignore_changes=list(options.get("ignoreChanges") or []),
        delete_before_replace=options.get("deleteBeforeReplace"),
        aliases=list(options.get("aliases") or []),
        custom_timeouts=PolicyCustomTimeouts(
            _seconds(timeouts.get("create")),
            _seconds(timeouts.get("update")),
            _seconds(timeouts.get("delete")),
        ),
        additional_secret_outputs=list(options.get("additionalSecretOutputs") or []),
        parent=record.get("parent") or None,
    )


def _provider(
    reference: str | None, by_urn: Mapping[str, Mapping[str, Any]]
) -> PolicyProviderResource | None:
    """A provider reference is `<urn>::<id>`; resolve it to the recorded provider resource."""
    if not reference:
        return None
    urn = reference.rsplit("::", 1)[0] if reference.count("::") > 3 else reference
    record = by_urn.get(urn)
    if record is None:
        provider_type = urn.split("::")[-2].split("$")[-1] if "::" in urn else "unknown"
        return PolicyProviderResource(provider_type, {}, urn, urn.rsplit("::", 1)[-1])
    return PolicyProviderResource(
        record["type"],
        unknown_checking_proxy(dict(record.get("inputs") or {})),
        record["urn"],
        record["name"],
    )


def build_args(
    record: Mapping[str, Any],
    config: Mapping[str, Any],
    by_urn: Mapping[str, Mapping[str, Any]] | None = None,
) -> ResourceValidationArgs:
    """The engine's view of one recorded resource: props wrapped in the engine's
    unknown-checking proxy, options and provider filled in."""
    return ResourceValidationArgs(
        resource_type=record["type"],
        props=unknown_checking_proxy(json.loads(json.dumps(record.get("inputs") or {}))),
        urn=record["urn"],
        name=record["name"],
        opts=_options(record),
        provider=_provider(record.get("provider"), by_urn or {}),
        config=dict(config),
    )


def _run(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.run(_await(result))


async def _await(result: Any) -> None:
    await result


def _stack_resources(resources: Sequence[Mapping[str, Any]]) -> list[PolicyResource]:
    """The engine's view of the whole stack, for stack policies (parents and dependencies
    resolved to the recorded resources they name)."""
    by_urn = {r["urn"]: r for r in resources}
    built: dict[str, PolicyResource] = {}

    def build(record: Mapping[str, Any]) -> PolicyResource:
        urn = record["urn"]
        if urn not in built:
            parent = by_urn.get(record.get("parent") or "")
            built[urn] = PolicyResource(
                record["type"],
                unknown_checking_proxy(json.loads(json.dumps(record.get("inputs") or {}))),
                urn,
                record["name"],
                _options(record),
                _provider(record.get("provider"), by_urn),
                build(parent) if parent is not None else None,
                [build(by_urn[d]) for d in record.get("dependencies") or [] if d in by_urn],
                {},
            )
        return built[urn]

    return [build(record) for record in resources]


def evaluate(
    resources: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    policies: Iterable[Policy] = ALL_POLICIES,
    *,
    levels: Mapping[str, str] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Violation]:
    """Every finding of every enabled policy, with its level (`levels`: pack_levels' answer;
    default: the levels in the code). `config` goes to every policy; `settings` (pack_settings'
    answer) adds each policy's own, as the engine passes them. Disabled policies do not run;
    stack policies get every record at once (StackValidationArgs)."""
    # The given config is authoritative: never fall back to whatever stack config is ambient.
    base = {CONFIG_ALLOW_PUBLIC: False, CONFIG_EXPERIMENT: None, **config}
    by_urn = {r["urn"]: r for r in resources}
    policies = list(policies)
    level = pack_levels({}, policies) | dict(levels or {})
    policies = [policy for policy in policies if level[policy.name] != "disabled"]
    own = {policy.name: {**base, **(settings or {}).get(policy.name, {})} for policy in policies}
    violations: list[Violation] = []
    for policy in policies:
        if not isinstance(policy, StackValidationPolicy):
            continue

        def report_stack(message: str, urn: str | None = None, *, _policy=policy) -> None:
            record = by_urn.get(urn or "") or {"urn": urn or "", "name": "", "type": "stack"}
            violations.append(
                Violation(
                    _policy.name,
                    record["urn"],
                    record["name"],
                    record["type"],
                    message,
                    level[_policy.name],
                )
            )

        _run(
            policy.validate(
                StackValidationArgs(_stack_resources(resources), own[policy.name]), report_stack
            )
        )
    for record in resources:
        for policy in policies:
            if not isinstance(policy, ResourceValidationPolicy):
                continue
            args = build_args(record, own[policy.name], by_urn)

            def report(message: str, urn: str | None = None, *, _policy=policy, _rec=record):
                violations.append(
                    Violation(
                        _policy.name,
                        _rec["urn"],
                        _rec["name"],
                        _rec["type"],
                        message,
                        level[_policy.name],
                    )
                )

            try:
                _run(policy.validate(args, report))
            except _NotApplicableError:
                continue
            except UnknownValueError as error:  # recorded renders hold no unknowns
                raise ValueError(f"{record['urn']}: unknown input {error.message}") from error
    return violations


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m policy.runner", description=__doc__)
    parser.add_argument("resources", type=Path, help="resources.json written by scripts.render")
    parser.add_argument(
        "--experiment", help="the stack's name (the engine reads it from PULUMI_STACK)"
    )
    parser.add_argument("--pack-config", type=Path, help="the operator's policy pack config")
    args = parser.parse_args(argv)
    try:
        pack_config = json.loads(args.pack_config.read_text()) if args.pack_config else {}
        if not isinstance(pack_config, dict):
            raise ValueError("the pack config must be a JSON object of policy names")
        levels, settings = pack_levels(pack_config), pack_settings(pack_config)
    except (OSError, ValueError) as error:
        return bad_input(f"--pack-config {args.pack_config}: {error}", label="policy.runner")
    findings = evaluate(
        json.loads(args.resources.read_text()),
        {CONFIG_EXPERIMENT: args.experiment},
        levels=levels,
        settings=settings,
    )
    for finding in findings:
        print(finding)
    violations = [f for f in findings if f.level == "mandatory"]
    advisories = len(findings) - len(violations)
    print(f"{len(violations)} violation(s), {advisories} advisory finding(s)", file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
