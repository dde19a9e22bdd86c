"""The one RFC 3339 helper: what the program writes reads back, Go's forms read, bad input fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from minaperf import rfc3339

PLUS_TWO = timezone(timedelta(hours=2))


def test_the_written_form_reads_back() -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rfc3339.format_utc(moment) == "2030-01-02T03:04:05Z"
    assert rfc3339.parse_utc(rfc3339.format_utc(moment)) == moment
    assert rfc3339.format_utc(moment.astimezone(PLUS_TWO)) == "2030-01-02T03:04:05Z"
    assert rfc3339.format_utc(moment.replace(tzinfo=None)) == "2030-01-02T03:04:05Z"
    assert rfc3339.format_utc(moment, micros=True) == "2030-01-02T03:04:05.000000Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2030-1-2T03:04:05Z", "not an RFC 3339 UTC time"),
        ("2030-01-02T03:04:05+00:00", "not an RFC 3339 UTC time"),
        ("2030-02-30T03:04:05Z", "invalid date or time"),
    ],
)
def test_parse_utc_takes_only_the_written_form(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rfc3339.parse_utc(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02t03:04:05z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T05:04:05+02:00", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05.123456789Z", datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ],
)
def test_parse_reads_what_go_writes(text: str, expected: datetime) -> None:
    assert rfc3339.parse(text) == expected
    assert rfc3339.read(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2030-01-02T03:04:05", "with a zone"),
        ("2030-01-02", "with a zone"),
        ("2030-01-02 03:04:05Z", "with a zone"),
        ("2030-13-02T03:04:05Z", "invalid date or time"),
    ],
)
def test_parse_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rfc3339.parse(text)


def test_read_is_lenient_about_the_zone_only() -> None:
    assert rfc3339.read("2030-01-02T03:04:05.5") == datetime(2030, 1, 2, 3, 4, 5, 500000)
    assert rfc3339.read_zoned("2030-01-02T03:04:05.5") is None
    assert rfc3339.read_zoned("2030-01-02T03:04:05Z") == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    for value in ("yesterday", "2030-13-02T03:04:05Z", "", None, 20300102):
        assert rfc3339.read(value) is None
