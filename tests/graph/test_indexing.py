"""numpy-style indexing of gentf tensors against numpy, on random shapes and index expressions."""

from __future__ import annotations

from typing import Any

import numpy as np
from gentf import tf


def _random_index(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """A random basic index for ``shape``: ints, negative ints, stepped slices, ``...``, None."""
    items: list[Any] = []
    dims = list(shape)
    use_ellipsis = rng.random() < 0.3 and len(dims) > 1
    ellipsis_at = int(rng.integers(0, len(dims))) if use_ellipsis else -1
    k = 0
    while k < len(dims):
        if k == ellipsis_at:
            items.append(Ellipsis)
            ellipsis_at = -1
            k = len(dims) - int(rng.integers(0, 2))  # skip most dims
            continue
        n = dims[k]
        r = rng.random()
        if r < 0.3:
            items.append(int(rng.integers(-n, n)))
        elif r < 0.85:
            start = None if rng.random() < 0.3 else int(rng.integers(-n, n))
            stop = None if rng.random() < 0.3 else int(rng.integers(-n - 1, n + 1))
            step = None if rng.random() < 0.3 else int(rng.choice([-3, -2, -1, 1, 2, 3]))
            items.append(slice(start, stop, step))
        else:
            items.append(None)
            continue
        k += 1
    if rng.random() < 0.3:
        items.insert(int(rng.integers(0, len(items) + 1)), None)
    return tuple(items)


def test_basic_indexing_matches_numpy(session: tf.Session) -> None:
    """200 random index expressions on random shapes, one RunOp."""
    rng = np.random.default_rng(7)
    cases = []
    fetches = []
    for _ in range(200):
        shape = tuple(int(d) for d in rng.integers(1, 6, size=int(rng.integers(1, 5))))
        x = rng.normal(size=shape)
        index = _random_index(rng, shape)
        t = tf.constant(x)
        out = t[index]
        want = x[index]
        assert out.shape == want.shape, (shape, index)  # client-side static shape
        cases.append((shape, index, want))
        fetches.append(out)
    values = session.run(fetches)
    for (shape, index, want), got in zip(cases, values):
        assert got.shape == want.shape, (shape, index)
        np.testing.assert_array_equal(got, want, err_msg=f"{shape} {index}")


def test_tensor_indices_gather_and_mask(session: tf.Session) -> None:
    """An int tensor (or list) index gathers, a bool tensor masks; a scalar int tensor slices."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 5))
    t = tf.constant(x)
    idx = tf.constant(np.array([4, 0, 0, 2], np.int32))
    mask = tf.constant(x[:, 0] > 0)
    i = tf.placeholder(tf.int32, shape=())
    outs = session.run([t[idx], t[:, idx[:2]], t[[1, 3]], t[mask], t[t > 0], t[i], t[i, -1]], {i: 3})
    np.testing.assert_array_equal(outs[0], x[[4, 0, 0, 2]])
    np.testing.assert_array_equal(outs[1], x[:, [4, 0]])
    np.testing.assert_array_equal(outs[2], x[[1, 3]])
    np.testing.assert_array_equal(outs[3], x[x[:, 0] > 0])
    np.testing.assert_array_equal(outs[4], x[x > 0])
    np.testing.assert_array_equal(outs[5], x[3])
    assert outs[6] == x[3, -1]


def test_variable_indexing_and_operators(session: tf.Session) -> None:
    """Variables index and combine like tensors; Python scalars take the tensor's dtype."""
    v = tf.Variable(np.arange(12, dtype=np.int32).reshape(3, 4))
    f = tf.constant(np.linspace(-2, 2, 6, dtype=np.float32))
    b = f > 0
    exprs = [v[1:, ::2], v // 3, v % 5, -v, abs(f), 2 ** f, f ** 2, 1 - f, 3 / f, tf.reshape(f, (1, 6)) @ tf.reshape(f, (6, 1)),
             b & (f < 1.5), b | (f < -1.5), ~b, b ^ (f < 1.5), v & 6, v | 1, ~v, f <= 0.4, f >= -0.4]
    assert (2.0 * f).dtype is tf.float32 and (v * 2).dtype is tf.int32
    got = session.run(exprs)
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    g = np.linspace(-2, 2, 6, dtype=np.float32)
    want = [a[1:, ::2], a // 3, a % 5, -a, abs(g), 2 ** g, g ** 2, 1 - g, 3 / g, g.reshape(1, 6) @ g.reshape(6, 1),
            (g > 0) & (g < 1.5), (g > 0) | (g < -1.5), ~(g > 0), (g > 0) ^ (g < 1.5), a & 6, a | 1, ~a,
            g <= 0.4, g >= -0.4]
    for k, (x, y) in enumerate(zip(got, want)):
        np.testing.assert_allclose(x, y, rtol=1e-6, err_msg=str(k))
    same = f
    assert (f == same) is True and (f == tf.identity(f)) is False  # == stays identity (TF1 graph semantics)
