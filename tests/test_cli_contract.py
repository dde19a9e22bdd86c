"""The CLI contract, by property: every command either succeeds or exits 2 with exactly one
`error: …` / `config error: <key>: …` line; never a traceback, never a hang, never a write outside
`--out`.

Hypothesis mutates valid inputs the way a hostile new user would: stack files (values of every
type at every path, unknown namespaces, repeated keys), `--set` values, key files, outputs files,
experiment scripts and run directories. The runs are derandomised with a fixed number of examples
and a per-example alarm, so CI time is bounded and a failure reproduces.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, render

EXAMPLE_SECONDS = 20
"""An example that takes longer than this is a hang (the slowest honest one is well under 5 s)."""

CONTRACT = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,  # the alarm below bounds each example; timing noise is not a failure
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class _HangError(Exception):
    pass


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def fire(_signum: int, _frame: Any) -> None:
        raise _HangError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def check_contract(
    command: Callable[[], int | None],
    *,
    sandbox: Path,
    out: Path | None = None,
    lint_of: Path | None = None,
) -> tuple[int, str]:
    """Run one CLI invocation in-process and hold it to the contract. A linter (`lint_of` the
    file it checks) reports every finding, one line each, all naming that file."""
    before = _files(sandbox)
    stderr, stdout = io.StringIO(), io.StringIO()
    with (
        _alarm(EXAMPLE_SECONDS),
        contextlib.redirect_stderr(stderr),
        contextlib.redirect_stdout(stdout),
    ):
        try:
            code = command()
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 2
    code = 0 if code is None else code
    errors = [
        line
        for line in stderr.getvalue().splitlines()
        if not line.startswith(("warning:", "note:"))
    ]
    assert code in (0, 2), (code, stderr.getvalue())
    if code == 2 and lint_of is not None and not errors[0].startswith("error: "):
        assert all(line.lstrip().startswith(str(lint_of)) for line in errors), errors
    elif code == 2:
        assert len(errors) == 1, stderr.getvalue()
        assert errors[0].startswith(("error: ", "config error: ")), errors[0]
    assert "Traceback" not in stderr.getvalue()
    after = _files(sandbox)
    outside = {
        name
        for name in set(before) | set(after)
        if before.get(name) != after.get(name)
        and (out is None or not (sandbox / name).is_relative_to(out))
    }
    assert not outside, f"wrote outside --out: {sorted(outside)}"
    return code, stderr.getvalue()


# --- values a hostile user types --------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "0.0.0.0/0",
            "0.0.0.0/1",
            "::/0",
            "fd00::/8",
            "10.0.0.0/33",
            "n2-standard-7",
            "c2d-highcpu-32-metal",
            "2020-01-01T00:00:00Z",
            "true",
            "-1",
            "1e9",
            "Ünïcode",
            "a" * 300,
            "${secret}",
            "\x00",
            "secure: abc",
        ]
    ),
)
YAML_SCALARS = SCALARS | st.dates() | st.datetimes()


def _nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=8,
    )


VALUES = _nested(YAML_SCALARS)
"""What YAML can hold (dates and times included)."""
JSON_VALUES = _nested(SCALARS)
"""What JSON can hold (NaN and Infinity included, as Python's encoder writes them)."""


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(
    draw: st.DrawFn, document: dict[str, Any], values: st.SearchStrategy[Any] = VALUES
) -> dict[str, Any]:
    """`document` with one to three edits: a value replaced, a key dropped, renamed or added."""
    result = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(result)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = result
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "drop", "rename", "add"]))
        if action == "replace":
            parent[last] = draw(values)
        elif action == "drop" and isinstance(parent, dict):
            parent.pop(last)
        elif action == "rename" and isinstance(parent, dict):
            new = draw(st.sampled_from(["minaitn:nodes", "nodes", "mina-itn:nodez", "x:y", ""]))
            parent[new if len(path) == 1 else new.split(":")[-1]] = parent.pop(last)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(values)
    return result


def _stack(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


class _ValidatedError(Exception):
    """Raised in place of the engine run: the input passed every check before the program."""


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    import scripts.engine

    def stop(*_args: Any, **_kwargs: Any) -> Any:
        raise _ValidatedError

    monkeypatch.setattr(scripts.engine, "run_program", stop)


def _render(argv: list[str]) -> Callable[[], int]:
    from scripts import render as render_cli

    def call() -> int:
        try:
            return render_cli.main(argv)
        except _ValidatedError:
            return 0

    return call


# --- stack files and --set --------------------------------------------------------------------


@CONTRACT
@given(data=st.data(), base=st.sampled_from(["Pulumi.dev.yaml", "stacks/kind.yaml"]))
def test_render_of_a_mutated_stack_file(no_engine, tmp_path_factory, data, base) -> None:
    sandbox = tmp_path_factory.mktemp("stack")
    document = data.draw(mutated(_stack(base)))
    text = yaml.safe_dump(document, allow_unicode=True) if isinstance(document, dict) else ""
    if data.draw(st.booleans()):  # a repeated key, as a hand edit leaves it
        text += "  mina-itn:nodes: {plainNodes: 2}\n  mina-itn:nodes: {plainNodes: 3}\n"
    stack_file = sandbox / "Pulumi.exp.yaml"
    stack_file.write_text(text)
    out = sandbox / "out"
    check_contract(
        _render(["--config", str(stack_file), "--out", str(out)]), sandbox=sandbox, out=out
    )


RAW_YAML = st.sampled_from(
    ["1:30", "10:30:00", "yes", "Off", "n", "1_0", "012", "09", "0b11", "1e999",
     "9" * 5000, "-" + "9" * 30, "!!binary aGk=", "!!int x", "!!set {a}", "[" * 5000,
     "&a [*a]", "!local x"]
)  # fmt: skip
"""YAML forms that readers take differently, numbers past Python's and Go's limits, bad tags."""


def _laughs(levels: int) -> str:
    lines = ['  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@settings(CONTRACT, max_examples=25)
@given(
    data=st.data(),
    base=st.sampled_from(["Pulumi.dev.yaml", "stacks/kind.yaml"]),
    command=st.sampled_from(["render", "pin", "preflight"]),
)
def test_stack_files_with_forms_pulumi_reads_otherwise(
    no_engine, tmp_path_factory, data, base, command
) -> None:
    """A raw YAML form at any leaf, or an alias bomb beside the config: one line, at once."""
    from scripts import pin, preflight

    sandbox = tmp_path_factory.mktemp("yaml")
    document = _stack(base)
    paths = [path for path in _paths(document) if not isinstance(_get(document, path), dict)]
    path = data.draw(st.sampled_from(paths))
    _get(document, path[:-1])[path[-1]] = "@@RAW@@"
    text = yaml.safe_dump(document).replace("'@@RAW@@'", data.draw(RAW_YAML))
    if data.draw(st.booleans()):
        text += "laughs:\n" + _laughs(data.draw(st.integers(4, 9)))
    stack_file = sandbox / "Pulumi.exp.yaml"
    stack_file.write_text(text)
    out = sandbox / "out"
    main = {"render": _render, "pin": lambda a: lambda: pin.main(a),
            "preflight": lambda a: lambda: preflight.main(a)}[command]  # fmt: skip
    extra = ["--out", str(out)] if command == "render" else []
    code, _ = check_contract(main(["--config", str(stack_file), *extra]), sandbox=sandbox, out=out)
    assert code == 2


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


SET_KEYS = [
    "nodes.plainNodes", "network.genesisTimestamp", "access.adminCidrs", "workerPool.machineType",
    "metadata.labels", "keys.seed", "resources.plain.cpuRequest", "platform.network.podsCidr",
    "network.blockProducerStake", "postgres.allowedCidrs", "minaitn:nodes", "gcp:project",
]  # fmt: skip


@CONTRACT
@given(key=st.sampled_from(SET_KEYS), value=st.text(max_size=60))
def test_render_with_any_set_value(no_engine, tmp_path_factory, key, value) -> None:
    sandbox = tmp_path_factory.mktemp("set")
    out = sandbox / "out"
    argv = ["--stack", "dev", "--set", f"{key}={value}", "--out", str(out)]
    _, stderr = check_contract(_render(argv), sandbox=sandbox, out=out)
    if key == "keys.seed" and len(value) > 8:
        assert value not in stderr  # a secret never comes back in an error


SECRET_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="[]\x00"), min_size=6, max_size=90
)


@CONTRACT
@given(
    key=st.sampled_from([*SET_KEYS, "metadata.owner", "nodes.seeds", "access.adminCidrs.0"]),
    value=SECRET_TEXT | st.sampled_from(["123456789", "[1, 2, 3]", '{"a": 1}', "true" * 2]),
)
def test_render_never_shows_a_set_secret_value(
    no_engine, tmp_path_factory, monkeypatch, key, value
) -> None:
    """Whatever key a `--set-secret` value lands on, of whatever type, no error shows it."""
    sandbox = tmp_path_factory.mktemp("secret")
    monkeypatch.setenv("HIDDEN_VALUE", value)
    out = sandbox / "out"
    argv = ["--stack", "dev", "--set-secret", f"{key}=HIDDEN_VALUE", "--out", str(out)]
    _, stderr = check_contract(_render(argv), sandbox=sandbox, out=out)
    assert value not in stderr
    assert repr(value) not in stderr


# --- key files --------------------------------------------------------------------------------

KEY_FILE = (
    ROOT / "tests/data/vectors/minimina-large/block_producer_keys/receiver.json"
).read_text()


@st.composite
def key_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "nested", "bytes", "pwdiff"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nested":
        depth = draw(st.integers(1, 100_000))
        return ("[" * depth + "]" * draw(st.integers(0, depth))).encode()
    document = json.loads(KEY_FILE)
    if kind == "pwdiff":
        document["pwdiff"] = draw(st.lists(JSON_VALUES, max_size=3) | st.just([1 << 40, 1 << 20]))
    else:
        document = draw(mutated(document, JSON_VALUES))
    return json.dumps(document).encode()


@CONTRACT
@given(content=key_files())
def test_keys_inspect_of_any_file(tmp_path_factory, monkeypatch, content) -> None:
    from scripts import keys

    sandbox = tmp_path_factory.mktemp("inspect")
    path = sandbox / "key.json"
    path.write_bytes(content)
    monkeypatch.setenv("MINA_PRIVKEY_PASS", "naughty blue worm")
    check_contract(lambda: keys.main(["inspect", str(path)]), sandbox=sandbox)


# --- outputs files ----------------------------------------------------------------------------


@CONTRACT
@given(data=st.data())
def test_keys_export_of_a_mutated_outputs_file(tmp_path_factory, data) -> None:
    from scripts import keys

    sandbox = tmp_path_factory.mktemp("export")
    document = data.draw(mutated({"root": render("dev").outputs}, JSON_VALUES)).get("root")
    outputs = sandbox / "outputs.json"
    outputs.write_text(json.dumps(document))
    out = sandbox / "funding"
    check_contract(
        lambda: keys.main(["export", "--outputs", str(outputs), "--out", str(out)]),
        sandbox=sandbox,
        out=out,
    )


# --- experiment scripts and run directories (runner's code, fuzzed through its CLI) -------------

SCRIPT_LINES = (ROOT / "stacks/scripts/small-payments.jsonl").read_text().splitlines()


@st.composite
def scripts_text(draw: st.DrawFn) -> str:
    lines = []
    for line in SCRIPT_LINES:
        if draw(st.booleans()):
            lines.append(
                json.dumps(draw(mutated({"root": json.loads(line)}, JSON_VALUES)).get("root"))
            )
        else:
            lines.append(line)
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=40)))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def outputs_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("outputs") / "outputs.json"
    path.write_text(json.dumps(render("dev").outputs))
    return path


@CONTRACT
@given(text=scripts_text())
def test_experiment_check_of_a_mutated_script(tmp_path_factory, outputs_file, text) -> None:
    from scripts import experiment

    sandbox = tmp_path_factory.mktemp("check")
    script = sandbox / "script.jsonl"
    script.write_text(text)
    argv = ["--outputs", str(outputs_file), "check", str(script)]
    check_contract(lambda: experiment.main(argv), sandbox=sandbox, lint_of=script)


RUN_STATE = {
    "version": 1,
    "script": "stacks/scripts/small-payments.jsonl",
    "scriptCopy": "script.jsonl",
    "steps": [{"index": 0, "action": "payments", "line": 1}],
    "target": "pod itn-dev/orchestrator-0",
    "started": "2030-01-01T00:00:00.000000Z",
    "finished": None,
    "exitStatus": None,
    "outcome": "running",
    "reason": None,
}


@CONTRACT
@given(data=st.data())
def test_experiment_status_of_a_mutated_run_directory(tmp_path_factory, data) -> None:
    from scripts import experiment

    sandbox = tmp_path_factory.mktemp("run")
    run_dir = sandbox / "run"
    run_dir.mkdir()
    state = data.draw(mutated({"root": RUN_STATE}, JSON_VALUES)).get("root")
    (run_dir / "run.json").write_text(json.dumps(state))
    (run_dir / "stdout.jsonl").write_text(data.draw(st.text(max_size=200)))
    argv = ["status", "--run", str(run_dir)]
    with contextlib.chdir(sandbox):
        check_contract(lambda: experiment.main(argv), sandbox=sandbox)


def test_the_contract_catches_a_traceback_and_a_stray_write(tmp_path) -> None:
    def crash() -> int:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        check_contract(crash, sandbox=tmp_path)

    def stray() -> int:
        (tmp_path / "stray").write_text("x")
        return 0

    with pytest.raises(AssertionError, match="outside --out"):
        check_contract(stray, sandbox=tmp_path, out=tmp_path / "out")

    def two_lines() -> int:
        print("error: one\nerror: two", file=__import__("sys").stderr)
        return 2

    with pytest.raises(AssertionError):
        check_contract(two_lines, sandbox=tmp_path)


def test_the_alarm_stops_a_hang(tmp_path) -> None:
    def hang() -> int:
        while True:
            os.sched_yield()

    with pytest.raises(_HangError), _alarm(1):
        hang()


# --- --stack: a blank name is never passed on ----------------------------------------------------

STACK_COMMANDS: dict[str, tuple[str, list[str], list[str]]] = {
    "teardown": ("scripts.teardown", [], ["--yes"]),
    "render": ("scripts.render", [], ["--out", "out"]),
    "pin": ("scripts.pin", [], []),
    "preflight": ("scripts.preflight", [], []),
    "report": ("scripts.report", ["--run", "run"], []),
    "experiment": ("scripts.experiment", [], ["status", "--run", "run"]),
    "experiment up": ("scripts.experiment", ["up", "--script", "s.jsonl"], []),
    "keys export": ("scripts.keys", ["export", "--out", "k"], []),
}


@pytest.mark.parametrize("command", sorted(STACK_COMMANDS))
@pytest.mark.parametrize("name", ["", " ", "\t", " dev", "dev\n"])
def test_every_stack_option_refuses_a_blank_name(
    tmp_path, monkeypatch, command: str, name: str
) -> None:
    """The Pulumi CLI reads `--stack ''` as the selected stack: `teardown --stack "$UNSET"`
    would destroy whatever is selected. Refused before any command runs."""
    import importlib
    import subprocess

    def no_command(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"ran {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "run", no_command)
    monkeypatch.setattr(subprocess, "Popen", no_command)
    module, before, after = STACK_COMMANDS[command]
    main = importlib.import_module(module).main
    monkeypatch.chdir(tmp_path)
    _, stderr = check_contract(lambda: main([*before, "--stack", name, *after]), sandbox=tmp_path)
    assert "--stack" in stderr, stderr


# --- every file a command reads: regular files only, deep JSON and long numbers refused ----------


def _report_run(sandbox: Path) -> Path:
    from datetime import UTC, datetime

    from tests.fakes import report_scenario

    return report_scenario.write_run(sandbox / "run", datetime(2030, 1, 1, tzinfo=UTC))


def _file_readers(sandbox: Path, bad: Path) -> dict[str, Callable[[], int | None]]:
    """Each way a command reads a user's file, given `bad` in that place."""
    from scripts import experiment, keys, pin, preflight, report

    outputs = sandbox / "good-outputs.json"
    outputs.write_text(json.dumps(render("dev").outputs))
    diff_dir = sandbox / "old-render"
    diff_dir.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (diff_dir / "resources.json").unlink()
    (diff_dir / "resources.json").symlink_to(bad)
    compare_dir = sandbox / "compared"
    (compare_dir / "report").mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (compare_dir / "report" / "summary.json").unlink()
    (compare_dir / "report" / "summary.json").symlink_to(bad)
    run = str(_report_run(sandbox))
    return {
        "render --config": _render(["--config", str(bad), "--out", str(sandbox / "o")]),
        "render --diff": _render(["--stack", "dev", "--diff", str(diff_dir)]),
        "pin --config": lambda: pin.main(["--config", str(bad)]),
        "preflight --config": lambda: preflight.main(["--config", str(bad)]),
        "keys inspect": lambda: keys.main(["inspect", str(bad)]),
        "keys export --outputs": lambda: keys.main(
            ["export", "--outputs", str(bad), "--out", str(sandbox / "k")]
        ),
        "experiment --outputs": lambda: experiment.main(["--outputs", str(bad), "config"]),
        "experiment check": lambda: experiment.main(["check", str(bad)]),
        "experiment up --script": lambda: experiment.main(
            ["up", "--stack", "exp", "--script", str(bad)]
        ),
        "report --outputs": lambda: report.main(["--run", run, "--outputs", str(bad)]),
        "report --compare": lambda: report.main(
            ["--run", run, "--outputs", str(outputs), "--compare", str(compare_dir)]
        ),
    }


READERS = [
    "render --config", "render --diff", "pin --config", "preflight --config", "keys inspect",
    "keys export --outputs", "experiment --outputs", "experiment check",
    "experiment up --script", "report --outputs", "report --compare",
]  # fmt: skip


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "/dev/null", "directory"])
def test_no_command_reads_a_fifo_or_a_device(no_engine, tmp_path, reader: str, kind: str) -> None:
    """A FIFO blocked every reader forever and /dev/zero filled memory: refused at once."""
    bad = tmp_path / "bad"
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "directory":
        bad.mkdir()
    else:
        bad = Path(kind)
    command = _file_readers(tmp_path, bad)[reader]
    code, stderr = check_contract(command, sandbox=tmp_path, out=tmp_path / "compared", lint_of=bad)
    assert code == 2, stderr
    assert "pass a regular file" in stderr or "directory" in stderr, stderr


@st.composite
def json_bombs(draw: st.DrawFn) -> bytes:
    """JSON Python's decoder cannot take: too deep, or a number past its 4300-digit limit."""
    if draw(st.booleans()):
        depth = draw(st.integers(2_000, 100_000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        return (opener * depth).encode() + draw(st.sampled_from([b"", b"1" + b"]" * depth]))
    digits = draw(st.integers(4_301, 20_000))
    wrapper = draw(st.sampled_from(["{}", '{{"version": {}}}', "[{}]"]))
    return wrapper.format("7" * digits).encode()


@settings(CONTRACT, max_examples=len(READERS) * 2)
@given(data=st.data(), reader=st.sampled_from(READERS))
def test_deep_json_and_long_numbers_are_one_line(no_engine, tmp_path_factory, data, reader) -> None:
    sandbox = tmp_path_factory.mktemp("bomb")
    bad = sandbox / "bad.json"
    bad.write_bytes(data.draw(json_bombs()))
    command = _file_readers(sandbox, bad)[reader]
    code, stderr = check_contract(command, sandbox=sandbox, out=sandbox / "compared", lint_of=bad)
    assert code == 2, stderr
