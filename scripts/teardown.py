"""End an experiment safely: stop its scheduled load, then `pulumi destroy`, then say where the
data is.

Load an orchestrator scheduled runs until the nodes go, and a killed runner may leave receipts
nobody stopped: every run of this stack the runner knows of (--runs) is stopped first, and a
failed stop refuses the destroy unless --force. See docs/cli.md#data-teardown-and-leaks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from minaperf.model.outputs import StackOutputs, read_stack_outputs
from minaperf.orchestrator.config import CONFIG_FILE_NAME
from minaperf.orchestrator.rundir import (
    STATE_FILE,
    RunState,
    all_receipts,
    may_be_live,
    read_capped,
    script_steps,
)
from minaperf.orchestrator.stopping import stop_saved_run
from scripts.cli import OneLineParser, bad_input, stack_name

EXIT_STOP_FAILED = 3


def outstanding_runs(runs: Path, outputs: StackOutputs) -> list[Path]:
    """Run directories of this stack with a receipt that may still be live: not stopped, not
    ended, and within its `durationMin` (or of unknown duration). Receipts come from `run.json`
    and from `stdout.jsonl`, which is ahead of `run.json` when the runner was killed."""
    found = []
    now = datetime.now(UTC)
    for state_file in sorted(runs.glob(f"*/{STATE_FILE}")):
        run_dir = state_file.parent
        try:
            state = RunState.load(run_dir)
            config = json.loads(read_capped(run_dir / CONFIG_FILE_NAME))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(config, dict) or config.get("onlineURL") != outputs.uptime_online_url:
            continue  # another experiment's run
        steps = script_steps(run_dir)
        if any(may_be_live(state.data, r, steps, now) for r in all_receipts(run_dir, state.data)):
            found.append(run_dir)
    return found


def data_note(outputs: StackOutputs) -> str:
    postgres = outputs.postgres
    if not postgres.keep_data_on_destroy:
        return "PostgreSQL's data was deleted with the stack (postgres.keepDataOnDestroy: false)."
    if postgres.data_disk:
        return (
            f"PostgreSQL's data is kept on disk {postgres.data_disk}. Attach it to a new stack "
            f"with `postgres.existingDisk: {postgres.data_disk}`, or delete it with "
            f"`gcloud compute disks delete {postgres.data_disk.rsplit('/', 1)[-1]} "
            f"--zone {postgres.data_disk.split('/')[3]}`."
        )
    return (
        f"PostgreSQL's data is kept in namespace {outputs.namespace} (claim postgres-data); "
        f"delete it with `kubectl delete namespace {outputs.namespace}`."
    )


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m scripts.teardown", description=__doc__, allow_abbrev=False
    )
    parser.add_argument(
        "--stack", required=True, type=stack_name, help="the experiment stack to destroy"
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="run directories")
    parser.add_argument("--kubectl", default="kubectl", help="kubectl executable for pod runs")
    parser.add_argument("--yes", action="store_true", help="pass --yes to pulumi destroy")
    parser.add_argument("--force", action="store_true", help="destroy even if a stop failed")
    args = parser.parse_args(argv)

    if shutil.which("pulumi") is None:  # teardown has no --outputs: it must run `pulumi destroy`
        return bad_input("the `pulumi` CLI is not on PATH; teardown needs it to destroy")
    try:
        outputs = read_stack_outputs(args.stack, show_secrets=False)
    except ValueError as error:
        return bad_input(f"--stack {args.stack}: {str(error).splitlines()[0]}")
    failed = []
    for run_dir in outstanding_runs(args.runs, outputs):
        print(f"stopping load still scheduled by {run_dir}", file=sys.stderr)
        try:
            code = stop_saved_run(
                run_dir, kubectl=args.kubectl, orchestrator=None, terminal=sys.stderr
            )
        except (ValueError, RuntimeError, OSError) as error:
            print(f"error: {run_dir}: {error}", file=sys.stderr)
            code = EXIT_STOP_FAILED
        if code != 0:
            failed.append(run_dir)
    if failed and not args.force:
        print(
            "error: load may still be running from " + ", ".join(map(str, failed)) + "; retry "
            "`python -m scripts.experiment stop --run DIR` for each, or rerun this with --force "
            "to destroy anyway",
            file=sys.stderr,
        )
        return EXIT_STOP_FAILED
    if failed:
        print("--force: destroying although load may still be running", file=sys.stderr)
    command = ["pulumi", "destroy", "--stack", args.stack, *(["--yes"] if args.yes else [])]
    destroyed = subprocess.run(command, check=False)
    if destroyed.returncode != 0:
        return destroyed.returncode
    print(data_note(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
