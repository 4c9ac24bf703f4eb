"""Remote execution: sessions on a worker and TFFunction, the TensorFlow generative function."""

from gentf.remote._session import Session, get_default_session
from gentf.remote._tffunction import (
    TFFunction,
    TFTrace,
    get_param_grad_tf_var,
    get_session,
    reset_param_grads_tf_op,
    runtf,
)

__all__ = [
    "Session",
    "TFFunction",
    "TFTrace",
    "get_default_session",
    "get_param_grad_tf_var",
    "get_session",
    "reset_param_grads_tf_op",
    "runtf",
]
