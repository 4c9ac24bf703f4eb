"""The worker's state directory (``--state-dir``), checked at start-up with no TensorFlow."""

from __future__ import annotations

import os
import tempfile

__all__ = ["check_state_dir"]


def check_state_dir(path: str) -> str:
    """Creates ``path`` if needed and proves it writable; returns it absolute. Raises
    OSError with a message naming the directory when it cannot be used."""
    path = os.path.abspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".gentf-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(f"--state-dir {path}: not a writable directory "
                      f"({exc.strerror or exc})") from None
    return path
