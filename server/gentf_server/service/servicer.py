"""The Worker servicer: transport only. Decode, call the core, encode, abort with a status."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import tensorflow as tf
from gentf.v1 import graph_pb2, worker_pb2, worker_pb2_grpc
from gentf.wire import decode_tensor, fill_tensor
from gentf.wire._errors import FAILED_CALL_KEY, REASON_KEY, TRACE_NOT_FOUND

from gentf_server import __version__
from gentf_server.core import errors
from gentf_server.core.convert import shape_from_tf
from gentf_server.core.gradients import add_gradients
from gentf_server.core.session import Session
from gentf_server.core.sessions import SessionManager

__all__ = ["WorkerServicer"]

log = logging.getLogger("gentf_server.service")

_STATUS: list[tuple[type[errors.CoreError], grpc.StatusCode]] = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
]

F = TypeVar("F", bound=Callable[..., Any])


def _rpc(method: F) -> F:
    """Maps core errors (and undecodable tensors) to gRPC statuses; anything else is INTERNAL."""

    @functools.wraps(method)
    def wrapper(self: WorkerServicer, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except errors.CoreError as exc:
            metadata = []
            if isinstance(exc, errors.TraceNotFound):
                metadata.append((REASON_KEY, TRACE_NOT_FOUND))
            if hasattr(exc, "batch_index"):
                metadata.append((FAILED_CALL_KEY, str(exc.batch_index)))
            if metadata:
                context.set_trailing_metadata(tuple(metadata))
            code = next(c for cls, c in _STATUS if isinstance(exc, cls))
            context.abort(code, exc.message)
        except (ValueError, TypeError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{method.__name__}: {exc}")
        except tf.errors.OpError as exc:
            log.exception("%s failed in TensorFlow", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{method.__name__}: TensorFlow: {exc.message}")

    return wrapper  # type: ignore[return-value]


def _output_info(dtype: tf.DType, shape: tf.TensorShape) -> graph_pb2.OutputInfo:
    return graph_pb2.OutputInfo(dtype=dtype.as_datatype_enum, shape=shape_from_tf(shape))


def _decode_all(tensors: Any, what: str) -> list[Any]:
    out = []
    for i, t in enumerate(tensors):
        try:
            out.append(decode_tensor(t))
        except (ValueError, TypeError) as exc:
            raise errors.InvalidArgument(f"{what} {i}: {exc}") from None
    return out


class WorkerServicer(worker_pb2_grpc.WorkerServicer):
    """Serves gentf.v1.Worker on a SessionManager."""

    def __init__(self, sessions: SessionManager, max_message_bytes: int) -> None:
        self._sessions = sessions
        self._max_message_bytes = max_message_bytes

    @_rpc
    def GetWorkerInfo(self, request: Any, context: Any) -> worker_pb2.GetWorkerInfoResponse:
        devices = [d.name for d in tf.config.list_logical_devices()]
        return worker_pb2.GetWorkerInfoResponse(
            gentf_version=__version__, tensorflow_version=tf.__version__, devices=devices,
            max_message_bytes=self._max_message_bytes,
            registry_fingerprint=self._sessions.registry.fingerprint)

    @_rpc
    def GetOpRegistry(self, request: Any, context: Any) -> worker_pb2.GetOpRegistryResponse:
        return self._sessions.registry.response(list(request.names))

    @_rpc
    def CreateSession(self, request: Any, context: Any) -> worker_pb2.CreateSessionResponse:
        session = self._sessions.create(request.lease_seconds)
        return worker_pb2.CreateSessionResponse(session_id=session.session_id,
                                                lease_seconds=session.lease_seconds)

    @_rpc
    def RenewLease(self, request: Any, context: Any) -> worker_pb2.RenewLeaseResponse:
        session = self._sessions.get(request.session_id)
        return worker_pb2.RenewLeaseResponse(lease_seconds=session.lease_seconds)

    @_rpc
    def CloseSession(self, request: Any, context: Any) -> worker_pb2.CloseSessionResponse:
        self._sessions.close(request.session_id)
        return worker_pb2.CloseSessionResponse()

    @_rpc
    def ExtendGraph(self, request: Any, context: Any) -> worker_pb2.ExtendGraphResponse:
        session = self._sessions.get(request.session_id)
        nodes = session.extend(list(request.nodes))
        reply = worker_pb2.ExtendGraphResponse()
        for node in nodes:
            info = reply.nodes.add(name=node.name)
            info.outputs.extend(_output_info(d, s) for d, s in node.outputs)
        return reply

    @_rpc
    def Construct(self, request: Any, context: Any) -> worker_pb2.ConstructResponse:
        session = self._sessions.get(request.session_id)
        fn = session.construct(list(request.params), list(request.inputs), request.output,
                               list(request.accumulators))
        reply = worker_pb2.ConstructResponse(function_id=fn.function_id)
        reply.output.CopyFrom(_output_info(fn.output_dtype, fn.output_shape))
        reply.inputs.extend(_output_info(s.dtype, s.shape) for s in fn.input_specs)
        return reply

    @_rpc
    def Generate(self, request: Any, context: Any) -> worker_pb2.GenerateResponse:
        return self._generate(self._sessions.get(request.session_id), request)

    @_rpc
    def ChoiceGradients(self, request: Any, context: Any) -> worker_pb2.GradientResponse:
        return self._gradients(self._sessions.get(request.session_id), request, None)

    @_rpc
    def AccumulateParamGradients(self, request: Any, context: Any) -> worker_pb2.GradientResponse:
        return self._gradients(self._sessions.get(request.session_id), request, request.scale_factor)

    @_rpc
    def RunOp(self, request: Any, context: Any) -> worker_pb2.RunOpResponse:
        return self._run_op(self._sessions.get(request.session_id), request)

    @_rpc
    def AddGradients(self, request: Any, context: Any) -> worker_pb2.AddGradientsResponse:
        built = add_gradients(self._sessions.registry, list(request.nodes), list(request.ys),
                              list(request.xs), list(request.grad_ys),
                              list(request.stop_gradients), request.name_scope)
        reply = worker_pb2.AddGradientsResponse(nodes=built.nodes, grads=built.grads)
        for node, outputs in zip(built.nodes, built.outputs):
            info = reply.infos.add(name=node.name)
            info.outputs.extend(_output_info(d, s) for d, s in outputs)
        return reply

    @_rpc
    def Batch(self, request: Any, context: Any) -> worker_pb2.BatchResponse:
        session = self._sessions.get(request.session_id)
        reply = worker_pb2.BatchResponse()
        for index, call in enumerate(request.calls):
            kind = call.WhichOneof("call")
            try:
                inner = getattr(call, kind) if kind else None
                if inner is None:
                    raise errors.InvalidArgument("the call is empty")
                if inner.session_id and inner.session_id != request.session_id:
                    raise errors.InvalidArgument(
                        f"the call names session {inner.session_id!r}, not the batch's")
                result = reply.results.add()
                if kind == "generate":
                    result.generate.CopyFrom(self._generate(session, inner))
                elif kind == "choice_gradients":
                    result.gradients.CopyFrom(self._gradients(session, inner, None))
                elif kind == "accumulate_param_gradients":
                    result.gradients.CopyFrom(self._gradients(session, inner, inner.scale_factor))
                else:
                    result.run_op.CopyFrom(self._run_op(session, inner))
            except errors.CoreError as exc:
                exc.message = f"call {index} ({kind}): {exc.message}"
                exc.batch_index = index  # type: ignore[attr-defined]
                raise
        return reply

    # ---- the calls, shared by their RPCs and Batch -------------------------------------

    def _generate(self, session: Session, request: Any) -> worker_pb2.GenerateResponse:
        args = _decode_all(request.args, "argument")
        retval, handle = session.generate(request.function_id, args, request.keep_trace)
        reply = worker_pb2.GenerateResponse(trace_handle=handle)
        fill_tensor(reply.retval, retval)
        cap = self._max_message_bytes
        # A reply over the cap would fail in gRPC after the trace was kept: check first
        # (exactly only when near the cap: ByteSize serializes).
        if (retval.dtype == object or retval.nbytes > cap - 4096) and reply.ByteSize() > cap:
            if handle:
                session.drop_trace(handle)
            raise errors.ResourceExhausted(
                f"the return value of function {request.function_id} ({reply.ByteSize()} bytes "
                f"with its reply) is over the worker's message cap of {cap} bytes")
        return reply

    def _gradients(self, session: Session, request: Any, scale: float | None) -> worker_pb2.GradientResponse:
        args = [] if request.trace_handle else _decode_all(request.args, "argument")
        if not request.HasField("retval_grad"):
            raise errors.InvalidArgument("retval_grad is required")
        (grad,) = _decode_all([request.retval_grad], "retval_grad")
        grads = session.gradients(request.function_id, request.trace_handle, args, grad, scale,
                                  skip_arg_grads=scale is not None and request.skip_arg_grads)
        reply = worker_pb2.GradientResponse()
        for g in grads:
            fill_tensor(reply.arg_grads.add(), g)
        return reply

    def _run_op(self, session: Session, request: Any) -> worker_pb2.RunOpResponse:
        feeds = {}
        for name, t in request.feeds.items():
            try:
                feeds[name] = decode_tensor(t)
            except (ValueError, TypeError) as exc:
                raise errors.InvalidArgument(f"feed {name!r}: {exc}") from None
        values = session.run(feeds, list(request.fetches), list(request.targets),
                             max_result_bytes=self._max_message_bytes - 1024)
        reply = worker_pb2.RunOpResponse()
        for v in values:
            fill_tensor(reply.fetched.add(), v)
        return reply

