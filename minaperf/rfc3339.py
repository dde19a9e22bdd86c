"""RFC 3339 times: the one home of the form the program writes and of the two ways it reads one.

Written: UTC with `Z`, second precision (`2030-01-01T00:00:00Z`), microseconds in run records.
Read: `parse` as Go's `time.RFC3339` accepts (a date, `T`, a time, a zone, up to 9 fractional
digits, cut to Python's 6), raising; `read` the same but also without a zone (a naive result)
and None for anything else. Standard library only; tests/test_one_home.py fails on a format or
parser spelled anywhere else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

UTC_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
UTC_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"
EXAMPLE = "2025-01-01T12:00:00Z"

_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<clock>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d{1,9})?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})?"
)


def format_utc(moment: datetime, *, micros: bool = False) -> str:
    """`moment` in UTC with `Z`; a naive moment is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(UTC_MICROS if micros else UTC_SECONDS)


def parse_utc(text: str) -> datetime:
    """Exactly what `format_utc` writes at second precision, as an aware UTC datetime;
    ValueError naming `text` for anything else."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", text):
        raise ValueError(f"{text!r} is not an RFC 3339 UTC time like {EXAMPLE}")
    try:
        return datetime.strptime(text, UTC_SECONDS).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time: invalid date or time") from None


def parse(text: str) -> datetime:
    """An RFC 3339 time with its zone, as an aware datetime; ValueError naming `text` when it
    is not one (no zone included)."""
    match = _TIME.fullmatch(text.strip())
    if not match or not match["zone"]:
        raise ValueError(f"{text!r} is not an RFC 3339 time with a zone, like {EXAMPLE}")
    moment = _moment(match)
    if moment is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time: invalid date or time")
    return moment


def read(value: object) -> datetime | None:
    """An RFC 3339 time as Go or the runner writes it, naive when it has no zone; None when
    `value` is not one."""
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    return _moment(match) if match else None


def read_zoned(value: object) -> datetime | None:
    """`read`, but a time without a zone is none: which instant it means is unknown."""
    moment = read(value)
    return moment if moment is not None and moment.tzinfo is not None else None


def _moment(match: re.Match[str]) -> datetime | None:
    zone = {"Z": "+00:00", "z": "+00:00"}.get(match["zone"], match["zone"] or "")
    text = f"{match['date']}T{match['clock']}{(match['fraction'] or '')[:7]}{zone}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
