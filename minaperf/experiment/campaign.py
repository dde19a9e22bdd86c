"""Campaigns: many experiments from one file (pure: no processes, no network).

A campaign file names a base stack config, a matrix of overrides (config paths → values), the
script, repeats per cell, a baseline, the verdict's thresholds (`minaperf.report.verdict`'s
format), a budget and a concurrency limit. `expand` turns it into runs (cell x repeat), each
with a stack name that is a valid stack/namespace name; `peak_demand` is the quota runs side
by side ask for. `Progress` is the shape of `DIR/campaign.json` (what `run` has done so far).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from minaperf.report.verdict import load_thresholds

NAME_MAX = 20
"""Campaign name length: `<name>-<cell>-<repeat>` stays within the stack name's 30 characters."""
MAX_RUNS = 200
_DNS = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
_PATH = re.compile(r"^([a-z][a-z0-9-]*:)?[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")


class CampaignError(ValueError):
    """A bad campaign file or progress file; the message names the field and the fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Baseline(_Model):
    cell: int | None = Field(None, ge=0, description="a cell of this campaign (its index)")
    directory: str | None = Field(
        None, description="an earlier campaign's result directory (its summary.json is read)"
    )

    @field_validator("directory")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must name a directory")
        return value


class Campaign(_Model):
    name: str = Field(description="names the stacks: lowercase letters, digits, hyphens")
    base: str | dict[str, Any] = Field(
        description="the stack config: a path (relative to the campaign file) or inline `config:`"
    )
    matrix: dict[str, list[Any]] = Field(
        default_factory=dict, description="config path → values; every combination is a cell"
    )
    scripts: Annotated[list[str], Field(min_length=1, max_length=1)]
    repeats: int = Field(1, ge=1, le=20)
    baseline: Baseline | None = None
    thresholds: dict[str, Any] | None = None
    budget_usd: float = Field(alias="budgetUsd", gt=0)
    max_concurrency: int = Field(1, alias="maxConcurrency", ge=1, le=16)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > NAME_MAX or not _DNS.fullmatch(value):
            raise ValueError(
                f"must be at most {NAME_MAX} lowercase letters, digits and hyphens, starting "
                "with a letter (it names the stacks)"
            )
        return value

    @field_validator("matrix")
    @classmethod
    def _matrix(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in value.items():
            if not _PATH.fullmatch(path):
                raise ValueError(f"{path!r} is not a config path; write e.g. nodes.plainNodes")
            if not values:
                raise ValueError(f"{path}: give at least one value")
            if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
                raise ValueError(f"{path}: a value is listed twice")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            load_thresholds(value)  # ThresholdError is a ValueError: reported on this field
        return value


@dataclass(frozen=True)
class Cell:
    index: int
    overrides: dict[str, Any]  # config path → value

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in self.overrides.items()) or "(base)"


@dataclass(frozen=True)
class Run:
    cell: Cell
    repeat: int
    stack: str


def _field(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as `a.b.0`; a key that is not plain text is quoted, so a
    line separator in it cannot split the error's line."""
    parts = [str(p) if str(p).isprintable() and str(p).strip() else json.dumps(p) for p in loc]
    return ".".join(parts) or "(root)"


def _one_line(message: str) -> str:
    return " ".join(message.splitlines())


def parse_campaign(data: Any) -> Campaign:
    """The campaign, or CampaignError with one line per mistake (`field: problem`)."""
    if not isinstance(data, dict):
        raise CampaignError("campaign: must be a mapping (name, base, matrix, scripts, …)")
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            field = _field(item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown key; see docs/campaigns.md for the keys"
            lines.append(f"campaign: {field}: {_one_line(message)}")
        raise CampaignError("\n".join(lines)) from None
    if campaign.baseline is not None:
        cells = cell_count(campaign)
        if (campaign.baseline.cell is None) == (campaign.baseline.directory is None):
            raise CampaignError("campaign: baseline: give exactly one of `cell` or `directory`")
        if campaign.baseline.cell is not None and campaign.baseline.cell >= cells:
            raise CampaignError(
                f"campaign: baseline.cell: {campaign.baseline.cell} is not a cell; "
                f"the matrix has cells 0..{cells - 1}"
            )
        if campaign.thresholds is None:
            raise CampaignError("campaign: thresholds: a baseline needs thresholds for the verdict")
    runs = cell_count(campaign) * campaign.repeats
    if runs > MAX_RUNS:
        raise CampaignError(f"campaign: matrix: {runs} runs; keep to {MAX_RUNS} or fewer")
    return campaign


def cell_count(campaign: Campaign) -> int:
    count = 1
    for values in campaign.matrix.values():
        count *= len(values)
    return count


def cells(campaign: Campaign) -> list[Cell]:
    """Every combination of the matrix, in file order (the last path varies fastest)."""
    paths = list(campaign.matrix)
    combos = itertools.product(*(campaign.matrix[p] for p in paths))
    return [Cell(i, dict(zip(paths, combo, strict=True))) for i, combo in enumerate(combos)]


def expand(campaign: Campaign) -> list[Run]:
    """Each cell x repeat with its stack `<name>-<cell>-<repeat>` (a DNS label ≤ 30 chars)."""
    return [
        Run(cell, repeat, f"{campaign.name}-{cell.index}-{repeat}")
        for cell in cells(campaign)
        for repeat in range(campaign.repeats)
    ]


def digest(campaign: Campaign) -> str:
    """What identifies the campaign's runs: a resumed `run` must be of the same campaign."""
    text = json.dumps(campaign.model_dump(by_alias=True, mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def script_seconds(steps: list[tuple[str, dict[str, Any]]]) -> float:
    """The script's modelled duration: its waits in sequence, plus the longest load it starts
    (load runs beside the waits, so the longest `durationMin` bounds it)."""
    waits = 0.0
    load = 0.0
    for action, params in steps:
        if action == "wait":
            waits += _number(params.get("sec")) + 60 * _number(params.get("min"))
        load = max(load, 60 * _number(params.get("durationMin")))
    return max(waits, load)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


@dataclass(frozen=True)
class CellPlan:
    run: Run
    usd_per_hour: float
    up_seconds: float  # the modelled critical path of its `pulumi up` (minaperf.plan.critical_path)
    script_seconds: float
    demand: dict[str, float]
    platform: object = None  # the cell's platform (the config's), for reading its quotas

    @property
    def seconds(self) -> float:
        return self.up_seconds + self.script_seconds

    @property
    def usd(self) -> float:
        return self.usd_per_hour * self.seconds / 3600


def wall_seconds(plans: list[CellPlan], concurrency: int) -> float:
    """The modelled time of the whole campaign: runs start in order, each as soon as one of
    the `concurrency` places is free (as `run` schedules them)."""
    free = [0.0] * min(concurrency, len(plans))
    for plan in plans:
        free[free.index(min(free))] += plan.seconds
    return max(free, default=0.0)


def peak_demand(plans: list[CellPlan], concurrency: int) -> dict[str, float]:
    """The most any `concurrency` runs at once can ask of each quota metric."""
    metrics = sorted({m for p in plans for m in p.demand})
    return {
        m: sum(sorted((p.demand.get(m, 0.0) for p in plans), reverse=True)[:concurrency])
        for m in metrics
    }


# ------------------------------------------------------------------------------ progress

Status = Literal["pending", "running", "ok", "failed", "interrupted"]


class RunProgress(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)

    stack: str
    cell: int = Field(ge=0)
    repeat: int = Field(ge=0)
    attempt: int = Field(0, ge=0)
    steps: dict[Literal["up", "report", "destroy"], Status] = Field(default_factory=dict)
    phase: str = ""
    detail: str = ""
    run_dir: str | None = Field(None, alias="runDir")

    def done(self, step: str) -> bool:
        return self.steps.get(step) == "ok"  # type: ignore[call-overload]

    @property
    def finished(self) -> bool:
        return self.done("destroy")

    @property
    def interrupted(self) -> bool:
        """Stopped by a signal before its report: run again on resume."""
        return "interrupted" in (self.steps.get("up"), self.steps.get("report"))

    @property
    def failed(self) -> bool:
        return any(self.steps.get(s) == "failed" for s in ("up", "report"))  # type: ignore[call-overload]


class Progress(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)

    version: Literal[1] = 1
    campaign: str
    digest: str
    file: str
    runs: list[RunProgress]


def new_progress(campaign: Campaign, file: str) -> Progress:
    return Progress(
        campaign=campaign.name,
        digest=digest(campaign),
        file=file,
        runs=[
            RunProgress(stack=r.stack, cell=r.cell.index, repeat=r.repeat, attempt=0, runDir=None)
            for r in expand(campaign)
        ],
    )


def load_progress(data: Any, campaign: Campaign) -> Progress:
    try:
        progress = Progress.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = _field(first["loc"])
        raise CampaignError(f"campaign.json: {field}: {_one_line(first['msg'])}") from None
    if progress.digest != digest(campaign):
        raise CampaignError(
            "campaign.json: written by a different campaign file (the file changed since); "
            "use a new --out directory"
        )
    # The stacks it names get destroyed and its directories read: only this campaign's own.
    if [(r.stack, r.cell, r.repeat) for r in progress.runs] != [
        (r.stack, r.cell.index, r.repeat) for r in expand(campaign)
    ]:
        raise CampaignError(
            "campaign.json: runs: not the runs of this campaign file (edited by hand?); "
            "use a new --out directory"
        )
    for index, run in enumerate(progress.runs):
        expected = f"runs/{run.stack}/attempt-{run.attempt}"
        if run.run_dir is not None and run.run_dir != expected:
            raise CampaignError(
                f"campaign.json: runs.{index}.runDir: must be {expected} (its attempt's "
                "directory); use a new --out directory"
            )
    return progress
