"""``gentf.tf.linalg``: linear algebra, batched over leading dimensions."""

from gentf.graph._array_ops import einsum, eye
from gentf.graph._linalg_ops import (
    adjoint,
    band_part,
    cholesky,
    cholesky_solve,
    det,
    diag,
    diag_part,
    eigh,
    inv,
    logdet,
    matrix_transpose,
    norm,
    qr,
    slogdet,
    solve,
    svd,
    trace,
    triangular_solve,
)
from gentf.graph._ops import matmul

__all__ = [
    "adjoint", "band_part", "cholesky", "cholesky_solve", "det", "diag", "diag_part", "eigh",
    "einsum", "eye", "inv", "logdet", "matmul", "matrix_transpose", "norm", "qr", "slogdet",
    "solve", "svd", "trace", "triangular_solve",
]
