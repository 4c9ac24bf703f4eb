"""A TFFunction on the worker: forward, argument VJP and parameter-gradient accumulation.

Each is one ``tf.function`` traced once, when the function is constructed (input
signatures come from the placeholders' static shapes, so new batch sizes do not retrace),
and called through its concrete function. Accumulation computes every gradient first and
only then adds ``scale * gradient`` into the accumulators, so a failure adds nothing.

:class:`FusedCall` runs several calls of a Batch (accumulations by trace, runs without
fetches, forward calls) as ONE compiled TensorFlow call.

A function declared ``batched`` (row-independent) in a process with a mirrored strategy
(:mod:`gentf_server.core.distribute`) splits each call's rows over the replicas with
``strategy.run``: the return value and argument gradients are the replicas' rows
concatenated in order, parameter gradients the replicas' sum, added to the accumulators'
primary copies. Every other function, and every function without a strategy, runs whole on
one device, exactly as before.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from gentf_server.core import distribute, errors
from gentf_server.core.checks import check_value, expected, fits
from gentf_server.core.graph import PLACEHOLDER, VARIABLE, SessionGraph, parse_input
from gentf_server.core.importer import SubgraphImporter
from gentf_server.core.registry import has_effects
from gentf_server.core.saved import SavedForward, split
from gentf_server.core.tensors import scalar_float64

__all__ = ["CompiledFunction", "FusedCall", "FusedStep", "jit_compile", "set_jit_compile"]

_jit_compile = False


def set_jit_compile(on: bool) -> None:
    """``--jit-compile``: whether sessions made from now on compile their fused calls with
    XLA (see :class:`FusedCall`)."""
    global _jit_compile
    _jit_compile = on


def jit_compile() -> bool:
    """Whether new sessions compile their fused calls with XLA (``--jit-compile``): never
    under a distribution strategy."""
    return _jit_compile and distribute.strategy() is None and distribute.coordinator() is None


class CompiledFunction:
    """Forward, VJP and accumulate for ``output`` as a function of ``inputs`` and ``params``."""

    def __init__(
        self,
        function_id: str,
        graph: SessionGraph,
        variables: dict[str, tf.Variable],
        params: Sequence[str],
        inputs: Sequence[str],
        output: str,
        accumulators: Sequence[str],
        batched: bool = False,
        mirrored: dict[str, tf.Variable] | None = None,
    ) -> None:
        """Compiles the function. ``batched`` declares it row-independent (every input and
        the output have a leading ``None`` dimension, else InvalidArgument); ``mirrored``
        maps variable node names to the session's mirrored variables (whose primary copies
        are in ``variables``), so that a batched function can run on every replica."""
        self.function_id = function_id
        self.batched = batched
        if len(set(inputs)) != len(inputs):
            raise errors.InvalidArgument(f"inputs {list(inputs)} name a placeholder twice")
        if len(params) != len(accumulators):
            raise errors.InvalidArgument(
                f"{len(params)} params but {len(accumulators)} accumulators: need one per param")
        self.input_specs: list[tf.TensorSpec] = []
        for name in inputs:
            node = graph.node(name, "input")
            if node.op != PLACEHOLDER:
                raise errors.InvalidArgument(f"input {node.describe()} is a {node.op}, not a placeholder")
            self.input_specs.append(tf.TensorSpec(node.outputs[0][1], node.outputs[0][0], name=None))
        self.input_names = list(inputs)
        self._params = [self._variable(graph, variables, p, "param") for p in params]
        self._accumulators = [self._variable(graph, variables, a, "accumulator") for a in accumulators]
        for p_name, a_name, p, a in zip(params, accumulators, self._params, self._accumulators):
            if p.dtype != a.dtype or not p.shape.is_compatible_with(a.shape):
                raise errors.InvalidArgument(
                    f"accumulator {a_name!r} ({a.dtype.name} {a.shape}) does not match param "
                    f"{p_name!r} ({p.dtype.name} {p.shape})")
        _, _, out_dtype, out_shape = graph.output(output, "output")
        if out_dtype == tf.resource or out_dtype == tf.variant:
            raise errors.InvalidArgument(
                f"output {output!r} is a {out_dtype.name} handle; use the variable's value")
        self.output_dtype: tf.DType = out_dtype
        self.output_shape: tf.TensorShape = out_shape
        self._arg_wants = [expected(spec.dtype, spec.shape) for spec in self.input_specs]
        self._grad_dtype = expected(out_dtype, ())[0]  # (None for strings: never equal)
        self.string_inputs = any(spec.dtype == tf.string for spec in self.input_specs)
        """Whether an argument is a string tensor."""
        self.uses_strings = self.string_inputs or out_dtype == tf.string
        """Whether an argument or the return value is a string tensor (never fused)."""
        if batched:
            _check_batched(self.input_specs, self.input_names, out_shape, output)
        self._importer = SubgraphImporter(graph, variables, [output], [], inputs, f"output {output!r}")
        self._strategy = distribute.strategy()
        self._replicated: SubgraphImporter | None = None
        if batched and self._strategy is not None and mirrored is not None \
                and self._strategy.num_replicas_in_sync > 1 and self.input_specs:
            # The same subgraph with the mirrored variables: inside strategy.run, each
            # replica's import captures its own copies.
            self._replicated = SubgraphImporter(graph, mirrored, [output], [], inputs,
                                                f"output {output!r}")
            self._mirrors = [mirrored[n] for n in self._replicated.variable_nodes]
            logging.getLogger("gentf_server").info(
                "function %s: batched, rows split over %d replicas", function_id,
                self._strategy.num_replicas_in_sync)
        self._param_nodes = [parse_input(p)[0] for p in params]
        self._differentiable = [s.dtype.is_floating or s.dtype.is_complex for s in self.input_specs]
        grad_spec = tf.TensorSpec(out_shape, out_dtype)
        scale_spec = tf.TensorSpec([], tf.float64)
        # Closures (not bound methods): tf.function counts retraces per Python function,
        # and each of these traces exactly once.
        self._forward = tf.function(lambda *a: self._forward_body(*a),
                                    input_signature=self.input_specs, autograph=False)
        self._vjp = tf.function(lambda *a: self._vjp_body(*a),
                                input_signature=[*self.input_specs, grad_spec], autograph=False)
        self._accumulate = tf.function(lambda *a: self._accumulate_body(*a),
                                       input_signature=[*self.input_specs, grad_spec, scale_spec],
                                       autograph=False)
        # Without argument gradients (callers that need none): TensorFlow prunes their work.
        self._accumulate_params = tf.function(lambda *a: self._accumulate_params_body(*a),
                                              input_signature=[*self.input_specs, grad_spec, scale_spec],
                                              autograph=False)
        # Compile at Construct: trace every concrete function now, and run a forward of
        # an empty batch when that changes nothing, so the first call costs a steady one.
        self._forward_cf = self._forward.get_concrete_function()
        self._vjp_cf = self._vjp.get_concrete_function()
        self._accumulate_cf = self._accumulate.get_concrete_function()
        self._accumulate_params_cf = self._accumulate_params.get_concrete_function()
        self.saved: SavedForward | None = None
        """The forward split from its gradients (:mod:`gentf_server.core.saved`), or None:
        gradients then run the forward again."""
        if (self._strategy is None and distribute.coordinator() is None
                and not self.uses_strings and (out_dtype.is_floating or out_dtype.is_complex)):
            self.saved = split(self._importer, self.input_specs, grad_spec, self._param_nodes,
                               f"function {function_id}")
        self._saved_cfs: dict[tuple[bool, bool], Any] = {}
        if self.saved is not None:
            saved_specs = self.saved.saved_specs
            for with_args, with_params in ((False, True), (True, True), (True, False)):
                spec = [*self.input_specs, *saved_specs, grad_spec]
                if with_params:
                    spec.append(scale_spec)
                self._saved_cfs[(with_args, with_params)] = tf.function(
                    lambda *a, w=with_args, p=with_params: self._from_saved_body(a, w, p),
                    input_signature=spec, autograph=False).get_concrete_function()
        self._warm_up()

    def _warm_up(self) -> None:
        """Runs the forward once on an empty batch (every unknown dimension 0) when its
        subgraph is pure (no op that writes, draws random numbers or has other effects), so
        that TensorFlow's one-time work (graph optimization, kernel creation) happens now.
        Failures are ignored: the real call reports its own."""
        for node in self._importer.graph_def.node:
            if has_effects(node.op):
                return
        args = []
        for spec in self.input_specs:
            if spec.shape.rank is None or spec.dtype == tf.string:
                return
            args.append(tf.zeros([0 if d is None else d for d in spec.shape.as_list()], spec.dtype))
        try:
            self._forward_cf(*args)
        except (tf.errors.OpError, ValueError, TypeError):
            pass

    @staticmethod
    def _variable(graph: SessionGraph, variables: dict[str, tf.Variable], name: str, what: str) -> tf.Variable:
        node = graph.node(parse_input(name)[0], what)
        if node.op != VARIABLE:
            raise errors.InvalidArgument(f"{what} {node.describe()} is a {node.op}, not a variable")
        return variables[node.name]

    @property
    def accumulators(self) -> list[tf.Variable]:
        """The variables parameter gradients are accumulated into, one per param."""
        return list(self._accumulators)

    # ---- traced bodies -----------------------------------------------------------------

    @property
    def replicated(self) -> bool:
        """Whether calls split their rows over the strategy's replicas."""
        return self._replicated is not None

    def _forward_body(self, *args: Any) -> Any:
        if self._replicated is not None:
            replicated = self._replicated
            (parts,) = self._split_run(list(args), [], lambda *chunk: replicated(chunk)[0])
            return tf.concat(parts, axis=0)
        return self._importer(args)[0]

    def _split_run(self, rowwise: list[Any], extra: list[Any], fn: Any) -> list[list[Any]]:
        """Runs ``fn(*row chunks)`` on every replica, each getting its consecutive share of
        the rows of ``rowwise + extra`` (every one of them has the same number of rows);
        returns, per output of ``fn`` (flattened), the replicas' values in replica order."""
        assert self._strategy is not None
        strategy = self._strategy
        parts = strategy.num_replicas_in_sync
        all_rows = rowwise + extra
        rows = tf.shape(all_rows[0], out_type=tf.int32)[0]
        checks = [tf.debugging.assert_equal(
            tf.shape(a, out_type=tf.int32)[0], rows,
            message="a batched function's arguments (and retval_grad) must have the same "
                    "number of rows") for a in all_rows[1:]]
        with tf.control_dependencies(checks):
            sizes = distribute.split_sizes(rows, parts)
        chunks = [tf.split(a, sizes, num=parts, axis=0) for a in all_rows]
        with strategy.scope():
            distribute.sync_mirrors(self._mirrors)
            dist = [strategy.experimental_distribute_values_from_function(
                        lambda ctx, c=c: c[ctx.replica_id_in_sync_group]) for c in chunks]
            out = strategy.run(fn, args=tuple(dist))
            flat = tf.nest.flatten(out)
            return [list(strategy.experimental_local_results(o)) for o in flat]

    def _gradients(
        self, args: Sequence[Any], grad: Any, with_params: bool, with_args: bool = True,
        importer: SubgraphImporter | None = None,
    ) -> tuple[list[Any], list[Any], Any]:
        importer = importer or self._importer
        (y,) = importer(args)
        check = tf.debugging.assert_equal(
            tf.shape(grad), tf.shape(y),
            message="retval_grad must have the shape of the return value")
        xs = [a for a, d in zip(args, self._differentiable) if d] if with_args else []
        # A param the output does not depend on is not imported: its gradient is zero.
        used = [n in self._importer.variable_nodes for n in self._param_nodes] if with_params else []
        handles = [importer.handle(n) for n, u in zip(self._param_nodes, used) if u]
        differentiable_out = self.output_dtype.is_floating or self.output_dtype.is_complex
        with tf.control_dependencies([check]):
            grad = tf.identity(grad)
        raw: list[Any] = [None] * (len(xs) + len(handles))
        if differentiable_out and raw:
            raw = tf.gradients(y, xs + handles, grad_ys=grad)
        it = iter(raw[: len(xs)])
        arg_grads = []
        for a, d in zip(args, self._differentiable) if with_args else ():
            g = next(it) if d else None
            arg_grads.append(tf.zeros_like(a) if g is None else tf.convert_to_tensor(g))
        param_grads = []
        it_params = iter(raw[len(xs):])
        for p, u in zip(self._params, used):
            g = next(it_params) if u else None
            param_grads.append(tf.zeros(p.shape, p.dtype) if g is None else tf.convert_to_tensor(g))
        with tf.control_dependencies([check]):
            arg_grads = [tf.identity(g) for g in arg_grads]
        return arg_grads, param_grads, check

    def _vjp_body(self, *args_and_grad: Any) -> Any:
        *args, grad = args_and_grad
        if self._replicated is not None:
            arg_grads, _ = self._replicated_gradients(args, grad, False, True)
            return arg_grads
        arg_grads, _, _ = self._gradients(args, grad, with_params=False)
        return arg_grads

    def _replicated_gradients(
        self, args: Sequence[Any], grad: Any, with_params: bool, with_args: bool
    ) -> tuple[list[Any], list[Any]]:
        """(argument gradients: the replicas' rows concatenated, parameter gradients: the
        replicas' sum), each replica differentiating its share of the rows."""
        replicated = self._replicated
        n_args = len(args)

        def per_replica(*chunk: Any) -> Any:
            arg_grads, param_grads, check = self._gradients(
                chunk[:n_args], chunk[n_args], with_params, with_args, importer=replicated)
            with tf.control_dependencies([check]):
                return [tf.identity(g) for g in arg_grads + param_grads]

        n_arg_grads = n_args if with_args else 0
        outs = self._split_run(list(args), [grad], per_replica)
        arg_grads = [tf.concat(parts, axis=0) for parts in outs[:n_arg_grads]]
        param_grads = []
        for p, parts in zip(self._params, outs[n_arg_grads:]):
            with tf.device(p.device):
                param_grads.append(tf.add_n(parts))
        return arg_grads, param_grads

    def _accumulate_params_body(self, *args_grad_scale: Any) -> Any:
        return self._accumulate_body(*args_grad_scale, with_args=False)

    def _accumulate_body(self, *args_grad_scale: Any, with_args: bool = True,
                         unit: bool = False) -> Any:
        *args, grad, scale = args_grad_scale
        if self._replicated is not None:
            arg_grads, param_grads = self._replicated_gradients(args, grad, True, with_args)
            check = tf.no_op()
        else:
            arg_grads, param_grads, check = self._gradients(args, grad, with_params=True,
                                                            with_args=with_args)
        with tf.control_dependencies([*arg_grads, *param_grads, check]):
            for acc, g in zip(self._accumulators, param_grads):
                _add_to(acc, _scaled(g, scale, unit))
        return arg_grads

    def _from_saved_body(self, flat: Sequence[Any], with_args: bool,
                         with_params: bool, unit: bool = False) -> list[Any]:
        """From ``(*args, *saved, grad[, scale])``: with ``with_params``, adds ``scale *
        param gradient`` to the accumulators; returns the argument gradients (zeros where
        structurally zero) when ``with_args``, else nothing."""
        saved = self.saved
        assert saved is not None
        n, m = len(self.input_specs), len(saved.saved_specs)
        args = flat[:n]
        backward = saved.backward(with_args, with_params)
        grads = iter(backward(*flat[: n + m + 1]) if backward is not None else [])
        arg_grads = []
        if with_args:
            for a, nonzero in zip(args, saved.arg_nonzero):
                arg_grads.append(next(grads) if nonzero else tf.zeros_like(a))
        if with_params:
            scale = flat[n + m + 1]
            for acc, nonzero in zip(self._accumulators, saved.param_nonzero):
                if nonzero:
                    g = next(grads)
                    _add_to(acc, _scaled(g, scale, unit))
        return arg_grads

    # ---- calls -------------------------------------------------------------------------

    def check_args(self, args: Sequence[np.ndarray[Any, Any]]) -> None:
        """InvalidArgument unless ``args`` match the inputs in number, dtype and shape."""
        wants = self._arg_wants
        if len(args) == len(wants) and all(map(fits, args, wants)):
            return
        if len(args) != len(self.input_specs):
            raise errors.InvalidArgument(
                f"function {self.function_id} takes {len(self.input_specs)} argument(s), got {len(args)}")
        for i, (value, spec, name) in enumerate(zip(args, self.input_specs, self.input_names)):
            check_value(value, spec.dtype, spec.shape, f"argument {i} (placeholder {name!r})")

    def check_retval_grad(self, grad: np.ndarray[Any, Any], retval_shape: tuple[int, ...] | None) -> None:
        """InvalidArgument unless ``grad`` has the return value's dtype and shape."""
        if grad.dtype == self._grad_dtype and grad.shape == retval_shape:
            return
        shape = self.output_shape if retval_shape is None else tuple(retval_shape)
        check_value(grad, self.output_dtype, shape, "retval_grad")

    def forward(self, args: Sequence[Any]) -> Any:
        """The return value for ``args`` (tf tensors)."""
        return distribute.call(self._forward_cf, args, rows=self._rows(args))

    def vjp(self, args: Sequence[Any], grad: Any) -> list[Any]:
        """Argument gradients of ``<retval, grad>``."""
        return list(distribute.call(self._vjp_cf, [*args, grad], rows=self._rows(args, 1)))

    def accumulate(self, args: Sequence[Any], grad: Any, scale: float, with_args: bool = True) -> list[Any]:
        """Adds ``scale * param gradient`` to the accumulators; returns unscaled argument
        gradients (none when ``with_args`` is False)."""
        fn = self._accumulate_cf if with_args else self._accumulate_params_cf
        return list(distribute.call(fn, [*args, grad, scalar_float64(scale)],
                                    rows=self._rows(args, 1), written=self._accumulators))

    def forward_saving(self, args: Sequence[Any]) -> tuple[Any, tuple[Any, ...]]:
        """The return value for ``args`` and the tensors saved for :meth:`accumulate_saved`
        (the return value's tensor first); only when :attr:`saved` is set."""
        assert self.saved is not None
        out = list(distribute.call(self.saved.forward, args))
        return out[0], tuple(out)

    def accumulate_saved(self, args: Sequence[Any], saved: Sequence[Any], grad: Any,
                         scale: float, with_args: bool = True) -> list[Any]:
        """:meth:`accumulate` from the tensors :meth:`forward_saving` saved for ``args``
        (valid only while no variable was written since)."""
        out = distribute.call(self._saved_cfs[(with_args, True)],
                              [*args, *saved, grad, scalar_float64(scale)])
        return list(out) if with_args else []

    def vjp_saved(self, args: Sequence[Any], saved: Sequence[Any], grad: Any) -> list[Any]:
        """:meth:`vjp` from the tensors :meth:`forward_saving` saved for ``args``."""
        return list(distribute.call(self._saved_cfs[(True, False)], [*args, *saved, grad]))

    def _rows(self, args: Sequence[Any], extra: int = 0) -> int:
        """How many leading call arguments a batched function's rows may be split over
        (its inputs and ``extra`` more: the return-value gradient); 0 when not batched."""
        return len(args) + extra if self.batched and args else 0

    # ---- pieces for a fused call (see FusedCall) -----------------------------------------

    def forward_body(self, args: Sequence[Any]) -> Any:
        """The forward's graph, built into the function being traced."""
        return self._forward_body(*args)

    def accumulate_params_body(self, args: Sequence[Any], grad: Any, scale: Any,
                               unit: bool = False) -> None:
        """The accumulation's graph without argument gradients, built into the function
        being traced (``unit``: the scale is known to be 1, see :func:`_scaled`)."""
        self._accumulate_body(*args, grad, scale, with_args=False, unit=unit)

    def forward_saving_body(self, args: Sequence[Any]) -> list[Any]:
        """:meth:`forward_saving`'s graph, built into the function being traced: the return
        value, then the saved tensors (the return value's first again)."""
        assert self.saved is not None
        out = list(self.saved.forward(*args))
        return [out[0], *out]

    def accumulate_saved_body(self, args: Sequence[Any], saved: Sequence[Any], grad: Any,
                              scale: Any, unit: bool = False) -> None:
        """:meth:`accumulate_saved`'s graph without argument gradients, built into the
        function being traced (``unit``: the scale is known to be 1)."""
        self._from_saved_body([*args, *saved, grad, scale], False, True, unit=unit)

    def grad_spec(self) -> tf.TensorSpec:
        """The signature of a return-value gradient."""
        return tf.TensorSpec(self.output_shape, self.output_dtype)


def _check_batched(specs: Sequence[tf.TensorSpec], names: Sequence[str],
                   out_shape: tf.TensorShape, output: str) -> None:
    """InvalidArgument unless every input and the output have a leading ``None`` (batch)
    dimension, as a batched (row-independent) function needs."""
    shapes = [(f"input {n!r}", s.shape) for n, s in zip(names, specs)]
    shapes.append((f"output {output!r}", out_shape))
    for what, shape in shapes:
        if shape.rank is None or shape.rank < 1 or shape[0] is not None:
            raise errors.InvalidArgument(
                f"batched=True declares row i of the output a function of row i of the inputs, "
                f"so every input and the output need a leading batch dimension of unknown size "
                f"(None); {what} has shape {shape}")


def _scaled(g: Any, scale: Any, unit: bool) -> Any:
    """``scale * g`` (``scale`` a float64 scalar tensor). With ``unit`` (a call whose scale
    is 1, the usual one) a real floating-point gradient comes back as it is: ``x * 1.0`` is
    ``x`` for every value of every real float type, so the bits are the product's, one
    pass over the gradient fewer. Complex gradients are multiplied still: ``(a + bi)(1 +
    0i)`` is not ``a + bi`` when ``b`` is infinite or a signed zero."""
    if unit and g.dtype.is_floating:
        return g
    return tf.cast(scale, g.dtype) * g


def _add_to(accumulator: tf.Variable, delta: Any) -> None:
    """``accumulator += delta`` inside a traced function, the sum written to a new buffer
    the variable then takes (``AssignVariableOp`` adopts a tensor no one else holds).

    A session keeps references to the values its calls leave, to undo a later call that
    fails half way (``Session.run_fused``, snapshots); an in-place ``assign_add`` on a
    buffer so shared first copies the whole buffer (copy on write), then adds. Out of
    place it is one pass, and the sum is the same bits (one IEEE addition per element
    either way). Under a ``tf.distribute`` strategy the variable's own ``assign_add``
    stays, which knows its replicas and devices."""
    if distribute.strategy() is None:
        accumulator.assign(accumulator.read_value() + delta)
    else:
        accumulator.assign_add(delta)


@dataclasses.dataclass(frozen=True)
class FusedStep:
    """One call of a fused Batch: ``kind`` is ``"accumulate"`` (parameter gradients of a kept
    trace, no argument gradients), ``"accumulate_saved"`` (the same from the tensors its
    forward saved), ``"run"`` (a run without fetches), ``"forward"`` or ``"forward_saving"``
    (a forward that also returns the tensors its gradient needs); ``function`` is the
    CompiledFunction (accumulate, forward) and ``runner`` the Runner (run)."""

    kind: str
    function: CompiledFunction | None = None
    runner: Any = None
    unit_scale: bool = False
    """An accumulation whose scale is 1 (the fused call is traced for it: see
    :func:`_scaled`)."""


class FusedCall:
    """Several calls as one ``tf.function``, in order: stateful effects on a variable happen
    in the calls' order (TensorFlow orders the ops on one resource as written), so the
    result is that of the calls one by one. Inputs, flat: per accumulate step its trace's
    arguments (and, for ``accumulate_saved``, the saved tensors), the return-value gradient
    and the scale (float64); per run step its feeds in the runner's order; per forward step
    its arguments. Outputs: each forward's return value (and, for ``forward_saving``, its
    saved tensors), then (unless scheduled by a parameter-server coordinator, where they
    would cross the network) the value of every written variable at the end of the call,
    read after its last write: the next call of the same FusedCall can be undone with them,
    with no reads of its own (see ``Session.run_fused``)."""

    def __init__(self, steps: Sequence[FusedStep], jit_compile: bool = False) -> None:
        """Traces the call; with ``jit_compile`` it is compiled by XLA at its first run
        (``tf.function(jit_compile=True)``), which fails for ops XLA has no kernel for."""
        self.steps = list(steps)
        self.jit_compile = jit_compile
        specs: list[tf.TensorSpec] = []
        self._arity: list[int] = []
        written: dict[int, tf.Variable] = {}
        for step in self.steps:
            if step.kind == "accumulate":
                assert step.function is not None
                specs += [*step.function.input_specs, step.function.grad_spec(),
                          tf.TensorSpec([], tf.float64)]
                for v in step.function.accumulators:
                    written[id(v)] = v
            elif step.kind == "accumulate_saved":
                assert step.function is not None and step.function.saved is not None
                specs += [*step.function.input_specs, *step.function.saved.saved_specs,
                          step.function.grad_spec(), tf.TensorSpec([], tf.float64)]
                for v in step.function.accumulators:
                    written[id(v)] = v
            elif step.kind == "run":
                specs += [spec for _, spec in step.runner.feed_specs]
                for v in step.runner.written:
                    written[id(v)] = v
            else:
                assert step.function is not None
                specs += step.function.input_specs
            self._arity.append(len(specs) - sum(self._arity))
        self.written: list[tf.Variable] = list(written.values())
        """The variables the fused call may write."""
        self.returns_written = distribute.coordinator() is None
        """Whether a call also returns the written variables' values at its end."""
        fn = tf.function(lambda *flat: self._body(flat), input_signature=specs, autograph=False,
                         jit_compile=True if jit_compile else None)
        self._cf = fn.get_concrete_function()

    def _body(self, flat: Sequence[Any]) -> list[Any]:
        outputs = []
        at = 0
        for step, n in zip(self.steps, self._arity):
            part = list(flat[at: at + n])
            at += n
            if step.kind == "accumulate":
                assert step.function is not None
                step.function.accumulate_params_body(part[:-2], part[-2], part[-1],
                                                     unit=step.unit_scale)
            elif step.kind == "accumulate_saved":
                assert step.function is not None
                n = len(step.function.input_specs)
                step.function.accumulate_saved_body(part[:n], part[n:-2], part[-2], part[-1],
                                                    unit=step.unit_scale)
            elif step.kind == "run":
                step.runner.build(part)
            elif step.kind == "forward_saving":
                assert step.function is not None
                outputs += step.function.forward_saving_body(part)
            else:
                assert step.function is not None
                outputs.append(step.function.forward_body(part))
        if self.returns_written:
            # Automatic control dependencies order each read after every earlier op on
            # the same variable, so these are the values the call leaves.
            outputs += [v.read_value() for v in self.written]
        return outputs

    def __call__(self, flat: Sequence[Any]) -> tuple[list[Any], list[Any] | None]:
        """Runs once; returns (each forward step's return value, followed for a
        ``forward_saving`` step by its saved tensors; the written variables' values at the
        end or None when not ``returns_written``), as tf tensors."""
        out = list(distribute.call(self._cf, flat))
        if not self.returns_written:
            return out, None
        kept = len(out) - len(self.written)
        return out[:kept], out[kept:]
