"""``TFFunction``: a deterministic generative function whose body runs on a worker.

Arguments are placeholders, trainable parameters are variables, the return value is a
tensor of the session's graph. The worker compiles forward, argument VJP and
parameter-gradient accumulation once; a trace keeps its arguments on the worker under a
handle, so gradient calls send only the return value's gradient. When the trace is
garbage, its handle is released with the session's next Generate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.errors import InvalidArgumentError
from gentf.gfi._choicemap import ChoiceMap, EmptyChoiceMap
from gentf.gfi._diffs import Diff, NoChange, UnknownChange
from gentf.gfi._interface import GenerativeFunction, Trace
from gentf.gfi._selection import Selection
from gentf.graph._apply import apply_op, constant
from gentf.graph._core import Operation, Tensor
from gentf.graph._ops import group
from gentf.graph._variables import Variable
from gentf.remote._session import Session, get_default_session, prepare_value
from gentf.v1 import worker_pb2
from gentf.wire import decode_tensor, fill_request_tensor
from gentf.wire._dtypes import DType, as_dtype
from gentf.wire._errors import TraceNotFoundError

__all__ = ["TFFunction", "TFTrace", "get_param_grad_tf_var", "get_session",
           "reset_param_grads_tf_op", "runtf"]


class TFTrace(Trace):
    """A TFFunction's trace: arguments, return value, score 0, no choices."""

    def __init__(self, gen_fn: TFFunction, args: tuple[np.ndarray[Any, Any], ...],
                 retval: np.ndarray[Any, Any], handle: int) -> None:
        self._gen_fn = gen_fn
        self._args = args
        self._retval = retval
        self.handle = handle
        self.epoch = gen_fn.session.epoch
        """The session epoch the handle belongs to (void after the session is re-created)."""

    def get_gen_fn(self) -> TFFunction:
        """The TFFunction."""
        return self._gen_fn

    def get_args(self) -> tuple[np.ndarray[Any, Any], ...]:
        """The arguments, as arrays of the placeholders' dtypes."""
        return self._args

    def get_retval(self) -> np.ndarray[Any, Any]:
        """The return value (an array of the output's dtype)."""
        return self._retval

    def get_choices(self) -> ChoiceMap:
        """Always empty: a TFFunction makes no random choices."""
        return EmptyChoiceMap()

    def get_score(self) -> float:
        """Always 0."""
        return 0.0

    def __del__(self) -> None:
        # Garbage: the worker may forget the trace's arguments (the handle travels with
        # the session's next Generate). A method, not a weakref.finalize: one object and
        # registry entry less per call.
        if self.handle:
            try:
                self._gen_fn.session.release_trace(self.handle, self.epoch)
            except Exception:  # noqa: BLE001, S110 - interpreter shutdown: nothing to tell
                pass


class TFFunction(GenerativeFunction):
    """``TFFunction(params, inputs, output, sess=None, batched=False)``: a TensorFlow
    computation as a deterministic generative function.

    ``params``: Variables trained through this function's gradient accumulators (one
    accumulator per param, created zeroed). ``inputs``: placeholders, the arguments in
    order. ``output``: the return value (a tensor or variable of the same graph). ``sess``:
    the session the function lives in (default: the default session, else a new one).
    ``batched``: declares the function row-independent: every input and the output have a
    leading batch dimension and row i of the output depends only on row i of the inputs. A
    worker with several replicas (``gentf-worker --strategy mirrored``) then splits each
    call's rows over them; results are the same either way. Raises TypeError when an input
    or the output has no leading dimension.
    """

    def __init__(self, params: Sequence[Variable], inputs: Sequence[Tensor], output: Any,
                 sess: Session | None = None, batched: bool = False) -> None:
        self.session = sess or get_default_session() or Session()
        graph = self.session.graph
        for p in params:
            if not isinstance(p, Variable):
                raise TypeError(f"TFFunction params must be Variables, got {type(p).__name__}")
        for x in inputs:
            if not isinstance(x, Tensor) or x.op.type != "Placeholder":
                raise TypeError(f"TFFunction inputs must be placeholders, got {x!r}")
        if isinstance(output, Variable):
            output = output.value()
        if not isinstance(output, Tensor):
            raise TypeError(f"TFFunction output must be a Tensor, got {type(output).__name__}")
        items: list[Variable | Tensor] = [*params, *inputs, output]
        for item in items:
            if item.graph is not graph:
                raise ValueError(f"{item.name!r} is not in the session's graph")
        self.params: list[Variable] = list(params)
        self.inputs: list[Tensor] = list(inputs)
        self.output: Tensor = output
        self.batched: bool = bool(batched)
        """Whether the function is declared row-independent (see the class docstring)."""
        if self.batched:
            for t in [*self.inputs, output]:
                if t.shape is not None and len(t.shape) < 1:
                    raise TypeError(f"batched=True needs a leading batch dimension, but {t.name!r} "
                                    f"is a scalar")
        with graph.as_default(), graph.name_scope("TFFunction") as scope:
            self.name = scope
            # Zeros made on the worker (a Fill of a scalar): no zeroed array is shipped.
            self._accumulators = {
                p: Variable(_zeros(p.shape, p.dtype), name=f"grad/{p.op.name}", trainable=False,
                            shape=p.shape)
                for p in self.params
            }
            resets = [apply_op("AssignVariableOp", [acc.handle, _zeros(acc.shape, acc.dtype)],
                               {"dtype": acc.dtype})
                      for acc in self._accumulators.values()]
            self._reset_op = group(*resets, name="reset_param_grads")
        self.session.sync([self.output.op, self._reset_op, *(p.op for p in self.params), *(x.op for x in self.inputs)])
        reply = self.session.call("Construct", self.construct_request())
        self.function_id: str = reply.function_id
        self.session.register_function(self)
        self.output_dtype: DType = as_dtype(int(reply.output.dtype))
        self._input_dtypes = [x.dtype for x in self.inputs]

    def construct_request(self) -> Any:
        """The Construct request that builds this function in its session's worker session
        (sent again when a named session is re-created)."""
        return worker_pb2.ConstructRequest(
            session_id=self.session.session_id,
            params=[p.op.name for p in self.params],
            inputs=[x.op.name for x in self.inputs],
            output=self.output.name,
            accumulators=[a.op.name for a in self._accumulators.values()],
            batched=self.batched)

    def _handle(self, trace: TFTrace) -> int:
        """The trace's worker handle, 0 when it belongs to an older worker session."""
        return trace.handle if trace.epoch == self.session.epoch else 0

    # ---- worker calls ------------------------------------------------------------------

    def _prepare_args(self, args: Sequence[Any]) -> tuple[np.ndarray[Any, Any], ...]:
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.name} takes {len(self.inputs)} argument(s), got {len(args)}")
        return tuple(prepare_value(a, d, f"argument {i}")
                     for i, (a, d) in enumerate(zip(args, self._input_dtypes)))

    def _run_forward(self, args: tuple[np.ndarray[Any, Any], ...], keep: bool) -> tuple[np.ndarray[Any, Any], int]:
        request = worker_pb2.GenerateRequest(session_id=self.session.session_id,
                                             function_id=self.function_id, keep_trace=keep)
        for a in args:
            fill_request_tensor(request.args.add(), a)
        released = self.session.take_released_traces()
        if released:
            request.release_trace_handles.extend(released)
        try:
            reply = self.session.call("Generate", request)
        except Exception:
            # not known to have reached the worker: released again with the next call
            for handle in released:
                self.session.release_trace(handle)
            raise
        return decode_tensor(reply.retval, aligned=False), int(reply.trace_handle)

    def _gradient_call(self, method: str, trace: TFTrace, retval_grad: Any, scale: float) -> tuple[np.ndarray[Any, Any], ...]:
        grad = prepare_value(retval_grad, self.output_dtype, "retval_grad")
        handle = self._handle(trace)
        request = worker_pb2.GradientRequest(session_id=self.session.session_id,
                                             function_id=self.function_id,
                                             trace_handle=handle, scale_factor=scale)
        fill_request_tensor(request.retval_grad, grad)
        if not handle:
            for a in trace.get_args():
                fill_request_tensor(request.args.add(), a)
        try:
            reply = self.session.call(method, request, trace_args=trace.get_args())
        except TraceNotFoundError:
            request.trace_handle = 0
            for a in trace.get_args():
                fill_request_tensor(request.args.add(), a)
            reply = self.session.call(method, request)
        return tuple(decode_tensor(t) for t in reply.arg_grads)

    def _zero_arg_grads(self, trace: TFTrace) -> tuple[np.ndarray[Any, Any], ...]:
        return tuple(np.zeros_like(a) for a in trace.get_args())

    # ---- the generative function interface ----------------------------------------------

    def simulate(self, args: tuple[Any, ...]) -> TFTrace:
        """``trace = simulate(f, args)``: one forward run; the worker keeps the arguments."""
        prepared = self._prepare_args(args)
        retval, handle = self._run_forward(prepared, keep=True)
        return TFTrace(self, prepared, retval, handle)  # its handle is released with it

    def generate(self, args: tuple[Any, ...], constraints: ChoiceMap) -> tuple[TFTrace, float]:
        """``(trace, 0.0) = generate(f, args, constraints)``; constraints must be empty."""
        _no_choices(constraints, "generate")
        return self.simulate(args), 0.0

    def propose(self, args: tuple[Any, ...]) -> tuple[ChoiceMap, float, Any]:
        """``(empty choices, 0.0, retval) = propose(f, args)``."""
        retval, _ = self._run_forward(self._prepare_args(args), keep=False)
        return EmptyChoiceMap(), 0.0, retval

    def assess(self, args: tuple[Any, ...], choices: ChoiceMap) -> tuple[float, Any]:
        """``(0.0, retval) = assess(f, args, choices)``; choices must be empty."""
        _no_choices(choices, "assess")
        retval, _ = self._run_forward(self._prepare_args(args), keep=False)
        return 0.0, retval

    def update(self, trace: Trace, args: tuple[Any, ...], argdiffs: Sequence[Diff],
               constraints: ChoiceMap) -> tuple[Trace, float, Diff, ChoiceMap]:
        """``(trace, 0.0, retdiff, empty) = update(trace, args, argdiffs, constraints)``.

        Keeps the trace when every argdiff is NoChange; recomputes otherwise.
        """
        _no_choices(constraints, "update")
        if all(d is NoChange for d in argdiffs) and len(argdiffs) == len(self.inputs):
            return trace, 0.0, NoChange, EmptyChoiceMap()
        return self.simulate(args), 0.0, UnknownChange, EmptyChoiceMap()

    def regenerate(self, trace: Trace, args: tuple[Any, ...], argdiffs: Sequence[Diff],
                   selection: Selection) -> tuple[Trace, float, Diff]:
        """``(trace, 0.0, retdiff) = regenerate(trace, args, argdiffs, selection)``."""
        if all(d is NoChange for d in argdiffs) and len(argdiffs) == len(self.inputs):
            return trace, 0.0, NoChange
        return self.simulate(args), 0.0, UnknownChange

    def project(self, trace: Trace, selection: Selection) -> float:
        """Always 0.0."""
        return 0.0

    def choice_gradients(self, trace: Trace, selection: Selection,
                         retval_grad: Any) -> tuple[tuple[Any, ...], ChoiceMap, ChoiceMap]:
        """``(arg_grads, empty, empty) = choice_gradients(trace, selection, retval_grad)``.

        Argument gradients of ``<retval, retval_grad>`` with the current parameters;
        ``retval_grad=None`` gives zeros without a worker call.
        """
        assert isinstance(trace, TFTrace)
        if retval_grad is None:
            return self._zero_arg_grads(trace), EmptyChoiceMap(), EmptyChoiceMap()
        grads = self._gradient_call("ChoiceGradients", trace, retval_grad, 0.0)
        return grads, EmptyChoiceMap(), EmptyChoiceMap()

    def accumulate_param_gradients(self, trace: Trace, retval_grad: Any,
                                   scale_factor: float = 1.0) -> tuple[Any, ...]:
        """``arg_grads = accumulate_param_gradients(trace, retval_grad, scale_factor)``.

        Adds ``scale_factor * d<retval, retval_grad>/dparam`` into each accumulator on the
        worker and returns the UNSCALED argument gradients. ``retval_grad=None``: nothing
        flows back; zero argument gradients, accumulators unchanged, no worker call.
        """
        assert isinstance(trace, TFTrace)
        if retval_grad is None:
            return self._zero_arg_grads(trace)
        return self._gradient_call("AccumulateParamGradients", trace, retval_grad, float(scale_factor))

    def accumulate_param_gradients_only(self, trace: Trace, retval_grad: Any,
                                        scale_factor: float = 1.0) -> None:
        """Like :meth:`accumulate_param_gradients` for a caller that needs no argument
        gradients: the worker computes none, and the call is deferred (it travels with the
        session's next call, so a training step costs one round trip)."""
        assert isinstance(trace, TFTrace)
        if retval_grad is None:
            return
        grad = prepare_value(retval_grad, self.output_dtype, "retval_grad")
        handle = self._handle(trace)
        request = worker_pb2.GradientRequest(function_id=self.function_id,
                                             trace_handle=handle,
                                             scale_factor=float(scale_factor), skip_arg_grads=True)
        fill_request_tensor(request.retval_grad, grad)
        if not handle:
            for a in trace.get_args():
                fill_request_tensor(request.args.add(), a)
        self.session.defer("AccumulateParamGradients", request, trace_args=trace.get_args())

    def has_argument_grads(self) -> tuple[bool, ...]:
        """True for each floating-point argument."""
        return tuple(d.is_differentiable for d in self._input_dtypes)

    def accepts_output_grad(self) -> bool:
        """True when the return value is floating point."""
        return self.output_dtype.is_differentiable

    def get_params(self) -> list[Variable]:
        """The trainable parameters (Variables)."""
        return list(self.params)

    def untraced_call(self, args: tuple[Any, ...]) -> np.ndarray[Any, Any]:
        """``f(*args)`` outside a model: the return value, nothing kept on the worker."""
        retval, _ = self._run_forward(self._prepare_args(args), keep=False)
        return retval

    # ---- GenTF's accessors ---------------------------------------------------------------

    def param_grad_var(self, param: Variable) -> Variable:
        """The accumulator Variable of ``param``; KeyError naming it if it is not a param."""
        try:
            return self._accumulators[param]
        except KeyError:
            raise KeyError(f"{param!r} is not a parameter of {self.name}") from None

    @property
    def reset_op(self) -> Operation:
        """The operation that zeroes every accumulator."""
        return self._reset_op

    def make_param_updater(self, conf: Any, params: Sequence[Variable] | None = None) -> Any:
        """An updater whose ``apply()`` steps ``params`` along their accumulators on the
        worker, then zeroes those accumulators (see ``gentf.remote._param_update``)."""
        from gentf.remote._param_update import WorkerParamUpdater

        return WorkerParamUpdater(self, conf, self.params if params is None else list(params))

    def __repr__(self) -> str:
        return f"<TFFunction {self.name} {self.function_id} at {self.session.address}>"


def _zeros(shape: Sequence[int], dtype: DType) -> Tensor:
    """Zeros of ``shape`` computed on the worker (``Fill`` of a scalar zero)."""
    out = apply_op("Fill", [constant(np.array(list(shape), np.int32)),
                            constant(np.zeros((), dtype.as_numpy_dtype))]).outputs[0]
    out.set_shape(tuple(shape))
    return out


def _no_choices(choices: ChoiceMap, what: str) -> None:
    if choices is not None and not choices.is_empty():
        raise InvalidArgumentError(f"{what}: a TFFunction makes no random choices, "
                                   f"but non-empty choices were given: {choices!r}")


def get_session(gen_fn: TFFunction) -> Session:
    """``get_session(f)``: the session a TFFunction lives in."""
    return gen_fn.session


def runtf(gen_fn: TFFunction, fetches: Any, feed_dict: Any = None) -> Any:
    """``runtf(f, fetches, feed_dict=None)``: ``get_session(f).run(fetches, feed_dict)``."""
    return gen_fn.session.run(fetches, feed_dict=feed_dict)


def get_param_grad_tf_var(gen_fn: TFFunction, param: Variable) -> Variable:
    """``get_param_grad_tf_var(f, param)``: the gradient accumulator Variable of ``param``."""
    return gen_fn.param_grad_var(param)


def reset_param_grads_tf_op(gen_fn: TFFunction) -> Operation:
    """``reset_param_grads_tf_op(f)``: the operation zeroing all of ``f``'s accumulators."""
    return gen_fn.reset_op
