"""Post-deploy runner: orchestrator config, script lint, readiness gate, run, stop, status.

Run as `python -m scripts.experiment (--stack NAME | --outputs FILE) COMMAND …`. The
orchestrator key is never put on a command line, nor printed unless `config --show-secrets`.
This file only dispatches: each subcommand is a module of scripts/experiment_cli/ whose
`register` is listed in SUBCOMMANDS. See docs/cli.md#experiment-the-post-deploy-runner.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from scripts.cli import CliError, OneLineParser, add_outputs_source, bad_input
from scripts.experiment_cli import lint, runs, up, wait

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    lint.register,  # config, check
    wait.register,  # wait
    runs.register,  # run, stop, status
    up.register,  # up (the whole lifecycle)
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m scripts.experiment", description=__doc__)
    add_outputs_source(parser, required=False)
    parser.add_argument(
        "--kubectl", help="kubectl executable (default $MINAPERF_KUBECTL or kubectl)"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for register in SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as error:
        return bad_input(error)


if __name__ == "__main__":
    sys.exit(main())
