"""What every experiment subcommand shares: the one-line error contract and reading the outputs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path, PurePath

from pydantic import ValidationError

from minaperf.files import FileInputError
from minaperf.model.outputs import StackOutputs, load_outputs, read_stack_outputs
from minaperf.orchestrator.config import OrchestratorConfig, build_config


class CliError(Exception):
    """Bad input; reported as one `error: …` line and exit status 2."""


def validation_message(error: ValidationError, prefix: str = "") -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(root)"
    return f"{prefix}{field}: {first['msg']}"


def stack_outputs(args: argparse.Namespace) -> StackOutputs:
    """The outputs named by the global `--stack` / `--outputs`, or a CliError."""
    try:
        if args.stack:
            return read_stack_outputs(args.stack, show_secrets=True)
        if args.outputs:
            return load_outputs(Path(args.outputs))
    except FileInputError as error:
        raise CliError(str(error)) from None
    except ValidationError as error:
        raise CliError(
            validation_message(error, "outputs: ") + " (fix the outputs file)"
        ) from error
    except ValueError as error:
        raise CliError(f"outputs: {error}") from error
    raise CliError("pass --stack NAME or --outputs FILE (the stack outputs) before the command")


def run_directory(value: str, *, empty: bool) -> Path:
    """`--out`: a run directory, made here so a path that cannot be one (a file, a dangling
    link, /proc/x) is one line before anything runs; `empty`: it must hold nothing yet."""
    path = Path(value)
    if path.is_symlink() and not path.exists():
        raise CliError(f"--out: {path} is a dangling symbolic link; choose a new run directory")
    if path.exists() and not path.is_dir():
        raise CliError(f"--out: {path} exists and is not a directory; choose a new run directory")
    if empty and path.is_dir() and any(path.iterdir()):
        raise CliError(f"--out: {path} is not empty; choose a new run directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(
            f"--out: cannot create {path} ({error.strerror or error}); choose another directory"
        ) from None
    return path


def executable_file(value: str) -> str:
    """`--orchestrator`: an executable regular file (a directory is "executable" to access())."""
    if not os.path.isfile(value) or not os.access(value, os.X_OK):
        raise CliError(f"--orchestrator: {value} is not an executable file")
    return value


def orchestrator_config(outputs: StackOutputs, run_dir: str | PurePath) -> OrchestratorConfig:
    try:
        return build_config(outputs, run_dir)
    except ValidationError as error:
        raise CliError(
            validation_message(error, "orchestrator config: ")
            + " (fix the stack outputs it comes from)"
        ) from error


def kubectl(args: argparse.Namespace) -> str:
    return args.kubectl or os.environ.get("MINAPERF_KUBECTL", "kubectl")
