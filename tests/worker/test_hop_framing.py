"""The unary hop between the front door and a session process sends each side's frames in
one system call when it can, and still delivers every byte in order when the socket takes
only part of them (real Unix socket pairs with small buffers, no TensorFlow)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

from gentf_server.supervisor.process import _recv_exactly, _send_all
from gentf_server.supervisor.protocol import send_frames


def _small_pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return a, b


def _read_all(sock: socket.socket, n: int, out: list[bytes]) -> None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    out.append(bytes(buf))


def test_front_door_send_all_delivers_header_and_payload_past_a_full_buffer() -> None:
    header, payload = b"HEAD-14-bytes!", os.urandom(3 << 20)
    a, b = _small_pair()
    a.setblocking(False)
    got: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(b, len(header) + len(payload), got))
    reader.start()

    async def send() -> None:
        await _send_all(asyncio.get_running_loop(), a, header, payload)

    asyncio.run(send())
    reader.join(30)
    a.close()
    b.close()
    assert got == [header + payload]


def test_front_door_send_all_with_an_empty_payload_sends_the_header() -> None:
    a, b = _small_pair()
    a.setblocking(False)
    asyncio.run(_send_all_now(a, b"only-a-header"))
    assert b.recv(100) == b"only-a-header"
    a.close()
    b.close()


async def _send_all_now(sock: socket.socket, header: bytes) -> None:
    await _send_all(asyncio.get_running_loop(), sock, header, b"")


def test_child_frames_arrive_whole_and_in_order_past_a_full_buffer() -> None:
    frames = [b"header", b"", bytearray(os.urandom(1000)), os.urandom(2 << 20)]
    a, b = _small_pair()
    expected = b"".join(bytes(f) for f in frames)

    async def receive() -> bytearray:
        b.setblocking(False)
        return await _recv_exactly(asyncio.get_running_loop(), b, len(expected))

    sender = threading.Thread(target=send_frames, args=(a, frames))
    sender.start()
    received = asyncio.run(receive())
    sender.join(30)
    a.close()
    b.close()
    assert bytes(received) == expected
