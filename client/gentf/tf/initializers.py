"""``gentf.tf.initializers``: initial values computed on the client with numpy.

Each initializer is called as ``init(shape, dtype=float32)`` and returns a numpy array; an
explicit ``seed`` makes the values reproducible. Use the result as a Variable's initial
value, or pass the initializer to ``tf.get_variable(..., initializer=init)``.
"""

from gentf.graph._init_ops import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Initializer,
    LecunNormal,
    Ones,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)

constant = Constant
glorot_normal = GlorotNormal
glorot_uniform = GlorotUniform
he_normal = HeNormal
he_uniform = HeUniform
lecun_normal = LecunNormal
ones = Ones
random_normal = RandomNormal
random_uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
zeros = Zeros

__all__ = [
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Initializer",
    "LecunNormal", "Ones", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "Zeros", "constant", "glorot_normal", "glorot_uniform", "he_normal",
    "he_uniform", "lecun_normal", "ones", "random_normal", "random_uniform",
    "truncated_normal", "variance_scaling", "zeros",
]
