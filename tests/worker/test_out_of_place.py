"""The worker's rewrite of ``ResourceApplyGradientDescent`` into an out-of-place step
(``core/out_of_place.py``, issue 9): the same bits as the kernel, the node's name, control
inputs and device kept, a graph without the op untouched."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _apply_graph():
    graph = tf.Graph()
    with graph.as_default():
        var = tf.compat.v1.get_variable("v", initializer=np.linspace(-3, 3, 1001).astype(np.float32),
                                        use_resource=True)
        alpha = tf.constant(np.float32(0.0123), name="alpha")
        delta = tf.constant(np.sin(np.arange(1001)).astype(np.float32), name="delta")
        first = tf.no_op(name="first")
        with tf.control_dependencies([first]):
            tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=alpha, delta=delta,
                                                    name="apply")
    return graph.as_graph_def()


def _run(graph_def):
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run("v/Assign")
            for _ in range(3):
                sess.run("apply")
            return sess.run("v/Read/ReadVariableOp:0")


def test_the_rewrite_gives_the_kernels_bits_and_keeps_the_node():
    from gentf_server.core.out_of_place import gradient_descent_out_of_place

    original = _apply_graph()
    rewritten = gradient_descent_out_of_place(original)
    nodes = {n.name: n for n in rewritten.node}
    assert nodes["apply"].op == "AssignVariableOp"
    assert "^first" in nodes["apply"].input
    assert "^first" in nodes["apply/_gentf_out_of_place/read"].input
    assert not any(n.op == "ResourceApplyGradientDescent" for n in rewritten.node)
    np.testing.assert_array_equal(_run(rewritten), _run(original))
    assert not np.array_equal(_run(original), np.linspace(-3, 3, 1001).astype(np.float32))


def test_a_graph_without_the_op_is_returned_as_it_is():
    from gentf_server.core.out_of_place import gradient_descent_out_of_place

    graph = tf.Graph()
    with graph.as_default():
        tf.constant(1.0, name="c")
    graph_def = graph.as_graph_def()
    assert gradient_descent_out_of_place(graph_def) is graph_def


def test_an_apply_node_of_another_form_is_left_for_tensorflow_to_judge():
    """Two data inputs (a graph the worker's checks refuse anyway): copied as it is."""
    from gentf_server.core.out_of_place import gradient_descent_out_of_place
    from tensorflow.core.framework import graph_pb2

    graph_def = graph_pb2.GraphDef()
    node = graph_def.node.add(name="apply", op="ResourceApplyGradientDescent", input=["v", "alpha"])
    node.attr["T"].type = tf.float32.as_datatype_enum
    out = gradient_descent_out_of_place(graph_def)
    assert [(n.name, n.op, list(n.input)) for n in out.node] == [
        ("apply", "ResourceApplyGradientDescent", ["v", "alpha"])]


def _ascent_graph(neg_control: bool = False):
    """gentf's ParamUpdate form: gradient descent along ``Neg(x)``; the variable and ``x``
    hold signed zeros, infinities and ordinary values side by side."""
    special = np.array([0.0, -0.0, np.inf, -np.inf, 3.0e38, -1e-45], dtype=np.float32)
    rng = np.random.default_rng(5)
    start = np.concatenate([np.tile(special, 6), rng.normal(size=64)]).astype(np.float32)
    x = np.concatenate([np.repeat(special, 6), rng.normal(size=64)]).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        var = tf.compat.v1.get_variable("v", initializer=start, use_resource=True)
        alpha = tf.constant(np.float32(0.37), name="alpha")
        ascent = tf.constant(x, name="x")
        first = tf.no_op(name="first")
        with tf.control_dependencies([first] if neg_control else []):
            delta = tf.negative(ascent, name="neg")
        tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=alpha, delta=delta,
                                                name="apply")
    return graph.as_graph_def()


def test_a_step_along_a_negated_gradient_adds_with_the_kernels_numbers():
    """``var - Neg(x) * alpha`` is written ``var + x * alpha``: one pass fewer, and the
    kernel's numbers (signed zeros and infinities included) over three steps."""
    from gentf_server.core.out_of_place import gradient_descent_out_of_place

    original = _ascent_graph()
    rewritten = gradient_descent_out_of_place(original)
    nodes = {n.name: n for n in rewritten.node}
    assert nodes["apply/_gentf_out_of_place/new"].op == "AddV2"
    assert list(nodes["apply/_gentf_out_of_place/step"].input) == ["x", "alpha"]
    assert "neg" in nodes  # kept for any other reader (pruned when none)
    got, want = _run(rewritten), _run(original)
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))  # -0.0 stays -0.0
    assert np.isinf(want).any() and np.isnan(want).any() and (want == 0).any()


def test_a_negation_with_a_control_input_of_its_own_is_not_folded():
    from gentf_server.core.out_of_place import gradient_descent_out_of_place

    rewritten = gradient_descent_out_of_place(_ascent_graph(neg_control=True))
    nodes = {n.name: n for n in rewritten.node}
    assert nodes["apply/_gentf_out_of_place/new"].op == "Sub"
    assert list(nodes["apply/_gentf_out_of_place/step"].input) == ["neg", "alpha"]
