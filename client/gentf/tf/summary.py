"""``gentf.tf.summary``: TensorFlow 1's summaries and event-file writer, for TensorBoard.

Summary ops (:func:`scalar`, :func:`histogram`, :func:`merge`, :func:`merge_all`) are
graph nodes like any other: the worker computes them (TensorFlow's ``ScalarSummary``,
``HistogramSummary`` and ``MergeSummary`` ops) and a run returns a serialized ``Summary``
protocol buffer. A :class:`FileWriter` writes such summaries, the graph and plain scalars
to an event file on the client's machine, which TensorBoard reads::

    loss_summary = tf.summary.scalar("loss", loss)
    tf.summary.histogram("W", W)
    merged = tf.summary.merge_all()
    with tf.summary.FileWriter("logs/run1", sess.graph) as writer:
        for step in range(100):
            summary, _ = sess.run([merged, train_op], feed_dict)
            writer.add_summary(summary, step)

The writer uses ``tensorboardX``'s event-file writer (no TensorFlow; ``pip install
gentf[tensorboard]``), imported when the first FileWriter is made. ``tf.summary.Summary``
(TensorFlow's Summary protocol buffer, for summaries built on the client) loads it too.
"""

from __future__ import annotations

import importlib
import os
import time
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np

from gentf.graph._apply import apply_op
from gentf.graph._core import Graph, Operation, Tensor, get_default_graph
from gentf.v1 import graph_pb2, tensor_pb2

__all__ = ["FileWriter", "histogram", "merge", "merge_all", "scalar"]

SUMMARIES = "summaries"
"""The collection summary ops join by default (TensorFlow's ``GraphKeys.SUMMARIES``)."""

_COLLECTIONS: weakref.WeakKeyDictionary[Graph, dict[str, list[Tensor]]] = weakref.WeakKeyDictionary()


def _collect(graph: Graph, tensor: Tensor, collections: Sequence[str] | None) -> None:
    keys = [SUMMARIES] if collections is None else list(collections)
    by_key = _COLLECTIONS.setdefault(graph, {})
    for key in keys:
        by_key.setdefault(key, []).append(tensor)


def _summary_op(op_type: str, name: str, data: Any, collections: Sequence[str] | None,
                family: str | None) -> Tensor:
    """A summary node ``op_type`` of ``data``, called ``name`` (``family/name`` with a
    family) in the current name scope, made unique; its tag is that node name, with
    ``family/`` in front when given (TensorFlow 1's rule)."""
    graph = get_default_graph()
    with graph._lock:
        scope = graph.unique_scope(f"{family}/{name}" if family else name)
        tag = f"{family}/{scope}" if family else scope
        tags = apply_op("Const", [], {"value": np.array(tag.encode(), dtype=object),
                                      "dtype": "string"},
                        full_name=f"{scope}/{'tags' if op_type == 'ScalarSummary' else 'tag'}")
        op = apply_op(op_type, [tags.outputs[0], data], full_name=scope)
    out = op.outputs[0]
    out.set_shape(())
    _collect(graph, out, collections)
    return out


def scalar(name: str, tensor: Any, collections: Sequence[str] | None = None,
           family: str | None = None) -> Tensor:
    """``tf.summary.scalar(name, tensor)``: a string tensor, the serialized ``Summary`` of the
    real scalar ``tensor`` tagged with ``name`` (its node's name, in the current name scope).

    The node joins the ``collections`` (default: the summaries collection read by
    :func:`merge_all`). Running it on a non-scalar fails on the worker.
    """
    return _summary_op("ScalarSummary", name, tensor, collections, family)


def histogram(name: str, values: Any, collections: Sequence[str] | None = None,
              family: str | None = None) -> Tensor:
    """``tf.summary.histogram(name, values)``: a string tensor, the serialized ``Summary``
    holding a histogram of the real tensor ``values`` (any shape), tagged with ``name``.

    Joins ``collections`` as :func:`scalar` does. Running it fails on the worker when
    ``values`` holds a NaN or infinity.
    """
    return _summary_op("HistogramSummary", name, values, collections, family)


def merge(inputs: Sequence[Tensor], collections: Sequence[str] | None = None,
          name: str | None = None) -> Tensor:
    """``tf.summary.merge(inputs)``: a string tensor, one serialized ``Summary`` with every
    value of the serialized summaries ``inputs`` (ValueError when ``inputs`` is empty).

    Joins ``collections`` only when given (TensorFlow's rule).
    """
    if not inputs:
        raise ValueError("tf.summary.merge: inputs is empty")
    graph = get_default_graph()
    out = apply_op("MergeSummary", [list(inputs)], name=name, default_name="Merge/MergeSummary").outputs[0]
    out.set_shape(())
    if collections:
        _collect(graph, out, collections)
    return out


def merge_all(key: str = SUMMARIES, scope: str | None = None, name: str | None = None) -> Tensor | None:
    """``tf.summary.merge_all()``: :func:`merge` of every summary of the default graph in
    collection ``key`` (those whose node names start with ``scope``, when given), or None
    when there are none."""
    graph = get_default_graph()
    members = _COLLECTIONS.get(graph, {}).get(key, [])
    if scope is not None:
        members = [t for t in members if t.op.name.startswith(scope)]
    return merge(members, name=name) if members else None


def __getattr__(name: str) -> Any:
    """``Summary``: TensorFlow's ``Summary`` protocol buffer class (``tf.summary.Summary``,
    tensorboardX's copy, loaded on first use) for summaries built on the client."""
    if name == "Summary":
        _tensorboardx()
        return importlib.import_module("tensorboardX.proto.summary_pb2").Summary
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _tensorboardx() -> Any:
    try:
        return importlib.import_module("tensorboardX")
    except ImportError as exc:
        raise ImportError("gentf.tf.summary.FileWriter writes TensorBoard event files with "
                          "tensorboardX: pip install 'gentf[tensorboard]'") from exc


class FileWriter:
    """``tf.summary.FileWriter(logdir, graph=None, max_queue=10, flush_secs=120,
    filename_suffix=None)``: writes TensorBoard event files into ``logdir`` (created if
    missing), on this machine.

    With ``graph`` (a gentf Graph, e.g. ``sess.graph``), writes it at once (see
    :meth:`add_graph`). Events are queued and written by a background thread at least
    every ``flush_secs`` seconds, when ``max_queue`` are pending, on :meth:`flush` and on
    :meth:`close` (also on leaving a ``with`` block, and at interpreter exit).
    ``session`` is accepted for TensorFlow's signature and not used.
    """

    def __init__(self, logdir: str | os.PathLike[str], graph: Graph | None = None,
                 max_queue: int = 10, flush_secs: float = 120,
                 filename_suffix: str | None = None, session: Any = None) -> None:
        _tensorboardx()
        self._event_pb2 = importlib.import_module("tensorboardX.proto.event_pb2")
        self._summary_pb2 = importlib.import_module("tensorboardX.proto.summary_pb2")
        writer_module = importlib.import_module("tensorboardX.event_file_writer")
        self.logdir = os.fspath(logdir)
        self._writer = writer_module.EventFileWriter(self.logdir, max_queue, flush_secs,
                                                     filename_suffix or "")
        self._finalizer = weakref.finalize(self, self._writer.close)
        if graph is not None:
            self.add_graph(graph)

    def get_logdir(self) -> str:
        """The directory the event file is in."""
        return self.logdir

    def add_event(self, event: Any) -> None:
        """Queues a tensorboardX ``Event`` protocol buffer as it is."""
        self._writer.add_event(event)

    def _event(self, step: Any, walltime: float | None, **fields: Any) -> None:
        event = self._event_pb2.Event(wall_time=time.time() if walltime is None else walltime,
                                      **fields)
        if step is not None:
            event.step = int(step)
        self._writer.add_event(event)

    def add_summary(self, summary: Any, global_step: Any = None,
                    walltime: float | None = None) -> None:
        """Queues a summary at step ``global_step``: the value a summary op returned from a
        run (bytes, a numpy bytes scalar or 0-d object array of bytes) or a ``Summary``
        protocol buffer. TypeError for anything else."""
        if isinstance(summary, np.ndarray):
            if summary.shape != ():
                raise TypeError(f"add_summary takes one serialized Summary, got an array of "
                                f"shape {summary.shape}")
            summary = summary.item()
        if isinstance(summary, (bytes, np.bytes_)):
            proto = self._summary_pb2.Summary.FromString(bytes(summary))
        elif hasattr(summary, "SerializeToString"):
            proto = self._summary_pb2.Summary.FromString(summary.SerializeToString())
        else:
            raise TypeError(f"add_summary takes a serialized Summary (bytes) or a Summary "
                            f"proto, got {type(summary).__name__}")
        self._event(global_step, walltime, summary=proto)

    def add_scalar(self, tag: str, value: Any, global_step: Any = None,
                   walltime: float | None = None) -> None:
        """Queues the plain number ``value`` under ``tag`` at step ``global_step`` (computed
        on the client, e.g. a log marginal likelihood estimate; no worker call)."""
        summary = self._summary_pb2.Summary(
            value=[self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
        self._event(global_step, walltime, summary=summary)

    def add_graph(self, graph: Graph, global_step: Any = None,
                  walltime: float | None = None) -> None:
        """Queues ``graph``'s operations as TensorBoard's graph: node names as gentf gives
        them (``tf.auto_name`` included), op types, inputs, attributes and, where known on
        the client, output shapes (``_output_shapes``)."""
        if not isinstance(graph, Graph):
            raise TypeError(f"add_graph takes a gentf Graph (e.g. sess.graph), got "
                            f"{type(graph).__name__}")
        self._event(global_step, walltime, graph_def=graph_def_bytes(graph))

    def flush(self) -> None:
        """Writes every queued event to disk now."""
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file (idempotent); :meth:`reopen` starts a new one."""
        self._writer.close()

    def reopen(self) -> None:
        """Reopens a closed writer on a new event file in the same directory."""
        self._writer.reopen()

    def __enter__(self) -> FileWriter:  # noqa: PYI034 - FileWriter is not meant to be subclassed
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def graph_def_bytes(graph: Graph) -> bytes:
    """``graph`` as a serialized TensorFlow ``GraphDef`` (built with tensorboardX's protos)."""
    graph_pb = importlib.import_module("tensorboardX.proto.graph_pb2")
    out = graph_pb.GraphDef()
    for op in list(graph.operations):
        _add_node(out, op)
    return bytes(out.SerializeToString())


def _add_node(graph_def: Any, op: Operation) -> None:
    node = graph_def.node.add(name=op.name, op=op.type)
    node.input.extend(t.ref for t in op.inputs)
    node.input.extend(f"^{c.name}" for c in op.control_inputs)
    for key, value in op.attrs.items():
        _fill_attr(node.attr[key], value)
    shapes = node.attr["_output_shapes"].list
    shapes.SetInParent()
    for t in op.outputs:
        _fill_shape(shapes.shape.add(), None if t.shape is None else list(t.shape))


def _fill_shape(out: Any, dims: Sequence[int | None] | None) -> None:
    if dims is None:
        out.unknown_rank = True
        return
    for d in dims:
        out.dim.add(size=-1 if d is None or d < 0 else int(d))


def _fill_tensor(out: Any, value: tensor_pb2.Tensor) -> None:
    out.dtype = int(value.dtype)
    _fill_shape(out.tensor_shape, list(value.shape))
    if value.string_val:
        out.string_val.extend(value.string_val)
    else:
        out.tensor_content = value.content


def _fill_attr(out: Any, value: graph_pb2.AttrValue) -> None:
    kind = value.WhichOneof("value")
    if kind in ("s", "i", "f", "b"):
        setattr(out, kind, getattr(value, kind))
    elif kind == "type":
        out.type = int(value.type)
    elif kind == "shape":
        _fill_shape(out.shape, None if value.shape.unknown_rank else list(value.shape.dims))
    elif kind == "tensor":
        _fill_tensor(out.tensor, value.tensor)
    elif kind == "list":
        lst = out.list
        lst.SetInParent()
        lst.s.extend(value.list.s)
        lst.i.extend(value.list.i)
        lst.f.extend(value.list.f)
        lst.b.extend(value.list.b)
        lst.type.extend(int(t) for t in value.list.type)
        for s in value.list.shape:
            _fill_shape(lst.shape.add(), None if s.unknown_rank else list(s.dims))
        for t in value.list.tensor:
            _fill_tensor(lst.tensor.add(), t)
