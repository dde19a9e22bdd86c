"""Tests of minaperf.keys; shared paths to the upstream vectors."""

from pathlib import Path

VECTORS = Path(__file__).resolve().parents[2] / "data" / "vectors" / "minimina-large"
VECTOR_PASSWORD = "naughty blue worm"
