"""GraphDef round trips with real TensorFlow, both ways, through the real worker."""

from __future__ import annotations

import sys

import numpy as np
from gentf import TFFunction
from gentf import tf as gtf
from gentf.interop import export_graph_def, from_tensorflow


def test_import_gentf_interop_does_not_import_tensorflow() -> None:
    """Importing the interop module needs no TensorFlow (it is imported inside functions)."""
    import subprocess

    code = "import sys, gentf, gentf.interop; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_export_runs_in_real_tensorflow(session: gtf.Session) -> None:
    """A gentf graph exported as a GraphDef gives the same values in TensorFlow."""
    import tensorflow as tf

    x = gtf.placeholder(gtf.float32, (None, 3), name="x")
    W = gtf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 10, name="W")
    h = gtf.nn.conv2d(gtf.reshape(x, (-1, 3, 1, 1)), np.ones((2, 1, 1, 1), np.float32), 1, "SAME")
    y = gtf.nn.softmax(x @ W + 1.0) * gtf.reduce_sum(h)
    xv = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    ours = session.run(y, {x: xv})
    tg = tf.Graph()
    with tg.as_default():
        tf.graph_util.import_graph_def(export_graph_def(session.graph), name="")
    with tf.compat.v1.Session(graph=tg) as s:
        s.run("init")
        theirs = s.run(y.name, {"x:0": xv})
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_v1_graph_to_tffunction(session: gtf.Session) -> None:
    """A tf.compat.v1 graph with a placeholder and a variable becomes a gentf TFFunction."""
    import tensorflow as tf

    tg = tf.Graph()
    with tg.as_default():
        a = tf.compat.v1.placeholder(tf.float64, (None, 2), name="a")
        V = tf.compat.v1.get_variable("V", initializer=np.array([[1.0, 2.0], [3.0, -4.0]]))
        out = tf.tanh(tf.matmul(a, V))
    params, inputs, output = from_tensorflow(tg, inputs=[a], output=out)
    assert [p.op.name for p in params] == ["V"] and inputs[0].op.name == "a"
    net = TFFunction(params, inputs, output, session)
    av = np.array([[0.1, 0.2]])
    np.testing.assert_allclose(net(av), np.tanh(av @ [[1.0, 2.0], [3.0, -4.0]]))


def test_tf_function_and_keras_model(session: gtf.Session) -> None:
    """A tf.function with a captured variable and a Keras model give the same values."""
    import keras
    import tensorflow as tf

    v = tf.Variable([1.0, -2.0])

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def f(z: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(z * v, axis=1)

    params, inputs, output = from_tensorflow(f)
    zv = np.array([[1.0, 1.0], [0.5, 2.0]], np.float32)
    assert len(params) == 1
    np.testing.assert_allclose(session.run(output, {inputs[0]: zv}), f(zv).numpy())

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    params, inputs, output = from_tensorflow(model)
    assert len(params) == 4
    xv = np.random.default_rng(1).random((5, 4)).astype(np.float32)
    net = TFFunction(params, inputs, output, session)
    np.testing.assert_allclose(net(xv), model(xv).numpy(), rtol=1e-5, atol=1e-6)
