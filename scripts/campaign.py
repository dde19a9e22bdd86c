"""Campaigns: many experiments from one file, planned, run and reported together.

`plan` lists the runs (cell x repeat) with their stack names and modelled cost, and refuses a
plan over the budget; `run` takes each run through `experiment up`, the report and the destroy
(which always happens) and resumes when run again; `report` judges each cell against the
baseline. See docs/campaigns.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from minaperf.cloud.gcp_project import experiment_cost, quota_demand
from minaperf.experiment import campaign as lib
from minaperf.experiment.campaign import (
    Campaign,
    CampaignError,
    CellPlan,
    Progress,
    Run,
    RunProgress,
)
from minaperf.experiment.campaign_live import LiveLines, clock
from minaperf.files import FileInputError, read_regular_file
from minaperf.model.config import ConfigError, ExperimentConfig, GkePlatform, one_line
from minaperf.model.cost import MissingPriceError
from minaperf.orchestrator.script import lint_script
from minaperf.plan.critical_path import critical_path, duration
from minaperf.report import campaign_report
from minaperf.signals import on_stop_signals
from scripts.cli import EXIT_BAD_INPUT, CliError, OneLineParser, bad_input

if TYPE_CHECKING:
    from minaperf.model.stack_file import StackInput

ROOT = Path(__file__).resolve().parent.parent
MAX_FILE_BYTES = 1 << 20
PROGRESS_FILE = "campaign.json"
EXIT_OK = 0
EXIT_RUN_FAILED = 5
EXIT_STACK_LEFT = 8
EXIT_INTERRUPTED = 130
EXPERIMENT_MODULE = "scripts.experiment"
REPORT_MODULE = "scripts.report"
TEARDOWN_MODULE = "scripts.teardown"
STACK_NOT_FOUND = 6
"""`pulumi` exit status for an unknown stack (sdk/go/common/util/cmdutil/exit.go:129)."""


# ---------------------------------------------------------------------------------------------
# Reading the campaign and its cells


def read_file(path: Path, what: str) -> bytes:
    """A regular file of at most 1 MiB, or CliError naming `what`."""
    try:
        return read_regular_file(path, limit=MAX_FILE_BYTES, what=what)
    except FileInputError as error:
        raise CliError(str(error)) from None


def read_campaign(path: Path) -> Campaign:
    from minaperf.model.stack_file import load_yaml

    raw = read_file(path, "campaign")
    try:
        data = load_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CliError(f"campaign: {path} is not a UTF-8 text file") from None
    except (yaml.YAMLError, RecursionError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CliError(f"campaign: {path} is not valid YAML/JSON ({first})") from None
    try:
        return lib.parse_campaign(data)
    except CampaignError as error:
        raise CliError(str(error)) from None


def script_path(campaign: Campaign, file: Path) -> Path:
    return (file.parent / campaign.scripts[0]).resolve()


def check_script(campaign: Campaign, file: Path) -> list[tuple[str, dict[str, Any]]]:
    path = script_path(campaign, file)
    text = read_file(path, "campaign: scripts.0").decode("utf-8", errors="replace")
    script = lint_script(text)
    if script.errors:
        raise CliError(f"campaign: scripts.0: {path}: {script.errors[0]} (`experiment check`)")
    return [(step.action, step.params) for step in script.steps]


@contextlib.contextmanager
def base_file(campaign: Campaign, file: Path) -> Iterator[Path]:
    """The base stack config as a file: the one named, or the inline mapping written out."""
    if isinstance(campaign.base, str):
        yield (file.parent / campaign.base).resolve()
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "base.yaml"
        document = campaign.base if "config" in campaign.base else {"config": campaign.base}
        path.write_text(yaml.safe_dump(document))
        yield path


def cell_input(base: Path, run: Run) -> tuple[StackInput, ExperimentConfig]:
    """The run's stack config (base + the cell's overrides), validated as render validates it."""
    from minaperf.model.stack_file import UsageError, read_stack_input, validate

    overrides = [f"{path}={json.dumps(value)}" for path, value in run.cell.overrides.items()]
    try:
        stack_input = read_stack_input(stack=None, config_file=base, overrides=overrides)
        stack_input.name = run.stack
        return stack_input, validate(stack_input)
    except ConfigError as error:
        raise CliError(f"{_where(run)}: {error}") from None
    except UsageError as error:
        raise CliError(f"{_where(run)}: {error}") from None


def _where(run: Run) -> str:
    return f"campaign: cell {run.cell.index} ({run.cell.label})"


def up_seconds(run: Run, stack_input: StackInput) -> float:
    """The modelled critical path of the cell's `pulumi up` from an empty project: the program
    run under the mock engine as `scripts.render` runs it, its resources walked by
    `minaperf.plan.critical_path`."""
    from scripts.engine import run_program
    from scripts.render import resource_records

    try:
        program = run_program(stack_input.name, stack_input.config, stack_input.secret_keys)
    except Exception as error:
        if not str(error).startswith("config error: "):
            raise
        raise CliError(f"{_where(run)}: {one_line(str(error))}") from None
    return critical_path(resource_records(program, show_secrets=False), duration).total


def plan_runs(campaign: Campaign, file: Path) -> tuple[list[CellPlan], dict[str, dict[str, Any]]]:
    script = lib.script_seconds(check_script(campaign, file))
    plans: list[CellPlan] = []
    configs: dict[str, dict[str, Any]] = {}
    modelled: dict[int, float] = {}  # per cell: its repeats deploy the same resources
    status = LiveLines(sys.stderr, {})  # a program run per cell takes seconds: say so
    with base_file(campaign, file) as base:
        for run in lib.expand(campaign):
            stack_input, experiment = cell_input(base, run)
            try:
                usd = experiment_cost(experiment).usd_per_hour
            except MissingPriceError as error:
                raise CliError(f"campaign: cell {run.cell.index}: {error}") from None
            if run.cell.index not in modelled:
                status.transient(
                    f"modelling cell {run.cell.index + 1} of {lib.cell_count(campaign)} "
                    f"({run.cell.label}): the critical path of its `pulumi up` …"
                )
                modelled[run.cell.index] = up_seconds(run, stack_input)
            platform = experiment.platform
            demand = (
                quota_demand(experiment, platform, preemptible_quota=False)
                if isinstance(platform, GkePlatform)
                else {}
            )
            plans.append(CellPlan(run, usd, modelled[run.cell.index], script, demand, platform))
            configs[run.stack] = stack_input.config
    status.transient("")
    return plans, configs


def over_budget(campaign: Campaign, plans: list[CellPlan]) -> str | None:
    total = sum(p.usd for p in plans)
    if total > campaign.budget_usd:
        return (
            f"campaign: budgetUsd: the plan costs ${total:.2f}, over the budget of "
            f"${campaign.budget_usd:.2f}; raise budgetUsd or shrink the matrix/repeats"
        )
    return None


# ---------------------------------------------------------------------------------------------
# plan


def cmd_plan(args: argparse.Namespace) -> int:
    file = Path(args.file)
    campaign = read_campaign(file)
    plans, _ = plan_runs(campaign, file)
    print(
        f"campaign {campaign.name}: {len(plans)} runs, at most {campaign.max_concurrency} at once"
    )
    print(f"{'stack':<30} {'cell':<40} {'$/h':>8} {'up':>8} {'script':>8} {'total':>8} {'$':>8}")
    for p in plans:
        print(
            f"{p.run.stack:<30} {p.run.cell.label[:40]:<40} {p.usd_per_hour:>8.2f} "
            f"{clock(p.up_seconds):>8} {clock(p.script_seconds):>8} {clock(p.seconds):>8} "
            f"{p.usd:>8.2f}"
        )
    total = sum(p.usd for p in plans)
    wall = lib.wall_seconds(plans, campaign.max_concurrency)
    print(
        f"total: ${total:.2f} of a ${campaign.budget_usd:.2f} budget (list prices), "
        f"{clock(wall)} at {campaign.max_concurrency} at once (modelled: the critical path of "
        "`pulumi up` plus the script; the wait and the destroy are not in it)"
    )
    peak = lib.peak_demand(plans, campaign.max_concurrency)
    problems = []
    if peak:
        quotas, note = project_quotas(plans)
        print(f"peak quota demand at {campaign.max_concurrency} at once{note}:")
        for metric, amount in peak.items():
            quota = quotas.get(metric)
            if quota is None:
                print(f"  {metric}: {amount:g}")
                continue
            free = float(quota.get("limit") or 0) - float(quota.get("usage") or 0)
            print(f"  {metric}: {amount:g} of {free:g} free")
            if amount > free:
                problems.append(
                    f"campaign: maxConcurrency: {metric} needs {amount:g} at "
                    f"{campaign.max_concurrency} at once but the project has {free:g} free; "
                    "lower maxConcurrency or ask for more quota"
                )
    else:
        print("peak quota demand: none (an existing cluster: no cloud quota is used)")
    problem = over_budget(campaign, plans)
    if problem:
        problems.append(problem)
    for problem in problems:
        bad_input(problem)
    return EXIT_BAD_INPUT if problems else EXIT_OK


def project_quotas(plans: list[CellPlan]) -> tuple[dict[str, dict[str, Any]], str]:
    """The regional quotas of the cells' project (all cells share the base's platform), and
    a note for the heading; none without credentials in the environment."""
    from minaperf.cloud.gcp_api import GcpApi, GcpApiError
    from minaperf.cloud.gcp_credentials import API_BASE_ENV, KEY_ENV, TOKEN_ENV, access_token

    if not (os.environ.get(TOKEN_ENV) or os.environ.get(KEY_ENV)):
        return {}, f" (project quotas not read: set {TOKEN_ENV} or {KEY_ENV} to compare)"
    platform = plans[0].platform
    if not isinstance(platform, GkePlatform):
        return {}, ""
    token, source = access_token()
    if token is None:
        return {}, f" (project quotas not read: {source})"
    api = GcpApi(token, base_url=os.environ.get(API_BASE_ENV))
    try:
        quotas = api.region(platform.project, platform.region).get("quotas") or []
    except GcpApiError as error:
        return {}, f" (project quotas not read: {str(error).splitlines()[0]})"
    finally:
        api.close()
    return {q["metric"]: q for q in quotas if isinstance(q, dict) and "metric" in q}, (
        f" beside {platform.project}'s free quota in {platform.region}"
    )


# ---------------------------------------------------------------------------------------------
# run


def write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _module_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


class Runner:
    """Runs the campaign's runs through their steps, `maxConcurrency` at a time."""

    def __init__(
        self, args: argparse.Namespace, campaign: Campaign, file: Path, plans: list[CellPlan]
    ) -> None:
        self.args = args
        self.campaign = campaign
        self.file = file
        self.out = Path(args.out)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.signals: list[int] = []
        self.children: dict[str, subprocess.Popen[str]] = {}
        self.progress: Progress
        self.left_up: list[str] = []
        self.errors: list[str] = []  # runs that met an unexpected error (named in their detail)
        self.lines = LiveLines(sys.stderr, {p.run.stack: p.seconds for p in plans})

    # -- progress -------------------------------------------------------------------------------

    def load(self) -> None:
        path = self.out / PROGRESS_FILE
        if path.exists():
            data = read_file(path, PROGRESS_FILE)
            try:
                self.progress = lib.load_progress(json.loads(data), self.campaign)
            except (ValueError, CampaignError) as error:
                raise CliError(str(error).splitlines()[0]) from None
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            self.progress = lib.new_progress(self.campaign, str(self.file))
        self.save()

    def save(self) -> None:
        with self.lock:
            text = json.dumps(self.progress.model_dump(by_alias=True, mode="json"), indent=2)
            write_atomic(self.out / PROGRESS_FILE, text + "\n")

    def mark(self, run: RunProgress, step: str | None, status: str, detail: str = "") -> None:
        if step is not None:
            run.steps[step] = status  # type: ignore[index]
        run.phase = f"{step}: {status}" if step else status
        run.detail = detail
        self.save()
        self.live(run, last=step == "destroy" and status != "running")

    def live(self, run: RunProgress, *, last: bool = False) -> None:
        self.lines.show(run.stack, run.phase, run.detail, last=last)

    # -- processes ------------------------------------------------------------------------------

    def spawn(
        self, stack: str, command: list[str], log: Path, *, interruptible: bool = True
    ) -> tuple[int, str]:
        """Run `command` in its own process group (so exactly one signal reaches it: ours, and
        none reaches a destroy), its stderr to `log`; each `[up] STEP …` line updates the
        run's phase."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with (
            log.open("a") as sink,
            log.open() as reader,
            tempfile.TemporaryFile("w+") as stdout,
        ):
            reader.seek(0, os.SEEK_END)
            # stderr to the log file, not a pipe: a child outlives a killed campaign (whose
            # rerun then ends it) instead of dying on a broken pipe halfway through cleanup.
            process = subprocess.Popen(
                command,
                cwd=self.args.project_dir,
                env=_module_env(),
                stdout=stdout,
                stderr=sink,
                text=True,
                process_group=0,
            )
            run = self.run_of(stack)
            run.detail = f"pid {process.pid}"
            self.save()
            if interruptible:
                with self.lock:
                    self.children[stack] = process
                if self.stopping.is_set():
                    self._signal(process, signal.SIGINT)
            while True:
                line = reader.readline()
                if not line:
                    if process.poll() is not None:
                        break
                    time.sleep(0.1)
                    continue
                text = line.rstrip()
                if text.startswith("[up] ") and text.endswith(" …"):
                    run.phase = f"up: {text[5:-2]}"
                    self.save()
                    self.live(run)
            code = process.wait()
            with self.lock:
                self.children.pop(stack, None)
            stdout.seek(0)
            out = stdout.read()
            sink.write(out)
        return code, out

    @staticmethod
    def _signal(process: subprocess.Popen[str], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)

    def run_of(self, stack: str) -> RunProgress:
        return next(r for r in self.progress.runs if r.stack == stack)

    # -- one run --------------------------------------------------------------------------------

    def config_file(self, stack: str) -> Path:
        return self.out / "configs" / f"{stack}.yaml"

    def runs_dir(self, stack: str) -> Path:
        return self.out / "runs" / stack

    def up(self, run: RunProgress) -> bool:
        run.attempt += 1
        run_dir = self.runs_dir(run.stack) / f"attempt-{run.attempt}"
        run.run_dir = str(run_dir.relative_to(self.out))
        self.mark(run, "up", "running")
        command = [
            sys.executable,
            "-m",
            EXPERIMENT_MODULE,
            *(["--kubectl", self.args.kubectl] if self.args.kubectl else []),
            "up",
            "--stack",
            run.stack,
            "--config",
            str(self.config_file(run.stack)),
            "--script",
            str(script_path(self.campaign, self.file)),
            "--out",
            str(run_dir),
            "--project-dir",
            self.args.project_dir,
            "--wait-timeout",
            str(self.args.wait_timeout),
            *(["--orchestrator", self.args.orchestrator] if self.args.orchestrator else []),
            *(["--direct"] if self.args.direct else []),
        ]
        code, out = self.spawn(run.stack, command, self.runs_dir(run.stack) / "log.txt")
        if code == 0:
            self.mark(run, "up", "ok")
            return True
        status = "interrupted" if code == EXIT_INTERRUPTED else "failed"
        last = next((line for line in reversed(out.splitlines()) if "failed" in line), "")
        self.mark(run, "up", status, last.strip() or f"experiment up exited {code}")
        return False

    def report(self, run: RunProgress) -> None:
        self.mark(run, "report", "running")
        assert run.run_dir is not None
        command = [
            sys.executable,
            "-m",
            REPORT_MODULE,
            "--run",
            str(self.out / run.run_dir),
            "--stack",
            run.stack,
            *(["--kubectl", self.args.kubectl] if self.args.kubectl else []),
        ]
        code, _ = self.spawn(run.stack, command, self.runs_dir(run.stack) / "log.txt")
        if code == 0:
            self.mark(run, "report", "ok")
        elif self.stopping.is_set():
            self.mark(run, "report", "interrupted", f"report exited {code}")
        else:
            self.mark(run, "report", "failed", f"report exited {code}")

    def destroy(self, run: RunProgress) -> None:
        self.mark(run, "destroy", "running")
        code, detail = self.destroy_stack(run.stack)
        if code == 0:
            self.mark(run, "destroy", "ok", detail)
            return
        self.mark(run, "destroy", "failed", detail)
        with self.lock:
            self.left_up.append(run.stack)

    def destroy_stack(self, stack: str) -> tuple[int, str]:
        """Stop any load, then destroy; a stack that does not exist is already gone."""
        shown = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack],
            cwd=self.args.project_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode == STACK_NOT_FOUND or "no stack named" in shown.stderr:
            return 0, "no stack to destroy"
        log = self.runs_dir(stack) / "log.txt"
        outputs = shown.stdout.strip() not in ("", "{}") if shown.returncode == 0 else False
        if outputs:  # deployed: teardown stops any load still scheduled, then destroys
            command = [
                sys.executable,
                "-m",
                TEARDOWN_MODULE,
                "--stack",
                stack,
                "--runs",
                str(self.runs_dir(stack)),
                "--yes",
                *(["--kubectl", self.args.kubectl] if self.args.kubectl else []),
            ]
        else:  # never got outputs: no load can have been scheduled
            command = ["pulumi", "destroy", "--yes", "--skip-preview", "--stack", stack]
        code, _ = self.spawn(stack, command, log, interruptible=False)
        return code, "" if code == 0 else f"destroy exited {code}; see {log}"

    def finish_orphan(self, run: RunProgress) -> None:
        """A process a killed campaign left running for this run: interrupt it, let it clean up."""
        pid = int(run.detail.removeprefix("pid ")) if run.detail.startswith("pid ") else None
        if pid is None:
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        if run.stack.encode() not in cmdline:
            return  # the pid was reused
        self.lines.note(f"{run.stack}: ending pid {pid} left by a killed run")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGINT)
        for _ in range(600):
            if not Path(f"/proc/{pid}").exists() or _zombie(pid):
                return
            time.sleep(0.1)

    def work(self, run: RunProgress) -> None:
        self.lines.start(run.stack)
        try:
            self._work(run)
        except Exception as error:  # the destroy must still happen
            self.errors.append(run.stack)
            self.mark(run, None, "failed", f"unexpected {type(error).__name__}: {error}")
            if not run.finished:
                self.destroy(run)

    def _work(self, run: RunProgress) -> None:
        if run.interrupted and run.finished:
            run.steps = {}  # interrupted and cleaned up: go again
        if run.finished:
            return
        if run.steps.get("up") == "running" or run.steps.get("report") == "running":
            self.finish_orphan(run)
        if run.steps.get("up") in ("running", "interrupted") and not run.finished:
            code, detail = self.destroy_stack(run.stack)  # left by a killed or stopped run
            if code != 0:
                self.mark(run, "destroy", "failed", detail)
                with self.lock:
                    self.left_up.append(run.stack)
                return
            run.steps = {}
        if self.stopping.is_set():
            return
        if not run.done("up") and not run.failed:
            self.up(run)
        if run.done("up") and not run.done("report"):
            if self.stopping.is_set():
                self.mark(run, "report", "interrupted", "not reported: the campaign was stopped")
            else:
                self.report(run)
        if run.steps.get("up") or run.steps.get("report"):
            self.destroy(run)

    # -- the whole campaign ---------------------------------------------------------------------

    def execute(self) -> int:
        def handle(signum: int) -> None:
            self.signals.append(signum)
            if self.stopping.is_set():
                self.lines.note("still cleaning up (destroying); please wait")
                return
            self.stopping.set()
            self.lines.note("interrupted: stopping every run, then destroying")
            with self.lock:
                live = list(self.children.values())
            for process in live:  # each in its own group: this is the one signal it gets
                self._signal(process, signal.SIGINT)

        with on_stop_signals(handle):
            self._execute()
        kubectl = f" --kubectl {shlex.quote(self.args.kubectl)}" if self.args.kubectl else ""
        for stack in self.left_up:
            print(
                f"error: stack {stack} is STILL UP; finish it with `python -m scripts.teardown "
                f"--stack {stack} --runs {shlex.quote(str(self.runs_dir(stack)))} --yes{kubectl}`",
                file=sys.stderr,
            )
        if self.left_up:
            return EXIT_STACK_LEFT
        if self.signals:
            return EXIT_INTERRUPTED
        if self.errors or any(r.failed for r in self.progress.runs):
            return EXIT_RUN_FAILED
        return EXIT_OK

    def _execute(self) -> None:
        pending = [r for r in self.progress.runs if not r.finished or r.interrupted]
        threads: list[threading.Thread] = []
        ticked = time.monotonic()
        while pending or threads:
            if time.monotonic() - ticked >= 1:  # the elapsed times on a terminal move on
                self.lines.tick()
                ticked = time.monotonic()
            threads = [t for t in threads if t.is_alive()]
            while pending and len(threads) < self.campaign.max_concurrency:
                run = pending.pop(0)
                if self.stopping.is_set() and not _started(run):
                    continue
                thread = threading.Thread(target=self.work, args=(run,), daemon=True)
                thread.start()
                threads.append(thread)
            if self.stopping.is_set():
                pending = [r for r in pending if _started(r)]
            time.sleep(0.05)


def _started(run: RunProgress) -> bool:
    return bool(run.steps) and not run.finished


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def cmd_run(args: argparse.Namespace) -> int:
    file = Path(args.file)
    campaign = read_campaign(file)
    plans, configs = plan_runs(campaign, file)
    problem = over_budget(campaign, plans)
    if problem:
        raise CliError(problem)
    runner = Runner(args, campaign, file.resolve(), plans)
    runner.load()
    (runner.out / "configs").mkdir(exist_ok=True)
    for stack, config in configs.items():
        path = runner.config_file(stack)
        if not path.exists():
            write_atomic(path, yaml.safe_dump({"config": config}, sort_keys=True))
    code = runner.execute()
    done = sum(r.finished and not r.failed for r in runner.progress.runs)
    print(f"campaign {campaign.name}: {done}/{len(runner.progress.runs)} runs ok; {args.out}")
    return code


# ---------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m scripts.campaign", description=__doc__, allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    plan = sub.add_parser("plan", help="the runs, their modelled cost, the budget check")
    plan.add_argument("file", help="the campaign file (YAML or JSON)")
    plan.set_defaults(func=cmd_plan)
    run = sub.add_parser("run", help="up → wait → run → report → destroy for every run")
    run.add_argument("file", help="the campaign file (YAML or JSON)")
    run.add_argument("--out", required=True, help="the campaign directory (resumed if it exists)")
    run.add_argument("--kubectl", help="kubectl executable (default $MINAPERF_KUBECTL or kubectl)")
    run.add_argument("--orchestrator", help="local orchestrator executable (default: in the pod)")
    run.add_argument("--direct", action="store_true", help="wait: in-cluster addresses")
    run.add_argument("--wait-timeout", type=float, default=1800.0, help="seconds (default 1800)")
    run.add_argument("--project-dir", default=str(ROOT), help="the Pulumi project")
    run.set_defaults(func=cmd_run)
    report = sub.add_parser("report", help="one page and summary.json across the runs")
    report.add_argument("dir", help="the campaign directory of `run --out`")
    report.set_defaults(func=cmd_report)
    return parser


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(read_file(path, what))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CliError(f"{what}: {path} is not JSON ({first})") from None


def cmd_report(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    data = read_json(out / PROGRESS_FILE, PROGRESS_FILE)
    file = Path(data.get("file", "")) if isinstance(data, dict) else Path()
    campaign = read_campaign(file)
    try:
        progress = lib.load_progress(data, campaign)
    except CampaignError as error:
        raise CliError(str(error)) from None
    summaries: dict[str, dict[str, Any]] = {}
    for run in progress.runs:
        path = out / str(run.run_dir) / "report" / "summary.json"
        if run.run_dir and run.done("report") and path.is_file():
            summary = read_json(path, f"{run.stack} summary.json")
            if isinstance(summary, dict):
                summaries[run.stack] = summary
    earlier = None
    if campaign.baseline is not None and campaign.baseline.directory is not None:
        directory = (file.parent / campaign.baseline.directory).resolve()
        earlier = read_json(directory / "summary.json", "campaign: baseline.directory")
        if not isinstance(earlier, dict) or earlier.get("version") != campaign_report.VERSION:
            raise CliError(
                f"campaign: baseline.directory: {directory}/summary.json is not a campaign "
                "summary; run `python -m scripts.campaign report` there first"
            )
    summary = campaign_report.build(campaign, progress, summaries, earlier)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out / "campaign.html", campaign_report.page(summary))
    for verdict in summary["verdicts"]:
        print(
            f"cell {verdict['cell']} ({verdict['label']}) against {verdict['baseline']}: "
            f"{verdict['outcome']}"
        )
        for row in verdict["figures"]:
            if row["status"] != "within limits":
                print(f"  {row['figure']} {row['limit']}: {row['status']}")
    print(f"campaign page: {out / 'campaign.html'}")
    return int(summary["exitCode"])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as error:
        for line in str(error).splitlines():
            bad_input(line)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
