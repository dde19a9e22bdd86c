"""Render what `pulumi up` would send, without a cloud or the Pulumi CLI, and preview it.

Runs the real program (`__main__.py`) under the recording mock engine (scripts.engine) with the
stack's config, writes the resources, manifests, outputs and generated files into --out, and
prints a summary, or with --diff what changed since an older render.
See docs/cli.md#render-preview-before-pulumi-up.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TextIO

import yaml

from minaperf.files import HAND_WRITTEN_LIMIT, FileInputError, MissingFileError, read_json_file
from minaperf.model.config import ConfigError, one_line
from minaperf.model.outputs import SECRET_MARKER
from minaperf.model.stack_file import ROOT, UsageError, read_stack_input, validate
from minaperf.signals import on_stop_signals
from scripts.cli import OneLineParser, bad_input, stack_name
from scripts.gc_pause import cyclic_gc_paused

_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _ManifestDumper(_SafeDumper):
    """libyaml's dumper when PyYAML was built with it: writing hundreds of manifests stays quick.

    No anchors to look for: `_plain` builds every mapping and list of a manifest afresh, so
    none appears twice (PyYAML would write a repeated one as `&id001`/`*id001`)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# ---------------------------------------------------------------------------------------------
# Inputs (the stack file itself is read by minaperf/model/stack_file.py)

VM_SCRIPT_TYPES = {
    "gcp:compute/instance:Instance": "instance",
    "gcp:compute/instanceTemplate:InstanceTemplate": "instance-template",
}
"""GCE resources whose `startup-script` metadata the render writes out as a file."""


SHOWN_RUN = 12
"""A run of this many characters of a hidden value in a message counts as showing it (messages
cut a long value short, e.g. `'abc…'`)."""


def hide(message: str, hidden: Iterable[str]) -> str:
    """`message` without any value of `hidden`: each is replaced by [secret] (as typed, as
    Python quotes it, and as JSON decodes it); a message that still shows part of one loses its
    reason. A `--set-secret` value of the wrong type, or a `secure:` placeholder render invented,
    is never shown as the user's value."""
    forms: set[str] = set()
    for value in hidden:
        forms |= {value, repr(value)}
        with contextlib.suppress(ValueError, RecursionError):
            decoded = json.loads(value)
            if not isinstance(decoded, dict | list):
                forms |= {str(decoded), repr(decoded)}
    for form in sorted((form for form in forms if form.strip()), key=len, reverse=True):
        message = message.replace(form, SECRET_MARKER)
    values = [value for value in hidden if len(value) >= SHOWN_RUN]
    if any(
        value[start : start + SHOWN_RUN] in message
        for value in values
        for start in range(len(value) - SHOWN_RUN + 1)
    ):
        key = message.partition(": ")[0]
        return f"{key}: invalid value, not shown because it is a secret (check its type)"
    return message


# ---------------------------------------------------------------------------------------------
# Writing the artifacts


def _plain(value: Any, show_secrets: bool) -> Any:
    """Inputs as JSON: secrets masked (or shown), integral floats back to ints."""
    from scripts.engine import SECRET_SIG, SECRET_VALUE

    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            inner = _plain(value.get("value"), show_secrets=True)
            return inner if show_secrets else _masked(inner)
        return {str(k): _plain(v, show_secrets) for k, v in value.items() if k != "__provider"}
    if isinstance(value, list):
        return [_plain(v, show_secrets) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _masked(value: Any) -> Any:
    """A secret with its shape kept (map keys are not secret) and every leaf hidden."""
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return SECRET_MARKER


def _manifest(resource_type: str, inputs: dict[str, Any]) -> dict[str, Any]:
    _, group_version, kind = resource_type.split(":")
    group, _, version = group_version.rpartition("/")
    api_version = version if group in {"core", ""} else f"{group}/{version}"
    manifest: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    for key, value in inputs.items():
        if key not in {"apiVersion", "kind"}:
            manifest[key] = value
    return manifest


MARKER = ".mina-itn-render"
"""Written into every render directory: the only directories render replaces without --force."""


class _Writer:
    """Creates the files of one render; private (0600 files in 0700 directories) when the
    render holds secrets in clear."""

    def __init__(self, root: Path, *, private: bool) -> None:
        self.root = root
        self.private = private
        self.written: list[str] = []
        """Every file written, relative to `root` (the marker lists them)."""

    def directory(self, path: Path) -> None:
        missing = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            directory.mkdir(mode=0o700 if self.private else 0o777)

    def write(self, path: Path, text: str) -> None:
        self.directory(path.parent)
        mode = 0o600 if self.private else 0o666
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        self.written.append(path.relative_to(self.root).as_posix())


def resource_records(run: Any, *, show_secrets: bool) -> list[dict[str, Any]]:
    """The records of `resources.json`, sorted by URN; the summary and `--diff` read them too."""
    return [
        {
            "urn": resource.urn,
            "type": resource.type,
            "name": resource.name,
            "custom": resource.custom,
            "parent": resource.parent,
            "provider": resource.provider,
            "dependencies": resource.dependencies,
            "propertyDependencies": resource.property_dependencies,
            "options": resource.options,
            "inputs": _plain(resource.inputs, show_secrets),
        }
        for resource in sorted(run.resources, key=lambda resource: resource.urn)
    ]


def write_render(
    run: Any,
    out: Path,
    *,
    show_secrets: bool,
    mock_values: list[str] | None = None,
    records: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Write one program run into `out` (an existing, empty directory); the files written.

    Records are sorted by URN and every object by key, so two renders of the same config are
    byte-identical and can be diffed. `mock_values` lists the output paths the mock engine
    invented; it is written into `outputs.json` as `mockValues`. `records` are the run's
    `resource_records` with the same `show_secrets`, when the caller has them already.
    """
    writer = _Writer(out, private=show_secrets)
    resources = records if records is not None else resource_records(run, show_secrets=show_secrets)
    # A JSON list with one resource per line: valid JSON, diffable per resource, and written by
    # the C encoder (indented output is several times slower on large stacks).
    lines = ",\n".join(json.dumps(resource, sort_keys=True) for resource in resources)
    writer.write(out / "resources.json", f"[\n{lines}\n]\n")

    manifests = out / "manifests"
    files = out / "files"
    for resource in resources:
        inputs = resource["inputs"]
        if resource["type"].startswith("kubernetes:") and resource["custom"]:
            if resource["type"] == "pulumi:providers:kubernetes":
                continue
            manifest = _manifest(resource["type"], inputs)
            namespace = (manifest.get("metadata") or {}).get("namespace") or "_cluster"
            name = (manifest.get("metadata") or {}).get("name") or resource["name"]
            target = manifests / namespace / f"{manifest['kind'].lower()}-{name}.yaml"
            writer.write(target, yaml.dump(manifest, Dumper=_ManifestDumper, sort_keys=False))
            for field in ("data", "stringData"):
                for key, value in (inputs.get(field) or {}).items():
                    _write_file(writer, files / f"{manifest['kind'].lower()}-{name}" / key, value)
        elif resource["type"] in VM_SCRIPT_TYPES:
            script = (inputs.get("metadata") or {}).get("startup-script")
            if script is not None:
                folder = f"{VM_SCRIPT_TYPES[resource['type']]}-{resource['name']}"
                _write_file(writer, files / folder / "startup-script.sh", script)

    outputs = {
        key: (SECRET_MARKER if key in run.secret_outputs and not show_secrets else value)
        for key, value in sorted(run.outputs.items())
    }
    if mock_values is not None:
        outputs["mockValues"] = mock_values
    writer.write(
        out / "outputs.json", json.dumps(_plain(outputs, True), indent=2, sort_keys=True) + "\n"
    )
    return writer.written


def _write_file(writer: _Writer, path: Path, value: Any) -> None:
    writer.write(path, value if isinstance(value, str) else json.dumps(value, sort_keys=True))


# ---------------------------------------------------------------------------------------------
# Replacing the output directory


def _protected(out: Path) -> str | None:
    """Why `out` may never be replaced, even with --force (render replaces --out whole)."""
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    named = {
        Path("/"): "the root directory",
        cwd: "the working directory",
        Path.home().resolve(): "your home directory",
        ROOT: "this repository",
    }
    if resolved in named:
        return named[resolved]
    if resolved in cwd.parents or resolved in ROOT.parents:
        return "a parent of the working directory or of this repository"
    if (resolved / ".git").exists():
        return "a directory holding .git"
    return None


def _foreign_files(out: Path) -> list[str] | None:
    """Files in a render directory that the render did not write (its marker lists what it
    wrote); None when `out` holds no readable marker (not a render directory)."""
    try:
        marker = read_json_file(out / MARKER, limit=HAND_WRITTEN_LIMIT * 8, what="--out")
    except FileInputError:
        return None
    if not isinstance(marker, dict):
        return None
    written = marker.get("files")
    if not isinstance(written, list):
        return []  # a render from before the marker listed its files
    known = {MARKER, *map(str, written)}
    return sorted(
        name
        for path in out.rglob("*")
        if (name := path.relative_to(out).as_posix()) not in known
        and (path.is_symlink() or not path.is_dir())
    )


def _check_target(out: Path, *, force: bool) -> Path:
    """The directory to replace: `out`, or the render a symlink `out` points to. Replace only
    what render made (its marker, no file it did not write), an empty directory, or with
    --force; never the root, the working directory, $HOME, this repository or a git tree."""
    if not out.exists() and not out.is_symlink():
        return out
    if not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a directory; choose another --out")
    target = out.resolve() if out.is_symlink() else out
    if why := _protected(target):
        raise UsageError(f"--out: {out} is {why}; render replaces --out whole; choose a new one")
    if not any(target.iterdir()):
        return target
    foreign = _foreign_files(target)
    if foreign is None and not force:
        raise UsageError(
            f"--out: {out} exists and is not a render directory (no {MARKER} marker); "
            "choose another --out, or pass --force to replace it"
        )
    if foreign and not force:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise UsageError(
            f"--out: {out} holds files render did not write ({shown}); move them out, or pass "
            "--force to replace them too"
        )
    return target


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM that arrive inside are delivered when it ends. Python runs signal
    handlers in the main thread whichever thread the OS picks (the engine's gRPC threads
    included), so the handlers are swapped, not the thread's signal mask."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    try:
        with on_stop_signals(held.append):
            yield
    finally:
        if held:
            signal.raise_signal(held[0])


def _install(staging: Path, out: Path) -> None:
    """Swap the finished render in: the old directory moves aside, the new one takes its name,
    the old one is removed. Both renames stay within one parent directory, so `out` is never a
    partial render; if the second rename fails, the old render is put back. Ctrl-C and SIGTERM
    wait until the swap and the removal are done (neither old render beside `out` nor half)."""
    with _signals_held():
        if not out.exists() and not out.is_symlink():
            staging.rename(out)
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old = aside / "render"
        try:
            out.rename(old)
            try:
                staging.rename(out)
            except OSError:
                old.rename(out)
                raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)


def write_output_directory(
    run: Any,
    out: Path,
    *,
    show_secrets: bool,
    mock_values: list[str],
    stack: str,
    records: list[dict[str, Any]] | None = None,
) -> None:
    """Render beside `out` and swap it in; on any failure `out` is left as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging_parent = Path(tempfile.mkdtemp(prefix=f".{out.name}.render-", dir=out.parent))
    try:
        staging = staging_parent / "render"
        staging.mkdir(mode=0o700 if show_secrets else 0o777)
        written = write_render(
            run, staging, show_secrets=show_secrets, mock_values=mock_values, records=records
        )
        marker = {"writtenBy": "python -m scripts.render", "stack": stack, "files": written}
        _Writer(staging, private=show_secrets).write(
            staging / MARKER, json.dumps(marker, sort_keys=True) + "\n"
        )
        _install(staging, out)
    finally:
        shutil.rmtree(staging_parent, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Progress


class Progress:
    """Stage lines on stderr while the SDK loads and the program runs; only on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.started = time.monotonic()

    def stage(self, message: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"render [{elapsed:5.1f}s] {message}\n")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------
# Command line


def _read_old_render(directory: Path) -> list[dict[str, Any]]:
    path = directory / "resources.json"
    try:
        records = read_json_file(path, what="--diff")
    except MissingFileError:
        raise UsageError(f"--diff: {directory} has no resources.json (not a render)") from None
    except FileInputError as error:
        raise UsageError(str(error)) from None
    if not isinstance(records, list):
        raise UsageError(f"--diff: {path} is not a list of resource records")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not all(
            isinstance(record.get(key), str) for key in ("urn", "type", "name")
        ):
            raise UsageError(
                f"--diff: {path}: record {index} is not a resource record (urn, type and name "
                "as strings); pass a directory render wrote"
            )
        if not isinstance(record.get("inputs") or {}, dict):
            raise UsageError(f"--diff: {path}: record {index}: inputs is not an object")
    return records


def _secrets_from_environment(items: Iterable[str]) -> dict[str, str]:
    """`--set-secret KEY=ENV_VAR`: the value comes from the environment, never from argv."""
    secrets: dict[str, str] = {}
    for item in items:
        key, sep, variable = item.partition("=")
        if not sep or not key or not variable:
            raise UsageError(
                f"--set-secret {item!r}: use KEY=ENV_VAR, e.g. "
                "--set-secret keys.seed=MINA_KEY_SEED (the value never goes on the command line)"
            )
        if variable not in os.environ:
            raise UsageError(f"--set-secret {key}: environment variable {variable} is not set")
        secrets[key] = os.environ[variable]
    return secrets


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m scripts.render", description=(__doc__ or "").split("\n\n")[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", type=stack_name, help="read Pulumi.<STACK>.yaml")
    source.add_argument("--config", type=Path, help="read a stack config file (stacks/*.yaml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set nodes.plainNodes=20",
    )
    parser.add_argument(
        "--set-secret",
        action="append",
        default=[],
        metavar="KEY=ENV_VAR",
        help="set a secret config key from an environment variable, as "
        "`pulumi config set --secret` would (e.g. keys.seed=MINA_KEY_SEED)",
    )
    parser.add_argument("--out", type=Path, help="directory to write (required unless --diff)")
    parser.add_argument(
        "--force", action="store_true", help="replace --out even if render did not write it"
    )
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="write secret values in clear (files 0600 in 0700 directories)",
    )
    parser.add_argument(
        "--diff", type=Path, metavar="OLD_DIR", help="say what changed since the render in OLD_DIR"
    )
    parser.add_argument("--json", action="store_true", help="print the summary (and diff) as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    with cyclic_gc_paused():
        args = build_parser().parse_args(argv)
        try:
            return _render(args)
        except KeyboardInterrupt:
            print(
                "error: interrupted; --out holds the old render or the new one, never a part",
                file=sys.stderr,
            )
            return 130


def _render(args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr)
    hidden: list[str] = []
    try:
        if args.out is None and args.diff is None:
            raise UsageError("--out DIR is required (or --diff OLD_DIR to only compare)")
        progress.stage("reading the stack config")
        secrets = _secrets_from_environment(args.set_secret)
        hidden = list(secrets.values())
        stack_input = read_stack_input(
            stack=args.stack, config_file=args.config, overrides=args.set, secrets=secrets
        )
        hidden = stack_input.hidden_values
        config = validate(stack_input)
        if args.out is not None:
            args.out = _check_target(args.out, force=args.force)
        old_records = _read_old_render(args.diff) if args.diff is not None else None
    except ConfigError as error:
        return bad_input(hide(str(error), hidden), label="config error")
    except UsageError as error:
        return bad_input(hide(one_line(str(error)), hidden))
    for warning in stack_input.warnings:
        print(warning, file=sys.stderr)

    progress.stage("loading the Pulumi SDK and running the program under the mock engine")
    from scripts.engine import run_program

    try:
        run = run_program(stack_input.name, stack_input.config, stack_input.secret_keys)
    except Exception as error:
        message = str(error)
        if not message.startswith("config error: "):
            raise
        detail = one_line(message.removeprefix("config error: "))
        return bad_input(hide(detail, hidden), label="config error")
    mock_values = run.mock_values
    # Secrets masked: what the summary and --diff read, and what --out holds by default.
    records = resource_records(run, show_secrets=False)
    if args.out is not None:
        progress.stage(f"writing {args.out}")
        try:
            write_output_directory(
                run,
                args.out,
                show_secrets=args.show_secrets,
                mock_values=mock_values,
                stack=stack_input.name,
                records=None if args.show_secrets else records,
            )
        except OSError as error:
            return bad_input(f"--out: cannot write {args.out}: {error.strerror}")

    from minaperf.cloud.gcp_project import cost_or_reason
    from minaperf.plan.preview import docker_hub_warning, format_summary, summarize
    from minaperf.plan.render_diff import diff_records, format_diff

    outputs = _plain(run.outputs, show_secrets=False)
    summary = summarize(
        records,
        outputs,
        estimate=cost_or_reason(config),
        ttl_hours=config.metadata.ttl_hours,
        mock_values=mock_values,
    )
    try:
        diff = diff_records(old_records, records) if old_records is not None else None
    except RecursionError:
        return bad_input(f"--diff: {args.diff}: inputs nested too deeply to compare")
    pull_warning = docker_hub_warning(records)
    if pull_warning is not None:
        print(pull_warning, file=sys.stderr)
    progress.stage("done")
    if args.json:
        document = {**summary, "out": str(args.out) if args.out else None}
        if diff is not None:
            document["diff"] = diff
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return 0
    sys.stdout.write(format_summary(summary))
    if args.out is not None:
        sys.stdout.write(f"\nwritten to {args.out}\n")
    if diff is not None:
        sys.stdout.write(f"\nchanges since {args.diff}:\n" + format_diff(diff))
    return 0


def _exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: freeing the SDK's and providers'
    objects one by one takes about a second (as long as a large render's writing and summary
    together); the OS takes the memory back at once. Every file render wrote is closed by now;
    stdout and stderr are flushed here (a reader that went away misses nothing it asked for)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    # One render per process: the collector stays off past `main` and the process ends without
    # a teardown.
    gc.disable()
    _exit_now(main())
