"""The one way a user's file is read: regular files only, size-capped, errors as one line.

A FIFO given as a file would block the reader forever and `/dev/zero` would fill memory, so
`read_regular_file` opens without blocking (`O_NONBLOCK`: a FIFO with no writer opens at once),
asks the descriptor what it is (`fstat`, no race with a rename) and reads at most `limit` bytes.
Every error is a `FileInputError` (a ValueError) whose message names the input (`what`, e.g.
`--outputs`), the path and the fix.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import Any

HAND_WRITTEN_LIMIT = 8 << 20
"""Stack files, scripts, key files: written by hand, a few KiB; 8 MiB is far beyond any."""
MACHINE_WRITTEN_LIMIT = 512 << 20
"""Outputs, `resources.json`, run logs: written by tools; a 200-node render is a few MiB."""

_INT_DIGITS = sys.get_int_max_str_digits() or 4300


class FileInputError(ValueError):
    """A user's file that cannot be used: `what: reason`, one line naming the file and the fix."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


class MissingFileError(FileInputError):
    """The path does not exist (callers that expect a file to be absent tell it apart)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def read_regular_file(path: str | os.PathLike[str], *, limit: int, what: str) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed), at most `limit` of them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise MissingFileError(what, f"{path} does not exist") from None
    except OSError as error:
        raise FileInputError(what, f"cannot read {path}: {error.strerror or error}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileInputError(what, f"{path} is {_kind(mode)}; pass a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileInputError(
                    what, f"{path} is larger than {_size(limit)}; not the file expected"
                )
        return b"".join(chunks)
    except OSError as error:
        raise FileInputError(what, f"cannot read {path}: {error.strerror or error}") from None
    finally:
        os.close(fd)


def read_text_file(
    path: str | os.PathLike[str], *, limit: int = HAND_WRITTEN_LIMIT, what: str
) -> str:
    """A regular UTF-8 text file, size-capped."""
    return decode_text(read_regular_file(path, limit=limit, what=what), path=path, what=what)


def read_json_file(
    path: str | os.PathLike[str], *, limit: int = MACHINE_WRITTEN_LIMIT, what: str
) -> Any:
    """A regular UTF-8 JSON file, size-capped, as Python values."""
    return parse_json_text(read_text_file(path, limit=limit, what=what), path=path, what=what)


def decode_text(data: bytes, *, path: str | os.PathLike[str], what: str) -> str:
    """`data` as UTF-8, or a FileInputError naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileInputError(
            what, f"{path} is not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from None


def parse_json_text(text: str, *, path: str | os.PathLike[str], what: str) -> Any:
    """JSON as Python's decoder reads it; too deep, too long an integer, or malformed JSON
    is one FileInputError line."""
    try:
        return json.loads(text)
    except RecursionError:
        raise FileInputError(
            what, f"{path}: JSON nested too deeply; not the file expected"
        ) from None
    except json.JSONDecodeError as error:
        raise FileInputError(what, f"{path} is not valid JSON ({error})") from None
    except ValueError:  # int() past the interpreter's digit limit
        raise FileInputError(
            what, f"{path}: a number has more than {_INT_DIGITS} digits; not the file expected"
        ) from None
