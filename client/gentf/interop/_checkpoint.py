"""Loading a gentf checkpoint into real TensorFlow variables (TensorFlow imported lazily)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["load_checkpoint"]


def load_checkpoint(path: str, variables: Iterable[Any] | None = None) -> dict[str, Any]:
    """``values = load_checkpoint(path, variables=None)``: reads a gentf checkpoint (a
    prefix such as ``sess.checkpoint()`` returns, or a ``--state-dir/<name>`` directory:
    its latest checkpoint) and returns ``{variable name: numpy array}``, keyed by the
    gentf graph's variable names. Each real TensorFlow variable in ``variables`` is assigned
    the value saved under its name (``v.name`` without ``:0``); KeyError names a variable
    the checkpoint lacks, ValueError one whose shape differs (nothing assigned then)."""
    import os

    from gentf.interop._convert import load_tensorflow

    tf = load_tensorflow()

    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"{path}: no checkpoint in this directory")
        path = latest
    reader = tf.train.load_checkpoint(path)
    values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    values.pop("_gentf_empty", None)
    targets = list(variables or ())
    plan = []
    for v in targets:
        name = v.name.split(":")[0]
        if name not in values:
            raise KeyError(f"variable {name!r} is not in checkpoint {path}")
        if tuple(v.shape) != tuple(values[name].shape):
            raise ValueError(f"variable {name!r} has shape {tuple(v.shape)}, the checkpoint "
                             f"{tuple(values[name].shape)}")
        plan.append((v, values[name]))
    for v, value in plan:
        v.assign(value)
    return values
