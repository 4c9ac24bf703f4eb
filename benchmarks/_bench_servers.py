"""The anchor servers of ``bench_step.py``, each run in its own process, and a launcher.

Run as a program (``python benchmarks/_bench_servers.py KIND --port-file F ...``):

- ``echo``: a grpc.aio server with a generic handler on raw bytes. ``/bench.Echo/Echo``
  returns the request; ``/bench.Echo/Sized`` returns a reply of the length given by the
  request's first 8 bytes (little-endian), so a call can carry a step's request bytes out
  and its reply bytes back.
- ``tfserver``: ``tf.distribute.Server.create_local_server()``, TensorFlow's own remote
  session target; writes its port.
- ``proxy``: an asyncio TCP proxy to ``--upstream HOST:PORT`` that delays every chunk by
  ``--delay-ms`` in each direction, keeping order.

Every server exits when its standard input closes (its launcher went away).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["ECHO_METHOD", "SIZED_METHOD", "Launched", "anchor_argv", "launch", "sized_request"]

ECHO_METHOD = "/bench.Echo/Echo"
SIZED_METHOD = "/bench.Echo/Sized"
_MAX_MESSAGE = 1 << 30


def sized_request(request_bytes: int, reply_bytes: int) -> bytes:
    """A ``Sized`` request of exactly ``request_bytes`` (at least 8) asking for ``reply_bytes``."""
    return reply_bytes.to_bytes(8, "little") + bytes(max(request_bytes - 8, 0))


def _exit_when_stdin_closes() -> None:
    def watch() -> None:
        try:
            while sys.stdin.buffer.read(1):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _write_port(path: str, port: int) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, path)


async def _serve_echo(port_file: str) -> None:
    import grpc

    replies: dict[int, bytes] = {}

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    async def sized(request: bytes, context: Any) -> bytes:
        n = int.from_bytes(request[:8], "little")
        reply = replies.get(n)
        if reply is None:
            reply = replies[n] = bytes(n)
        return reply

    server = grpc.aio.server(options=[("grpc.max_send_message_length", _MAX_MESSAGE),
                                      ("grpc.max_receive_message_length", _MAX_MESSAGE)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("bench.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Sized": grpc.unary_unary_rpc_method_handler(sized)})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    _write_port(port_file, port)
    await server.wait_for_termination()


def _serve_tf(port_file: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    server = tf.distribute.Server.create_local_server()
    _write_port(port_file, int(server.target.rsplit(":", 1)[1]))
    server.join()


async def _serve_proxy(port_file: str, upstream: str, delay_s: float) -> None:
    host, port = upstream.rsplit(":", 1)

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            loop = asyncio.get_running_loop()
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        task = asyncio.ensure_future(deliver())
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await reader.read(1 << 20)
                queue.put_nowait((loop.time() + delay_s, data))
                if not data:
                    break
        except (ConnectionError, OSError):
            queue.put_nowait((0.0, b""))
        try:
            await task
        except (ConnectionError, OSError):
            pass

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        for w in (writer, up_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer),
                             return_exceptions=True)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    _write_port(port_file, server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


class Launched:
    """A server process started by :func:`launch`: its ``port``, ``address`` and ``log`` path.

    ``close()`` terminates it and waits for it.
    """

    def __init__(self, name: str, proc: subprocess.Popen[bytes], port_file: str, log: str) -> None:
        self.name, self.proc, self.port_file, self.log = name, proc, port_file, log
        self.port = 0

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def wait(self, timeout: float = 180.0) -> Launched:
        """Waits until the server wrote its port file; raises RuntimeError if it died or timed out."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                with open(self.log, errors="replace") as f:
                    tail = f.read()[-2000:]
                raise RuntimeError(f"{self.name} did not start (exit {self.proc.poll()}):\n{tail}")
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.port = int(f.read())
        return self

    def close(self) -> None:
        """Terminates the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()


def launch(name: str, argv: Sequence[str], workdir: str, port_file_flag: str = "--port-file"
           ) -> Launched:
    """Starts ``python argv... PORT_FILE_FLAG FILE`` in a new process (not waiting for it).

    Its output goes to ``workdir/NAME.log``; its standard input is a pipe whose closing tells
    the anchor servers of this module to exit.
    """
    port_file = os.path.join(workdir, f"{name}.port")
    log = os.path.join(workdir, f"{name}.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, *argv, port_file_flag, port_file],
                                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
    return Launched(name, proc, port_file, log)


def anchor_argv(kind: str, *extra: str) -> list[str]:
    """The argv (after the interpreter) that runs this module as anchor server ``kind``."""
    return [os.path.abspath(__file__), kind, *extra]


def main(argv: Sequence[str] | None = None) -> None:
    """Runs one anchor server until killed or until standard input closes."""
    p = argparse.ArgumentParser(description="bench_step.py's anchor servers")
    p.add_argument("kind", choices=["echo", "tfserver", "proxy"])
    p.add_argument("--port-file", required=True)
    p.add_argument("--upstream", default=None, help="proxy: HOST:PORT to forward to")
    p.add_argument("--delay-ms", type=float, default=5.0, help="proxy: delay each way, ms")
    args = p.parse_args(argv)
    _exit_when_stdin_closes()
    if args.kind == "echo":
        asyncio.run(_serve_echo(args.port_file))
    elif args.kind == "tfserver":
        _serve_tf(args.port_file)
    else:
        if not args.upstream:
            p.error("proxy needs --upstream")
        asyncio.run(_serve_proxy(args.port_file, args.upstream, args.delay_ms / 1e3))


if __name__ == "__main__":
    main()

