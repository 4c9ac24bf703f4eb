"""An embedded local worker: started on loopback on first need, stopped when the program exits."""

from __future__ import annotations

import atexit
import importlib.util
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time

from gentf.errors import WorkerStartError

__all__ = ["embedded_worker", "stop_embedded_worker"]

_LOCK = threading.Lock()
_STATE: dict[str, object] = {}
START_TIMEOUT_SECONDS = 300.0


def embedded_worker() -> tuple[str, str]:
    """``("127.0.0.1:PORT", token)`` of this process's embedded worker, starting it if needed.

    The worker is this program's alone: it accepts only a random token it got from this
    process (in a file only this user can read), and it exits when this process ends,
    however it ends (its stdin is a pipe from here). Raises WorkerStartError when
    TensorFlow or the worker package is not installed here, or when the worker does not
    come up.
    """
    with _LOCK:
        proc = _STATE.get("proc")
        if isinstance(proc, subprocess.Popen) and proc.poll() is None:
            return str(_STATE["address"]), str(_STATE["token"])
        for module in ("gentf_server", "tensorflow"):
            if importlib.util.find_spec(module) is None:
                raise WorkerStartError(
                    "no worker address was given (tf.Session(address) or $GENTF_ADDRESS) and an "
                    f"embedded worker needs {module!r}, which is not installed here: "
                    "pip install 'gentf[server]', or start a worker elsewhere and set GENTF_ADDRESS")
        workdir = tempfile.mkdtemp(prefix="gentf-worker-")
        port_file = os.path.join(workdir, "port")
        token = secrets.token_urlsafe(32)
        token_file = os.path.join(workdir, "token")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        log_path = os.path.join(workdir, "worker.log")
        env = dict(os.environ, GENTF_EMBEDDED="1", TF_CPP_MIN_LOG_LEVEL="2")
        env.setdefault("MALLOC_MMAP_THRESHOLD_", "33554432")
        env.setdefault("MALLOC_TRIM_THRESHOLD_", "1073741824")
        log = open(log_path, "wb")  # noqa: SIM115 - the worker writes to it for its lifetime
        proc = subprocess.Popen(
            [sys.executable, "-m", "gentf_server", "--host", "127.0.0.1", "--port", "0",
             "--port-file", port_file, "--token-file", token_file, "--log-level", "WARNING",
             "--direct-port", "0"],  # its sessions call their process directly, as compose's
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not os.path.exists(port_file):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                with open(log_path, "rb") as f:
                    tail = f.read()[-2000:].decode(errors="replace")
                raise WorkerStartError(f"the embedded worker did not start; its log ends:\n{tail}")
            time.sleep(0.05)
        with open(port_file) as f:
            address = f"127.0.0.1:{int(f.read())}"
        _STATE.update(proc=proc, address=address, log=log, log_path=log_path, token=token)
        return address, token


def stop_embedded_worker() -> None:
    """Stops the embedded worker, if one runs (called at exit)."""
    with _LOCK:
        proc = _STATE.pop("proc", None)
        if isinstance(proc, subprocess.Popen) and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        log = _STATE.pop("log", None)
        if log is not None:
            log.close()  # type: ignore[attr-defined]


atexit.register(stop_embedded_worker)
