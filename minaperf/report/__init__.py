"""Experiment report: what the network did under a run's load, as numbers (summary.json) and plots
(report.html). `scripts.report` is the command; the pieces are pure enough to test one by one."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from minaperf.files import FileInputError, MissingFileError, read_json_file
from minaperf.model.outputs import StackOutputs
from minaperf.report import page, queries
from minaperf.report.run import RunStory
from minaperf.report.summary import HEADLINES, SUMMARY_VERSION, build_summary, window
from minaperf.report.verdict import Limit, evaluate

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


def read_database(
    conn: psycopg.Connection,
    name: str,
    start: datetime,
    end: datetime,
    experiment_names: tuple[str, ...] = (),
    load_span: tuple[datetime, datetime] | None = None,
) -> tuple[dict[str, Any] | None, str | None, dict[str, Any] | None]:
    """(figures, what is missing, deployment) for the deployment named `name` in the window;
    load = transactions with the memo of one of the run's `experiment_names`."""
    missing = [
        row[0]
        for row in conn.execute(queries.MISSING_TABLES, {"tables": list(queries.SCHEMA_TABLES)})
    ]
    if missing:
        return (
            None,
            f"schema missing: no table {', '.join(missing)} (is this the logs database?)",
            None,
        )
    row = conn.execute(queries.FIND_DEPLOYMENT, {"name": name}).fetchone()
    if row is None or row[0] is None:
        return (
            None,
            f"no deployment row named {name!r} (the database holds no data of this stack)",
            None,
        )
    deployment = {"id": row[0], "name": name, "newest": row[1]}
    if row[1] != row[0]:
        deployment["warning"] = (
            f"deployment {row[1]} is newer: consumers write new rows to the newest deployment"
        )
    scope = queries.Scope(row[0], start, end, experiment_names, load_span)
    return queries.collect(conn, scope), None, deployment


def _compare_shape_problem(data: dict[str, Any]) -> str | None:
    """What the page and the verdict would trip over in another run's summary, or None."""
    for section, key, label, _unit in HEADLINES:
        part = data.get(section)
        if not isinstance(part, dict):
            return f"`{section}` must be an object"
        value = part.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"`{section}.{key}` ({label}) must be a number or null"
    if data.get("experiment") is not None and not isinstance(data["experiment"], str):
        return "`experiment` must be a string"
    run = data.get("run")
    if run is not None and not (isinstance(run, dict) and isinstance(run.get("directory"), str)):
        return "`run.directory` must be a string"
    return None


def load_compare(directory: Path) -> dict[str, Any]:
    """The summary of another run: `<dir>/report/summary.json` or `<dir>/summary.json`."""
    for candidate in (directory / "report" / SUMMARY_FILE, directory / SUMMARY_FILE):
        try:
            data = read_json_file(candidate, what="--compare")
        except MissingFileError:
            continue
        except FileInputError as error:
            raise ValueError(str(error)) from None
        if not isinstance(data, dict) or data.get("version") != SUMMARY_VERSION:
            raise ValueError(
                f"--compare: {candidate} is not a version-{SUMMARY_VERSION} summary.json; "
                "report that run again"
            )
        problem = _compare_shape_problem(data)
        if problem:
            raise ValueError(f"--compare: {candidate}: {problem}; report that run again")
        return data
    raise ValueError(
        f"--compare: no summary.json under {directory}; report that run first "
        f"(python -m scripts.report --run {directory} …)"
    )


def build(
    story: RunStory,
    outputs: StackOutputs | None,
    conn: psycopg.Connection | None,
    *,
    grace: timedelta = timedelta(minutes=5),
    db_note: str | None = None,
    compare: dict[str, Any] | None = None,
    limits: list[Limit] | None = None,
    now: datetime | None = None,
    restarts: tuple[list[dict[str, Any]] | None, str] = (None, "no snapshot was taken"),
) -> tuple[dict[str, Any], str]:
    """(summary, html) of one run; with `compare` and `limits`, the summary carries the verdict
    of this run (the candidate) against `compare` (the baseline)."""
    start, end = window(story, grace)
    db: dict[str, Any] | None = None
    deployment: dict[str, Any] | None = None
    if conn is not None and outputs is not None:
        db, db_note, deployment = read_database(
            conn, outputs.experiment, start, end, story.experiment_names, story.load_span
        )
    elif db_note is None:
        db_note = "not read (no stack outputs or no connection)"
    summary = build_summary(
        story=story,
        start=start,
        end=end,
        db=db,
        db_note=db_note,
        outputs=outputs,
        deployment=deployment,
        generated=now or datetime.now(UTC),
        restarts=restarts,
    )
    if compare is not None and limits:
        summary["verdict"] = evaluate(compare, summary, limits).as_json()
    return summary, page.render(summary, start, compare)


def write(out_dir: Path, summary: dict[str, Any], html_text: str) -> None:
    """Write both files whole or not at all (temporary files renamed into place)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, str]] = []
    try:
        for name, text in (
            (SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n"),
            (REPORT_FILE, html_text),
        ):
            fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.")
            staged.append((tmp, name))
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
        for tmp, name in staged:
            os.replace(tmp, out_dir / name)
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
