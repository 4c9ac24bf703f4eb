"""Real TensorFlow computations copied into a gentf graph (needs TensorFlow, imported lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.errors import InvalidArgumentError, PermissionDeniedError
from gentf.graph._core import Graph, Operation, Tensor, get_default_graph
from gentf.graph._ops import placeholder
from gentf.graph._registry import registry
from gentf.graph._variables import Variable
from gentf.interop._convert import attr_from_tf, load_tensorflow
from gentf.wire import as_dtype

__all__ = ["from_tensorflow", "tffunction_from_tensorflow"]

_FUNCTION_CALLS = {"PartitionedCall", "StatefulPartitionedCall", "While", "StatelessWhile", "If",
                   "StatelessIf", "Case", "StatelessCase", "For", "RemoteCall", "SymbolicGradient"}


def from_tensorflow(
    obj: Any,
    inputs: Sequence[Any] | None = None,
    output: Any = None,
    session: Any = None,
    input_signature: Sequence[Any] | None = None,
    graph: Graph | None = None,
) -> tuple[list[Variable], list[Tensor], Tensor]:
    """``(params, inputs, output) = from_tensorflow(obj, ...)``: ``obj`` copied into ``graph``
    (default: the default gentf graph), ready for ``TFFunction(params, inputs, output)``.

    ``obj`` is one of:

    * a ``tf.Graph`` (``tf.compat.v1`` style): ``inputs`` are its placeholders and ``output``
      the tensor to return (tensors or names). Variable values are read with ``session``
      (a ``tf.compat.v1.Session`` on that graph), else by running the graph's variable
      initializers in a fresh session.
    * a ``tf.function`` (with an ``input_signature``, or pass ``input_signature=``), or a
      concrete function: its arguments become placeholders, its captured variables gentf
      Variables with their current values, its first output the output.
    * a Keras model: traced as a ``tf.function`` on its input shapes (``training=False``).

    Only the nodes the output depends on are copied. ``params`` are the trainable
    variables among them. Raises PermissionDeniedError for ops the worker refuses and
    InvalidArgumentError for function calls (nested ``tf.function``s, control flow v2).
    """
    tf = load_tensorflow()
    target = graph if graph is not None else get_default_graph()
    if isinstance(obj, tf.Graph):
        if inputs is None or output is None:
            raise InvalidArgumentError("from_tensorflow(tf.Graph): pass inputs= (placeholders) and output=")
        return _from_v1_graph(tf, obj, inputs, output, session, target)
    concrete = _concrete_function(tf, obj, input_signature)
    return _from_concrete(tf, concrete, target)


def tffunction_from_tensorflow(obj: Any, sess: Any = None, **kwargs: Any) -> Any:
    """A ``TFFunction`` built from :func:`from_tensorflow`'s ``(params, inputs, output)``;
    ``sess`` as for TFFunction (its graph receives the nodes)."""
    from gentf.remote import TFFunction

    if sess is not None and "graph" not in kwargs:
        kwargs["graph"] = sess.graph
    params, inputs, output = from_tensorflow(obj, **kwargs)
    return TFFunction(params, inputs, output, sess)


def _concrete_function(tf: Any, obj: Any, input_signature: Sequence[Any] | None) -> Any:
    if hasattr(obj, "structured_outputs") and hasattr(obj, "captured_inputs"):
        return obj  # already a ConcreteFunction
    keras_model = hasattr(obj, "layers") and hasattr(obj, "trainable_variables") and callable(obj)
    if keras_model:
        signature = input_signature or [
            tf.TensorSpec([None if d is None else int(d) for d in tuple(t.shape)], tf.as_dtype(t.dtype))
            for t in _keras_inputs(obj)]

        def call(*args: Any) -> Any:
            return obj(args[0] if len(args) == 1 else list(args), training=False)

        return tf.function(call).get_concrete_function(*signature)
    if hasattr(obj, "get_concrete_function"):
        if input_signature is not None:
            return obj.get_concrete_function(*input_signature)
        return obj.get_concrete_function()
    raise InvalidArgumentError(
        f"from_tensorflow: cannot convert a {type(obj).__name__}; pass a tf.Graph, a tf.function, "
        "a concrete function or a Keras model")


def _keras_inputs(model: Any) -> list[Any]:
    inputs = getattr(model, "inputs", None)
    if inputs:
        return list(inputs)
    raise InvalidArgumentError("from_tensorflow: the Keras model has no known inputs; build it "
                               "(call it once or give it an Input) or pass input_signature=")


class _Copier:
    """Copies TensorFlow ops into a gentf graph, keeping names where free."""

    def __init__(self, tf: Any, target: Graph) -> None:
        self.tf = tf
        self.target = target
        self.tensors: dict[str, Tensor] = {}  # TF tensor name -> gentf tensor
        self.ops: dict[str, Operation] = {}

    def copy(self, tf_op: Any) -> None:
        where = f"TensorFlow node {tf_op.name!r} ({tf_op.type})"
        if tf_op.type in _FUNCTION_CALLS:
            raise InvalidArgumentError(f"{where}: function calls and control flow v2 are not supported; "
                                       "trace without nested tf.functions")
        if tf_op.type not in registry():
            raise InvalidArgumentError(f"{where}: the op registry has no such op")
        if registry().get(tf_op.type).refused:
            raise PermissionDeniedError(f"{where}: op {tf_op.type!r} is refused by gentf workers (it "
                                        "could reach the worker's files, processes or network)")
        node_def = tf_op.node_def
        attrs = {key: attr_from_tf(self.tf, value, where) for key, value in node_def.attr.items()
                 if not key.startswith("_")}
        inputs = [self.tensors[t.name] for t in tf_op.inputs]
        controls = [self.ops[c.name] for c in tf_op.control_inputs if c.name in self.ops]
        dtypes = [as_dtype(t.dtype.name) for t in tf_op.outputs]
        with self.target._lock:
            name = self.target.unique_name(tf_op.name, scoped=False)
            op = Operation(self.target, name, tf_op.type, inputs, [len(inputs)], attrs, dtypes, controls)
            op.explicit_name = True
            self.target.add(op)
        self.ops[tf_op.name] = op
        for tf_out, out in zip(tf_op.outputs, op.outputs):
            if tf_out.shape.rank is not None:
                out.set_shape(tuple(tf_out.shape.as_list()))
            self.tensors[tf_out.name] = out


def _needed_ops(roots: list[Any], stop: set[str]) -> list[Any]:
    """The ops ``roots`` depend on (data and control inputs), inputs first; not past ``stop``."""
    order: list[Any] = []
    seen: set[str] = set()
    stack: list[tuple[Any, bool]] = [(r, False) for r in roots]
    while stack:
        op, expanded = stack.pop()
        if expanded:
            order.append(op)
            continue
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.append((op, True))
        if op.name in stop:
            continue
        for t in op.inputs:
            stack.append((t.op, False))
        for c in op.control_inputs:
            stack.append((c, False))
    return order


def _from_v1_graph(tf: Any, g: Any, inputs: Sequence[Any], output: Any, session: Any,
                   target: Graph) -> tuple[list[Variable], list[Tensor], Tensor]:
    def tensor(x: Any) -> Any:
        return g.as_graph_element(x if not isinstance(x, str) or ":" in x else f"{x}:0")

    in_tensors = [tensor(x) for x in inputs]
    out_tensor = tensor(output)
    var_ops = [op for op in _needed_ops([out_tensor.op], {t.op.name for t in in_tensors})
               if op.type in ("VarHandleOp", "VariableV2", "Variable")]
    if any(op.type != "VarHandleOp" for op in var_ops):
        raise InvalidArgumentError("from_tensorflow: reference variables (VariableV2) are not supported; "
                                   "use resource variables (the TensorFlow 2 default)")
    handles = [op.outputs[0] for op in var_ops]
    values = _read_v1_variables(tf, g, handles, session)
    trainable = {v.handle.name if hasattr(v, "handle") else v.name
                 for v in g.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)}
    copier = _Copier(tf, target)
    params: list[Variable] = []
    with target.as_default():
        for t in in_tensors:
            if t.op.type != "Placeholder":
                raise InvalidArgumentError(f"from_tensorflow: input {t.name!r} is a {t.op.type}, not a placeholder")
            p = placeholder(as_dtype(t.dtype.name), None if t.shape.rank is None else t.shape.as_list(),
                            name=t.op.name)
            copier.tensors[t.name] = p
            copier.ops[t.op.name] = p.op
        for op, value in zip(var_ops, values):
            v = Variable(value, name=op.name, dtype=as_dtype(op.get_attr("dtype").name),
                         trainable=op.outputs[0].name in trainable or not trainable)
            copier.tensors[op.outputs[0].name] = v.handle
            copier.ops[op.name] = v.op
            if v.trainable:
                params.append(v)
        for op in _needed_ops([out_tensor.op], {t.op.name for t in in_tensors}):
            if op.name not in copier.ops:
                copier.copy(op)
    return params, [copier.tensors[t.name] for t in in_tensors], copier.tensors[out_tensor.name]


def _read_v1_variables(tf: Any, g: Any, handles: list[Any], session: Any) -> list[np.ndarray[Any, Any]]:
    if not handles:
        return []
    with g.as_default():
        reads = [tf.raw_ops.ReadVariableOp(resource=h, dtype=h.op.get_attr("dtype")) for h in handles]
    if session is not None:
        return list(session.run(reads))
    with tf.compat.v1.Session(graph=g) as sess:
        init = [op for op in g.get_operations() if op.type == "AssignVariableOp"
                and op.inputs[0].op in [h.op for h in handles]]
        sess.run(init)
        return list(sess.run(reads))


def _from_concrete(tf: Any, concrete: Any, target: Graph) -> tuple[list[Variable], list[Tensor], Tensor]:
    fg = concrete.graph
    outputs = tf.nest.flatten(concrete.structured_outputs)
    if not outputs:
        raise InvalidArgumentError("from_tensorflow: the function returns nothing")
    out_name = concrete.outputs[0].name
    captured_ids = {id(internal) for _, internal in fg.captures}
    arg_tensors = [t for t in concrete.inputs if id(t) not in captured_ids]
    by_handle = {id(v.handle): v for v in concrete.variables}
    trainable_ids = {id(v.handle) for v in concrete.trainable_variables}
    copier = _Copier(tf, target)
    params: list[Variable] = []
    with target.as_default():
        for t in arg_tensors:
            p = placeholder(as_dtype(t.dtype.name), None if t.shape.rank is None else t.shape.as_list(),
                            name=t.op.name)
            copier.tensors[t.name] = p
            copier.ops[t.op.name] = p.op
        for external, internal in fg.captures:
            variable = by_handle.get(id(external))
            if variable is None:
                if internal.dtype == tf.resource:
                    raise InvalidArgumentError(f"from_tensorflow: captured resource {internal.name!r} "
                                               "is not a variable")
                value = np.asarray(external.numpy() if hasattr(external, "numpy") else external)
                const = _constant_like(value, internal.op.name)
                copier.tensors[internal.name] = const
                copier.ops[internal.op.name] = const.op
                continue
            base = variable.name.split(":")[0]
            v = Variable(variable.numpy(), name=base, dtype=as_dtype(variable.dtype.name),
                         trainable=id(external) in trainable_ids)
            copier.tensors[internal.name] = v.handle
            copier.ops[internal.op.name] = v.op
            if v.trainable:
                params.append(v)
        out_op = fg.get_operation_by_name(out_name.split(":")[0])
        for op in _needed_ops([out_op], set(copier.ops)):
            if op.name not in copier.ops:
                copier.copy(op)
    return params, [copier.tensors[t.name] for t in arg_tensors], copier.tensors[out_name]


def _constant_like(value: np.ndarray[Any, Any], name: str) -> Tensor:
    from gentf.graph._apply import constant

    return constant(value, name=name)
