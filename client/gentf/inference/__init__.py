"""Inference and learning on top of the generative function interface.

Parameter updates (``ParamUpdate``), ``train``, importance sampling and resampling,
Metropolis-Hastings, MAP optimization, black-box variational inference, ``logsumexp``.
Everything here talks to generative functions through the interface only.
"""

from gentf.gfi._param_conf import ADAM, FixedStepGradientDescent, GradientDescent, ParamConf
from gentf.inference._bbvi import black_box_vi
from gentf.inference._importance import importance_resampling, importance_sampling
from gentf.inference._logsumexp import logsumexp
from gentf.inference._map import map_optimize
from gentf.inference._mh import metropolis_hastings, mh
from gentf.inference._param_update import ParamUpdate
from gentf.inference._train import train

__all__ = [
    "ADAM",
    "FixedStepGradientDescent",
    "GradientDescent",
    "ParamConf",
    "ParamUpdate",
    "black_box_vi",
    "importance_resampling",
    "importance_sampling",
    "logsumexp",
    "map_optimize",
    "metropolis_hastings",
    "mh",
    "train",
]
