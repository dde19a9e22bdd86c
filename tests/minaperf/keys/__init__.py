"""Tests of minaperf.keys; shared paths to the upstream vectors, and reading a libp2p key file."""

from pathlib import Path

from minaperf.keys import libp2p, secret_box

VECTORS = Path(__file__).resolve().parents[2] / "data" / "vectors" / "minimina-large"
VECTOR_PASSWORD = "naughty blue worm"


def read_key_file(text: str | bytes, password: str | bytes) -> libp2p.Libp2pKeypair:
    """A libp2p key file as the daemon reads it: a secret box holding the UTF-8 triple."""
    return libp2p.parse_triple(secret_box.decrypt(text, password).decode("utf-8"))
