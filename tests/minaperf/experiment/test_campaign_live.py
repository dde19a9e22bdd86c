"""The campaign's live lines, on a terminal (as a screen shows them) and in a log."""

from __future__ import annotations

import io
import re

from minaperf.experiment.campaign_live import LiveLines, clock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    def screen(self) -> list[str]:
        """The lines a VT100 shows for what was written (a tty maps a newline to CR LF):
        `CR` goes to the line's start, `ESC[F` to the start of the line above, `ESC[2K` clears
        the line, text overwrites from the cursor on."""
        rows: list[str] = [""]
        row = col = 0
        for token in re.split(r"(\x1b\[F|\x1b\[2K|\n|\r)", self.getvalue()):
            if token == "\r":
                col = 0
            elif token == "\x1b[F":
                row, col = max(row - 1, 0), 0
            elif token == "\x1b[2K":
                rows[row] = ""
            elif token == "\n":
                row, col = row + 1, 0
                if row == len(rows):
                    rows.append("")
            else:
                line = rows[row].ljust(col)
                rows[row] = line[:col] + token + line[col + len(token) :]
                col += len(token)
        while rows and not rows[-1].strip():
            rows.pop()
        return rows


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_clock_reads_minutes_then_hours() -> None:
    assert [clock(s) for s in (0, 59.9, 61, 3599, 3600, 7322)] == [
        "0:00",
        "0:59",
        "1:01",
        "59:59",
        "1:00:00",
        "2:02:02",
    ]


def test_on_a_terminal_the_runs_under_way_are_redrawn_in_place() -> None:
    stream, now = Terminal(), Clock()
    live = LiveLines(stream, {"s-0-0": 600, "s-1-0": 900}, now=now)
    live.start("s-0-0")
    live.show("s-0-0", "up: running", "pid 41")
    live.start("s-1-0")
    live.show("s-1-0", "up: running")
    now.t += 75
    live.show("s-0-0", "up: wait", "pid 41")
    assert stream.screen() == [
        "[campaign] s-0-0: up: wait 1:15 of ~10:00 modelled",  # the pid is the campaign's own
        "[campaign] s-1-0: up: running 1:15 of ~15:00 modelled",
    ]
    now.t += 5
    live.tick()
    assert stream.screen()[1] == "[campaign] s-1-0: up: running 1:20 of ~15:00 modelled"
    # A finished run's last line and a notice stay above the board, which shrinks.
    live.show("s-0-0", "destroy: ok", last=True)
    live.note("interrupted: stopping every run, then destroying")
    live.show("s-1-0", "up: interrupted", "experiment up exited 130")
    assert stream.screen() == [
        "[campaign] s-0-0: destroy: ok 1:20 of ~10:00 modelled",
        "[campaign] interrupted: stopping every run, then destroying",
        "[campaign] s-1-0: up: interrupted (experiment up exited 130) 1:20 of ~15:00 modelled",
    ]
    live.show("s-1-0", "destroy: ok", last=True)
    assert len(stream.screen()) == 3  # no stale board line below


def test_off_a_terminal_each_change_is_one_line() -> None:
    stream, now = io.StringIO(), Clock()
    live = LiveLines(stream, {"s-0-0": 3700}, now=now)
    live.show("s-0-0", "up: running")  # not started here: no times
    live.start("s-0-0")
    now.t += 10
    live.show("s-0-0", "up: wait")
    live.tick()  # nothing to redraw in a log
    live.show("s-0-0", "destroy: ok", last=True)
    assert stream.getvalue().splitlines() == [
        "[campaign] s-0-0: up: running",
        "[campaign] s-0-0: up: wait 0:10 of ~1:01:40 modelled",
        "[campaign] s-0-0: destroy: ok 0:10 of ~1:01:40 modelled",
    ]
    assert "\x1b" not in stream.getvalue()


def test_a_transient_line_is_overwritten_then_cleared_on_a_terminal_only() -> None:
    stream = Terminal()
    live = LiveLines(stream, {})
    live.transient("modelling cell 1 of 20 …")
    assert stream.screen() == ["[campaign] modelling cell 1 of 20 …"]
    live.transient("modelling cell 2 of 20 …")
    assert stream.screen() == ["[campaign] modelling cell 2 of 20 …"]
    live.transient("")
    assert stream.screen() == []
    log = io.StringIO()
    LiveLines(log, {}).transient("modelling cell 1 of 20 …")
    assert log.getvalue() == ""
