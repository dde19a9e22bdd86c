"""Experiment report: `python -m scripts.report --run DIR (--stack NAME | --outputs FILE)`.

Writes a self-contained `report.html` and `summary.json` (the same figures, versioned) from the
run directory and the stack's PostgreSQL (docs/database-access.md). With --compare and limits it
judges the run against a baseline. Exit 0 ok, 1 regression, 2 bad input, 3 incomplete.
See docs/report.md#running-it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import psycopg

from minaperf.experiment.postgres_routes import (
    RouteError,
    external_route,
    failure_hint,
    libpq_params,
    port_forward_route,
)
from minaperf.model.outputs import StackOutputs
from minaperf.orchestrator import restarts
from minaperf.orchestrator.rundir import now_iso
from minaperf.report import build, load_compare, write
from minaperf.report.run import RunDirError, read_run
from minaperf.report.verdict import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    Limit,
    ThresholdError,
    evaluate,
    parse_inline,
    read_thresholds,
    table,
)
from scripts.cli import (
    EXIT_BAD_INPUT,
    CliError,
    OneLineParser,
    add_outputs_source,
    bad_input,
    read_outputs,
)

MAX_GRACE_MIN = 7 * 24 * 60  # a week: far beyond any late inclusion, well inside datetime's range


def _host(value: str) -> str:
    """`--db-host`: a DNS name is at most 253 characters (RFC 1035 2.3.4, 255 octets on the
    wire); a longer one fails inside the IDNA codec instead of as a connection error."""
    if not value or len(value) > 253 or not value.isprintable() or value != "".join(value.split()):
        raise argparse.ArgumentTypeError(
            "not a host name or IP address (at most 253 characters, no blanks)"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m scripts.report", description=__doc__)
    parser.add_argument("--run", required=True, help="run directory of `experiment run --out`")
    add_outputs_source(parser, required=True)
    parser.add_argument("--out", help="where to write the report (default <run>/report)")
    parser.add_argument("--compare", help="another run directory, already reported, to set beside")
    parser.add_argument(
        "--db-host",
        type=_host,
        help="a port-forward's local address (e.g. 127.0.0.1): connect as the superuser there "
        "instead of as the read-only role through the load balancer",
    )
    parser.add_argument("--db-port", type=int, help="PostgreSQL port (default: the outputs' port)")
    parser.add_argument(
        "--kubectl",
        default=os.environ.get("MINAPERF_KUBECTL", "kubectl"),
        help="kubectl to read daemon restarts with (default $MINAPERF_KUBECTL or kubectl)",
    )
    parser.add_argument(
        "--fail-on",
        help="thresholds file (JSON, docs/report.md): judge this run against --compare",
    )
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        help="an inline limit 'figure: +10 %%' (repeatable; with or instead of --fail-on)",
    )
    parser.add_argument(
        "--grace-min",
        type=float,
        default=5.0,
        help=f"minutes after the load ends still counted (late inclusions; default 5, at most "
        f"{MAX_GRACE_MIN})",
    )
    return parser


def _limits(args: argparse.Namespace) -> list[Limit]:
    """The verdict's limits from --fail-on and --limit; bad input without --compare."""
    if not (args.fail_on or args.limit):
        return []
    if not args.compare:
        raise CliError("--fail-on/--limit: judge against a baseline; add --compare BASELINE_RUN")
    try:
        limits = read_thresholds(Path(args.fail_on)) if args.fail_on else []
        inline = parse_inline(args.limit)
    except ThresholdError as error:
        raise CliError(str(error)) from error
    overlap = {limit.figure for limit in limits} & {limit.figure for limit in inline}
    if overlap:
        raise CliError(f"--limit {sorted(overlap)[0]!r}: also in --fail-on; keep one")
    return limits + inline


def connect(args: argparse.Namespace, outputs: StackOutputs) -> psycopg.Connection:
    """The external route by default; `--db-host` takes the port-forward route."""
    try:
        if args.db_host:
            route = port_forward_route(outputs, os.environ, args.db_host, args.db_port)
        else:
            route = external_route(outputs, os.environ, args.db_port)
    except RouteError as error:
        raise CliError(f"database: {error}") from error
    with libpq_params(route) as params:
        try:
            return psycopg.connect(
                **params, connect_timeout=10, autocommit=True, application_name="minaperf-report"
            )
        except psycopg.OperationalError as error:
            # libpq: `connection to server at "<host>" (<addr>), port <n> failed: <why>`.
            first = (str(error).strip().splitlines() or ["unknown error"])[0]
            reason = first.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
            hint = failure_hint(route, reason, outputs.namespace)
            raise CliError(f"database: {route.describe()} failed ({reason}); {hint}") from error


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run)
    try:
        story = read_run(run_dir)
    except RunDirError as error:
        raise CliError(str(error)) from error
    if not 0 <= args.grace_min <= MAX_GRACE_MIN:
        raise CliError(f"--grace-min: must be a number of minutes from 0 to {MAX_GRACE_MIN}")
    limits = _limits(args)
    compare = None
    if args.compare:
        try:
            compare = load_compare(Path(args.compare))
        except ValueError as error:
            raise CliError(str(error)) from error
    outputs = read_outputs(args)
    out_dir = Path(args.out) if args.out else run_dir / "report"
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"--out: {out_dir} exists and is not a directory")
    # restarts over the run: the run's own snapshots before and after (`experiment run`); when
    # that pair is missing, one taken now stands in
    snapshots = restarts.load(run_dir)
    if sum(isinstance(s.get("nodes"), dict) for s in snapshots) < 2:
        snapshots.append(restarts.take(args.kubectl, outputs.namespace, outputs.nodes, now_iso()))
    with connect(args, outputs) as conn:
        try:
            summary, html_text = build(
                story,
                outputs,
                conn,
                grace=timedelta(minutes=args.grace_min),
                compare=compare,
                limits=limits,
                restarts=restarts.per_node(snapshots),
            )
        except psycopg.Error as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CliError(f"database: query failed ({first})") from error
    write(out_dir, summary, html_text)
    note = summary["sources"]["database"]
    if note != "ok":
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {out_dir / 'report.html'} and {out_dir / 'summary.json'}")
    for line in summary["incomplete"]:
        print(f"incomplete: {line}", file=sys.stderr)
    if compare is not None and limits:
        verdict = evaluate(compare, summary, limits)
        print(table(verdict))
        return verdict.exit_code
    return EXIT_OK if summary["complete"] else EXIT_INCOMPLETE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # usage errors (already printed as one line) and --help
        return done.code if isinstance(done.code, int) else EXIT_BAD_INPUT
    try:
        return run(args)
    except CliError as error:
        return bad_input(error)


if __name__ == "__main__":
    sys.exit(main())
