"""The graph layer's one way to a worker, installed from above.

The graph builder sits below ``gentf.remote`` (which imports it) and never imports it back.
The few graph features that need a worker (``Tensor.eval``, ``Operation.run``,
``tf.gradients``, a variable's shape from its initializer, ``tf.import_op``) ask the
:class:`WorkerLink` that ``gentf.remote`` installs when it is imported (``import gentf``
does). Without one they raise an error saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gentf.graph._core import Graph, Operation

__all__ = ["WorkerLink", "WorkerSession", "set_worker_link", "worker_link"]


class WorkerSession(Protocol):
    """What the graph layer uses of a session (``gentf.remote``'s ``Session``)."""

    def call(self, method: str, request: Any) -> Any:
        """The reply of one worker call ``method`` with ``request``."""

    def sync(self, ops: Sequence[Operation]) -> None:
        """Creates ``ops`` (and what they need) on the session's worker."""


@dataclass(frozen=True)
class WorkerLink:
    """The layer above's answers to what the graph layer asks of a worker.

    - ``run(fetches, feed_dict, session, what)``: ``session.run`` in ``session``, else the
      default session (ValueError naming ``what`` when there is none);
    - ``call(graph, method, request)``: a call that needs no session (``AddGradients``) on
      the worker of ``graph``'s session, else on the default worker;
    - ``session_for_graph(graph)``: the open session that runs ``graph``, or None;
    - ``default_session()``: the default session, or None.
    """

    run: Callable[[Any, Any, Any, str], Any]
    call: Callable[[Graph, str, Any], Any]
    session_for_graph: Callable[[Graph], WorkerSession | None]
    default_session: Callable[[], WorkerSession | None]


_LINK: list[WorkerLink] = []


def set_worker_link(link: WorkerLink) -> None:
    """Installs ``link`` (``gentf.remote`` does, once, when it is imported)."""
    _LINK[:] = [link]


def worker_link() -> WorkerLink | None:
    """The installed :class:`WorkerLink`, or None before ``gentf.remote`` is imported."""
    return _LINK[0] if _LINK else None
