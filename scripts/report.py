"""Experiment report: `python -m scripts.report --run DIR (--stack NAME | --outputs FILE)`.

Writes `report.html` (self-contained: inline SVG plots, no external anything) and `summary.json`
(the same figures, versioned) into `--out` (default `<run>/report/`). PostgreSQL is reached the
way README documents: the load balancer address from the outputs with the password from the
outputs (or $PGPASSWORD), or a port-forward (`--db-host 127.0.0.1 --db-port 5432`).
Bad input: one `error: …` line on stderr, exit 2, nothing written. A database without this stack's
data still gives a report that says what is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import psycopg
from pydantic import ValidationError

from minaperf.config import stderr_line
from minaperf.files import FileInputError
from minaperf.outputs import SECRET_MARKER, StackOutputs, load_outputs, read_stack_outputs
from minaperf.report import build, load_compare, write
from minaperf.report.run import RunDirError, read_run
from scripts.cli import stack_name

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """Bad input; one `error: …` line and exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _host(value: str) -> str:
    """`--db-host`: a DNS name is at most 253 characters (RFC 1035 2.3.4, 255 octets on the
    wire); a longer one fails inside the IDNA codec instead of as a connection error."""
    if not value or len(value) > 253 or not value.isprintable() or value != "".join(value.split()):
        raise argparse.ArgumentTypeError(
            "not a host name or IP address (at most 253 characters, no blanks)"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m scripts.report", description=__doc__)
    parser.add_argument("--run", required=True, help="run directory of `experiment run --out`")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--stack", type=stack_name, help="read outputs with `pulumi stack output --show-secrets`"
    )
    source.add_argument("--outputs", help="read outputs from an outputs.json file")
    parser.add_argument("--out", help="where to write the report (default <run>/report)")
    parser.add_argument("--compare", help="another run directory, already reported, to set beside")
    parser.add_argument(
        "--db-host", type=_host, help="PostgreSQL host (default: the outputs' external address)"
    )
    parser.add_argument("--db-port", type=int, help="PostgreSQL port (default: the outputs' port)")
    parser.add_argument(
        "--grace-min",
        type=float,
        default=5.0,
        help="minutes after the load ends still counted (late inclusions; default 5)",
    )
    return parser


def _outputs(args: argparse.Namespace) -> StackOutputs:
    try:
        if args.stack:
            return read_stack_outputs(args.stack, show_secrets=True)
        return load_outputs(Path(args.outputs))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise CliError(f"outputs: {field}: {first['msg']} (fix the outputs file)") from error
    except FileInputError as error:
        raise CliError(str(error)) from None
    except ValueError as error:
        raise CliError(f"outputs: {error}") from error


def connect(args: argparse.Namespace, outputs: StackOutputs) -> psycopg.Connection:
    pg = outputs.postgres
    host = args.db_host or pg.external_address
    if not host:
        raise CliError(
            "database: the outputs hold no postgres.externalAddress; port-forward "
            f"(kubectl -n {outputs.namespace} port-forward svc/postgres 5432:5432) "
            "and pass --db-host 127.0.0.1"
        )
    password = outputs.postgres_password
    if password == SECRET_MARKER:
        password = os.environ.get("PGPASSWORD", "")
        if not password:
            raise CliError(
                "database: postgresPassword is masked in the outputs; use --stack NAME, "
                "outputs rendered with --show-secrets, or set PGPASSWORD"
            )
    port = args.db_port or pg.port
    try:
        return psycopg.connect(
            host=host,
            port=port,
            dbname=pg.database,
            user=pg.user,
            password=password,
            connect_timeout=10,
            autocommit=True,
            application_name="minaperf-report",
        )
    except psycopg.OperationalError as error:
        reason = stderr_line(str(error))
        raise CliError(
            f"database: cannot connect to {host}:{port} as {pg.user} ({reason}); check "
            "postgres.allowedCidrs or port-forward and pass --db-host/--db-port"
        ) from error


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run)
    try:
        story = read_run(run_dir)
    except RunDirError as error:
        raise CliError(str(error)) from error
    if not args.grace_min >= 0:
        raise CliError("--grace-min: must be a number of minutes >= 0")
    compare = None
    if args.compare:
        try:
            compare = load_compare(Path(args.compare))
        except ValueError as error:
            raise CliError(str(error)) from error
    outputs = _outputs(args)
    out_dir = Path(args.out) if args.out else run_dir / "report"
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"--out: {out_dir} exists and is not a directory")
    with connect(args, outputs) as conn:
        try:
            summary, html_text = build(
                story,
                outputs,
                conn,
                grace=timedelta(minutes=args.grace_min),
                compare=compare,
            )
        except psycopg.Error as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CliError(f"database: query failed ({first})") from error
    write(out_dir, summary, html_text)
    note = summary["sources"]["database"]
    if note != "ok":
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {out_dir / 'report.html'} and {out_dir / 'summary.json'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # usage errors (already printed as one line) and --help
        return done.code if isinstance(done.code, int) else EXIT_BAD_INPUT
    try:
        return run(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
