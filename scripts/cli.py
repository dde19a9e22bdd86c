"""What every command line shares: usage errors as one line, and the checks of `--stack`."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_BAD_INPUT = 2


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
