"""Automatic names, name scopes, unique suffixes; worker errors naming the node and the user's
line; refused ops."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import errors, tf
from gentf.graph import Graph


def test_auto_name_block(graph: Graph) -> None:
    """Nodes held by local variables are renamed after them, in their scope, made unique."""
    with tf.auto_name() as block:
        x = tf.placeholder(tf.float32, shape=(None, 3))
        W = tf.Variable(np.zeros((3, 2), np.float32))
        logits = x @ W
        with tf.name_scope("head"):
            probs = tf.nn.softmax(logits)
        kept = tf.identity(probs, name="chosen")
        parts = tf.split(logits, 2, axis=1)
    assert x.op.name == "x" and logits.op.name == "logits" and probs.op.name == "head/probs"
    assert W.op.name == "W" and W.value().op.name == "W/read" and W.op.attrs["shared_name"].s == b"W"
    assert kept.op.name == "chosen"  # explicit names are kept
    assert parts[0].op.name == "parts_0"
    assert block.renamed["Placeholder"] == "x"
    with tf.auto_name():
        logits = tf.matmul(x, W)
    assert logits.op.name == "logits_1"


@tf.auto_name
def _layer(x: tf.Tensor) -> tf.Tensor:
    hidden = tf.nn.relu(x * 2.0)
    return hidden + 1.0


def test_auto_name_decorator_and_session(session: tf.Session) -> None:
    """The decorator names locals of the decorated function; named nodes run on the worker."""
    x = tf.placeholder(tf.float32, shape=(2,), name="x")
    y = _layer(x)
    assert session.graph.get_operation_by_name("hidden") is not None
    np.testing.assert_allclose(session.run(y, {x: [1.0, -1.0]}), [3.0, 1.0])
    with tf.auto_name():
        z = y * 3.0
        session.run(z, {x: [1.0, 1.0]})  # sent inside the block: keeps its name
        w = z + 1.0
    assert z.op.name.startswith("Mul") and w.op.name == "w"


def test_scopes_and_unique_suffixes(graph: Graph) -> None:
    """Name scopes prefix names; collisions get _1, _2."""
    a = tf.constant(1.0, name="c")
    b = tf.constant(2.0, name="c")
    with tf.name_scope("layer"):
        c = tf.add(a, b)
        d = tf.add(a, b)
    with tf.name_scope("layer"):
        e = tf.add(a, b)
    assert (a.op.name, b.op.name) == ("c", "c_1")
    assert (c.op.name, d.op.name, e.op.name) == ("layer/AddV2", "layer/AddV2_1", "layer_1/AddV2")


def test_shape_mismatch_names_node_and_line(session: tf.Session) -> None:
    """A worker-side shape error (an op the client does not check) names the node and the
    line of this file that built it."""
    a = tf.placeholder(tf.float32, shape=(2, 3))
    b = tf.placeholder(tf.float32, shape=(4, 5))
    joined = tf.concat([a, b], 0, name="joined"); line = _line()
    with pytest.raises(errors.InvalidArgumentError) as info:
        session.run(joined, {a: np.zeros((2, 3)), b: np.zeros((4, 5))})
    message = str(info.value)
    assert "'joined'" in message and f"test_names_errors.py:{line}" in message


def test_bad_attribute_names_node_and_line(session: tf.Session) -> None:
    """A bad attribute value (padding) is reported with the node and its line."""
    x = tf.placeholder(tf.float32, shape=(1, 4, 4, 1))
    y = tf.nn.max_pool2d(x, 2, 2, padding="DIAGONAL"); line = _line()
    with pytest.raises(errors.InvalidArgumentError) as info:
        session.run(y, {x: np.zeros((1, 4, 4, 1))})
    message = str(info.value)
    assert "MaxPool" in message and f"test_names_errors.py:{line}" in message and "padding" in message


def test_required_attribute_checked_on_client(graph: Graph) -> None:
    """A missing required attribute fails before anything is sent."""
    with pytest.raises(errors.InvalidArgumentError, match="strides"):
        tf.raw_ops.Conv2D(input=tf.zeros((1, 3, 3, 1)), filter=tf.zeros((1, 1, 1, 1)), padding="SAME")
    assert len(graph.operations) == 2


def test_refused_file_reading_op(session: tf.Session) -> None:
    """ReadFile is refused by the worker: PERMISSION_DENIED -> PermissionDeniedError."""
    contents = tf.raw_ops.ReadFile(filename=tf.constant("/etc/passwd"))
    with pytest.raises(errors.PermissionDeniedError, match="ReadFile") as info:
        session.run(contents)
    assert "refused" in str(info.value) and "test_names_errors.py" in str(info.value)
    assert tf.raw_ops.ReadFile.op_def.refused  # the client knows it too (docstring says so)
    assert "refuses" in tf.raw_ops.ReadFile.__doc__


def _line() -> int:
    import sys

    return sys._getframe(1).f_lineno
