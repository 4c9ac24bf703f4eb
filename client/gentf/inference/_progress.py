"""Progress bars for long inference and learning loops, drawn by ``tqdm``.

Every loop that takes a ``progress`` flag draws one bar on stderr while it runs (tqdm's
defaults: redrawn at most ten times a second, elapsed and remaining time, rate); with the
flag off no bar is created and nothing is written.
"""

from __future__ import annotations

from typing import Any, TextIO

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(total: int, desc: str, enabled: bool, file: TextIO | None = None) -> Any:
    """``bar = progress_bar(total, desc, enabled)``: a ``tqdm`` bar of ``total`` steps.

    Use ``bar.update(n)``, ``bar.set_postfix_str(note)`` and ``bar.close()`` (or ``with``).
    ``enabled=False`` gives a disabled bar whose methods do nothing. ``file``: where to
    draw (default stderr).
    """
    return tqdm(total=total, desc=desc, disable=not enabled, file=file, leave=True,
                dynamic_ncols=True)
