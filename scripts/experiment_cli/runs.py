"""`run` (lint, run, judge, stop on failure), `stop --run` and `status --run`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from minaperf.orchestrator import restarts, runner, stopping
from minaperf.orchestrator.rundir import STATE_FILE, RunState, now_iso, status_report
from minaperf.orchestrator.targets import LocalTarget, PodTarget, Target, remote_run_dir
from minaperf.signals import on_stop_signals
from scripts.cli import EXIT_BAD_INPUT, CliError, read_outputs
from scripts.experiment_cli.common import (
    executable_file,
    kubectl,
    orchestrator_config,
    run_directory,
)
from scripts.experiment_cli.lint import read_script


def _never_started(out_dir: Path) -> bool:
    """A run directory whose run could not start holds nothing worth keeping: reuse it."""
    try:
        return RunState.load(out_dir).data.get("outcome") == runner.FAILED_TO_START
    except ValueError:
        return False


def cmd_run(args: argparse.Namespace) -> int:
    script_path = Path(args.script)
    text, script = read_script(script_path, "--script")
    if script.errors and not args.skip_check:
        for error in script.errors:
            print(f"{script_path}:{error}", file=sys.stderr)
        print(
            f"{script_path}: {len(script.errors)} error(s); the orchestrator was not started "
            "(fix them, or --skip-check)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    outputs = read_outputs(args)
    out_dir = Path(args.out)
    if (out_dir / STATE_FILE).exists() and not _never_started(out_dir):
        raise CliError(f"--out: {out_dir} already holds a run; choose a new directory")
    if args.orchestrator:
        executable_file(args.orchestrator)
    run_directory(args.out, empty=False)
    target: Target
    if args.orchestrator:
        target = LocalTarget(os.path.abspath(args.orchestrator), out_dir)
    else:
        ws = outputs.workspace
        target = PodTarget(
            kubectl(args),
            ws.namespace,
            ws.pod,
            ws.container,
            remote_run_dir(ws.work_dir, out_dir),
            ws.orchestrator_exec,
        )
    config = orchestrator_config(outputs, target.run_dir())
    # daemon restarts before and after, for the report (minaperf/report/restarts.py)
    before = restarts.take(kubectl(args), outputs.namespace, outputs.nodes, now_iso())
    try:
        return runner.ExperimentRunner(out_dir, target).run(script, text, str(script_path), config)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if out_dir.is_dir():
            after = restarts.take(kubectl(args), outputs.namespace, outputs.nodes, now_iso())
            restarts.save(out_dir, [before, after])


def cmd_stop(args: argparse.Namespace) -> int:
    """A stop is cleanup: Ctrl-C or SIGTERM is noted once and the stop finishes (its
    orchestrator and kubectl run in sessions of their own, out of the terminal's reach)."""
    noted: list[int] = []

    def note(signum: int) -> None:
        if not noted:
            print(
                f"[experiment] {signal.Signals(signum).name}: still stopping the load; it "
                "finishes first",
                file=sys.stderr,
                flush=True,
            )
        noted.append(signum)

    try:
        with on_stop_signals(note):
            return stopping.stop_saved_run(
                Path(args.run),
                kubectl=kubectl(args),
                orchestrator=args.orchestrator,
                terminal=sys.stderr,
            )
    except ValueError as error:
        raise CliError(str(error)) from error


def cmd_status(args: argparse.Namespace) -> int:
    try:
        print(status_report(Path(args.run)))
    except ValueError as error:
        raise CliError(str(error)) from error
    return 0


def register(sub: argparse._SubParsersAction) -> None:
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
