"""A recording stand-in for the Pulumi engine: runs the real program with no CLI and no cloud.

It keeps every `RegisterResource` request as the engine would receive it, answers with
deterministic provider outputs, and tags the values it invents (`ProgramRun.mock_values`). The
SDK internals it relies on are pinned by tests/scripts/test_engine_sdk.py.
See docs/development.md#the-recording-engine.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import runpy
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.resource import DependencyResource
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.settings import set_root_resource
from pulumi.runtime.stack import run_pulumi_func, wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from minaperf.rfc3339 import format_utc
from policy.markers import SECRET_SIG_KEY as SECRET_SIG
from policy.markers import SECRET_SIG_VALUE as SECRET_VALUE
from scripts.gc_pause import cyclic_gc_paused

PROJECT = "mina-itn"
PROGRAM = Path(__file__).resolve().parent.parent / "__main__.py"
MOCK_NOW = datetime(2030, 1, 1, tzinfo=UTC)
"""The clock the mocks report for resources that capture "now" at creation."""


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def _unwrap(value: Any) -> Any:
    """Inputs with secret wrappers removed (for computing mock outputs from inputs)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return _unwrap(value.get("value"))
        return {key: _unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


class RecordingMocks(pulumi_mocks.Mocks):
    """Provider outputs for the resource types the program creates."""

    def __init__(self, stack: str, variant: int = 0) -> None:
        self.stack = stack
        self.variant = variant
        """Shifts every invented value (clock, addresses, random bytes): what changes between
        runs with two variants is what the mocks invented (tests/scripts/test_engine.py checks
        the tags against that)."""
        self.now = MOCK_NOW + timedelta(days=variant)
        self._current = threading.local()
        """Per thread: the inputs of the registration being answered and the properties the
        answer invented. The SDK registers on executor threads and calls `new_resource` on the
        registering thread."""

    def current_inputs(self) -> dict[str, Any]:
        return self._current.inputs

    def current_invented(self) -> list[str]:
        """The output properties of the registration just answered whose values were invented
        (they change with `variant`); the others come from the inputs."""
        return self._current.invented

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        self._current.inputs = args.inputs
        self._current.invented = []
        resource_id, state, invented = self._answer(args)
        self._current.invented = sorted(invented)
        return resource_id, state | invented

    def _answer(
        self, args: pulumi_mocks.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
        """The resource's id, the state it echoes or derives from its inputs, and the
        properties the mocks invent (a real `up` gets those from the cloud)."""
        state = dict(args.inputs)
        invented: dict[str, Any] = {}
        resource_id = f"{args.name}-id"
        typ = args.typ
        if typ.startswith("kubernetes:"):
            # The program reads back only metadata and status of Kubernetes objects; echoing
            # (or even unwrapping) the whole spec would only cost time on large stacks.
            plain = {
                key: _unwrap(args.inputs.get(key)) for key in ("apiVersion", "kind", "metadata")
            }
            metadata = dict(plain.get("metadata") or {})
            metadata.setdefault("name", args.name)
            state = {
                "apiVersion": plain.get("apiVersion"),
                "kind": plain.get("kind"),
                "metadata": {**(state.get("metadata") or {}), "name": metadata["name"]},
            }
            if typ == "kubernetes:core/v1:Service":
                ingress = {"ip": self._ip("10.10.8", args.name)}
                invented["status"] = {"loadBalancer": {"ingress": [ingress]}}
            resource_id = f"{metadata.get('namespace', 'default')}/{metadata['name']}"
            return resource_id, state, invented
        plain = _unwrap(args.inputs)
        if typ == "gcp:container/cluster:Cluster":
            invented |= {
                "endpoint": f"203.0.113.{10 + self.variant}",
                "masterAuth": {
                    "clusterCaCertificate": base64.b64encode(
                        f"mock cluster CA {self.variant}".encode()
                    ).decode()
                },
            }
            state["name"] = plain.get("name", args.name)
            project, location = plain.get("project"), plain.get("location")
            resource_id = f"projects/{project}/locations/{location}/clusters/{args.name}"
        elif typ == "gcp:compute/address:Address":
            if plain.get("address"):
                state["address"] = plain["address"]
            else:
                invented["address"] = self._ip("10.10.4", args.name)
        elif typ == "gcp:serviceaccount/account:Account":
            state["email"] = f"{plain['accountId']}@{plain.get('project')}.iam.gserviceaccount.com"
        elif typ in {
            "gcp:compute/network:Network",
            "gcp:compute/subnetwork:Subnetwork",
            "gcp:compute/disk:Disk",
            "gcp:compute/instance:Instance",
        }:
            name = plain.get("name", args.name)
            state["name"] = name
            state["selfLink"] = f"https://compute.mock/{typ.split(':')[1]}/{name}"
            resource_id = name
        elif typ == "gcp:compute/instanceTemplate:InstanceTemplate":
            # GCE names a prefixed template `<namePrefix><unique suffix>`; `selfLinkUnique`
            # pins the exact template version (the link a managed group should follow).
            suffix = _digest(self.stack, args.name)[:4].hex()
            name = plain.get("name") or f"{plain.get('namePrefix', '')}{suffix}"
            link = f"https://compute.mock/instanceTemplates/{name}"
            state |= {"name": name, "selfLink": link, "selfLinkUnique": f"{link}?uniqueId={suffix}"}
            resource_id = name
        elif typ == "random:index/randomBytes:RandomBytes":
            raw = self._digest(args.name)[: int(plain["length"])]
            invented |= {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
        elif typ == "random:index/randomId:RandomId":
            raw = _digest(self.stack, args.name)[: int(plain["byteLength"])]
            state |= {"hex": raw.hex(), "b64Url": base64.urlsafe_b64encode(raw).decode()}
        elif typ == "random:index/randomPassword:RandomPassword":
            invented["result"] = base64.urlsafe_b64encode(self._digest(args.name)).decode()[
                : int(plain["length"])
            ]
        elif typ == "pulumi-python:dynamic:Resource" and "delayMinutes" in plain:
            moment = self.now + timedelta(minutes=float(plain["delayMinutes"]))
            invented["timestamp"] = format_utc(moment)
        return resource_id, state, invented

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        if args.token == "gcp:organizations/getProject:getProject":  # noqa: S105 (invoke token)
            project = args.args.get("projectId") or "your-gcp-project"
            number = str(int.from_bytes(_digest(project)[:5]))
            return {"projectId": project, "number": number, "name": project}, []
        return {}, []

    def _digest(self, name: str) -> bytes:
        return _digest(self.stack, name, *([str(self.variant)] if self.variant else []))

    def _ip(self, prefix: str, name: str) -> str:
        """An address derived from the name: registration order is async, names are not."""
        return str(ipaddress.ip_address(f"{prefix}.0") + 1 + self._digest(name)[0] % 250)


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    options: dict[str, Any]
    inputs: dict[str, Any]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps every registration request, which the `Mocks` interface does not see."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording_mocks = mocks
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        # pulumi/pulumi@1b594989 sdk/python/lib/pulumi/runtime/mocks.py:299-325: the SDK's
        # monitor answers with the URN, the id and the state `new_resource` returned.
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        for prop in self.recording_mocks.current_invented():
            # The tag: the SDK makes each URN of a property's dependencies a DependencyResource
            # (runtime/resource.py:1235-1239, resource.py:1044) and adds it to that property's
            # Output only (runtime/rpc.py:1514, :1585, :1205-1206). The URN is the resource's
            # own, so the dependencies the program's resources record do not change.
            response.propertyDependencies[prop].urns.append(response.urn)
        timeouts = request.customTimeouts
        self.recorded.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=request.custom,
                parent=request.parent or None,
                provider=request.provider or None,
                dependencies=sorted(request.dependencies),
                property_dependencies={
                    key: sorted(value.urns) for key, value in request.propertyDependencies.items()
                },
                options={
                    "protect": request.protect,
                    "retainOnDelete": request.retainOnDelete,
                    "ignoreChanges": list(request.ignoreChanges),
                    "replaceOnChanges": list(request.replaceOnChanges),
                    "deleteBeforeReplace": request.deleteBeforeReplace,
                    "customTimeouts": (
                        {
                            "create": timeouts.create,
                            "update": timeouts.update,
                            "delete": timeouts.delete,
                        }
                        if timeouts.create or timeouts.update or timeouts.delete
                        else None
                    ),
                    "deletedWith": request.deletedWith or None,
                    "aliases": [alias for alias in request.aliasURNs],
                },
                # Deserialized once, by the SDK's monitor, on its way to `new_resource`.
                inputs=self.recording_mocks.current_inputs(),
            )
        )
        return response


@dataclass
class ProgramRun:
    """What one run of the program registered and exported."""

    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)
    mock_values: list[str] = field(default_factory=list)
    """Output paths (`postgres.externalAddress`, `nodes[0].publicKey`) whose values come from,
    or are computed from, a value the mocks invented."""
    engine_was_mocked: bool = False
    """The canary: the program body ran while our recording monitor was the engine."""


def run_program(
    stack: str, config: dict[str, Any], secret_keys: list[str], *, variant: int = 0
) -> ProgramRun:
    """Run `__main__.py` once under the recording engine with a flat `ns:key` config map."""
    with cyclic_gc_paused():
        return _run_program(stack, config, secret_keys, variant)


def _run_program(
    stack: str, config: dict[str, Any], secret_keys: list[str], variant: int
) -> ProgramRun:
    mocks = RecordingMocks(stack, variant)
    monitor = RecordingMonitor(mocks)
    set_root_resource(None)  # pyright: ignore[reportArgumentType]
    # As the engine does: structured and scalar values reach the program as text.
    as_text = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    pulumi.runtime.set_all_config(as_text, secret_keys)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    root = pulumi.runtime.settings.get_root_resource()
    assert root is not None
    exported: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    mock_values: list[str] = []
    mocked: list[bool] = []

    async def program() -> None:
        mocked.append(pulumi.runtime.settings.get_monitor() is monitor)
        runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")
        await wait_for_rpcs()
        stack_outputs = getattr(root, "outputs", {})
        for key, value in stack_outputs.items():
            output = pulumi.Output.from_input(value)
            exported[key] = await output.future()
            if await output.is_secret():
                secret_outputs.add(key)
        for key in sorted(stack_outputs):
            mock_values.extend(await _invented_paths(stack_outputs[key], key))

    _sync_await(run_pulumi_func(program))
    return ProgramRun(
        stack,
        sorted(monitor.recorded, key=lambda resource: resource.urn),
        exported,
        secret_outputs,
        mock_values,
        engine_was_mocked=mocked == [True],
    )


async def _invented_paths(value: Any, path: str) -> list[str]:
    """The leaf paths of an exported value that carry the mocks' tag.

    The tag rides on Outputs, so a value is marked as finely as the program builds it: a dict
    of Outputs marks the tagged ones, one Output of a whole dict marks every leaf in it.
    `Output.from_input` lifts the Outputs an `apply` returned into the resource set
    (pulumi/pulumi@1b594989 sdk/python/lib/pulumi/output.py:452, :320); `apply` and `all` carry
    the set along (:289-347, :654-656). Only the tags put a `DependencyResource` there: the one
    other source in a program run, output values that carry dependencies
    (runtime/rpc.py:1049), is off under the SDK's mock monitor (runtime/mocks.py:351).
    """
    if isinstance(value, pulumi.Output):
        lifted = pulumi.Output.from_input(value)
        if any(isinstance(r, DependencyResource) for r in await lifted.resources()):
            return _leaf_paths(await lifted.future(), path)
        return []
    if isinstance(value, dict):
        return [
            found
            for key in sorted(value)
            for found in await _invented_paths(value[key], f"{path}.{key}")
        ]
    if isinstance(value, list | tuple):
        return [
            found
            for index, item in enumerate(value)
            for found in await _invented_paths(item, f"{path}[{index}]")
        ]
    return []


def _leaf_paths(value: Any, path: str) -> list[str]:
    """Every leaf below `path` that holds a value (None is nothing invented)."""
    if isinstance(value, dict):
        return [
            found for key in sorted(value) for found in _leaf_paths(value[key], f"{path}.{key}")
        ]
    if isinstance(value, list):
        return [
            found
            for index, item in enumerate(value)
            for found in _leaf_paths(item, f"{path}[{index}]")
        ]
    return [] if value is None else [path]
