"""`config` (the orchestrator config the outputs give) and `check` (lint a script)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minaperf.files import HAND_WRITTEN_LIMIT, FileInputError, read_regular_file
from minaperf.model.outputs import SECRET_MARKER
from minaperf.orchestrator.config import config_text, default_run_dir
from minaperf.orchestrator.script import Script, decode_script, lint_script
from scripts.cli import EXIT_BAD_INPUT, CliError, read_outputs
from scripts.experiment_cli.common import orchestrator_config

_PLACEHOLDER_KEY = "A" * 43 + "="  # 32 zero bytes; only to render a masked config


def cmd_config(args: argparse.Namespace) -> int:
    outputs = read_outputs(args)
    run_dir = args.run_dir or default_run_dir(outputs)
    if outputs.orchestrator_key == SECRET_MARKER and not args.show_secrets:
        outputs = outputs.model_copy(update={"orchestrator_key": _PLACEHOLDER_KEY})
        print("note: outputs are masked; the key was not validated", file=sys.stderr)
    config = orchestrator_config(outputs, run_dir)
    sys.stdout.write(config_text(config, show_secrets=args.show_secrets))
    return 0


def read_script(path: Path, what: str) -> tuple[str, Script]:
    """Read and lint a script file; unreadable, binary or step-less input is a CliError."""
    try:
        data = read_regular_file(path, limit=HAND_WRITTEN_LIMIT, what=what)
    except FileInputError as error:
        raise CliError(str(error)) from None
    try:
        text = decode_script(data)
    except ValueError as error:
        raise CliError(f"{what}: {path}: {error}") from error
    script = lint_script(text)
    if not script.steps and not script.errors:
        raise CliError(f"{what}: {path} is empty (no steps); nothing would run")
    return text, script


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.script)
    _, script = read_script(path, "SCRIPT")
    if script.errors:
        for error in script.errors:
            print(f"{path}:{error}", file=sys.stderr)
        print(f"{path}: {len(script.errors)} error(s); nothing was run", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{path}: {script.summary()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print the orchestrator config built from the outputs")
    p.add_argument("--show-secrets", action="store_true", help="print the key instead of [secret]")
    p.add_argument("--run-dir", help="directory the orchestrator runs in (sets logFile)")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("check", help="lint an orchestrator script")
    p.add_argument("script")
    p.set_defaults(func=cmd_check)
