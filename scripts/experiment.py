"""Post-deploy runner: orchestrator config, script lint, readiness gate, run, stop, status.

Run as `python -m scripts.experiment (--stack NAME | --outputs FILE) COMMAND …`. Secrets (the
orchestrator key) are never put on a command line or printed unless `config --show-secrets`.
Exit status 2 with a one-line `error: …` on stderr for any bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import NoReturn

from pydantic import ValidationError

from minaperf.keys.itn import ItnKey
from minaperf.orchestrator import access, readiness, runner
from minaperf.orchestrator.config import (
    OrchestratorConfig,
    build_config,
    config_text,
    default_run_dir,
)
from minaperf.orchestrator.script import lint_script
from minaperf.outputs import SECRET_MARKER, StackOutputs, load_outputs, read_stack_outputs

EXIT_BAD_INPUT = 2
_PLACEHOLDER_KEY = "A" * 43 + "="  # 32 zero bytes; only to render a masked config


class CliError(Exception):
    """Bad input; reported as one `error: …` line and exit status 2."""


def _validation_message(error: ValidationError, prefix: str = "") -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(root)"
    return f"{prefix}{field}: {first['msg']}"


def _outputs(args: argparse.Namespace) -> StackOutputs:
    try:
        if args.stack:
            return read_stack_outputs(args.stack, show_secrets=True)
        if args.outputs:
            return load_outputs(Path(args.outputs))
    except ValidationError as error:
        raise CliError(
            _validation_message(error, "outputs: ") + " (fix the outputs file)"
        ) from error
    except FileNotFoundError as error:
        raise CliError(f"--outputs: {error.filename} does not exist") from error
    except ValueError as error:
        raise CliError(f"outputs: {error}") from error
    raise CliError("pass --stack NAME or --outputs FILE (the stack outputs) before the command")


def _config(outputs: StackOutputs, run_dir: str | PurePath) -> OrchestratorConfig:
    try:
        return build_config(outputs, run_dir)
    except ValidationError as error:
        raise CliError(
            _validation_message(error, "orchestrator config: ")
            + " (fix the stack outputs it comes from)"
        ) from error


def _kubectl(args: argparse.Namespace) -> str:
    return args.kubectl or os.environ.get("MINAPERF_KUBECTL", "kubectl")


def cmd_config(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    run_dir = args.run_dir or default_run_dir(outputs)
    if outputs.orchestrator_key == SECRET_MARKER and not args.show_secrets:
        outputs = outputs.model_copy(update={"orchestrator_key": _PLACEHOLDER_KEY})
        print("note: outputs are masked; the key was not validated", file=sys.stderr)
    config = _config(outputs, run_dir)
    sys.stdout.write(config_text(config, show_secrets=args.show_secrets))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.script)
    if not path.is_file():
        raise CliError(f"SCRIPT: {path} does not exist")
    script = lint_script(path.read_text())
    if script.errors:
        for error in script.errors:
            print(f"{path}:{error}", file=sys.stderr)
        print(f"{path}: {len(script.errors)} error(s); nothing was run", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{path}: {script.summary()}")
    return 0


def make_auth_header(secret_b64: str) -> readiness.AuthHeader:
    return ItnKey.from_secret_b64(secret_b64).authorization_header


def cmd_wait(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    if not outputs.secrets_shown:
        raise CliError(
            "outputs: orchestratorKey is masked; the readiness gate signs ITN requests with it "
            "(use --stack NAME or outputs rendered with --show-secrets)"
        )
    _config(outputs, default_run_dir(outputs))  # validates the key
    if args.timeout <= 0:
        raise CliError("--timeout: must be > 0 seconds")
    auth_header = make_auth_header(outputs.orchestrator_key)
    kubectl = _kubectl(args)
    proxy: access.KubectlProxy | None = None
    try:
        if args.direct:
            gate_access: access.Access = access.DirectAccess()
        else:
            proxy = access.KubectlProxy(kubectl)
            gate_access = access.ProxyAccess(proxy.start(), outputs.namespace)
        results = readiness.wait_ready(
            outputs, gate_access, auth_header, kubectl=kubectl, timeout=args.timeout
        )
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if proxy is not None:
            proxy.stop()
    waiting = [r for r in results if not r.ready]
    if not waiting:
        print(f"all {len(results)} nodes ready")
        return 0
    print(f"timed out after {args.timeout:g}s; not ready:", file=sys.stderr)
    for result in waiting:
        print(f"  {result.name}: {'; '.join(result.problems)}", file=sys.stderr)
    return 1


def cmd_run(args: argparse.Namespace) -> int:
    script_path = Path(args.script)
    if not script_path.is_file():
        raise CliError(f"--script: {script_path} does not exist")
    text = script_path.read_text()
    script = lint_script(text)
    if script.errors and not args.skip_check:
        for error in script.errors:
            print(f"{script_path}:{error}", file=sys.stderr)
        print(
            f"{script_path}: {len(script.errors)} error(s); the orchestrator was not started "
            "(fix them, or --skip-check)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    outputs = _outputs(args)
    out_dir = Path(args.out)
    if (out_dir / runner.STATE_FILE).exists():
        raise CliError(f"--out: {out_dir} already holds a run; choose a new directory")
    target: runner.Target
    if args.orchestrator:
        if not os.access(args.orchestrator, os.X_OK):
            raise CliError(f"--orchestrator: {args.orchestrator} is not an executable file")
        target = runner.LocalTarget(args.orchestrator, out_dir)
    else:
        ws = outputs.workspace
        target = runner.PodTarget(
            _kubectl(args),
            ws.namespace,
            ws.pod,
            ws.container,
            runner.remote_run_dir(ws.work_dir, out_dir),
            ws.orchestrator_exec,
        )
    config = _config(outputs, target.run_dir())
    try:
        return runner.ExperimentRunner(out_dir, target).run(script, text, str(script_path), config)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def cmd_stop(args: argparse.Namespace) -> int:
    run_dir = Path(args.run)
    try:
        return runner.stop_saved_run(
            run_dir, kubectl=_kubectl(args), orchestrator=args.orchestrator, terminal=sys.stderr
        )
    except ValueError as error:
        raise CliError(str(error)) from error


def cmd_status(args: argparse.Namespace) -> int:
    try:
        print(runner.status_report(Path(args.run)))
    except ValueError as error:
        raise CliError(str(error)) from error
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m scripts.experiment", description=__doc__)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", help="read outputs with `pulumi stack output --show-secrets`")
    source.add_argument("--outputs", help="read outputs from an outputs.json file")
    parser.add_argument(
        "--kubectl", help="kubectl executable (default $MINAPERF_KUBECTL or kubectl)"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("config", help="print the orchestrator config built from the outputs")
    p.add_argument("--show-secrets", action="store_true", help="print the key instead of [secret]")
    p.add_argument("--run-dir", help="directory the orchestrator runs in (sets logFile)")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("check", help="lint an orchestrator script")
    p.add_argument("script")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("wait", help="wait until every node is ready for an experiment")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds (default 1800)")
    p.add_argument(
        "--direct", action="store_true", help="use in-cluster addresses as is (no kubectl proxy)"
    )
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("run", help="lint, run a script, and stop it safely on failure")
    p.add_argument("--script", required=True)
    p.add_argument("--out", required=True, help="new run directory (state, stdout, logs)")
    p.add_argument("--orchestrator", help="local orchestrator executable (default: in the pod)")
    p.add_argument("--skip-check", action="store_true", help="run even if the lint fails")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("stop", help="stop what a saved run scheduled (after the runner died)")
    p.add_argument("--run", required=True)
    p.add_argument("--orchestrator", help="local orchestrator executable to run the stop with")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("status", help="what a saved run did and what may still be running")
    p.add_argument("--run", required=True)
    p.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
