"""ITN keys and Authorization headers against the fetcher's published vectors."""

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf.keys import itn
from minaperf.keys.itn import ItnAuthError, ItnKey

SECRET = "SzhpFfwa6RMFQTLLTyoriUJrUXYY9kyYxbNu5DsCm1k="
PUBLIC = "BaG9HYTNxkqyX7haFnz/HXL9FhYwS4gdQ7uYWiStgoY="
UUID = "24511be6-320d-4ef2-8dff-89916bcb6751"
SIGN_EXAMPLE_DATA = (
    "FHec0MaPCe+qgApNyfTDVqldb/3D2Ri2iAJ+rjLtWTgJN9jDRgUD3z/bXE0HnBiMIjVXT+05cAgijA+GnrwcBA=="
)
BASIC_HEADER = (
    f"Signature {PUBLIC} "
    "7a6Wx4HQ5h0JJKjJWh3zXxLAa7qql+UXAuyqbQh+XW5C/IcmRchtp/SjBPvhOQmtlYNJGjvCrbBWO0SqlrVcDQ=="
)
SEQUENCED_HEADER = (
    f"Signature {PUBLIC} "
    "LSy0n5XkS2wuTWuVQbFFs+H7gmR+BIE/bqlwFGVcFv0awYMXl48vuAfvYEqqnpAVSNXt8YH6n0YNew4i0pYUBg=="
    f" ; Sequencing {UUID} 1"
)


@pytest.fixture
def key() -> ItnKey:
    return ItnKey.from_secret_b64(SECRET)


def test_public_key_vector(key: ItnKey) -> None:
    assert key.public_b64 == PUBLIC
    assert key.secret_b64 == SECRET


def test_seed_issue_pair() -> None:
    key = ItnKey.from_secret_b64("2Dtcua6w9g8JZczc/D6laz6Yn1ZP7DVGCmHfFDxGupY=\n")
    assert key.public_b64 == "gSsHGULVizunF+UC6z2p9/rJwLSwb4Y/wHYreSHUY+I="


def test_sign_vector(key: ItnKey) -> None:
    assert key.sign(b"example data") == SIGN_EXAMPLE_DATA


def test_basic_header_vector(key: ItnKey) -> None:
    assert key.authorization_header(b"example body") == BASIC_HEADER
    verified = itn.verify_authorization(BASIC_HEADER, b"example body", [PUBLIC])
    assert verified == itn.VerifiedAuth(public_key=PUBLIC)


def test_sequenced_header_vector(key: ItnKey) -> None:
    assert key.sequenced_authorization_header(b"example body", UUID, 1) == SEQUENCED_HEADER
    verified = itn.verify_authorization(SEQUENCED_HEADER, b"example body", {PUBLIC})
    assert verified == itn.VerifiedAuth(public_key=PUBLIC, server_uuid=UUID, seqno=1)


@pytest.mark.parametrize(
    ("header", "body", "allowed", "message"),
    [
        (BASIC_HEADER, b"example body!", [PUBLIC], "does not verify"),
        (BASIC_HEADER, b"example body", ["gSsHGULVizunF+UC6z2p9/rJwLSwb4Y/wHYreSHUY+I="], "not in"),
        (SEQUENCED_HEADER, b"example body", [], "not in"),
        (SEQUENCED_HEADER.replace(f"{UUID} 1", f"{UUID} 2"), b"example body", [PUBLIC], "verify"),
        (SEQUENCED_HEADER.replace(UUID, UUID.upper()), b"example body", [PUBLIC], "verify"),
        (SEQUENCED_HEADER.replace(" ; Sequencing", ""), b"example body", [PUBLIC], "must be"),
        (SEQUENCED_HEADER.replace(f"{UUID} 1", f"{UUID} x"), b"example body", [PUBLIC], "Seq"),
        (
            SEQUENCED_HEADER.replace(f"{UUID} 1", f"{UUID} 70000"),
            b"example body",
            [PUBLIC],
            "uint16",
        ),
        (BASIC_HEADER.split(" ", 1)[1], b"example body", [PUBLIC], "must be"),
        (BASIC_HEADER.replace("Signature ", "Bearer "), b"example body", [PUBLIC], "must be"),
        (f"Signature {PUBLIC} notbase64!", b"example body", [PUBLIC], "not base64"),
        (f"Signature {PUBLIC} {base64.b64encode(bytes(10)).decode()}", b"", [PUBLIC], "64 bytes"),
        (f"Signature AAAA {base64.b64encode(bytes(64)).decode()}", b"", ["AAAA"], "32 bytes"),
    ],
)
def test_rejections(header: str, body: bytes, allowed: list[str], message: str) -> None:
    with pytest.raises(ItnAuthError, match=message):
        itn.verify_authorization(header, body, allowed)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    body=st.binary(max_size=200),
    seqno=st.integers(0, 0xFFFF),
    uuid=st.uuids().map(str),
)
def test_sign_verify_round_trip(seed: bytes, body: bytes, seqno: int, uuid: str) -> None:
    key = ItnKey(seed)
    plain = itn.verify_authorization(key.authorization_header(body), body, [key.public_b64])
    assert plain.public_key == key.public_b64
    assert plain.seqno is None
    header = key.sequenced_authorization_header(body, uuid, seqno)
    verified = itn.verify_authorization(header, body, [key.public_b64])
    assert (verified.server_uuid, verified.seqno) == (uuid, seqno)
    # A plain signature over the same body must not pass as a sequenced one.
    forged = f"{key.authorization_header(body)} ; Sequencing {uuid} {seqno}"
    with pytest.raises(ItnAuthError):
        itn.verify_authorization(forged, body, [key.public_b64])


def test_seqno_out_of_range(key: ItnKey) -> None:
    with pytest.raises(ValueError, match="uint16"):
        key.sequenced_authorization_header(b"", UUID, 65536)


def test_bad_seed() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        ItnKey.from_secret_b64(base64.b64encode(bytes(31)).decode())
    with pytest.raises(ValueError, match="base64"):
        ItnKey.from_secret_b64("not base64!")


def test_repr_hides_seed(key: ItnKey) -> None:
    assert SECRET not in repr(key)
    assert repr(key.seed) not in repr(key)
