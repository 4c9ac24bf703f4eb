"""The tf.compat.v1 session API of gentf.tf: build-time shape and dtype errors at the user's
line, compat.v1, Variables with tensor initial values (computed on the worker, never
shipped), initializers, InteractiveSession, eval/run, control_dependencies, variable_scope."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
from gentf import tf
from gentf.graph import Graph


def _line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


# ---- shapes and dtypes at build time ----------------------------------------------------------


def test_matmul_shape_mismatch_raises_at_the_building_line(graph: Graph) -> None:
    """tf.matmul of (4, 6) by (5, 7) raises ValueError while building, naming this line,
    and adds no node."""
    a, b = tf.zeros([4, 6]), tf.zeros([5, 7])
    before = len(graph)
    line = _line() + 2
    with pytest.raises(ValueError) as info:
        tf.matmul(a, b)
    message = str(info.value)
    assert "6 and 5" in message and "MatMul" in message
    assert f"test_tf1_api.py:{line}" in message
    assert len(graph) == before


@pytest.mark.parametrize("build, words", [
    (lambda: tf.add(tf.zeros([2, 3]), tf.zeros([4, 3])), "2 and 4"),
    (lambda: tf.reshape(tf.zeros([2, 3]), [4, 2]), "6 elements"),
    (lambda: tf.reshape(tf.zeros([2, 3]), [-1, 4]), "6 elements"),
    (lambda: tf.nn.conv2d(tf.zeros([1, 8, 8, 3]), tf.zeros([3, 3, 2, 4]), [1, 1, 1, 1], "SAME"), "Depth"),
    (lambda: tf.matmul(tf.zeros([2, 3, 4]), tf.zeros([5, 2])), "4 and 5"),
    (lambda: tf.nn.softmax_cross_entropy_with_logits(labels=tf.zeros([2, 3]), logits=tf.zeros([2, 4])),
     "4 and 3"),
])
def test_other_shape_mismatches_raise_at_build(graph: Graph, build: Any, words: str) -> None:
    """Broadcasting, reshape, conv2d depth, matmul rank and cross-entropy shapes are
    checked on the client as the node is built."""
    with pytest.raises(tf.ShapeMismatchError, match=words):
        build()


def test_dtype_mismatch_raises_at_build(graph: Graph) -> None:
    """Mixing float32 and float64 raises TypeError while building, as TensorFlow 1 does."""
    with pytest.raises(TypeError, match="float"):
        tf.add(tf.zeros([2], dtype=tf.float32), tf.zeros([2], dtype=tf.float64))


def test_static_shapes_follow_the_tutorial_layers(graph: Graph) -> None:
    """conv2d, max_pool, reshape with -1 and random initial values have static shapes on
    the client, before any session sees them."""
    x = tf.placeholder(tf.float32, [None, 64])
    img = tf.reshape(x, [-1, 8, 8, 1])
    h = tf.nn.max_pool(tf.nn.conv2d(img, tf.truncated_normal([5, 5, 1, 4]), [1, 1, 1, 1], "SAME"),
                       [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
    assert img.shape == (None, 8, 8, 1)
    assert h.shape == (None, 4, 4, 4)
    assert tf.reshape(h, [-1, 64]).shape == (None, 64)


# ---- compat.v1 --------------------------------------------------------------------------------


def test_compat_v1_is_gentf_tf() -> None:
    """``gentf.tf.compat.v1`` (attribute and import) is gentf.tf; the v2 switches are no-ops."""
    import gentf.tf.compat.v1 as v1  # noqa: PLR0402 - the dotted import is what is tested

    assert tf.compat.v1 is tf and v1 is tf
    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.disable_v2_behavior()
    assert tf.executing_eagerly() is False


# ---- variables --------------------------------------------------------------------------------


def test_tensor_initial_value_is_computed_on_the_worker(session: tf.Session, core_session: Any) -> None:
    """A tensor initial value never travels: the variable node carries none, the worker
    computes it, and the variable holds it as soon as it exists (no initializer run)."""
    v = tf.Variable(tf.fill([3, 4], 2.5), name="v")
    node = v.op.node_def()
    assert not node.HasField("initial_value")
    assert v.shape == (3, 4) and v.dtype is tf.float32
    np.testing.assert_array_equal(session.run(v), np.full((3, 4), 2.5, np.float32))
    np.testing.assert_array_equal(core_session.variable_value("v"), np.full((3, 4), 2.5, np.float32))


def test_global_variables_initializer_redraws_random_values(session: tf.Session) -> None:
    """Random initial values are drawn again by global_variables_initializer (as in TF1);
    numpy initial values are restored; the truncated normal stays within two stddevs."""
    r = tf.Variable(tf.truncated_normal([50, 40], stddev=0.1), name="r")
    n = tf.Variable(np.arange(3.0), name="n")
    first = session.run(r)
    session.run(n.assign(np.zeros(3)))
    session.run(tf.global_variables_initializer())
    second = session.run(r)
    assert np.abs(first).max() <= 0.2 + 1e-6 and 0.07 < first.std() < 0.1
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(session.run(n), np.arange(3.0))


def test_variable_load_eval_and_initialized_value(session: tf.Session) -> None:
    """``load`` sets a value without new nodes per call; ``eval`` reads it."""
    v = tf.Variable(tf.zeros([2]), name="v")
    v.load(np.array([1.0, 2.0]), session)
    count = len(session.graph)
    v.load(np.array([3.0, 4.0]))
    assert len(session.graph) == count
    np.testing.assert_array_equal(v.eval(), [3.0, 4.0])
    np.testing.assert_array_equal(session.run(v.initialized_value()), [3.0, 4.0])


def test_variable_scope_and_get_variable(session: tf.Session) -> None:
    """get_variable names variables after the variable scope, shares them under reuse, and
    refuses a second creation or a missing one, as TensorFlow 1 does."""
    with tf.variable_scope("layer"):
        w = tf.get_variable("w", [2, 3], initializer=tf.zeros_initializer())
        b = tf.get_variable("b", initializer=tf.constant([1.0, 2.0, 3.0]))
        with pytest.raises(ValueError, match="already exists"):
            tf.get_variable("w", [2, 3])
    with tf.variable_scope("layer", reuse=True):
        assert tf.get_variable("w") is w
        with pytest.raises(ValueError, match="does not exist"):
            tf.get_variable("missing", [1])
    with tf.variable_scope("layer", reuse=tf.AUTO_REUSE):
        assert tf.get_variable("b") is b
        fresh = tf.get_variable("fresh", [2], initializer=tf.ones_initializer())
    assert (w.op.name, b.op.name, fresh.op.name) == ("layer/w", "layer/b", "layer/fresh")
    np.testing.assert_array_equal(session.run(b), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(session.run(fresh), [1.0, 1.0])
    np.testing.assert_array_equal(session.run(w), np.zeros((2, 3)))


# ---- sessions ---------------------------------------------------------------------------------


def test_interactive_session_and_eval(worker: Any, graph: Graph, monkeypatch: Any) -> None:
    """An InteractiveSession is the default for eval/run until closed; ``with tf.Session()``
    is the default inside the block only."""
    from gentf.remote import _session

    monkeypatch.setattr(_session._DEFAULT, "session", None)
    x = tf.placeholder(tf.float32, [2])
    y = x * 2.0
    v = tf.Variable(np.float32(1.0))
    inc = v.assign_add(np.float32(1.0)).op
    sess = tf.InteractiveSession(worker.address)
    try:
        np.testing.assert_array_equal(y.eval({x: [1.0, 2.0]}), [2.0, 4.0])
        inc.run()
        assert v.eval() == 2.0
    finally:
        sess.close()
    assert tf.get_default_session() is None
    with pytest.raises(ValueError, match="no default session"):
        y.eval({x: [1.0, 2.0]})
    with tf.Session(worker.address) as s:
        assert tf.get_default_session() is s
        np.testing.assert_array_equal(y.eval({x: [0.5, 1.0]}), [1.0, 2.0])
    assert tf.get_default_session() is None


def test_control_dependencies_order_runs(session: tf.Session) -> None:
    """Ops built inside control_dependencies run after the dependencies; a read_value
    inside sees the update; ``control_dependencies(None)`` clears them."""
    v = tf.Variable(np.float64(0.0), name="counter")
    inc = v.assign_add(np.float64(1.0))
    with tf.control_dependencies([inc]):
        after = v.read_value()
        doubled = tf.identity(after) * 2.0
        with tf.control_dependencies(None):
            free = tf.constant(7.0)
    assert inc.op in after.op.control_inputs
    assert free.op.control_inputs == []
    assert session.run(after) == 1.0
    assert session.run(doubled) == 4.0
    assert session.run(v) == 2.0
