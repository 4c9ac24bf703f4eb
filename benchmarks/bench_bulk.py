"""Bulk transfer: MiB/s up and down for big tensors through gentf (chunked blobs) against a
bare gRPC raw-bytes stream of the same bytes, and the session process's peak memory.

Usage: python benchmarks/bench_bulk.py [--sizes-mib 64 256] [--repeats 3]
Up: a feed of N MiB (RunOp with a target, so nothing comes back: client encoding, the blob,
decoding and TensorFlow's assign included), and the blob alone (``PutBlob`` of the same
bytes, the transport's part). Down: a fetch of an N MiB variable. Each through the front
door (gRPC, relayed to the session process) and, as ``direct ...``, through the session
process's own door (``--advertise-host``; ``tf.Session(direct=True)``).

Two references, measured in the same interleaved rounds:

- bare gRPC (the issue's): the same bytes in 4 MiB chunks over a client stream (up) and a
  server stream (down) of a raw-bytes servicer on loopback. Neither side keeps the bytes.
- bare gRPC into one array: the same streams, with the receiver copying the chunks into one
  new N MiB array, as any service that hands a tensor over must (gentf's worker does for an
  upload, its client for a download).

It also times what one new N MiB array costs here (allocate, then write every byte): on a
virtual machine that hands freed memory back to its host (free page reporting), first
touching memory costs far more than copying into it, and every one of gentf's transfers
lands in a new array. Prints a ratio per size and direction against each reference, of the
best times and of the median times.
"""

from __future__ import annotations

import argparse
import time
from concurrent import futures
from typing import Any

import grpc
import numpy as np

CHUNK = 4 << 20


def _bare_server() -> tuple[Any, int]:
    def up(chunks: Any, context: Any) -> bytes:
        return str(sum(len(c) for c in chunks)).encode()

    def up_array(chunks: Any, context: Any) -> bytes:
        total = int(dict(context.invocation_metadata())["total-bytes"])
        array = np.empty(total, np.uint8)
        written = _fill(array, chunks)
        del array
        return str(written).encode()

    def down(request: bytes, context: Any) -> Any:
        n = int(request)
        block = bytes(CHUNK)
        for offset in range(0, n, CHUNK):
            yield block[:min(CHUNK, n - offset)]

    handler = grpc.method_handlers_generic_handler("bench.Bulk", {
        "Up": grpc.stream_unary_rpc_method_handler(up),
        "UpArray": grpc.stream_unary_rpc_method_handler(up_array),
        "Down": grpc.unary_stream_rpc_method_handler(down)})
    server = grpc.server(futures.ThreadPoolExecutor(4),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _fill(array: np.ndarray[Any, Any], chunks: Any) -> int:
    """Copies the chunks, in order, into ``array``; the bytes written."""
    view = memoryview(array).cast("B")
    written = 0
    for chunk in chunks:
        view[written:written + len(chunk)] = chunk
        written += len(chunk)
    return written


def _new_array_seconds(n: int) -> float:
    """Seconds to allocate an ``n``-byte array and write every byte of it."""
    start = time.perf_counter()
    array = np.empty(n, np.uint8)
    array.fill(1)
    seconds = time.perf_counter() - start
    del array
    return seconds


def _mibs(nbytes: int, seconds: float) -> float:
    return nbytes / (1 << 20) / seconds


def main() -> None:
    """Runs the benchmark and prints one line per size and direction."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--isolation", choices=("process", "none"), default="process",
                        help="the worker's session isolation (process: the relay through the "
                             "front door is measured too)")
    args = parser.parse_args()

    from gentf import tf
    from gentf.graph import Graph
    from gentf.wire._blobs import new_blob_id
    from gentf_server.service.server import WorkerConfig, background_server

    bare, port = _bare_server()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                    options=[("grpc.max_receive_message_length", 64 << 20)])
    up = channel.stream_unary("/bench.Bulk/Up")
    up_array = channel.stream_unary("/bench.Bulk/UpArray")
    down = channel.unary_stream("/bench.Bulk/Down")
    direct = args.isolation == "process"
    config = WorkerConfig(port=0, isolation=args.isolation,
                          advertise_host="127.0.0.1" if direct else "")
    with background_server(config) as server:
        for mib in args.sizes_mib:
            n = mib << 20
            value = np.ones(n // 4, np.float32)
            raw = value.tobytes()
            graph = Graph()
            with graph.as_default():
                sess = tf.Session(server.address, graph=graph, direct=False)
                x = tf.placeholder(tf.float32, shape=(n // 4,), name="x")
                v = tf.Variable(value, name="v")
                noop = tf.assign(v, x)
            dgraph = Graph()
            with dgraph.as_default():
                dsess = tf.Session(server.address, graph=dgraph, direct=direct)
                dx = tf.placeholder(tf.float32, shape=(n // 4,), name="x")
                dv = tf.Variable(value, name="v")
                dnoop = tf.assign(dv, dx)
            with graph.as_default():
                kinds = [""] + (["direct "] if direct else [])
                times: dict[str, list[float]] = {k: [] for k in (
                    *(f"gentf {d}{w}" for d in kinds for w in ("up", "blob up", "down")),
                    "bare up", "bare up into array", "bare down", "bare down into array",
                    "new array")}
                for _ in range(args.repeats):  # interleaved
                    for d, s_, feed, target in (("", sess, x, noop), ("direct ", dsess, dx, dnoop)):
                        if d not in kinds:
                            continue
                        t = time.perf_counter()
                        s_.run(target.op, feed_dict={feed: value})
                        times[f"gentf {d}up"].append(time.perf_counter() - t)
                        # another session: its blob goes with it
                        other = tf.Session(server.address, graph=Graph(), direct=bool(d))
                        route = other._transport._direct
                        t = time.perf_counter()
                        other._transport.put_blob(other.session_id, new_blob_id(), value,
                                                  route=route)
                        times[f"gentf {d}blob up"].append(time.perf_counter() - t)
                        other.close()
                    t = time.perf_counter()
                    up(raw[i:i + CHUNK] for i in range(0, n, CHUNK))
                    times["bare up"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    up_array((raw[i:i + CHUNK] for i in range(0, n, CHUNK)),
                             metadata=(("total-bytes", str(n)),))
                    times["bare up into array"].append(time.perf_counter() - t)
                    for d, s_, var in (("", sess, v), ("direct ", dsess, dv)):
                        if d not in kinds:
                            continue
                        t = time.perf_counter()
                        out = s_.run(var)
                        times[f"gentf {d}down"].append(time.perf_counter() - t)
                        assert out.nbytes == n
                        del out
                    t = time.perf_counter()
                    got = sum(len(c) for c in down(str(n).encode()))
                    times["bare down"].append(time.perf_counter() - t)
                    assert got == n
                    t = time.perf_counter()
                    array = np.empty(n, np.uint8)
                    got = _fill(array, down(str(n).encode()))
                    times["bare down into array"].append(time.perf_counter() - t)
                    assert got == n
                    del array
                    times["new array"].append(_new_array_seconds(n))
                sess.close()
                dsess.close()
            best = {k: _mibs(n, min(v)) for k, v in times.items()}
            median = {k: _mibs(n, float(np.median(v))) for k, v in times.items()}
            print(f"{mib:4d} MiB a new array (allocate, write): best {best['new array']:7.1f} "
                  f"MiB/s, median {median['new array']:7.1f} MiB/s", flush=True)
            ways = [("up", "up"), ("blob up", "up"), ("down", "down")]
            if direct:
                ways += [("direct up", "up"), ("direct blob up", "up"), ("direct down", "down")]
            for way, bare_way in ways:
                g, gm = best[f"gentf {way}"], median[f"gentf {way}"]
                b, bm = best[f"bare {bare_way}"], median[f"bare {bare_way}"]
                a = best[f"bare {bare_way} into array"]
                am = median[f"bare {bare_way} into array"]
                print(f"{mib:4d} MiB {way:14s}: gentf {g:7.1f} MiB/s  bare gRPC {b:7.1f} MiB/s  "
                      f"ratio {g / b:.2f} (best of each); medians {gm:7.1f} and {bm:7.1f} MiB/s, "
                      f"ratio {gm / bm:.2f}", flush=True)
                print(f"{'':8s}{'':9s}  bare gRPC into one array {a:7.1f} MiB/s, ratio {g / a:.2f} "
                      f"(best of each); median {am:7.1f} MiB/s, ratio {gm / am:.2f}", flush=True)
        hwm = _session_hwm(server)
        if hwm:
            print(f"session process peak RSS (VmHWM): {hwm / (1 << 20):.0f} MiB")
    bare.stop(0)


def _session_hwm(server: Any) -> int:
    """VmHWM of the worker's session processes (largest), bytes; 0 if unknown."""
    best = 0
    for proc in getattr(server.supervisor, "_processes", []) or []:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]) << 10)
        except (OSError, AttributeError):
            continue
    return best


if __name__ == "__main__":
    main()
