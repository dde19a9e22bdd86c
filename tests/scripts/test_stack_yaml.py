"""Stack files read as Pulumi reads them (go-yaml v3), forms read otherwise refused, aliases
bounded. Facts: go-yaml/yaml@0d383ff resolve.go (booleans :37-38, null :39, resolve()'s
'D'/'S' branch: '_' dropped, strconv.ParseInt base 0, so 012 is octal; no base 60)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from minaperf.model.stack_file import StackYamlError, load_yaml
from scripts import render


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("FALSE", False),
        ("~", None),
        ("Null", None),
        ("0o12", 10),
        ("0x1F", 31),
        ("-0x1F", -31),
        ("1e9", 1e9),
        ("1.", 1.0),
        ("-.Inf", float("-inf")),
        ("18446744073709551615", (1 << 64) - 1),
        ("'1:30'", "1:30"),
        ("'yes'", "yes"),
        ("1_a", "1_a"),
        ("=", "="),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_plain_scalars_as_go_yaml_v3_reads_them(text: str, value: object) -> None:
    assert load_yaml(f"k: {text}") == {"k": value}


@pytest.mark.parametrize(
    ("text", "pulumi_reads"),
    [
        ("1:30", "reads 1:30 as the string '1:30', YAML 1.1 as a base-60 number"),
        ("yes", "reads yes as the string 'yes', YAML 1.1 as a boolean"),
        ("Off", "reads Off as the string 'Off', YAML 1.1 as a boolean"),
        ("1_0", "reads 1_0 as a number with the '_' dropped, YAML 1.2 as a string"),
        ("012", "reads 012 by its leading zero (as octal"),
        ("09", "reads 09 by its leading zero"),
        ("0b101", "reads 0b101 as a binary number"),
        ("!!int 012", "reads 012 by its leading zero"),
        ("!!bool on", "reads on as the string 'on'"),
        ("1e999", "1e999 is beyond a float; Pulumi (go-yaml v3) reads it as a string"),
        ("9" * 30, "does not fit in 64 bits"),
        ("9" * 5000, "does not fit in 64 bits"),
        ("!!binary aGk=", "the tag tag:yaml.org,2002:binary holds no value"),
        ("!!int abc", "'abc' is not a !!int as Pulumi reads one"),
    ],
)
def test_forms_readers_disagree_on_are_refused_saying_how_pulumi_reads_them(
    text: str, pulumi_reads: str
) -> None:
    with pytest.raises(StackYamlError, match=r"^line 2: ") as caught:
        load_yaml(f"a: 1\nk: {text}\n")
    assert pulumi_reads in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def _laughs(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(StackYamlError, match=r"aliases \(\*name\) expand it to \d+ values from"):
        load_yaml(_laughs(9))
    assert time.monotonic() - started < 2


def test_an_alias_that_holds_itself_is_refused() -> None:
    with pytest.raises(StackYamlError, match="an alias refers to itself"):
        load_yaml("a: &a [1, *a]\n")


def test_a_few_aliases_are_read() -> None:
    shared = {"cpu": "1"}
    assert load_yaml("a: &r {cpu: '1'}\nb: *r\nc: *r\n") == {"a": shared, "b": shared, "c": shared}


@pytest.mark.parametrize(
    "argv_tail",
    [
        ["--set", "metadata.ttlHours=1:30"],
        ["--set", "network.spot=yes"],
        ["--set", "nodes.plainNodes=1_0"],
        ["--set", "metadata.ttlHours=012"],
        ["--set", "metadata.owner=!!binary aGk="],
    ],
)
def test_render_refuses_them_on_the_command_line_in_one_line(
    capsys: pytest.CaptureFixture[str], argv_tail: list[str]
) -> None:
    assert render.main(["--stack", "dev", *argv_tail, "--out", "never"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --set {argv_tail[1].split('=')[0]}: ")
    assert len(err.splitlines()) == 1
    assert "Pulumi" in err


@pytest.mark.parametrize("command", ["render", "pin", "preflight"])
def test_every_reader_of_stack_files_bounds_aliases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from scripts import pin, preflight

    path = tmp_path / "Pulumi.bomb.yaml"
    path.write_text(
        "config:\n  mina-itn:x:\n" + "".join(f"    {line}\n" for line in _laughs(9).splitlines())
    )
    main = {"render": render.main, "pin": pin.main, "preflight": preflight.main}[command]
    argv = ["--config", str(path), *(["--out", str(tmp_path / "o")] if command == "render" else [])]
    started = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ")
    assert "aliases" in err
    assert len(err.splitlines()) == 1
