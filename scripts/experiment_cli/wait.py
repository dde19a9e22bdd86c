"""`wait`: the readiness gate before an experiment starts.

Every sweep checks the nodes and runs each check that `CHECKS` builds for this stack; `wait`
succeeds only when all nodes are ready and all checks are ok. An extra check plugs in as one more
factory in `CHECKS`. See docs/runner.md#readiness.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from minaperf.cloud.gcp_api import GcpApi
from minaperf.keys.itn import ItnKey
from minaperf.model.outputs import StackOutputs
from minaperf.orchestrator import access, readiness, restarts, traces, workers
from minaperf.orchestrator.config import default_run_dir
from minaperf.orchestrator.rundir import now_iso
from minaperf.signals import on_stop_signals
from scripts.cli import CliError, read_outputs
from scripts.experiment_cli.common import kubectl, orchestrator_config


@dataclass(frozen=True)
class WaitContext:
    """What a check factory may use: the stack outputs, kubectl, and how to reach addresses."""

    outputs: StackOutputs
    kubectl: str
    access: access.Access


CheckFactory = Callable[[WaitContext], readiness.ClusterCheck | None]


def rollouts(context: WaitContext) -> readiness.ClusterCheck:
    return readiness.rollout_check(context.kubectl, context.outputs.namespace)


def compute_client() -> GcpApi:
    """Compute API access for the worker VMs' status, with the credentials preflight uses."""
    from minaperf.cloud.gcp_credentials import API_BASE_ENV, LOGIN_FIX, access_token

    token, why = access_token()
    if token is None:
        raise CliError(
            f"snark workers: no Google credentials to read the worker VMs ({why}); {LOGIN_FIX}"
        )
    return GcpApi(token, base_url=os.environ.get(API_BASE_ENV))


def snark_workers(context: WaitContext) -> readiness.ClusterCheck | None:
    return workers.worker_pool_check(context.outputs, context.kubectl, compute_client)


# Each factory takes the WaitContext and returns a readiness.ClusterCheck (a no-argument callable
# returning CheckStatus(name, ok, line)), or None when it does not apply to this stack. Every sweep
# prints the failing checks' lines ("waiting for <name>: <line>"). To add a check, write its
# factory in your own module and append it here.
CHECKS: list[CheckFactory] = [
    # Every Deployment/StatefulSet rolled out (the service rollouts pulumi up does not await).
    rollouts,
    # Every node's traces on its fetcher's disk and in PostgreSQL (minaperf.orchestrator.traces).
    lambda context: traces.trace_flow_check(context.outputs, context.kubectl),
    # Worker processes running and reaching the coordinator (minaperf.orchestrator.workers).
    snark_workers,
]


def positive_seconds(text: str) -> float:
    """argparse type for `--timeout`: a finite number > 0 (nan would poll forever)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number of seconds > 0")
    return value


EXIT_INTERRUPTED = 130


class WaitInterruptedError(Exception):
    """SIGINT or SIGTERM during the gate: every port-forward is already closed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


def make_auth_header(secret_b64: str) -> readiness.AuthHeader:
    return ItnKey.from_secret_b64(secret_b64).authorization_header


def cmd_wait(args: argparse.Namespace) -> int:
    outputs = read_outputs(args)
    if not outputs.secrets_shown:
        raise CliError(
            "outputs: orchestratorKey is masked; the readiness gate signs ITN requests with it "
            "(use --stack NAME or outputs rendered with --show-secrets)"
        )
    orchestrator_config(outputs, default_run_dir(outputs))  # validates the key
    auth_header = make_auth_header(outputs.orchestrator_key)
    kubectl_exe = kubectl(args)
    gate_access: access.Access = (
        access.DirectAccess()
        if args.direct
        else access.PortForwardAccess(kubectl_exe, outputs.namespace)
    )
    context = WaitContext(outputs, kubectl_exe, gate_access)
    checks = [check for factory in CHECKS if (check := factory(context)) is not None]

    def interrupt(signum: int) -> None:
        # Close the forwards first: node checks blocked on them return at once, and none of
        # them outlives this process (SIGTERM alone reaches no child).
        if isinstance(gate_access, access.PortForwardAccess):
            gate_access.close_all()
        raise WaitInterruptedError(signum)

    try:
        with on_stop_signals(interrupt):
            sweep = readiness.wait_ready(
                outputs,
                gate_access,
                auth_header,
                kubectl=kubectl_exe,
                timeout=args.timeout,
                checks=checks,
                parallelism=args.parallel,
            )
    except WaitInterruptedError as error:
        print(f"wait: interrupted by {error}; not waiting any longer", file=sys.stderr)
        return EXIT_INTERRUPTED
    except readiness.ClusterUnreachableError as error:
        print(f"error: cannot reach the cluster: {error}", file=sys.stderr)
        return 1
    except readiness.CheckFailedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if isinstance(gate_access, access.PortForwardAccess):
            gate_access.close_all()
    snapshot = restarts.take(kubectl_exe, outputs.namespace, outputs.nodes, now_iso())
    print(restarts.describe(snapshot), file=sys.stderr)
    if sweep.ready:
        extra = f" and {len(sweep.checks)} cluster check(s) ok" if sweep.checks else ""
        print(f"all {len(sweep.nodes)} nodes ready{extra}")
        return 0
    print(f"timed out after {args.timeout:g}s; not ready:", file=sys.stderr)
    for result in sweep.waiting:
        print(f"  {result.name}: {'; '.join(result.problems)}", file=sys.stderr)
    for check in sweep.failing:
        print(f"  {check.name}: {check.line}", file=sys.stderr)
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("wait", help="wait until every node is ready for an experiment")
    p.add_argument(
        "--timeout", type=positive_seconds, default=1800.0, help="seconds > 0 (default 1800)"
    )
    p.add_argument(
        "--parallel",
        type=int,
        choices=range(1, 129),
        metavar="N",
        default=readiness.DEFAULT_PARALLELISM,
        help=f"nodes queried at once, 1-128 (default {readiness.DEFAULT_PARALLELISM})",
    )
    p.add_argument(
        "--direct",
        action="store_true",
        help="inside the network: use in-cluster addresses (no port-forward)",
    )
    p.set_defaults(func=cmd_wait)
