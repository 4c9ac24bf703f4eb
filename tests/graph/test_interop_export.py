"""Export after training: GraphDef and SavedModel carry the worker's trained values and give
the worker's outputs in real TensorFlow (tf.saved_model.load, the TF1 loader TensorFlow
Serving uses, and import_graph_def)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gentf import (
    FixedStepGradientDescent,
    ParamUpdate,
    TFFunction,
    accumulate_param_gradients,
    choicemap,
    generate,
)
from gentf import tf as gtf
from gentf.interop import export_graph_def, export_saved_model

W0 = np.array([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]])
B0 = np.array([0.05, -0.1])


def _trained_net(session: gtf.Session) -> tuple[TFFunction, gtf.Variable, gtf.Variable]:
    """A small network trained three gradient steps through the worker."""
    x = gtf.placeholder(gtf.float64, (None, 3), name="x")
    W = gtf.Variable(W0, name="W")
    b = gtf.Variable(B0, name="b")
    with gtf.name_scope("layer"):
        y = gtf.tanh(gtf.matmul(x, W) + b)
    net = TFFunction([W, b], [x], y, session)
    update = ParamUpdate(FixedStepGradientDescent(0.5), {net: [W, b]})
    xv = np.random.default_rng(0).normal(size=(8, 3))
    for _ in range(3):
        trace, _ = generate(net, (xv,), choicemap())
        accumulate_param_gradients(trace, -trace.get_retval())  # uphill on -|y|^2 / 2
        update.apply()
    return net, W, b


def test_saved_model_of_a_trained_tffunction(session: gtf.Session, tmp_path: Path) -> None:
    """The SavedModel has the trained variables and its serving signature matches the worker."""
    import tensorflow as tf

    net, W, b = _trained_net(session)
    trained_W, trained_b = session.run([W, b])
    assert np.abs(trained_W - W0).max() > 1e-3  # training moved the weights
    keys = export_saved_model(net, tmp_path / "model")
    assert keys == {"x": "x"}
    xv = np.random.default_rng(1).normal(size=(5, 3))
    ours = net(xv)

    loaded = tf.saved_model.load(str(tmp_path / "model"))
    signature = loaded.signatures["serving_default"]
    theirs = signature(x=tf.constant(xv))["output"].numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-6, atol=1e-12)
    saved = {v.name.split(":")[0]: v.numpy() for v in loaded.gentf_variables}
    np.testing.assert_array_equal(saved["W"], trained_W)
    np.testing.assert_array_equal(saved["b"], trained_b)

    # The TF1 loader, as TensorFlow Serving loads a SavedModel: tag "serve", predict signature.
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(tmp_path / "model"))
        sig = meta.signature_def["serving_default"]
        assert sig.method_name == "tensorflow/serving/predict"
        assert list(sig.inputs) == ["x"] and list(sig.outputs) == ["output"]
        assert sig.inputs["x"].tensor_shape.dim[1].size == 3
        served = sess.run(sig.outputs["output"].name, {sig.inputs["x"].name: xv})
    np.testing.assert_allclose(served, ours, rtol=1e-6, atol=1e-12)


def test_graph_def_export_carries_trained_values(session: gtf.Session) -> None:
    """export_graph_def writes the variables' current values, not their initial ones."""
    import tensorflow as tf

    net, W, _ = _trained_net(session)
    trained_W = session.run(W)
    graph_def = export_graph_def(session.graph)
    const = next(n for n in graph_def.node if n.name == "W/initial_value")
    np.testing.assert_array_equal(tf.make_ndarray(const.attr["value"].tensor), trained_W)
    xv = np.random.default_rng(2).normal(size=(4, 3))
    tg = tf.Graph()
    with tg.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=tg) as s:
        s.run("init")
        theirs = s.run(net.output.name, {"x:0": xv})
    np.testing.assert_allclose(theirs, net(xv), rtol=1e-6, atol=1e-12)


def test_saved_model_of_a_tensor_checks_its_inputs(session: gtf.Session, tmp_path: Path) -> None:
    """A Tensor exports with inputs=; a placeholder it needs but is not given is refused."""
    import tensorflow as tf

    a = gtf.placeholder(gtf.float32, (2,), name="scope/a")
    c = gtf.placeholder(gtf.float32, (2,), name="c")
    v = gtf.Variable(np.float32(3.0), name="v")
    session.run(v.assign(np.float32(4.0)))
    out = a * v + c
    with pytest.raises(ValueError, match="placeholder 'c'"):
        export_saved_model(out, tmp_path / "bad", inputs=[a])
    keys = export_saved_model(out, tmp_path / "ok", inputs=[a, c], session=session)
    assert keys == {"scope/a": "scope_a", "c": "c"}
    loaded = tf.saved_model.load(str(tmp_path / "ok"))
    got = loaded.signatures["serving_default"](scope_a=tf.constant([1.0, 2.0]),
                                               c=tf.constant([0.5, 0.5]))["output"].numpy()
    np.testing.assert_allclose(got, [4.5, 8.5])
