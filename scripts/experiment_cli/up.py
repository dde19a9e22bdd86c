"""`up`: one command from config to report, through Pulumi's Automation API.

Selects or creates the stack, applies --config/--set, then runs preflight, `pulumi up`, `wait`,
`run` and optionally the report; it always stops the load the run started and, with
--destroy-after, destroys the stack, after a failure or Ctrl-C too. Exit codes are in
minaperf.experiment.lifecycle. See docs/cli.md#experiment-up-one-command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from minaperf.experiment import lifecycle
from minaperf.experiment.lifecycle import Lifecycle
from minaperf.model.config import ConfigError
from minaperf.model.outputs import parse_outputs
from minaperf.orchestrator import readiness, stopping
from minaperf.orchestrator.rundir import STATE_FILE, RunState
from minaperf.report.verdict import EXIT_INCOMPLETE
from minaperf.signals import on_stop_signals
from scripts.cli import EXIT_BAD_INPUT, CliError, stack_name, validation_message
from scripts.experiment_cli import runs, wait
from scripts.experiment_cli.common import executable_file, run_directory
from scripts.experiment_cli.lint import read_script

ROOT = Path(__file__).resolve().parents[2]
PREFLIGHT_MODULE = "scripts.preflight"
REPORT_MODULE = "scripts.report"
OUTPUTS_FILE = "stack-outputs.json"
"""The outputs `up` produced, secrets included (0600, like the run's orchestrator config)."""
PASSPHRASE_TEXT = "passphrase must be set with PULUMI_CONFIG_PASSPHRASE"  # noqa: S105
"""pulumi/pulumi@1b594989 pkg/secrets/passphrase/manager.go:395."""

T = TypeVar("T")


class SignalledError(BaseException):
    """Ctrl-C or SIGTERM outside the phases that catch it themselves. Not KeyboardInterrupt:
    after one of those the interpreter ends by re-raising SIGINT on itself (exit -2 instead of
    our documented 130), which we saw whenever it was raised inside the readiness loop."""


class StepFailedError(Exception):
    def __init__(self, detail: str, exit_code: int | None = None) -> None:
        super().__init__(detail)
        self.exit_code = exit_code


def _module_env() -> dict[str, str]:
    """The environment for `python -m scripts.…` run from the project directory: this
    checkout's modules importable wherever the project is."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def _stderr_fd() -> int | None:
    """Our stderr for a child's stdout (progress stays off our stdout); None if it has no
    descriptor (then the child shares ours)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def say(message: str) -> None:
    print(f"[up] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Config


def desired_config(
    stack: str, config_file: Path | None, overrides: list[str], project_dir: Path
) -> dict[str, Any]:
    """The `namespace:key` values to set on the stack, validated as render validates them.

    With --config, every key of that file; otherwise only the keys --set touches (the stack's
    own Pulumi.<stack>.yaml holds the rest, encrypted values included)."""
    from minaperf.model.stack_file import (
        PLACEHOLDER_PROJECT,
        UsageError,
        read_stack_input,
        validate,
    )

    base = config_file if config_file is not None else project_dir / f"Pulumi.{stack}.yaml"
    try:
        stack_input = read_stack_input(
            stack=None,
            config_file=base if config_file is not None or base.exists() else None,
            overrides=overrides,  # a new stack (no file): only what --set gives
        )
        stack_input.name = stack
        validate(stack_input)
    except ConfigError as error:
        raise CliError(f"config error: {error}") from None
    except UsageError as error:
        raise CliError(str(error)) from None
    keys = set(stack_input.config) if config_file is not None else set(map(_top_key, overrides))
    if stack_input.config.get("gcp:project") == PLACEHOLDER_PROJECT:
        # Render's stand-in for a missing project must never reach a real stack; the stack's own
        # gcp:project (pulumi config set gcp:project …) is used instead.
        keys.discard("gcp:project")
    encrypted = sorted(keys & set(stack_input.secret_keys))
    if encrypted:
        raise CliError(
            f"{encrypted[0]}: holds encrypted (secure:) values, which cannot be copied into "
            f"stack {stack}; set them with `pulumi config set --secret --path` on that stack"
        )
    return {key: stack_input.config[key] for key in sorted(keys)}


def _top_key(item: str) -> str:
    from minaperf.model.config import CONFIG_NAMESPACE

    key = item.partition("=")[0]
    qualified = key if ":" in key else f"{CONFIG_NAMESPACE}:{key}"
    namespace, _, path = qualified.partition(":")
    return f"{namespace}:{path.split('.')[0].split('[')[0]}"


# ---------------------------------------------------------------------------------------------
# Signals


@contextlib.contextmanager
def sigint_mode(mode: str, latch: list[int], forward: Callable[[], None]) -> Iterator[None]:
    """`forward`: note SIGINT/SIGTERM and pass one SIGINT on to the running `pulumi` (it cancels
    cleanly; it runs in its own session, so this is the only one it gets); `defer`: note it and
    carry on (cleanup must finish)."""

    def handle(signum: int) -> None:
        latch.append(signum)
        if mode == "forward":
            say("interrupted: asking pulumi to cancel (it finishes the resource in flight)")
            forward()
        else:
            say("interrupted: still cleaning up (stopping load, destroying); please wait")

    with on_stop_signals(handle):
        yield


def in_thread(call: Callable[[], T], mode: str, latch: list[int], forward: Callable[[], None]) -> T:
    """Run a blocking Automation API call in a thread so signals reach our handler."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as error:
            box["error"] = error

    worker = threading.Thread(target=target, daemon=True)
    with sigint_mode(mode, latch, forward):
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    if "error" in box:
        raise box["error"]
    return box["value"]


# ---------------------------------------------------------------------------------------------
# The steps


class Experiment:
    def __init__(self, args: argparse.Namespace, stack_name: str, config: dict[str, Any]) -> None:
        self.args = args
        self.stack_name = stack_name
        self.config = config
        self.project_dir = Path(args.project_dir)
        self.run_dir = Path(args.out)
        self.life = Lifecycle(stack_name)
        self.signals: list[int] = []
        self.stack: Any = None
        self.command: Any = None
        self.locked = False

    def kubectl(self) -> str | None:
        return self.args.kubectl

    # -- stack and up ---------------------------------------------------------------------------

    def prepare_stack(self) -> None:
        from pulumi import automation as auto

        from scripts.experiment_cli.pulumi_session import CliVersionError, SessionCommand

        try:
            self.command = SessionCommand()
        except FileNotFoundError:
            raise StepFailedError(
                "the `pulumi` CLI is not on PATH; install it (https://www.pulumi.com/docs/install/)",
                EXIT_BAD_INPUT,
            ) from None
        except (CliVersionError, subprocess.CalledProcessError) as error:
            raise StepFailedError(str(error), EXIT_BAD_INPUT) from None
        workspace = auto.LocalWorkspace(work_dir=str(self.project_dir), pulumi_command=self.command)
        try:
            self.stack = auto.Stack.create_or_select(self.stack_name, workspace)
            self.life.stack_created = True
            if self.config:
                self.stack.set_all_config_json(json.dumps(lifecycle.set_all_json(self.config)))
                if self.args.config:
                    self._drop_keys_not_in_config(workspace)
        except auto.errors.CommandError as error:
            raise self._command_failed(error) from None

    def _drop_keys_not_in_config(self, workspace: Any) -> None:
        """`--config FILE` is the stack's whole config: `config set-all` only sets, so remove what
        an earlier `--config` left that this file does not hold. Kept: secrets set on the stack
        itself (a config file cannot carry them) and a `gcp:project` the file does not give."""
        listing = self.command.run(
            ["config", "--json", "--stack", self.stack_name], workspace.work_dir, {}
        )
        current = json.loads(listing.stdout or "{}")
        stale = lifecycle.stale_config_keys(current, self.config)
        if stale:
            workspace.remove_all_config(self.stack_name, stale)
            say(f"removed {len(stale)} key(s) --config does not hold: {', '.join(stale)}")

    def _command_failed(self, error: Exception) -> StepFailedError:
        from pulumi import automation as auto

        line = lifecycle.cli_error_line(str(error))
        if PASSPHRASE_TEXT in line:
            return StepFailedError(
                "PULUMI_CONFIG_PASSPHRASE is not set; the stack's secrets provider needs it "
                "(export it, or PULUMI_CONFIG_PASSPHRASE_FILE)",
                EXIT_BAD_INPUT,
            )
        if isinstance(error, auto.errors.ConcurrentUpdateError):
            self.locked = True
            return StepFailedError(
                "the stack is locked by another update; nothing was changed "
                f"({line.splitlines()[0]})"
            )
        return StepFailedError(line)

    def preflight(self) -> None:
        # The stack's own file in the project it was just configured in (the preflight's
        # `--stack` reads this checkout's Pulumi.<stack>.yaml, which may be another project).
        own = self.project_dir / f"Pulumi.{self.stack_name}.yaml"
        source = ["--config", str(own)] if own.is_file() else ["--stack", self.stack_name]
        result = subprocess.run(
            [sys.executable, "-m", PREFLIGHT_MODULE, *source],
            cwd=self.project_dir,
            env=_module_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            self.life.add("preflight", "ok")
            return
        for line in (result.stdout + result.stderr).splitlines():
            if line.strip():
                print(line, file=sys.stderr)
        problems = "refused" if result.returncode == 2 else f"exited {result.returncode}"
        raise StepFailedError(f"preflight {problems}; nothing was deployed")

    def up(self) -> None:
        from pulumi import automation as auto

        def call() -> Any:
            return self.stack.up(on_output=lambda line: print(line, file=sys.stderr, flush=True))

        try:
            in_thread(call, "forward", self.signals, self.command.interrupt)
        except auto.errors.CommandError as error:
            if self.signals:
                raise SignalledError from None
            raise self._command_failed(error) from None
        if self.signals:
            raise SignalledError

    def save_outputs(self) -> Path:
        values = {key: output.value for key, output in self.stack.outputs().items()}
        try:
            parse_outputs(values)
        except Exception as error:
            from pydantic import ValidationError

            if isinstance(error, ValidationError):
                raise StepFailedError(validation_message(error, "stack outputs: ")) from None
            raise
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.run_dir / OUTPUTS_FILE
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(values, handle, indent=2)
        return path

    # -- wait, run, report ----------------------------------------------------------------------

    def _runner_args(self, outputs: Path, **extra: Any) -> argparse.Namespace:
        return argparse.Namespace(
            stack=None, outputs=str(outputs), kubectl=self.args.kubectl, **extra
        )

    def wait(self, outputs: Path) -> None:
        args = self._runner_args(
            outputs,
            timeout=self.args.wait_timeout,
            parallel=readiness.DEFAULT_PARALLELISM,
            direct=self.args.direct,
        )
        with contextlib.redirect_stdout(sys.stderr):
            code = wait.cmd_wait(args)
        if code == wait.EXIT_INTERRUPTED:
            raise SignalledError
        if code != 0:
            raise StepFailedError(f"not ready after {self.args.wait_timeout:g}s")

    def run(self, outputs: Path) -> None:
        args = self._runner_args(
            outputs,
            script=self.args.script,
            out=str(self.run_dir),
            orchestrator=self.args.orchestrator,
            skip_check=False,
        )
        self.life.run_dir = str(self.run_dir)
        with contextlib.redirect_stdout(sys.stderr):
            code = runs.cmd_run(args)
        if code == 130:
            raise SignalledError
        if code != 0:
            try:
                reason = RunState.load(self.run_dir).data.get("reason") or ""
            except ValueError:
                reason = ""
            raise StepFailedError(reason or f"the run exited {code}")

    def report(self) -> None:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                REPORT_MODULE,
                "--run",
                str(self.run_dir),
                "--stack",
                self.stack_name,
            ],
            cwd=self.project_dir,
            env=_module_env(),
            stdout=_stderr_fd(),
            check=False,
        )
        if result.returncode == EXIT_INCOMPLETE:
            raise StepFailedError(
                "report incomplete: a section had no data (its summary.json lists which)"
            )
        if result.returncode != 0:
            raise StepFailedError(f"report exited {result.returncode}")
        found = sorted(self.run_dir.rglob("report.html"))
        self.life.report_path = str(found[0]) if found else None
        self.life.add("report", "ok")

    # -- cleanup --------------------------------------------------------------------------------

    def stop(self) -> None:
        if not (self.run_dir / STATE_FILE).is_file():
            return
        try:
            code = stopping.stop_saved_run(
                self.run_dir,
                kubectl=self.args.kubectl or os.environ.get("MINAPERF_KUBECTL", "kubectl"),
                orchestrator=self.args.orchestrator,
                terminal=sys.stderr,
            )
        except (ValueError, OSError, RuntimeError) as error:
            self.life.add("stop", "failed", str(error))
            return
        if code == 0:
            self.life.add("stop", "ok")
        else:
            self.life.add(
                "stop",
                "failed",
                f"load may still be scheduled; retry `python -m scripts.experiment stop --run "
                f"{self.run_dir}`",
            )

    def destroy(self) -> None:
        from pulumi import automation as auto

        def call() -> Any:
            return self.stack.destroy(
                on_output=lambda line: print(line, file=sys.stderr, flush=True)
            )

        try:
            in_thread(call, "defer", self.signals, self.command.interrupt)
        except auto.errors.CommandError as error:
            self.life.add("destroy", "failed", lifecycle.cli_error_line(str(error)))
            return
        self.life.add("destroy", "ok")

    # -- the whole thing ------------------------------------------------------------------------

    def step(self, name: str, action: Callable[[], T]) -> T:
        say(f"{name} …")
        try:
            value = action()
        except StepFailedError as error:
            self.life.add(name, "failed", str(error), error.exit_code)
            raise
        except (KeyboardInterrupt, SignalledError):
            self.life.add(name, "interrupted")
            raise
        except Exception as error:
            detail = f"unexpected {type(error).__name__}: {error}"
            self.life.add(name, "failed", detail)
            raise StepFailedError(detail) from error
        if self.life.step(name) is None:
            self.life.add(name, "ok")
        return value

    def execute(self) -> int:
        def interrupt(signum: int) -> None:
            raise SignalledError  # SIGTERM (CI cancelling a job) cleans up like Ctrl-C

        with on_stop_signals(interrupt):
            return self._execute()

    def _execute(self) -> int:
        try:
            self.step("stack", self.prepare_stack)
            self.step("preflight", self.preflight)
            self.step("up", self.up)
            outputs = self.step("wait", lambda: self._outputs_then_wait())
            self.step("run", lambda: self.run(outputs))
            if self.args.report:
                self.step("report", self.report)
        except (StepFailedError, KeyboardInterrupt, SignalledError):
            pass
        finally:
            with sigint_mode("defer", self.signals, lambda: None):
                self.stop()
            if self.locked:
                say("the stack is locked by another update: not destroying under it")
            elif lifecycle.should_destroy(
                self.life,
                destroy_after=self.args.destroy_after,
                keep_on_failure=self.args.keep_on_failure,
            ):
                say("destroy …")
                self.destroy()
        failed = next((s for s in self.life.steps if s.status == "failed"), None)
        if failed is not None and failed.exit_code == EXIT_BAD_INPUT:
            print(f"error: {failed.detail}", file=sys.stderr)
        sys.stdout.write(lifecycle.summary_text(self.life, destroy_asked=self.args.destroy_after))
        return lifecycle.exit_code(self.life)

    def _outputs_then_wait(self) -> Path:
        outputs = self.save_outputs()
        self.wait(outputs)
        return outputs


# ---------------------------------------------------------------------------------------------
# Command line


def cmd_up(args: argparse.Namespace) -> int:
    stack = args.up_stack or args.stack
    if not stack:
        raise CliError("up: --stack NAME is required")
    script = Path(args.script)
    _, lint = read_script(script, "--script")  # exactly as `check` reads and lints it
    if lint.errors:
        for error in lint.errors:
            print(f"{script}:{error}", file=sys.stderr)
        print(f"{script}: {len(lint.errors)} error(s); nothing was deployed", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.orchestrator:
        executable_file(args.orchestrator)
    if args.out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        args.out = str(Path("runs") / f"{stack}-{stamp}")
    config = desired_config(
        stack, Path(args.config) if args.config else None, args.set, Path(args.project_dir)
    )
    run_directory(args.out, empty=True)
    return Experiment(args, stack, config).execute()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up",
        help="config → pulumi up → wait → run → report, then stop the load and (optionally) "
        "destroy",
    )
    p.add_argument(
        "--stack",
        dest="up_stack",
        metavar="NAME",
        type=stack_name,
        help="the stack (created if new)",
    )
    p.add_argument("--config", help="a stack config file to apply (stacks/*.yaml)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a config key on the stack, e.g. --set nodes.plainNodes=20",
    )
    p.add_argument("--script", required=True, help="the orchestrator script to run")
    p.add_argument("--out", help="new run directory (default runs/<stack>-<UTC time>)")
    p.add_argument("--report", action="store_true", help="run scripts.report after the run")
    p.add_argument(
        "--destroy-after",
        action="store_true",
        help="destroy the stack at the end: on success, on failure and on Ctrl-C",
    )
    p.add_argument(
        "--keep-on-failure",
        action="store_true",
        help="with --destroy-after: keep the stack when a step failed, for debugging",
    )
    p.add_argument(
        "--wait-timeout",
        type=wait.positive_seconds,
        default=1800.0,
        help="seconds for the readiness gate (default 1800)",
    )
    p.add_argument(
        "--direct", action="store_true", help="wait: use in-cluster addresses (no kubectl proxy)"
    )
    p.add_argument("--orchestrator", help="local orchestrator executable (default: in the pod)")
    p.add_argument(
        "--project-dir", default=str(ROOT), help="the Pulumi project (default: this checkout)"
    )
    p.set_defaults(func=cmd_up)
