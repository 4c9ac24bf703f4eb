"""gentf.tf ops against in-process TensorFlow: the same expression, written once with the
module as a parameter (``m`` is ``gentf.tf`` or ``tensorflow``), run on the real worker and
eagerly here, in float32 and float64. All ops of one dtype run in one RunOp."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from gentf import tf as gtf

RNG = np.random.default_rng(1234)


def U(*shape: int) -> np.ndarray:
    """Uniform(-1, 1)."""
    return RNG.uniform(-1.0, 1.0, shape)


def P(*shape: int) -> np.ndarray:
    """Uniform(0.5, 2): positive."""
    return RNG.uniform(0.5, 2.0, shape)


def SPD(n: int) -> np.ndarray:
    """A well-conditioned symmetric positive-definite matrix."""
    a = RNG.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


def LOWER(n: int) -> np.ndarray:
    """A well-conditioned lower-triangular matrix."""
    return np.tril(RNG.normal(size=(n, n))) + 3 * np.eye(n)


Case = tuple[str, Callable[..., Any], list[np.ndarray]]

CASES: list[Case] = [
    # unary math
    ("abs", lambda m, x: m.abs(x), [U(3, 4)]),
    ("negative", lambda m, x: m.negative(x), [U(3, 4)]),
    ("exp", lambda m, x: m.exp(x), [U(3, 4)]),
    ("log", lambda m, x: m.math.log(x), [P(3, 4)]),
    ("sqrt", lambda m, x: m.sqrt(x), [P(3, 4)]),
    ("square", lambda m, x: m.square(x), [U(3, 4)]),
    ("tanh", lambda m, x: m.tanh(x), [U(3, 4)]),
    ("sigmoid", lambda m, x: m.sigmoid(x), [U(3, 4)]),
    ("sin", lambda m, x: m.math.sin(x), [U(3, 4)]),
    ("cos", lambda m, x: m.math.cos(x), [U(3, 4)]),
    ("tan", lambda m, x: m.math.tan(x), [U(3, 4)]),
    ("asin", lambda m, x: m.math.asin(x), [0.9 * U(3, 4)]),
    ("acos", lambda m, x: m.math.acos(x), [0.9 * U(3, 4)]),
    ("atan", lambda m, x: m.math.atan(x), [U(3, 4)]),
    ("sinh", lambda m, x: m.math.sinh(x), [U(3, 4)]),
    ("cosh", lambda m, x: m.math.cosh(x), [U(3, 4)]),
    ("asinh", lambda m, x: m.math.asinh(x), [U(3, 4)]),
    ("acosh", lambda m, x: m.math.acosh(x), [1 + P(3, 4)]),
    ("atanh", lambda m, x: m.math.atanh(x), [0.9 * U(3, 4)]),
    ("log1p", lambda m, x: m.math.log1p(x), [P(3, 4)]),
    ("expm1", lambda m, x: m.math.expm1(x), [U(3, 4)]),
    ("rsqrt", lambda m, x: m.math.rsqrt(x), [P(3, 4)]),
    ("reciprocal", lambda m, x: m.math.reciprocal(x), [P(3, 4)]),
    ("sign", lambda m, x: m.math.sign(x), [U(3, 4)]),
    ("floor", lambda m, x: m.math.floor(x), [3 * U(3, 4)]),
    ("ceil", lambda m, x: m.math.ceil(x), [3 * U(3, 4)]),
    ("round", lambda m, x: m.math.round(x), [3 * U(3, 4)]),
    ("erf", lambda m, x: m.math.erf(x), [U(3, 4)]),
    ("erfc", lambda m, x: m.math.erfc(x), [U(3, 4)]),
    ("lgamma", lambda m, x: m.math.lgamma(x), [P(3, 4)]),
    ("digamma", lambda m, x: m.math.digamma(x), [P(3, 4)]),
    ("log_sigmoid", lambda m, x: m.math.log_sigmoid(x), [3 * U(3, 4)]),
    ("is_nan", lambda m, x: m.math.is_nan(m.math.log(x)), [U(3, 4)]),
    # activations
    ("relu", lambda m, x: m.nn.relu(x), [U(3, 4)]),
    ("relu6", lambda m, x: m.nn.relu6(x), [8 * U(3, 4)]),
    ("elu", lambda m, x: m.nn.elu(x), [U(3, 4)]),
    ("selu", lambda m, x: m.nn.selu(x), [U(3, 4)]),
    ("softplus", lambda m, x: m.nn.softplus(x), [U(3, 4)]),
    ("softsign", lambda m, x: m.nn.softsign(x), [U(3, 4)]),
    ("leaky_relu", lambda m, x: m.nn.leaky_relu(x, alpha=0.1), [U(3, 4)]),
    ("silu", lambda m, x: m.nn.silu(x), [U(3, 4)]),
    ("gelu", lambda m, x: m.nn.gelu(x), [U(3, 4)]),
    ("gelu_tanh", lambda m, x: m.nn.gelu(x, approximate=True), [U(3, 4)]),
    ("softmax", lambda m, x: m.nn.softmax(x), [U(3, 4)]),
    ("softmax_axis0", lambda m, x: m.nn.softmax(x, axis=0), [U(3, 4)]),
    ("log_softmax", lambda m, x: m.nn.log_softmax(x), [U(3, 4)]),
    ("l2_loss", lambda m, x: m.nn.l2_loss(x), [U(3, 4)]),
    ("l2_normalize", lambda m, x: m.math.l2_normalize(x, axis=1), [U(3, 4)]),
    # binary math
    ("add", lambda m, x, y: m.add(x, y), [U(3, 4), U(4)]),
    ("subtract", lambda m, x, y: m.subtract(x, y), [U(3, 4), U(3, 1)]),
    ("multiply", lambda m, x, y: m.multiply(x, y), [U(3, 4), U(3, 4)]),
    ("divide", lambda m, x, y: m.divide(x, y), [U(3, 4), P(3, 4)]),
    ("maximum", lambda m, x, y: m.maximum(x, y), [U(3, 4), U(3, 4)]),
    ("minimum", lambda m, x, y: m.minimum(x, y), [U(3, 4), U(3, 4)]),
    ("pow", lambda m, x, y: m.pow(x, y), [P(3, 4), U(3, 4)]),
    ("squared_difference", lambda m, x, y: m.math.squared_difference(x, y), [U(3, 4), U(3, 4)]),
    ("atan2", lambda m, x, y: m.math.atan2(x, y), [U(3, 4), U(3, 4)]),
    ("floordiv", lambda m, x, y: m.math.floordiv(x, y), [5 * U(3, 4), P(3, 4)]),
    ("floormod", lambda m, x, y: m.math.floormod(x, y), [5 * U(3, 4), P(3, 4)]),
    ("xlogy", lambda m, x, y: m.math.xlogy(x, y), [U(3, 4), P(3, 4)]),
    ("divide_no_nan", lambda m, x, y: m.math.divide_no_nan(x, y * m.cast(x > 0, y.dtype)), [U(3, 4), P(3, 4)]),
    ("matmul", lambda m, x, y: m.matmul(x, y), [U(3, 4), U(4, 2)]),
    ("matmul_tb", lambda m, x, y: m.linalg.matmul(x, y, transpose_b=True), [U(3, 4), U(2, 4)]),
    ("batch_matmul", lambda m, x, y: m.matmul(x, y), [U(2, 3, 4), U(2, 4, 5)]),
    ("einsum", lambda m, x, y: m.einsum("ij,kj->ik", x, y), [U(3, 4), U(2, 4)]),
    # comparisons and logic
    ("equal", lambda m, x, y: m.equal(m.round(x), m.round(y)), [U(3, 4), U(3, 4)]),
    ("not_equal", lambda m, x, y: m.not_equal(m.round(x), m.round(y)), [U(3, 4), U(3, 4)]),
    ("less", lambda m, x, y: m.less(x, y), [U(3, 4), U(3, 4)]),
    ("less_equal", lambda m, x, y: m.less_equal(x, y), [U(3, 4), U(3, 4)]),
    ("greater", lambda m, x, y: m.greater(x, y), [U(3, 4), U(3, 4)]),
    ("greater_equal", lambda m, x, y: m.greater_equal(x, y), [U(3, 4), U(3, 4)]),
    ("logical_and", lambda m, x, y: m.logical_and(x > 0, y > 0), [U(3, 4), U(3, 4)]),
    ("logical_or", lambda m, x, y: m.logical_or(x > 0, y > 0), [U(3, 4), U(3, 4)]),
    ("logical_not", lambda m, x: m.logical_not(x > 0), [U(3, 4)]),
    ("logical_xor", lambda m, x, y: m.math.logical_xor(x > 0, y > 0), [U(3, 4), U(3, 4)]),
    # reductions and scans
    ("reduce_sum", lambda m, x: m.reduce_sum(x, axis=1), [U(3, 4)]),
    ("reduce_sum_all", lambda m, x: m.reduce_sum(x), [U(3, 4)]),
    ("reduce_mean", lambda m, x: m.reduce_mean(x, axis=0, keepdims=True), [U(3, 4)]),
    ("reduce_max", lambda m, x: m.reduce_max(x, axis=0), [U(3, 4)]),
    ("reduce_min", lambda m, x: m.reduce_min(x, axis=-1), [U(3, 4)]),
    ("reduce_prod", lambda m, x: m.reduce_prod(x, axis=1), [U(3, 4)]),
    ("reduce_logsumexp", lambda m, x: m.reduce_logsumexp(x, axis=1), [5 * U(3, 4)]),
    ("reduce_std", lambda m, x: m.math.reduce_std(x, axis=0), [U(3, 4)]),
    ("reduce_variance", lambda m, x: m.math.reduce_variance(x), [U(3, 4)]),
    ("reduce_all", lambda m, x: m.reduce_all(x > -0.5, axis=1), [U(3, 4)]),
    ("reduce_any", lambda m, x: m.reduce_any(x > 0.5, axis=1), [U(3, 4)]),
    ("argmax", lambda m, x: m.argmax(x, axis=1), [U(3, 4)]),
    ("argmin", lambda m, x: m.math.argmin(x, axis=0), [U(3, 4)]),
    ("cumsum", lambda m, x: m.cumsum(x, axis=1), [U(3, 4)]),
    ("cumprod", lambda m, x: m.math.cumprod(x, axis=0, exclusive=True), [U(3, 4)]),
    ("count_nonzero", lambda m, x: m.math.count_nonzero(m.nn.relu(x), axis=1), [U(3, 4)]),
    ("add_n", lambda m, x, y: m.add_n([x, y, x]), [U(3, 4), U(3, 4)]),
    ("top_k", lambda m, x: m.math.top_k(x, k=2), [U(3, 4)]),
    ("norm", lambda m, x: m.norm(x, axis=1), [U(3, 4)]),
    # array ops
    ("reshape", lambda m, x: m.reshape(x, [4, -1]), [U(3, 4)]),
    ("transpose", lambda m, x: m.transpose(x, [2, 0, 1]), [U(2, 3, 4)]),
    ("concat", lambda m, x, y: m.concat([x, y], axis=1), [U(3, 4), U(3, 2)]),
    ("stack", lambda m, x, y: m.stack([x, y], axis=1), [U(3, 4), U(3, 4)]),
    ("unstack", lambda m, x: m.unstack(x, axis=1), [U(3, 4)]),
    ("split", lambda m, x: m.split(x, 2, axis=1), [U(3, 4)]),
    ("split_sizes", lambda m, x: m.split(x, [1, 3], axis=1), [U(3, 4)]),
    ("gather", lambda m, x: m.gather(x, [2, 0, 2], axis=1), [U(3, 4)]),
    ("gather_nd", lambda m, x: m.gather_nd(x, [[0, 1], [2, 3]]), [U(3, 4)]),
    ("where3", lambda m, x, y: m.where(x > 0, x, y), [U(3, 4), U(3, 4)]),
    ("where1", lambda m, x: m.where(x > 0), [U(3, 4)]),
    ("boolean_mask", lambda m, x: m.boolean_mask(x, x[:, 0] > 0), [U(6, 4)]),
    ("one_hot", lambda m, x: m.one_hot([0, 2, 1], 3, dtype=x.dtype) * x, [U(3, 3)]),
    ("cast", lambda m, x: m.cast(3 * x, m.int32), [U(3, 4)]),
    ("range", lambda m, x: m.range(1.0, 4.0, 0.5, dtype=x.dtype), [U(1)]),
    ("tile", lambda m, x: m.tile(x, [2, 3]), [U(2, 2)]),
    ("pad", lambda m, x: m.pad(x, [[1, 0], [2, 1]]), [U(3, 4)]),
    ("pad_value", lambda m, x: m.pad(x, [[1, 1], [0, 1]], constant_values=2.5), [U(3, 4)]),
    ("pad_reflect", lambda m, x: m.pad(x, [[1, 1], [2, 2]], mode="REFLECT"), [U(3, 4)]),
    ("slice", lambda m, x: m.slice(x, [1, 1], [2, -1]), [U(3, 4)]),
    ("reverse", lambda m, x: m.reverse(x, [1]), [U(3, 4)]),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, [3, 4]), [U(1, 4)]),
    ("clip_by_value", lambda m, x: m.clip_by_value(x, -0.3, 0.4), [U(3, 4)]),
    ("squeeze", lambda m, x: m.squeeze(x, axis=[1]), [U(3, 1, 4)]),
    ("expand_dims", lambda m, x: m.expand_dims(x, axis=1), [U(3, 4)]),
    ("eye", lambda m, x: m.eye(3, dtype=x.dtype) + x, [U(3, 3)]),
    ("scatter_nd", lambda m, x: m.scatter_nd([[0], [2]], x, [4, 3]), [U(2, 3)]),
    ("tensor_scatter_nd_update", lambda m, x, y: m.tensor_scatter_nd_update(x, [[1], [0]], y), [U(3, 4), U(2, 4)]),
    ("fill_like", lambda m, x: m.zeros_like(x) + m.ones_like(x), [U(3, 4)]),
    ("shape_size_rank", lambda m, x: [m.shape(x), m.size(x), m.rank(x)], [U(3, 4)]),
    # neural-network ops
    ("conv2d_same", lambda m, x, w: m.nn.conv2d(x, w, strides=1, padding="SAME"), [U(2, 6, 6, 3), U(3, 3, 3, 4)]),
    ("conv2d_valid_s2", lambda m, x, w: m.nn.conv2d(x, w, strides=2, padding="VALID"), [U(2, 7, 7, 3), U(3, 3, 3, 2)]),
    ("max_pool2d", lambda m, x: m.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME"), [U(2, 5, 5, 3)]),
    ("avg_pool2d", lambda m, x: m.nn.avg_pool2d(x, ksize=3, strides=1, padding="VALID"), [U(2, 5, 5, 3)]),
    ("depthwise_conv2d", lambda m, x, w: m.nn.depthwise_conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME"),
     [U(1, 5, 5, 2), U(3, 3, 2, 2)]),
    ("conv2d_transpose", lambda m, x, w: m.nn.conv2d_transpose(x, w, [1, 6, 6, 2], strides=2, padding="SAME"),
     [U(1, 3, 3, 4), U(3, 3, 2, 4)]),
    ("bias_add", lambda m, x, b: m.nn.bias_add(x, b), [U(2, 3, 4), U(4)]),
    ("moments", lambda m, x: m.nn.moments(x, axes=[0, 1]), [U(5, 3, 4)]),
    ("batch_normalization", lambda m, x, s: m.nn.batch_normalization(x, x[0], s, 0.5 * s, s, 1e-3), [U(3, 4), P(4)]),
    ("softmax_xent", lambda m, y, x: m.nn.softmax_cross_entropy_with_logits(labels=m.nn.softmax(y), logits=x),
     [U(3, 5), U(3, 5)]),
    ("sigmoid_xent", lambda m, y, x: m.nn.sigmoid_cross_entropy_with_logits(labels=m.sigmoid(y), logits=3 * x),
     [U(3, 5), U(3, 5)]),
    ("sparse_softmax_xent", lambda m, x: m.nn.sparse_softmax_cross_entropy_with_logits(
        labels=m.constant([0, 4, 2], m.int64), logits=x), [U(3, 5)]),
    # linear algebra
    ("inv", lambda m, a: m.linalg.inv(a), [SPD(4)]),
    ("cholesky", lambda m, a: m.linalg.cholesky(a), [SPD(4)]),
    ("triangular_solve", lambda m, a, b: m.linalg.triangular_solve(a, b, lower=True), [LOWER(4), U(4, 2)]),
    ("triangular_solve_adj", lambda m, a, b: m.linalg.triangular_solve(a, b, adjoint=True), [LOWER(4), U(4, 2)]),
    ("det", lambda m, a: m.linalg.det(a), [SPD(3)]),
    ("slogdet", lambda m, a: m.linalg.slogdet(a), [SPD(3)]),
    ("logdet", lambda m, a: m.linalg.logdet(a), [SPD(3)]),
    ("diag", lambda m, x: m.linalg.diag(x), [U(2, 3)]),
    ("diag_part", lambda m, a: m.linalg.diag_part(a), [U(3, 3)]),
    ("trace", lambda m, a: m.linalg.trace(a), [U(2, 3, 3)]),
    ("solve", lambda m, a, b: m.linalg.solve(a, b), [SPD(3), U(3, 2)]),
    ("cholesky_solve", lambda m, a, b: m.linalg.cholesky_solve(m.linalg.cholesky(a), b), [SPD(3), U(3, 2)]),
    ("eigh_values", lambda m, a: m.linalg.eigh(a)[0], [SPD(4)]),
    ("svd_values", lambda m, a: m.linalg.svd(a, compute_uv=False), [U(4, 3)]),
    ("qr", lambda m, a: m.linalg.qr(a), [U(4, 3)]),
    ("band_part", lambda m, a: m.linalg.band_part(a, 1, 0), [U(4, 4)]),
    ("matrix_transpose", lambda m, a: m.linalg.matrix_transpose(a), [U(2, 3, 4)]),
]


# TensorFlow's gelu casts 1/sqrt(2) through float32 (``math_ops.cast(0.7071..., dtype)`` of a
# float32 constant), so in float64 it is only float32-accurate; gentf uses the float64 constant.
FLOAT32_ACCURATE_IN_TF = {"gelu"}


def _flat(result: Any) -> list[Any]:
    if isinstance(result, (list, tuple)):
        out: list[Any] = []
        for item in result:
            out.extend(_flat(item))
        return out
    return [result]


def test_case_count_and_families() -> None:
    """The sample is at least 60 distinct ops across families."""
    assert len(CASES) >= 60
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_match_tensorflow(session: gtf.Session, dtype: type) -> None:
    """Every case, built with gentf.tf and run on the worker, matches eager TensorFlow."""
    import tensorflow as tf

    fetches: list[Any] = []
    spans: list[tuple[str, int, int]] = []
    expected: list[np.ndarray] = []
    for name, fn, inputs in CASES:
        arrays = [np.asarray(a, dtype=dtype) for a in inputs]
        ours = _flat(fn(gtf, *[gtf.constant(a) for a in arrays]))
        theirs = [np.asarray(t) for t in _flat(fn(tf, *[tf.constant(a) for a in arrays]))]
        assert len(ours) == len(theirs), name
        spans.append((name, len(fetches), len(ours)))
        fetches.extend(ours)
        expected.extend(theirs)
    values = session.run(fetches)
    tol = 2e-5 if dtype == np.float32 else 1e-10
    for name, start, count in spans:
        for k in range(start, start + count):
            got, want = np.asarray(values[k]), expected[k]
            assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
            assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
            if want.dtype.kind in "fc":
                t = 1e-6 if name in FLOAT32_ACCURATE_IN_TF else tol
                np.testing.assert_allclose(got, want, rtol=t * 10, atol=t, err_msg=name)
            else:
                np.testing.assert_array_equal(got, want, err_msg=name)
