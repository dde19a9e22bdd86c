"""Property tests for the pin tool's pure parts: image references pin to what the config accepts,
and stack-file edits set exactly the keys asked for, keeping every comment. Derandomised."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from minaperf.cloud.oci import parse_image
from minaperf.model.config import Image
from minaperf.model.stack_file import load_yaml
from scripts.stack_edit import EditError, set_values

PROPERTY = settings(max_examples=60, derandomize=True, deadline=None)
_WORD = st.from_regex(r"[a-z0-9]{1,6}(?:[._-][a-z0-9]{1,4})?", fullmatch=True)
_DOMAIN = st.sampled_from(
    ["", "docker.io/", "gcr.io/", "ghcr.io/", "us-docker.pkg.dev/", "localhost:5000/"]
)
_TAG = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_DIGEST = st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True)
_IMAGE = TypeAdapter(Image)


@PROPERTY
@given(_DOMAIN, st.lists(_WORD, min_size=1, max_size=3), _TAG, _DIGEST)
def test_a_pinned_reference_keeps_name_and_tag(domain, parts, tag, digest) -> None:
    text = f"{domain}{'/'.join(parts)}:{tag}"
    try:
        _IMAGE.validate_python(text)
    except ValidationError:
        return  # not an image the config takes (e.g. the mutable tag `latest`)
    ref = parse_image(text)
    pinned = ref.pinned(digest)
    assert pinned == f"{text}@{digest}"
    assert _IMAGE.validate_python(pinned) == pinned
    again = parse_image(pinned)
    assert (again.api_host, again.remote, again.tag, again.digest) == (
        ref.api_host,
        ref.remote,
        tag,
        digest,
    )


_KEY = st.sampled_from(["daemon", "orchestrator", "postgres", "busybox", "x-y", "a.b"])
_VALUE = st.sampled_from(["plain", "'quoted'", '"double"', "12", "true", "'a: b'"])


@st.composite
def stack_files(draw) -> str:
    """A stack file in the layouts `pulumi config set` and people write: block mappings,
    comments between and after entries, quoted and plain values."""
    lines = ["# header comment", "config:"]
    for section in draw(st.lists(_KEY, min_size=1, max_size=3, unique=True)):
        lines.append(f"  mina-itn:{section}:")
        for key in draw(st.lists(_KEY, min_size=1, max_size=3, unique=True)):
            if draw(st.booleans()):
                lines.append(f"    # about {key}")
            lines.append(f"    {key}: {draw(_VALUE)}")
    lines.append("  # trailing comment")
    return "\n".join(lines) + ("\n" if draw(st.booleans()) else "")


@PROPERTY
@given(stack_files(), _KEY, _KEY, st.sampled_from(["v@sha256:" + "a" * 64, "it's", "0777"]))
def test_set_values_sets_exactly_the_key_and_keeps_comments(text, section, key, value) -> None:
    path = ("config", f"mina-itn:{section}", key)
    try:
        edited = set_values(text, {path: value})
    except EditError as error:  # refusing is allowed; a wrong edit is not
        pytest.fail(f"refused a plain block layout: {error}")
    expected = load_yaml(text)
    expected["config"].setdefault(f"mina-itn:{section}", {})[key] = value
    assert load_yaml(edited) == expected
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in edited.splitlines() if line.lstrip().startswith("#")] == comments
