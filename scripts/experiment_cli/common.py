"""What every experiment subcommand shares: run directories, the orchestrator config, kubectl."""

from __future__ import annotations

import argparse
import os
from pathlib import Path, PurePath

from pydantic import ValidationError

from minaperf.model.outputs import StackOutputs
from minaperf.orchestrator.config import OrchestratorConfig, build_config
from scripts.cli import CliError, validation_message


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
