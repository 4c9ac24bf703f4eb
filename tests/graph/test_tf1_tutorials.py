"""The classic TF1 tutorials, each written ONCE as a function of the module ``tf``, run with
real ``tensorflow.compat.v1`` and with ``gentf.tf`` on scikit-learn's 8x8 digits, compared.

"MNIST for ML beginners" (softmax regression, zeros initial values, gradient descent via
``minimize``, ``InteractiveSession``, ``Operation.run``, ``Tensor.eval``) and "Deep MNIST for
experts" (``truncated_normal``/``constant`` initial values computed on the worker, conv2d,
max_pool, dropout with a ``keep_prob`` placeholder, Adam via ``minimize``, ``with
tf.Session() as sess``). The convnet's random initial values are replaced by the same seeded
numpy values in both runs with ``Variable.load``; training feeds keep_prob=1 so both runs
follow the same path (dropout's statistics are compared separately). Also: each optimizer's
``minimize`` against TF1, and TF1 dropout's kept fraction and scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gentf import tf as gtf


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, ...]:
    """(train x, train one-hot y, test x, test one-hot y), float32, pixels in [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[data.target]
    return x[:1500], y[:1500], x[1500:], y[1500:]


@pytest.fixture
def tf1() -> Any:
    """Real TensorFlow 1 API (graph mode is used inside ``tf.Graph().as_default()`` blocks)."""
    import tensorflow

    return tensorflow.compat.v1


@pytest.fixture
def gentf_tf(worker: Any, monkeypatch: Any) -> Iterator[Any]:
    """``gentf.tf`` with ``tf.Session()`` reaching the test worker, no default session yet."""
    from gentf.remote import _session

    monkeypatch.setenv("GENTF_ADDRESS", worker.address)
    monkeypatch.setattr(_session._DEFAULT, "session", None)
    yield gtf


def _batches(x: np.ndarray, y: np.ndarray, size: int, steps: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for i in range(steps):
        k = (i * size) % (len(x) - size)
        yield x[k:k + size], y[k:k + size]


# ---- the tutorials, written once ---------------------------------------------------------------


def softmax_tutorial(tf: Any, data: tuple[np.ndarray, ...], steps: int = 60) -> tuple[np.ndarray, float]:
    """MNIST for ML beginners, on 8x8 digits. Returns (trained W, test accuracy)."""
    x_train, y_train, x_test, y_test = data
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 64])
        W = tf.Variable(tf.zeros([64, 10]))
        b = tf.Variable(tf.zeros([10]))
        y = tf.matmul(x, W) + b
        y_ = tf.placeholder(tf.float32, [None, 10])
        cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
        train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)
        sess = tf.InteractiveSession()
        tf.global_variables_initializer().run()
        for batch_xs, batch_ys in _batches(x_train, y_train, 100, steps):
            sess.run(train_step, feed_dict={x: batch_xs, y_: batch_ys})
        correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
        accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
        acc = float(sess.run(accuracy, feed_dict={x: x_test, y_: y_test}))
        trained = W.eval()
        sess.close()
    return trained, acc


def convnet_tutorial(tf: Any, data: tuple[np.ndarray, ...], init: list[np.ndarray] | None,
                     steps: int = 25, keep: float = 1.0) -> tuple[list[np.ndarray], float, list[np.ndarray]]:
    """Deep MNIST for experts, on 8x8 digits (smaller layers). ``init``: values loaded into
    the variables after initialization (None keeps the random ones). Returns (the variables'
    values after initialization, test accuracy, trained values)."""
    x_train, y_train, x_test, y_test = data

    def weight_variable(shape: list[int]) -> Any:
        initial = tf.truncated_normal(shape, stddev=0.1)
        return tf.Variable(initial)

    def bias_variable(shape: list[int]) -> Any:
        initial = tf.constant(0.1, shape=shape)
        return tf.Variable(initial)

    def conv2d(x: Any, W: Any) -> Any:
        return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding="SAME")

    def max_pool_2x2(x: Any) -> Any:
        return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, shape=[None, 64])
        y_ = tf.placeholder(tf.float32, shape=[None, 10])
        x_image = tf.reshape(x, [-1, 8, 8, 1])
        W_conv1 = weight_variable([5, 5, 1, 16])
        b_conv1 = bias_variable([16])
        h_pool1 = max_pool_2x2(tf.nn.relu(conv2d(x_image, W_conv1) + b_conv1))
        W_conv2 = weight_variable([5, 5, 16, 32])
        b_conv2 = bias_variable([32])
        h_pool2 = max_pool_2x2(tf.nn.relu(conv2d(h_pool1, W_conv2) + b_conv2))
        W_fc1 = weight_variable([2 * 2 * 32, 128])
        b_fc1 = bias_variable([128])
        h_pool2_flat = tf.reshape(h_pool2, [-1, 2 * 2 * 32])
        h_fc1 = tf.nn.relu(tf.matmul(h_pool2_flat, W_fc1) + b_fc1)
        keep_prob = tf.placeholder(tf.float32)
        h_fc1_drop = tf.nn.dropout(h_fc1, keep_prob)
        W_fc2 = weight_variable([128, 10])
        b_fc2 = bias_variable([10])
        y_conv = tf.matmul(h_fc1_drop, W_fc2) + b_fc2
        cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
        train_step = tf.train.AdamOptimizer(1e-3).minimize(cross_entropy)
        correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
        accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
        variables = [W_conv1, b_conv1, W_conv2, b_conv2, W_fc1, b_fc1, W_fc2, b_fc2]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            initial = sess.run(variables)
            for var, value in zip(variables, init or []):
                var.load(value, sess)
            for batch_xs, batch_ys in _batches(x_train, y_train, 50, steps):
                train_step.run(feed_dict={x: batch_xs, y_: batch_ys, keep_prob: keep})
            test_accuracy = float(accuracy.eval(feed_dict={x: x_test, y_: y_test, keep_prob: 1.0}))
            trained = sess.run(variables)
    return initial, test_accuracy, trained


# ---- comparisons ------------------------------------------------------------------------------


def test_softmax_tutorial_matches_tf1(tf1: Any, gentf_tf: Any, digits: Any) -> None:
    """Softmax weights agree to 1e-4 and accuracies within two test examples."""
    W_ref, acc_ref = softmax_tutorial(tf1, digits)
    W, acc = softmax_tutorial(gentf_tf, digits)
    n_test = len(digits[2])
    assert acc_ref > 0.8, acc_ref
    np.testing.assert_allclose(W, W_ref, atol=1e-4)
    assert abs(acc - acc_ref) <= 2 / n_test + 1e-9, (acc, acc_ref)


def test_convnet_tutorial_matches_tf1(tf1: Any, gentf_tf: Any, digits: Any) -> None:
    """Same initial values loaded in both runs: accuracies within two test examples and
    trained weights close; the worker-computed initial values have TF1's statistics
    (truncated normal with stddev 0.1 within two stddevs, constant 0.1 biases)."""
    rng = np.random.default_rng(7)
    shapes = [(5, 5, 1, 16), (16,), (5, 5, 16, 32), (32,), (128, 128), (128,), (128, 10), (10,)]
    init = [np.clip(rng.normal(0, 0.1, s), -0.2, 0.2).astype(np.float32) if len(s) > 1
            else np.full(s, 0.1, np.float32) for s in shapes]
    _, acc_ref, trained_ref = convnet_tutorial(tf1, digits, init)
    initial, acc, trained = convnet_tutorial(gentf_tf, digits, init)
    n_test = len(digits[2])
    assert acc_ref > 0.5, acc_ref
    assert abs(acc - acc_ref) <= 2 / n_test + 1e-9, (acc, acc_ref)
    for mine, ref in zip(trained, trained_ref):
        np.testing.assert_allclose(mine, ref, atol=2e-4)
    for value, shape in zip(initial, shapes):
        assert value.shape == shape
        if len(shape) > 1:
            assert np.abs(value).max() <= 0.2 + 1e-6
            assert 0.06 < value.std() < 0.1, value.std()
        else:
            np.testing.assert_array_equal(value, np.full(shape, 0.1, np.float32))


def test_dropout_keep_prob_matches_tf1(tf1: Any, session: gtf.Session) -> None:
    """``dropout(x, keep_prob)`` keeps about keep_prob of the entries (as TF1 does) and
    scales them by 1 / keep_prob; ``keep_prob`` may be a placeholder; ``rate=`` also works."""
    ones = np.ones((400, 500), np.float32)
    keep = gtf.placeholder(gtf.float32)
    mine = session.run(gtf.nn.dropout(gtf.constant(ones), keep), {keep: 0.7})
    by_rate = session.run(gtf.nn.dropout(gtf.constant(ones), rate=0.25))
    with tf1.Graph().as_default():
        k = tf1.placeholder(tf1.float32)
        with tf1.Session() as sess:
            ref = sess.run(tf1.nn.dropout(tf1.constant(ones), k), {k: 0.7})
    for values, p in ((mine, 0.7), (ref, 0.7), (by_rate, 0.75)):
        kept = values[values != 0]
        np.testing.assert_allclose(kept, 1 / p, rtol=1e-6)
        assert abs(kept.size / values.size - p) < 0.01
    assert abs((mine != 0).mean() - (ref != 0).mean()) < 0.01
    full = session.run(gtf.nn.dropout(gtf.constant(ones), keep), {keep: 1.0})
    np.testing.assert_array_equal(full, ones)


OPTIMIZERS = {
    "GradientDescent": lambda t: t.train.GradientDescentOptimizer(0.1),
    "Momentum": lambda t: t.train.MomentumOptimizer(0.05, 0.9),
    "Nesterov": lambda t: t.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "RMSProp": lambda t: t.train.RMSPropOptimizer(0.01, decay=0.9, momentum=0.5),
    "RMSPropCentered": lambda t: t.train.RMSPropOptimizer(0.01, centered=True),
    "Adagrad": lambda t: t.train.AdagradOptimizer(0.1),
    "Adam": lambda t: t.train.AdamOptimizer(0.05),
}


def _regression(tf: Any, make_opt: Any, W0: np.ndarray, X: np.ndarray, Y: np.ndarray,
                steps: int) -> tuple[np.ndarray, int]:
    """Least squares with ``opt.minimize(loss, global_step=step)``; returns (W, step)."""
    with tf.Graph().as_default():
        W = tf.Variable(W0)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
        x = tf.placeholder(tf.float32, [None, 3])
        loss = tf.reduce_sum(tf.square(tf.matmul(x, W) - Y))
        train = make_opt(tf).minimize(loss, global_step=step)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                sess.run(train, {x: X})
            return sess.run(W), int(sess.run(step))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_minimize_matches_tf1(tf1: Any, gentf_tf: Any, name: str) -> None:
    """Each optimizer's ``minimize`` (worker-built gradients, TF1 update rules) takes the
    same five float32 steps as TensorFlow 1's, and counts them in ``global_step``. (In
    float64, TF1 rounds Python-float hyperparameters through float32; gentf keeps them
    exact, so float64 runs differ from TF1 by about 1e-8 relative.)"""
    rng = np.random.default_rng(3)
    W0, X, Y = (rng.normal(size=s).astype(np.float32) for s in ((3, 2), (8, 3), (8, 2)))
    ref, ref_step = _regression(tf1, OPTIMIZERS[name], W0, X, Y, 5)
    mine, step = _regression(gentf_tf, OPTIMIZERS[name], W0, X, Y, 5)
    assert step == ref_step == 5
    assert not np.allclose(ref, W0)
    np.testing.assert_allclose(mine, ref, rtol=2e-6, atol=1e-6)
