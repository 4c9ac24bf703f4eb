"""TensorFlow's ``TF_CONFIG`` for a parameter-server cluster, checked without TensorFlow.

A cluster for ``gentf-worker --strategy parameter-server`` is TensorFlow's own: ``TF_CONFIG``
is JSON with a ``cluster`` (job name -> list of ``host:port``) and a ``task`` (this process's
``type`` and ``index``)::

    {"cluster": {"chief": ["h0:2222"], "worker": ["h1:2222", "h2:2222"], "ps": ["h3:2222"]},
     "task": {"type": "chief", "index": 0}}

The gentf worker is the ``chief`` (TensorFlow's cluster coordinator); every ``worker`` and
``ps`` host runs a plain ``tf.distribute.Server`` (``python -m gentf_server.tfserver``).
:func:`parse_tf_config` checks all of that before anything starts, so a wrong ``TF_CONFIG``
is a clear message at start, not a hang or a TensorFlow stack trace later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ClusterConfig", "TFConfigError", "parse_tf_config"]

_JOBS = ("chief", "worker", "ps")


class TFConfigError(ValueError):
    """``TF_CONFIG`` is missing, not JSON, or does not describe a usable cluster."""


@dataclass(frozen=True)
class ClusterConfig:
    """A checked ``TF_CONFIG``: ``cluster`` (job -> addresses), this task's ``task_type``
    and ``task_index``."""

    cluster: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def address(self) -> str:
        """This task's ``host:port``."""
        return self.cluster[self.task_type][self.task_index]

    def describe(self) -> str:
        """A one-line summary for logs: each job's addresses and this task."""
        jobs = "; ".join(f"{job} {self.cluster[job]}" for job in _JOBS if job in self.cluster)
        return f"{jobs}; this process is {self.task_type} {self.task_index} ({self.address})"


def parse_tf_config(environ: Mapping[str, str], expect: tuple[str, ...] = ("chief",)
                    ) -> ClusterConfig:
    """The cluster ``environ["TF_CONFIG"]`` describes, checked; :class:`TFConfigError` (with
    a message saying what is wrong and what is expected) unless it is JSON with a
    ``cluster`` of exactly one ``chief``, at least one ``worker`` and at least one ``ps``
    address (``host:port`` strings, no job but these, no address twice) and a ``task``
    whose ``type`` is in ``expect`` and whose ``index`` names one of that job's addresses."""
    text = environ.get("TF_CONFIG", "")
    wanted = " or ".join(repr(t) for t in expect)
    task = json.dumps({"type": expect[0], "index": 0})
    example = ('e.g. TF_CONFIG=\'{"cluster": {"chief": ["h0:2222"], "worker": ["h1:2222"], '
               f'"ps": ["h2:2222"]}}, "task": {task}}}\'')
    if not text.strip():
        raise TFConfigError(f"TF_CONFIG is not set: a parameter-server cluster is described by "
                            f"TensorFlow's TF_CONFIG environment variable ({example})")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TFConfigError(f"TF_CONFIG is not JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise TFConfigError("TF_CONFIG has no 'cluster' object (job name -> list of host:port)")
    cluster: dict[str, list[str]] = {}
    seen: set[str] = set()
    for job, addresses in config["cluster"].items():
        if job not in _JOBS:
            raise TFConfigError(f"TF_CONFIG's cluster has a job {job!r}: a parameter-server "
                                f"cluster has only 'chief', 'worker' and 'ps'")
        if not isinstance(addresses, list) or not all(
                isinstance(a, str) and _is_host_port(a) for a in addresses):
            raise TFConfigError(f"TF_CONFIG's cluster job {job!r} must be a list of 'host:port' "
                                f"strings, got {addresses!r}")
        for a in addresses:
            if a in seen:
                raise TFConfigError(f"TF_CONFIG's cluster lists {a!r} twice: each task needs "
                                    f"its own port")
            seen.add(a)
        cluster[job] = list(addresses)
    if len(cluster.get("chief", [])) != 1:
        raise TFConfigError("TF_CONFIG's cluster needs exactly one 'chief' address (the gentf "
                            f"worker, TensorFlow's coordinator), got {cluster.get('chief', [])}")
    for job in ("worker", "ps"):
        if not cluster.get(job):
            raise TFConfigError(f"TF_CONFIG's cluster has no {job!r} address: a parameter-server "
                                f"cluster needs at least one worker and one ps")
    task = config.get("task")
    if not isinstance(task, dict):
        raise TFConfigError(f"TF_CONFIG has no 'task' object: this process's task must be "
                            f"{{'type': {expect[0]!r}, 'index': N}}")
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in expect:
        raise TFConfigError(f"TF_CONFIG's task type is {task_type!r}, but this process must be "
                            f"{wanted}")
    if not isinstance(index, int) or isinstance(index, bool) or not (
            0 <= index < len(cluster[task_type])):
        raise TFConfigError(f"TF_CONFIG's task index {index!r} names no {task_type!r} address "
                            f"(there are {len(cluster[task_type])})")
    return ClusterConfig(cluster, task_type, index)


def _is_host_port(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)
