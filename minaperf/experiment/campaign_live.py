"""The campaign's live lines: where each run is, how long it has taken, what the plan modelled.

On a terminal the lines of the runs under way are redrawn in place every second (a finished run's
last line and any notice scroll above them); elsewhere (a log, CI) each change is one line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO

PREFIX = "[campaign]"
UP_LINE = "\x1b[F"
CLEAR_LINE = "\x1b[2K"


def clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    whole = int(max(seconds, 0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LiveLines:
    """One line per run: `[campaign] STACK: PHASE (DETAIL) ELAPSED of ~MODELLED modelled`."""

    def __init__(
        self,
        stream: TextIO,
        modelled: dict[str, float],
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.modelled = modelled  # stack → the plan's seconds (up + script)
        self.now = now
        self.terminal = stream.isatty()
        self.lock = threading.RLock()  # a signal handler may write while its thread draws
        self.started: dict[str, float] = {}
        self.lines: dict[str, tuple[str, str]] = {}  # the runs under way: stack → (phase, detail)
        self.drawn = 0  # lines of the board now on the terminal

    def start(self, stack: str) -> None:
        """The run's clock starts (each attempt, each resumed run, anew)."""
        with self.lock:
            self.started[stack] = self.now()

    def line(self, stack: str, phase: str, detail: str) -> str:
        shown = f" ({detail})" if detail and not detail.startswith("pid ") else ""
        timing = ""
        if stack in self.started:
            timing = f" {clock(self.now() - self.started[stack])}"
            if stack in self.modelled:
                timing += f" of ~{clock(self.modelled[stack])} modelled"
        return f"{PREFIX} {stack}: {phase}{shown}{timing}"

    def show(self, stack: str, phase: str, detail: str = "", *, last: bool = False) -> None:
        """The run's new phase; `last` when the run is done here (its line stays put)."""
        with self.lock:
            if not self.terminal:
                self._write(self.line(stack, phase, detail))
                return
            if last:
                self.lines.pop(stack, None)
                self._scroll(self.line(stack, phase, detail))
            else:
                self.lines[stack] = (phase, detail)
                self._redraw()

    def note(self, text: str) -> None:
        """A notice for the whole campaign (above the board on a terminal)."""
        with self.lock:
            if self.terminal:
                self._scroll(f"{PREFIX} {text}")
            else:
                self._write(f"{PREFIX} {text}")

    def transient(self, text: str) -> None:
        """On a terminal, `text` on a line the next call overwrites (`""` clears it); nothing
        elsewhere. For a wait before any run starts (the plan's modelling)."""
        if self.terminal:
            with self.lock:
                self.stream.write("\r" + CLEAR_LINE + (f"{PREFIX} {text}" if text else ""))
                self.stream.flush()

    def tick(self) -> None:
        """Redraw the board (the elapsed times move on); nothing off a terminal."""
        if self.terminal:
            with self.lock:
                self._redraw()

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _scroll(self, text: str) -> None:
        """`text` where the board was, for good; the board again below it."""
        erase = UP_LINE * self.drawn + (CLEAR_LINE + "\n") * self.drawn + UP_LINE * self.drawn
        self.stream.write(erase + CLEAR_LINE + text + "\n")
        self.drawn = 0
        self._redraw()

    def _redraw(self) -> None:
        text = UP_LINE * self.drawn
        for stack, (phase, detail) in self.lines.items():
            text += CLEAR_LINE + self.line(stack, phase, detail) + "\n"
        if self.drawn > len(self.lines):  # lines left over from a taller board
            extra = self.drawn - len(self.lines)
            text += (CLEAR_LINE + "\n") * extra + UP_LINE * extra
        self.drawn = len(self.lines)
        self.stream.write(text)
        self.stream.flush()
