"""TensorFlow's linear algebra (``tf.linalg``) by TensorFlow 2's names; batched over
leading dimensions like TensorFlow."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import DefaultName, Tensor
from gentf.graph._ops import _binary, _reduce, _unary, matmul

__all__ = [
    "adjoint", "band_part", "cholesky", "cholesky_solve", "det", "diag", "diag_part", "eigh",
    "inv", "logdet", "matmul", "matrix_transpose", "norm", "qr", "slogdet", "solve", "svd",
    "trace", "triangular_solve",
]


def _t(x: Any, dtype: Any = None) -> Tensor:
    return convert_to_tensor(x, dtype=dtype)


def inv(input: Any, adjoint: bool = False, name: str | None = None) -> Tensor:
    """``tf.linalg.inv(input)``: the inverse of each square matrix."""
    return apply_op("MatrixInverse", [_t(input)], {"adjoint": adjoint}, name=name).outputs[0]


def cholesky(input: Any, name: str | None = None) -> Tensor:
    """``tf.linalg.cholesky(input)``: lower-triangular L with ``L @ L^T == input``."""
    return _unary("Cholesky", input, name)


def triangular_solve(matrix: Any, rhs: Any, lower: bool = True, adjoint: bool = False,
                     name: str | None = None) -> Tensor:
    """``tf.linalg.triangular_solve(matrix, rhs, lower=True, adjoint=False)``: X with
    ``matrix @ X == rhs`` for a triangular ``matrix``."""
    m = _t(matrix)
    return apply_op("MatrixTriangularSolve", [m, _t(rhs, m.dtype)], {"lower": lower, "adjoint": adjoint},
                    name=name).outputs[0]


def solve(matrix: Any, rhs: Any, adjoint: bool = False, name: str | None = None) -> Tensor:
    """``tf.linalg.solve(matrix, rhs, adjoint=False)``: X with ``matrix @ X == rhs``."""
    m = _t(matrix)
    return apply_op("MatrixSolve", [m, _t(rhs, m.dtype)], {"adjoint": adjoint}, name=name).outputs[0]


def cholesky_solve(chol: Any, rhs: Any, name: str | None = None) -> Tensor:
    """``tf.linalg.cholesky_solve(chol, rhs)``: X with ``A @ X == rhs`` where ``chol`` is A's Cholesky factor."""
    y = triangular_solve(chol, rhs, lower=True, adjoint=False)
    return triangular_solve(chol, y, lower=True, adjoint=True, name=name or DefaultName("cholesky_solve"))


def det(input: Any, name: str | None = None) -> Tensor:
    """``tf.linalg.det(input)``: the determinant of each square matrix."""
    return _unary("MatrixDeterminant", input, name)


def slogdet(input: Any, name: str | None = None) -> tuple[Tensor, Tensor]:
    """``tf.linalg.slogdet(input)``: ``(sign, log_abs_determinant)``."""
    op = apply_op("LogMatrixDeterminant", [_t(input)], name=name)
    return op.outputs[0], op.outputs[1]


def logdet(matrix: Any, name: str | None = None) -> Tensor:
    """``tf.linalg.logdet(matrix)``: log-determinant of a Hermitian positive-definite matrix
    (via its Cholesky factor)."""
    chol = cholesky(matrix)
    d = diag_part(chol)
    return _binary("Mul", _reduce("Sum", _unary("Log", d, None), [-1], False, None), 2.0, name or DefaultName("logdet"))


def diag(diagonal: Any, name: str | None = None, k: int = 0, num_rows: int = -1, num_cols: int = -1,
         padding_value: Any = 0, align: str = "RIGHT_LEFT") -> Tensor:
    """``tf.linalg.diag(diagonal, k=0)``: a (batch of) matrix with ``diagonal`` on diagonal k."""
    d = _t(diagonal)
    return apply_op("MatrixDiagV3", [d, constant(np.int32(k)), constant(np.int32(num_rows)),
                                     constant(np.int32(num_cols)), _t(padding_value, d.dtype)],
                    {"align": align}, name=name).outputs[0]


def diag_part(input: Any, name: str | None = None, k: int = 0, padding_value: Any = 0,
              align: str = "RIGHT_LEFT") -> Tensor:
    """``tf.linalg.diag_part(input, k=0)``: diagonal k of each matrix."""
    x = _t(input)
    return apply_op("MatrixDiagPartV3", [x, constant(np.int32(k)), _t(padding_value, x.dtype)],
                    {"align": align}, name=name).outputs[0]


def trace(x: Any, name: str | None = None) -> Tensor:
    """``tf.linalg.trace(x)``: the sum of each matrix's diagonal."""
    return _reduce("Sum", diag_part(x), [-1], False, name or DefaultName("trace"))


def matrix_transpose(a: Any, conjugate: bool = False, name: str | None = None) -> Tensor:
    """``tf.linalg.matrix_transpose(a)``: swaps the last two dimensions."""
    x = _t(a)
    if x.shape is None:
        raise ValueError("matrix_transpose needs a tensor of known rank")
    r = len(x.shape)
    perm = list(range(r - 2)) + [r - 1, r - 2]
    op_type = "ConjugateTranspose" if conjugate else "Transpose"
    return apply_op(op_type, [x, constant(np.asarray(perm, np.int32))], name=name or DefaultName("matrix_transpose")).outputs[0]


def adjoint(matrix: Any, name: str | None = None) -> Tensor:
    """``tf.linalg.adjoint(matrix)``: conjugate transpose of the last two dimensions."""
    return matrix_transpose(matrix, conjugate=True, name=name)


def band_part(input: Any, num_lower: int, num_upper: int, name: str | None = None) -> Tensor:
    """``tf.linalg.band_part(input, num_lower, num_upper)``: zero outside the band (-1: keep all)."""
    return apply_op("MatrixBandPart", [_t(input), constant(np.int64(num_lower)), constant(np.int64(num_upper))],
                    name=name).outputs[0]


def eigh(tensor: Any, name: str | None = None) -> tuple[Tensor, Tensor]:
    """``tf.linalg.eigh(tensor)``: ``(eigenvalues, eigenvectors)`` of self-adjoint matrices."""
    op = apply_op("SelfAdjointEigV2", [_t(tensor)], {"compute_v": True}, name=name)
    return op.outputs[0], op.outputs[1]


def svd(tensor: Any, full_matrices: bool = False, compute_uv: bool = True,
        name: str | None = None) -> Any:
    """``tf.linalg.svd(tensor, full_matrices=False, compute_uv=True)``: ``(s, u, v)``, or ``s``."""
    op = apply_op("Svd", [_t(tensor)], {"full_matrices": full_matrices, "compute_uv": compute_uv}, name=name)
    return (op.outputs[0], op.outputs[1], op.outputs[2]) if compute_uv else op.outputs[0]


def qr(input: Any, full_matrices: bool = False, name: str | None = None) -> tuple[Tensor, Tensor]:
    """``tf.linalg.qr(input, full_matrices=False)``: ``(q, r)``."""
    op = apply_op("Qr", [_t(input)], {"full_matrices": full_matrices}, name=name)
    return op.outputs[0], op.outputs[1]


def norm(tensor: Any, ord: Any = "euclidean", axis: Any = None, keepdims: bool = False,
         name: str | None = None) -> Tensor:
    """``tf.norm(tensor, ord="euclidean", axis=None, keepdims=False)``: the 2-norm (or 1 /
    inf norm) of the flattened tensor or along ``axis``."""
    x = _t(tensor)
    if ord in ("euclidean", "fro", 2):
        return _unary("Sqrt", _reduce("Sum", _unary("Square", x, None), axis, keepdims, None), name or DefaultName("norm"))
    if ord == 1:
        return _reduce("Sum", _unary("Abs", x, None), axis, keepdims, name or DefaultName("norm"))
    if ord == np.inf:
        return _reduce("Max", _unary("Abs", x, None), axis, keepdims, name or DefaultName("norm"))
    raise ValueError(f"tf.norm: ord {ord!r} is not supported (euclidean, 1, inf)")


_ = matmul
