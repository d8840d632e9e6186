"""One line of training progress: a bar redrawn in place on a terminal, about twenty plain
lines otherwise (logs and CI). Nothing is printed when the stream is None."""

from __future__ import annotations

import math
import time
from typing import TextIO

WIDTH = 24


class Progress:
    def __init__(self, total: int, stream: TextIO | None, label: str) -> None:
        self.total, self.stream, self.label = total, stream, label
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.every = max(1, total // 20)
        self.start = time.perf_counter()
        self.last_shown = -1

    def update(self, step: int, loss: float, validation: float = math.nan,
               force: bool = False, metric: tuple[str, float] | None = None) -> None:
        """Report that ``step`` (1-based) steps are done with training loss ``loss`` (and,
        when measured, the validation loss and one validation metric)."""
        if self.stream is None:
            return
        if not (self.tty or force or step % self.every == 0 or step == self.total):
            return
        if step == self.last_shown and not force:
            return
        self.last_shown = step
        done = int(WIDTH * step / max(1, self.total))
        bar = "#" * done + "." * (WIDTH - done)
        text = f"{self.label} [{bar}] {step}/{self.total} loss {loss:.3e}"
        if not math.isnan(validation):
            text += f" val {validation:.3e}"
        if metric is not None:
            text += f" {metric[0]} {metric[1]:.4g}"
        text += f" {time.perf_counter() - self.start:.1f}s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if step >= self.total or force else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def end(self) -> None:
        """End a bar a run left unfinished (an early stop), so later output starts a line."""
        if self.tty and self.stream is not None and 0 <= self.last_shown < self.total:
            self.stream.write("\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        if self.stream is not None:
            if self.tty:
                self.stream.write("\n")
            self.stream.write(text + "\n")
            self.stream.flush()
