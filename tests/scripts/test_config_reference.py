"""The config reference (docs/config.md) is generated from the model and must match it."""

from __future__ import annotations

from minaperf.model.config import ExperimentConfig
from scripts.config_reference import BEGIN, END, REFERENCE, render_reference


def reference_section(text: str) -> str:
    """The generated part of docs/config.md, between the markers `--write` keeps."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n") + "\n"


def test_reference_doc_matches_the_model() -> None:
    assert reference_section(REFERENCE.read_text()) == render_reference(), (
        "docs/config.md is out of date: run `python -m scripts.config_reference --write`"
    )


def test_reference_lists_every_top_level_section() -> None:
    reference = render_reference()
    for name, field in ExperimentConfig.model_fields.items():
        if name != "name":
            assert f"| `{field.alias or name}`" in reference
