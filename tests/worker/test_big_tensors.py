"""Tensors of any size: arguments, return values, gradients, fetches, feeds and variable
initial values over the message cap travel in chunks (blobs) and come back exact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choicemap,
    generate,
    get_param_grad_tf_var,
    reset_param_grads_tf_op,
    runtf,
    tf,
)
from gentf.graph import Graph

CAP = 8 << 20


@pytest.fixture(scope="module")
def small_cap_worker() -> Iterator[Any]:
    """A session-process worker whose cap on one message is 8 MiB."""
    from gentf_server.service.server import WorkerConfig, background_server

    with background_server(WorkerConfig(port=0, max_message_bytes=CAP, isolation="process",
                                        warm_processes=1)) as server:
        yield server


def _round_trip(address: str, n: int, scale: float = 0.5, cap: int = CAP) -> None:
    """A parameter W (n float32) and an argument x (n float32): construct, generate,
    accumulate, update, fetch; every value compared exactly with numpy."""
    rng = np.random.default_rng(n)
    w0 = rng.standard_normal(n, dtype=np.float32)
    x = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    graph = Graph()
    with graph.as_default():
        sess = tf.Session(address, graph=graph)
        W = tf.Variable(w0, name="W")
        xs = tf.placeholder(tf.float32, shape=(n,), name="xs")
        y = tf.multiply(W, xs)
        f = TFFunction([W], [xs], y, sess)
        trace, weight = generate(f, (x,), choicemap())
        assert weight == 0.0
        np.testing.assert_array_equal(trace.get_retval(), w0 * x)
        (x_grad,) = accumulate_param_gradients(trace, g, scale)
        np.testing.assert_array_equal(x_grad, w0 * g)
        acc = get_param_grad_tf_var(f, W)
        np.testing.assert_array_equal(runtf(f, acc), np.float32(scale) * (x * g))
        step = tf.assign_add(W, acc)
        runtf(f, step)
        w1 = w0 + np.float32(scale) * (x * g)
        np.testing.assert_array_equal(runtf(f, W), w1)
        np.testing.assert_array_equal(runtf(f, y, feed_dict={xs: g}), w1 * g)  # a big feed
        runtf(f, reset_param_grads_tf_op(f))
        np.testing.assert_array_equal(runtf(f, acc), np.zeros(n, np.float32))
        calls = sess._transport.calls
        assert calls["PutBlob"] >= 4 and calls["GetBlob"] >= 4, calls
        assert sess._transport.max_message_bytes == cap
        sess.close()


def test_96_mib_through_an_8_mib_cap(small_cap_worker):
    _round_trip(small_cap_worker.address, 24 << 20)


def test_blobs_are_freed_and_bounded(small_cap_worker):
    """Blobs a session leaves behind go with the session."""
    _round_trip(small_cap_worker.address, 3 << 20)


@pytest.mark.slow
def test_512_mib_parameter_and_argument():
    from gentf_server.service.server import WorkerConfig, background_server

    with background_server(WorkerConfig(port=0, isolation="process")) as server:
        _round_trip(server.address, 128 << 20, cap=server.config.max_message_bytes)


def test_put_blob_chunks_with_other_fields_arrive_exact(small_cap_worker):
    """Chunks serialized by protobuf itself, with fields before and after the data (a long
    one before it, past what the session process reads ahead), land exactly; a stream
    carrying more than it announced is INVALID_ARGUMENT and leaves the session usable."""
    import grpc
    from gentf.v1 import tensor_pb2, worker_pb2
    from gentf.wire import decode_tensor
    from gentf.wire._blobs import new_blob_id

    n = 1 << 20  # 4 MiB of float32, sent in four 1 MiB chunks
    x = np.random.default_rng(7).standard_normal(n, dtype=np.float32)
    raw = x.tobytes()
    piece = len(raw) // 4
    pieces = [raw[i * piece:(i + 1) * piece] for i in range(4)]
    graph = Graph()
    with graph.as_default():
        sess = tf.Session(small_cap_worker.address, graph=graph)
        xs = tf.placeholder(tf.float32, shape=(n,), name="xs")
        y = tf.add(xs, xs)
        np.testing.assert_array_equal(sess.run(y, feed_dict={xs: x}), x + x)  # graph synced
        transport = sess._transport

        def chunk(**fields: Any) -> bytes:
            return worker_pb2.BlobChunk(**fields).SerializeToString()

        blob_id = new_blob_id()
        reply = transport._put(iter([
            chunk(session_id=sess.session_id, total_bytes=len(raw), blob_id=blob_id,
                  data=pieces[0]),
            chunk(session_id="s" * 300) + chunk(data=pieces[1]) + chunk(blob_id="after"),
            chunk(data=pieces[2]) + chunk(session_id="after the data"),
            chunk(data=pieces[3]),
        ]), timeout=60)
        assert (reply.blob_id, reply.total_bytes) == (blob_id, len(raw))
        request = worker_pb2.RunOpRequest(session_id=sess.session_id, fetches=[y.name])
        feed = tensor_pb2.Tensor(dtype=1, shape=[n], blob_id=blob_id)  # DT_FLOAT
        request.feeds["xs"].CopyFrom(feed)
        out = transport.call("RunOp", request)
        assert out.fetched[0].blob_id  # the 4 MiB result came back as a blob too
        np.testing.assert_array_equal(decode_tensor(out.fetched[0]), x + x)

        with pytest.raises(grpc.RpcError) as failed:
            transport._put(iter([
                chunk(session_id=sess.session_id, total_bytes=piece, blob_id=new_blob_id(),
                      data=pieces[0]),
                chunk(data=pieces[1]),
                chunk(data=pieces[2]),
            ]), timeout=60)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "more than the announced" in failed.value.details()
        np.testing.assert_array_equal(sess.run(y, feed_dict={xs: x}), x + x)
        sess.close()
