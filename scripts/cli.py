"""What every command line shares: bad input as one line and exit 2, the checks of `--stack`, and
where the stack outputs come from (`--stack NAME` or `--outputs FILE`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from minaperf.exit_codes import EXIT_BAD_INPUT

if TYPE_CHECKING:
    from pydantic import ValidationError

    from minaperf.model.outputs import StackOutputs

__all__ = [
    "EXIT_BAD_INPUT",
    "CliError",
    "OneLineParser",
    "add_outputs_source",
    "bad_input",
    "read_outputs",
    "stack_name",
    "validation_message",
]


class CliError(Exception):
    """Bad input: the command's `main` reports it with `bad_input` (one line, exit 2)."""


def bad_input(message: object, *, label: str = "error") -> int:
    """Report bad input as the one line `label: message` on stderr; returns the exit status 2."""
    print(f"{label}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one `error: …` line and exit status 2 (argparse's
    own prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def stack_name(value: str) -> str:
    """`--stack NAME`: refused when blank. The Pulumi CLI reads `--stack ''` as "no stack given"
    and falls back to the selected stack, so `pulumi destroy --stack "$UNSET"` would act on
    whatever stack is selected."""
    if not value.strip():
        raise argparse.ArgumentTypeError(
            "the stack name is empty; pass the experiment's stack, e.g. --stack exp-42"
        )
    if value != value.strip() or not value.isprintable():
        raise argparse.ArgumentTypeError(
            f"{value!r} has blanks or control characters; pass the stack name alone"
        )
    return value


def add_outputs_source(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """`--stack NAME | --outputs FILE`: where `read_outputs` takes the stack outputs from."""
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--stack",
        metavar="NAME",
        type=stack_name,
        help="read outputs with `pulumi stack output --show-secrets`",
    )
    source.add_argument("--outputs", metavar="FILE", help="read outputs from an outputs.json file")


def validation_message(error: ValidationError, prefix: str = "") -> str:
    """The first of pydantic's errors as `prefix` + `field.path: why`."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(root)"
    return f"{prefix}{field}: {first['msg']}"


def read_outputs(args: argparse.Namespace) -> StackOutputs:
    """The stack outputs of `add_outputs_source`'s `--stack NAME` (`pulumi stack output --json
    --show-secrets`) or `--outputs FILE`, or a CliError naming what is wrong."""
    from pydantic import ValidationError

    from minaperf.files import FileInputError
    from minaperf.model.outputs import load_outputs, read_stack_outputs

    try:
        if args.stack:
            return read_stack_outputs(args.stack, show_secrets=True)
        if args.outputs is not None:
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
