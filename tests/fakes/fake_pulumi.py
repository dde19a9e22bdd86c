#!/usr/bin/env python3
"""A stand-in for the `pulumi` CLI: exactly the commands `pulumi.automation` (SDK 3.272.0) runs.

The Automation API drives the CLI with these command lines (installed SDK, pulumi/automation/):
- `pulumi version` when a workspace is made (_cmd.py:81-85, PULUMI_SKIP_UPDATE_CHECK=true; the
  SDK refuses a CLI below 3.1.0 or above major 3, _cmd.py:293-323, _minimum_version.py); the
  fake prints FAKE_PULUMI_VERSION (default v3.205.0) as the release tag the real CLI prints
  (pkg/cmd/pulumi/version/version.go:30);
- every other command gets `--non-interactive` inserted first (_cmd.py:223-231);
- `stack select --stack S`, then `stack init S [--secrets-provider P]` when select failed with
  "no stack named … found" (_stack.py:257-264, _local_workspace.py:468-484, errors.py:70,84);
- `config set-all --stack S --json J` (_local_workspace.py:365-367), refused as an unknown flag
  when FAKE_PULUMI_VERSION claims a CLI before v3.202.0 (pulumi/pulumi#19427; its
  CHANGELOG.md:2676-2686);
- `config --json --stack S` (listing; secure values as `{"secret": true}` without a value) and
  `config rm-all --stack S KEY…` (_local_workspace.py:375-382), run by `up --config`;
- `up --yes --skip-preview [--color C] --exec-kind auto.local --stack S` (_stack.py:391-443);
- `destroy --skip-preview --yes --exec-kind auto.local --stack S` (_stack.py:981-1038);
- `stack output --json [--show-secrets] --stack S` (_local_workspace.py:699-712; also run
  without `--non-interactive` by minaperf/model/outputs.py read_stack_outputs);
- `stack history --json [--show-secrets] --page-size 1 --page 1 --stack S` after up and destroy
  (_stack.py:1408-1416, 1454).

Behaviour copied from the real CLI (pulumi/pulumi@1b594989), unhappy paths first:
- an unknown stack: "error: no stack named 'S' found", exit 6
  (pkg/backend/backenderr/backenderr.go:47; pkg/cmd/pulumi/cmd/exit_codes.go:93-98;
  sdk/go/common/util/cmdutil/exit.go:129 ExitStackNotFound = 6);
- a passphrase stack without PULUMI_CONFIG_PASSPHRASE(_FILE) in non-interactive mode: "error:
  passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE
  environment variables", exit 1 (pkg/secrets/passphrase/manager.go:380-396; exit.go:125);
- a stack with another lock file: "error: the stack is currently locked by N lock(s). Either wait
  for the other process(es) to end or delete the lock file with `pulumi cancel`." plus one line per
  lock, exit 1 (pkg/backend/diy/lock.go:85-108); locks live in
  `.pulumi/locks/organization/<project>/<stack>/<id>.json` (lock.go:166-178);
- the first SIGINT cancels: "^C received; cancelling. If you would like to terminate immediately,
  press ^C again." (pkg/backend/cancellation_scope.go:88), the resource in flight finishes, the
  state is saved, the lock released, "error: update canceled" (engine lifecycletest testdata
  TestCanceledRefresh/diff.stderr.txt) and a bail, exit 1 (exit_codes.go:82-85);
- a failing resource leaves the resources created before it in the state ("error: update
  failed"), exit 1;
- error lines go to stderr as "error: <message>" (pkg/cmd/pulumi/main.go:67-70).

The fake never runs the program: `up` creates FAKE_PULUMI_RESOURCES (default 3) resources and
exports the outputs in the JSON file FAKE_PULUMI_OUTPUTS, where a secret value (what the program
wraps in `Output.secret`) is written as Pulumi's state writes it: an object with the secret
signature `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "plaintext":
<JSON text>}` (sdk/go/common/resource/sig/sig.go). `stack output` replaces each such value, at
any depth, by "[secret]" in place, unless `--show-secrets`, which unwraps them all
(pkg/backend/display/json.go:48-71): which outputs are secret is the state's marker, never a list
of keys.
`{stack}` in FAKE_PULUMI_OUTPUTS stands for the stack's name (one outputs file per stack).
FAKE_PULUMI_UP_HOOK is a command run with the stack's name once its resources exist, before the
outputs are exported (a test's stand-in for what the program's resources bring up, e.g. the
stack's PostgreSQL); its failure fails the update. FAKE_PULUMI_FAIL_AT=k fails the k-th
resource (0-based); FAKE_PULUMI_STEP_SECONDS sleeps per resource. Every invocation is appended to
FAKE_PULUMI_LOG (JSON lines) so tests can assert what was run. State is a directory named by
PULUMI_BACKEND_URL=file://DIR, as the diy backend.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

VERSION = os.environ.get("FAKE_PULUMI_VERSION", "v3.205.0")
SET_ALL_JSON_SINCE = (3, 202, 0)
"""`config set-all --json` (pulumi/pulumi#19427) is in v3.202.0 and later; before, cobra refuses
the flag ("unknown flag: --json")."""
SECRET_SENTINEL = "[secret]"
SIG_KEY, SIG_SECRET = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def massage(value: Any, show_secrets: bool) -> Any:
    """One output as `stack output` prints it: each secret, at any depth, replaced in place by
    "[secret]", or by its plaintext with --show-secrets (pkg/backend/display/json.go:48-71,
    massagePropertyValue; stack_output.go:147-162)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SIG_SECRET:
            if not show_secrets:
                return SECRET_SENTINEL
            return massage(json.loads(value["plaintext"]), show_secrets)
        return {key: massage(item, show_secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [massage(item, show_secrets) for item in value]
    return value


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    raise CliError(message, code)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def backend() -> Path:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        fail("the fake pulumi needs PULUMI_BACKEND_URL=file://<dir> (a diy backend)")
    return Path(url.removeprefix("file://"))


def project() -> str:
    path = Path.cwd() / "Pulumi.yaml"
    if not path.is_file():
        fail("no Pulumi.yaml project file found (searching upwards from the current directory)")
    for line in path.read_text().splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip()
    fail("Pulumi.yaml has no name")


def stack_file(stack: str) -> Path:
    return backend() / ".pulumi" / "stacks" / project() / f"{stack}.json"


def lock_dir(stack: str) -> Path:
    return backend() / ".pulumi" / "locks" / "organization" / project() / stack


def load(stack: str) -> dict[str, Any]:
    path = stack_file(stack)
    if not path.is_file():
        fail(f"no stack named '{stack}' found", 6)
    return json.loads(path.read_text())


def save(stack: str, state: dict[str, Any]) -> None:
    path = stack_file(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def require_passphrase(state: dict[str, Any]) -> None:
    if state.get("secretsProvider", "passphrase") != "passphrase":
        return
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
        return
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return
    fail(
        "passphrase must be set with PULUMI_CONFIG_PASSPHRASE or "
        "PULUMI_CONFIG_PASSPHRASE_FILE environment variables"
    )


class Lock:
    """The diy backend's lock file, refused when another exists (lock.go:85-108)."""

    def __init__(self, stack: str) -> None:
        self.directory = lock_dir(stack)
        self.path = self.directory / f"{uuid.uuid4()}.json"

    def __enter__(self) -> Lock:
        others = sorted(self.directory.glob("*.json")) if self.directory.is_dir() else []
        if others:
            lines = [
                f"the stack is currently locked by {len(others)} lock(s). Either wait for the "
                "other process(es) to end or delete the lock file with `pulumi cancel`."
            ]
            for other in others:
                content = json.loads(other.read_text())
                lines.append(
                    f"  file://{other}: created by {content['username']}@{content['hostname']} "
                    f"(pid {content['pid']}) at {content['timestamp']}"
                )
            fail("\n".join(lines))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            json.dumps(
                {"pid": os.getpid(), "username": "tester", "hostname": "fake", "timestamp": now()}
            )
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def options(args: list[str], flags: set[str], valued: set[str]) -> dict[str, Any]:
    """Parse flags strictly: an unknown one fails as cobra does ("unknown flag")."""
    found: dict[str, Any] = {"positional": []}
    index = 0
    while index < len(args):
        arg = args[index]
        name, eq, inline = arg.partition("=")
        if arg == "--":
            found["positional"].extend(args[index + 1 :])
            break
        if name in valued:
            if eq:
                found[name] = inline
            else:
                index += 1
                if index >= len(args):
                    fail(f"flag needs an argument: {name}")
                found[name] = args[index]
        elif arg in flags:
            found[arg] = True
        elif arg.startswith("-"):
            fail(f"unknown flag: {name}")
        else:
            found["positional"].append(arg)
        index += 1
    return found


def record(kind: str, stack: str, state: dict[str, Any], result: str, started: str) -> None:
    state.setdefault("history", []).insert(
        0,
        {
            "version": len(state.get("history", [])) + 1,
            "kind": kind,
            "startTime": started,
            "endTime": now(),
            "message": "",
            "environment": {"exec.kind": "auto.local"},
            "config": {},
            "result": result,
            "resourceChanges": {},
        },
    )
    save(stack, state)


class Cancel:
    """First SIGINT: cancel after the resource in flight (cancellation_scope.go:88)."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            os._exit(255)  # the second ^C terminates immediately
        self.requested = True
        print(
            "^C received; cancelling. If you would like to terminate immediately, press ^C again.",
            flush=True,
        )


def cmd_up(stack: str) -> None:
    state = load(stack)
    require_passphrase(state)
    cancel = Cancel()
    started = now()
    with Lock(stack):
        count = int(os.environ.get("FAKE_PULUMI_RESOURCES", "3"))
        fail_at = int(os.environ.get("FAKE_PULUMI_FAIL_AT", "-1"))
        delay = float(os.environ.get("FAKE_PULUMI_STEP_SECONDS", "0"))
        print(f"Updating ({stack}):", flush=True)
        resources = state.setdefault("resources", [])
        for index in range(count):
            name = f"resource-{index}"
            if name in resources:
                continue
            if cancel.requested:
                record("update", stack, state, "failed", started)
                fail("update canceled")
            print(f" +  fake:index:Resource {name} creating", flush=True)
            time.sleep(delay)
            if index == fail_at:
                print(
                    f" +  fake:index:Resource {name} **creating failed** error: quota", flush=True
                )
                record("update", stack, state, "failed", started)
                fail("update failed")
            resources.append(name)
            save(stack, state)
            print(f" +  fake:index:Resource {name} created", flush=True)
        hook = os.environ.get("FAKE_PULUMI_UP_HOOK")
        if hook and subprocess.run([*shlex.split(hook), stack], check=False).returncode != 0:
            record("update", stack, state, "failed", started)
            fail("update failed")
        outputs_file = os.environ.get("FAKE_PULUMI_OUTPUTS", "").replace("{stack}", stack)
        state["outputs"] = json.loads(Path(outputs_file).read_text()) if outputs_file else {}
        print(f"Resources:\n    + {len(resources)} created", flush=True)
        record("update", stack, state, "succeeded", started)


def cmd_destroy(stack: str) -> None:
    state = load(stack)
    require_passphrase(state)
    cancel = Cancel()
    started = now()
    with Lock(stack):
        print(f"Destroying ({stack}):", flush=True)
        delay = float(os.environ.get("FAKE_PULUMI_STEP_SECONDS", "0"))
        if os.environ.get("FAKE_PULUMI_DESTROY_FAILS"):
            record("destroy", stack, state, "failed", started)
            fail("destroy failed")
        while state.get("resources"):
            if cancel.requested:
                record("destroy", stack, state, "failed", started)
                fail("update canceled")
            name = state["resources"].pop()
            time.sleep(delay)
            save(stack, state)
            print(f" -  fake:index:Resource {name} deleted", flush=True)
        state["outputs"] = {}
        record("destroy", stack, state, "succeeded", started)
        print("The resources in the stack have been deleted.", flush=True)


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_PULUMI_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(json.dumps(argv) + "\n")
    args = list(argv)
    if args[:1] == ["version"]:
        print(VERSION)
        return 0
    if args[:1] == ["--non-interactive"]:  # the Automation API always passes it first
        args = args[1:]
    command = args[:2] if args[:1] in (["stack"], ["config"]) else args[:1]
    rest = args[len(command) :]
    if command == ["stack", "select"]:
        opts = options(rest, set(), {"--stack"})
        load(opts.get("--stack", ""))
        return 0
    if command == ["stack", "init"]:
        opts = options(rest, set(), {"--secrets-provider", "--stack"})
        names = opts["positional"] or [opts.get("--stack") or ""]
        if len(names) != 1 or not names[0]:
            fail("a stack name is required: pulumi stack init <name>")
        name = str(names[0])
        if stack_file(name).exists():
            fail(f"stack '{name}' already exists")
        provider = opts.get("--secrets-provider", "passphrase")
        state = {"secretsProvider": provider, "resources": [], "outputs": {}, "history": []}
        require_passphrase(state)
        save(name, state)
        print(f"Created stack '{name}'")
        return 0
    if command == ["config", "set-all"]:
        valued = {"--stack", "--json"} if version() >= SET_ALL_JSON_SINCE else {"--stack"}
        opts = options(rest, {"--path"}, valued)
        stack = opts["--stack"]
        load(stack)
        values = json.loads(opts["--json"])
        config_path = Path.cwd() / f"Pulumi.{stack}.yaml"
        document = {"config": {}}
        if config_path.exists():
            document = json.loads(json.dumps(_read_yaml(config_path))) or {"config": {}}
        for key, value in values.items():
            if value.get("value") is None:
                fail(f'value for --json object key "{key}" is nil')
            if value.get("secret"):
                fail("the fake does not encrypt; set secrets in the stack file")
            document.setdefault("config", {})[key] = value.get("objectValue", value["value"])
        _write_yaml(config_path, document)
        return 0
    if command == ["config", "rm-all"]:
        opts = options(rest, {"--path"}, {"--stack"})
        stack = opts["--stack"]
        load(stack)
        config_path = Path.cwd() / f"Pulumi.{stack}.yaml"
        document = _read_yaml(config_path) if config_path.exists() else {}
        for key in opts["positional"]:  # a key that is not set is no error
            (document.get("config") or {}).pop(key, None)
        _write_yaml(config_path, document)
        return 0
    if args[:1] == ["config"] and (len(args) == 1 or args[1].startswith("-")):  # list
        opts = options(args[1:], {"--json", "--show-secrets"}, {"--stack"})
        stack = opts["--stack"]
        load(stack)
        config_path = Path.cwd() / f"Pulumi.{stack}.yaml"
        values = (_read_yaml(config_path).get("config") or {}) if config_path.exists() else {}
        if opts.get("--show-secrets") and any(map(_secure, values.values())):
            fail("the fake cannot decrypt secure config values; list without --show-secrets")
        print(json.dumps({key: _config_json(value) for key, value in values.items()}, indent=2))
        return 0
    if command == ["up"]:
        opts = options(
            rest, {"--yes", "--skip-preview"}, {"--stack", "--exec-kind", "--color", "--parallel"}
        )
        cmd_up(opts["--stack"])
        return 0
    if command == ["destroy"]:
        opts = options(rest, {"--yes", "--skip-preview"}, {"--stack", "--exec-kind", "--color"})
        cmd_destroy(opts["--stack"])
        return 0
    if command == ["stack", "output"]:
        opts = options(rest, {"--json", "--show-secrets"}, {"--stack"})
        state = load(opts["--stack"])
        shown = bool(opts.get("--show-secrets"))
        outputs = {key: massage(value, shown) for key, value in state.get("outputs", {}).items()}
        print(json.dumps(outputs, indent=2))
        return 0
    if command == ["stack", "history"]:
        opts = options(rest, {"--json", "--show-secrets"}, {"--stack", "--page-size", "--page"})
        state = load(opts["--stack"])
        size = int(opts.get("--page-size", "0")) or len(state.get("history", []))
        print(json.dumps(state.get("history", [])[:size], indent=2))
        return 0
    fail(f"unknown command {' '.join(command)!r} for the fake pulumi")


def version() -> tuple[int, int, int]:
    major, minor, patch = VERSION.removeprefix("v").split("-")[0].split(".")
    return int(major), int(minor), int(patch)


def _config_json(value: Any) -> dict[str, Any]:
    """One key as `pulumi config --json` lists it: a secure value as `{"secret": true}` alone
    without --show-secrets, objects also as `objectValue` (the shape `config set-all --json`
    reads back; pkg/cmd/pulumi/config/config.go:1111-1117, 1213-1234)."""
    if _secure(value):
        return {"secret": True}
    if isinstance(value, dict | list):
        return {"value": json.dumps(value), "objectValue": value, "secret": False}
    return {"value": value if isinstance(value, str) else json.dumps(value), "secret": False}


def _secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def _write_yaml(path: Path, document: dict[str, Any]) -> None:
    import yaml

    path.write_text(yaml.safe_dump(document, sort_keys=False))


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.code)
