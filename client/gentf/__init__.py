"""gentf: GenTF for Python, as a client-server system.

A worker owns TensorFlow (graphs, parameters, gradient accumulators) and serves it over
gRPC; this package is the thin client, with no TensorFlow in it. Build a computation with
``gentf.tf`` (TensorFlow's names), wrap it as a ``TFFunction`` generative function, call
it from Gen-style programs and train it remotely.
"""

from gentf import errors, tf
from gentf.gfi import (
    ChoiceMap,
    Diff,
    EmptyChoiceMap,
    GenerativeFunction,
    NoChange,
    Selection,
    Trace,
    UnknownChange,
    accumulate_param_gradients,
    assess,
    choice_gradients,
    choicemap,
    generate,
    project,
    propose,
    regenerate,
    select,
    simulate,
    update,
)
from gentf.gfi._param_conf import ADAM, FixedStepGradientDescent, GradientDescent
from gentf.remote import (
    Session,
    TFFunction,
    TFTrace,
    get_param_grad_tf_var,
    get_session,
    reset_param_grads_tf_op,
    runtf,
)

__version__ = "0.1.0"

__all__ = [
    "ADAM",
    "ChoiceMap",
    "Diff",
    "EmptyChoiceMap",
    "FixedStepGradientDescent",
    "GenerativeFunction",
    "GradientDescent",
    "NoChange",
    "Selection",
    "Session",
    "TFFunction",
    "TFTrace",
    "Trace",
    "UnknownChange",
    "accumulate_param_gradients",
    "assess",
    "choice_gradients",
    "choicemap",
    "errors",
    "generate",
    "get_param_grad_tf_var",
    "get_session",
    "project",
    "propose",
    "regenerate",
    "reset_param_grads_tf_op",
    "runtf",
    "select",
    "simulate",
    "tf",
    "update",
]
