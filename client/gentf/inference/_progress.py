"""A one-line text progress bar on stderr (no dependencies)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``bar = ProgressBar(total, label)``; ``bar.update(done, note)``; ``bar.close()``.

    Redraws at most ten times a second; does nothing when ``enabled`` is False.
    """

    def __init__(self, total: int, label: str, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        """Redraws the bar with ``done`` of ``total`` steps finished."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        width = 30
        filled = int(width * done / self.total)
        elapsed = now - self.start
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"{elapsed:6.1f}s {note}"
        )
        self.stream.flush()

    def close(self) -> None:
        """Ends the line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
