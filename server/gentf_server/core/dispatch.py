"""Requests in, replies out: the worker's calls as bytes, with no gRPC in sight.

:class:`Dispatcher` takes a method name and the serialized ``gentf.v1`` request, calls the
core, and returns an :class:`Outcome`: a status name (gRPC's spelling, e.g.
``"INVALID_ARGUMENT"``), a message, trailing metadata and the serialized reply. The front
door (``service/``) forwards raw request bytes to it, in a session process or in its own
process, and turns the outcome into a gRPC status; it never needs TensorFlow to do so.

Big tensors travel as blobs (``core.blobs``): :meth:`Dispatcher.put_blob` and
:meth:`Dispatcher.get_blob` serve the chunked ``PutBlob`` and ``GetBlob`` streams; a request
tensor naming a blob decodes from it with no copy, and a reply tensor over the blob
threshold (a quarter of the message cap, at most 64 MiB) is left in a blob for the client.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import tensorflow as tf
from gentf.v1 import graph_pb2, tensor_pb2, worker_pb2
from gentf.wire import WIRE_VERSION, as_dtype, decode_tensor, fill_tensor, tensor_nbytes
from gentf.wire._blobs import CHUNK_BYTES, blob_threshold, chunk_frames, new_blob_id, parse_chunk
from gentf.wire._codec import HELD_TENSOR_BYTES, wire_order
from gentf.wire._errors import FAILED_CALL_KEY, REASON_KEY, TRACE_NOT_FOUND
from google.protobuf.message import DecodeError

from gentf_server import __version__
from gentf_server.calls import METHOD_NAMES, Outcome
from gentf_server.core import errors
from gentf_server.core.batcher import Batcher, BatchPolicy
from gentf_server.core.blobs import BlobStore
from gentf_server.core.convert import shape_from_tf
from gentf_server.core.gradients import add_gradients
from gentf_server.core.session import FusedRequest, Session
from gentf_server.core.sessions import SessionManager

__all__ = ["ATTACHED_TENSOR_BYTES", "METHODS", "MIN_CLIENT_WIRE_VERSION", "WIRE_VERSION",
           "Dispatcher"]

log = logging.getLogger("gentf_server.dispatch")


MIN_CLIENT_WIRE_VERSION = 1
"""The oldest client revision this worker serves."""

METHODS: dict[str, tuple[type[Any], type[Any]]] = {
    "GetWorkerInfo": (worker_pb2.GetWorkerInfoRequest, worker_pb2.GetWorkerInfoResponse),
    "GetOpRegistry": (worker_pb2.GetOpRegistryRequest, worker_pb2.GetOpRegistryResponse),
    "CreateSession": (worker_pb2.CreateSessionRequest, worker_pb2.CreateSessionResponse),
    "RenewLease": (worker_pb2.RenewLeaseRequest, worker_pb2.RenewLeaseResponse),
    "CloseSession": (worker_pb2.CloseSessionRequest, worker_pb2.CloseSessionResponse),
    "ExtendGraph": (worker_pb2.ExtendGraphRequest, worker_pb2.ExtendGraphResponse),
    "Construct": (worker_pb2.ConstructRequest, worker_pb2.ConstructResponse),
    "Generate": (worker_pb2.GenerateRequest, worker_pb2.GenerateResponse),
    "ChoiceGradients": (worker_pb2.GradientRequest, worker_pb2.GradientResponse),
    "AccumulateParamGradients": (worker_pb2.GradientRequest, worker_pb2.GradientResponse),
    "RunOp": (worker_pb2.RunOpRequest, worker_pb2.RunOpResponse),
    "Batch": (worker_pb2.BatchRequest, worker_pb2.BatchResponse),
    "AddGradients": (worker_pb2.AddGradientsRequest, worker_pb2.AddGradientsResponse),
    "Checkpoint": (worker_pb2.CheckpointRequest, worker_pb2.CheckpointResponse),
    "RestoreCheckpoint": (worker_pb2.RestoreCheckpointRequest,
                          worker_pb2.RestoreCheckpointResponse),
}
"""Every ``gentf.v1.Worker`` method: its request and reply message classes."""

ATTACHED_TENSOR_BYTES = HELD_TENSOR_BYTES
"""Reply tensors of at least this many bytes (under the blob threshold) are attachments for
a caller that takes them (the direct door), as the client attaches request tensors."""

_STATUS: list[tuple[type[errors.CoreError], str]] = [
    (errors.InvalidArgument, "INVALID_ARGUMENT"),
    (errors.NotFound, "NOT_FOUND"),
    (errors.AlreadyExists, "ALREADY_EXISTS"),
    (errors.PermissionDenied, "PERMISSION_DENIED"),
    (errors.ResourceExhausted, "RESOURCE_EXHAUSTED"),
    (errors.FailedPrecondition, "FAILED_PRECONDITION"),
]

# TensorFlow failures: which status each means for the caller.
_TF_STATUS: list[tuple[type[Exception], str]] = [
    (tf.errors.InvalidArgumentError, "INVALID_ARGUMENT"),
    (tf.errors.OutOfRangeError, "INVALID_ARGUMENT"),
    (tf.errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED"),
    (tf.errors.FailedPreconditionError, "FAILED_PRECONDITION"),
    (tf.errors.NotFoundError, "NOT_FOUND"),
    (tf.errors.PermissionDeniedError, "PERMISSION_DENIED"),
    (tf.errors.UnimplementedError, "INVALID_ARGUMENT"),
    (tf.errors.DeadlineExceededError, "DEADLINE_EXCEEDED"),
]


def _output_info(dtype: tf.DType, shape: tf.TensorShape) -> graph_pb2.OutputInfo:
    return graph_pb2.OutputInfo(dtype=dtype.as_datatype_enum, shape=shape_from_tf(shape))


_NO_QUOTA = 1 << 62
"""``max_reply_bytes`` when ``--max-reply-mb`` is unset: no reply can reach it."""

_WRITING_METHODS = frozenset(("AccumulateParamGradients", "RunOp", "Batch", "RestoreCheckpoint"))
"""Methods that may change a session's variables."""

_BOUND_KIND = {"generate": "generate", "choice_gradients": "gradients",
               "accumulate_param_gradients": "accumulate", "run_op": "run"}


def _decode_all(tensors: Any, what: str) -> list[Any]:
    out = []
    for i, t in enumerate(tensors):
        try:
            out.append(decode_tensor(t))
        except (ValueError, TypeError) as exc:
            raise errors.InvalidArgument(f"{what} {i}: {exc}") from None
    return out


class Dispatcher:
    """Serves ``gentf.v1.Worker`` calls as bytes on a :class:`SessionManager`."""

    def __init__(self, sessions: SessionManager, max_message_bytes: int,
                 max_reply_bytes: int | None = None, max_blob_bytes: int | None = None,
                 batching: Any = None) -> None:
        self.sessions = sessions
        self.max_message_bytes = max_message_bytes
        self.max_reply_bytes = _NO_QUOTA if max_reply_bytes is None else max_reply_bytes
        """The per-call reply quota (``--max-reply-mb``), blobs included: no call returns
        more. Unset: no quota but the session's blob bound."""
        if max_blob_bytes is None:
            max_blob_bytes = getattr(getattr(sessions, "_limits", None), "max_blob_bytes",
                                     4096 << 20)
        self.blobs = BlobStore(max_blob_bytes)
        """The sessions' blobs (``--max-blob-mb`` per session)."""
        self.blob_threshold = blob_threshold(max_message_bytes)
        """Reply tensors of at least this many bytes are left in blobs."""
        self.batcher = Batcher(BatchPolicy.from_config(batching))
        """Merges concurrent calls of batched functions (``batching``: its configuration,
        ``{"max_delay_us": N, "max_rows": M}``; None: off)."""
        self._call = threading.local()
        self._handlers: dict[str, Callable[[Any], Any]] = {
            name: getattr(self, f"_{name}") for name in METHODS}
        assert tuple(METHODS) == METHOD_NAMES

    def handle(self, method: str, request_bytes: bytes | bytearray,
               attach_replies: bool = False) -> Outcome:
        """Runs one call; never raises (every failure becomes an Outcome with a status).
        ``attach_replies``: the caller takes reply tensors of :data:`ATTACHED_TENSOR_BYTES`
        or more (below the blob threshold) as attachments (``Outcome.attachments``) rather
        than inside the reply."""
        classes = METHODS.get(method)
        if classes is None:
            return Outcome("UNIMPLEMENTED", f"the worker has no method {method!r}")
        self._call.blobs = []
        self._call.attached = [] if attach_replies else None
        outcome = self._handle(method, classes, request_bytes)
        if not outcome.ok and self._call.blobs:
            self.blobs.drop(self._call.blobs)  # a failed call leaves no reply blob behind
        if outcome.ok and self._call.attached:
            outcome.attachments = self._call.attached
        self._call.blobs = []
        self._call.attached = None
        return outcome

    def _handle(self, method: str, classes: tuple[type[Any], type[Any]],
                request_bytes: bytes | bytearray) -> Outcome:
        request = classes[0]()
        try:
            request.ParseFromString(request_bytes)
        except (DecodeError, ValueError) as exc:
            return Outcome("INVALID_ARGUMENT",
                           f"{method}: the request is not a valid {classes[0].__name__}: {exc}")
        try:
            reply = self._handlers[method](request)
            if method in _WRITING_METHODS:
                self._save_if_due(request.session_id)
            return Outcome("OK", reply=reply.SerializeToString())
        except errors.CoreError as exc:
            metadata = []
            if isinstance(exc, errors.TraceNotFound):
                metadata.append((REASON_KEY, TRACE_NOT_FOUND))
            index = getattr(exc, "batch_index", None)
            if index is not None:
                metadata.append((FAILED_CALL_KEY, str(index)))
            code = next(c for cls, c in _STATUS if isinstance(exc, cls))
            return Outcome(code, exc.message, metadata)
        except (ValueError, TypeError) as exc:
            return Outcome("INVALID_ARGUMENT", f"{method}: {exc}")
        except tf.errors.OpError as exc:
            code = next((c for cls, c in _TF_STATUS if isinstance(exc, cls)), "INTERNAL")
            if code == "INTERNAL":
                log.exception("%s failed in TensorFlow", method)
            return Outcome(code, f"{method}: TensorFlow: {exc.message}")
        except MemoryError:
            return Outcome("RESOURCE_EXHAUSTED", f"{method}: the session process ran out of memory")
        except Exception as exc:  # a bug of the worker: say so, keep serving
            log.exception("%s failed", method)
            return Outcome("INTERNAL", f"{method}: internal error in the worker: "
                                       f"{type(exc).__name__}: {exc}")

    def _failure(self, exc: errors.CoreError) -> Outcome:
        return Outcome(next(c for cls, c in _STATUS if isinstance(exc, cls)), exc.message)

    @property
    def chunk_bytes(self) -> int:
        """Data bytes in one GetBlob chunk: well under the message cap."""
        return max(1 << 10, min(CHUNK_BYTES, self.max_message_bytes // 2))

    def put_blob(self, chunks: Iterable[Any]) -> Outcome:
        """Serves one ``PutBlob`` stream, all of it consumed even after a failure; never
        raises (but a chunk source's own ConnectionError).

        ``chunks``: the first is a serialized ``BlobChunk`` (a buffer); each later one is
        a buffer too, or a reader with ``receive(upload)`` that writes its chunk's data
        straight into the upload (``upload.next_view``/``advance``), or drains the chunk
        when given None, raising ValueError for a malformed chunk."""
        upload = None
        failure: Outcome | None = None
        count = 0
        for raw in chunks:
            count += 1
            receive = getattr(raw, "receive", None)
            if failure is not None:
                if receive is not None:
                    receive(None)
                continue
            try:
                if receive is not None:
                    if upload is None:
                        receive(None)
                        raise ValueError("the first chunk must be a buffer")
                    receive(upload)
                    continue
                head = parse_chunk(raw)
                if upload is None:
                    self.sessions.get(head.session_id)
                    self.blobs.drop_sessions(keep={x.session_id for x in self.sessions.snapshot()})
                    upload = self.blobs.begin_upload(head.session_id, head.blob_id,
                                                     head.total_bytes)
                upload.write(memoryview(raw).cast("B")[head.data_start:head.data_end])
            except errors.CoreError as exc:
                failure = self._failure(exc)
            except (ValueError, UnicodeDecodeError) as exc:
                failure = Outcome("INVALID_ARGUMENT", f"PutBlob: a chunk is not a valid "
                                                      f"BlobChunk: {exc}")
            except MemoryError:
                failure = Outcome("RESOURCE_EXHAUSTED",
                                  "PutBlob: the session process ran out of memory")
        if failure is None and upload is None:
            failure = Outcome("INVALID_ARGUMENT", "PutBlob: the stream had no chunk")
        if failure is not None:
            if upload is not None:
                upload.abort()
            return failure
        assert upload is not None
        try:
            upload.finish()
        except errors.CoreError as exc:
            return self._failure(exc)
        reply = worker_pb2.PutBlobResponse(blob_id=upload.blob_id, total_bytes=upload.total)
        log.debug("blob %s: %d bytes in %d chunks", upload.blob_id, upload.total, count)
        return Outcome("OK", reply=reply.SerializeToString())

    def get_blob(self, request_bytes: bytes) -> tuple[Outcome, Any]:
        """Serves one ``GetBlob``: (OK, the serialized chunks as ``(header, data)`` pairs)
        or (a failure, None). The blob is freed once taken. Never raises."""
        request = worker_pb2.GetBlobRequest()
        try:
            request.ParseFromString(request_bytes)
            self.sessions.get(request.session_id)
            view = self.blobs.take_reply(request.session_id, request.blob_id)
        except (DecodeError, ValueError) as exc:
            return Outcome("INVALID_ARGUMENT", f"GetBlob: not a valid GetBlobRequest: {exc}"), None
        except errors.CoreError as exc:
            return self._failure(exc), None
        return Outcome("OK"), chunk_frames(view, chunk_bytes=self.chunk_bytes)

    # ---- one method each ---------------------------------------------------------------

    def _GetWorkerInfo(self, request: Any) -> worker_pb2.GetWorkerInfoResponse:
        from gentf_server.core.distribute import devices as compute_devices

        devices = compute_devices()  # the strategy's replicas, else the one device
        return worker_pb2.GetWorkerInfoResponse(
            gentf_version=__version__, tensorflow_version=tf.__version__, devices=devices,
            max_message_bytes=self.max_message_bytes,
            registry_fingerprint=self.sessions.registry.fingerprint,
            wire_version=WIRE_VERSION, min_client_wire_version=MIN_CLIENT_WIRE_VERSION)

    def _GetOpRegistry(self, request: Any) -> worker_pb2.GetOpRegistryResponse:
        return self.sessions.registry.response(list(request.names))

    def _save_if_due(self, session_id: str) -> None:
        """With ``--checkpoint-seconds 0``: a named session that changed is saved before the
        reply goes (a failure is logged; the call's effect stays in memory)."""
        store = self.sessions.store
        if store is None or store.every_seconds > 0:
            return
        try:
            session = self.sessions.get(session_id)
            if session.named is not None:
                self.sessions.save(session)
        except Exception:
            log.exception("checkpoint of session %s failed", session_id)

    def _CreateSession(self, request: Any) -> worker_pb2.CreateSessionResponse:
        session = self.sessions.create(request.lease_seconds, request.name, request.owner)
        restored = session.named.restored_from if session.named is not None else ""
        return worker_pb2.CreateSessionResponse(session_id=session.session_id,
                                                lease_seconds=session.lease_seconds,
                                                restored_from=restored)

    def _Checkpoint(self, request: Any) -> worker_pb2.CheckpointResponse:
        session = self.sessions.get(request.session_id)
        return worker_pb2.CheckpointResponse(path=self.sessions.save(session, force=True))

    def _RestoreCheckpoint(self, request: Any) -> worker_pb2.RestoreCheckpointResponse:
        session = self.sessions.get(request.session_id)
        named = session.named
        if named is None:
            raise errors.FailedPrecondition(
                f"session {session.session_id} has no name: it has no checkpoints")
        if request.path:
            number = request.path.rpartition("ckpt-")[2]
            if (not number.isdigit() or named.prefix(int(number)) != request.path
                    or int(number) not in named.committed()):
                raise errors.NotFound(f"no checkpoint {request.path!r} of session {session.name}")
            values, _ = named.load(int(number))
            path = request.path
        else:
            found = named.latest()
            if found is None:
                raise errors.NotFound(f"session {session.name} has no usable checkpoint")
            path, values, _ = found
        with session.locked():
            names = session.assign_variables(values)
            named.pending = {k: v for k, v in values.items() if k not in names}
        return worker_pb2.RestoreCheckpointResponse(path=path, restored=names)

    def _RenewLease(self, request: Any) -> worker_pb2.RenewLeaseResponse:
        session = self.sessions.get(request.session_id)
        return worker_pb2.RenewLeaseResponse(lease_seconds=session.lease_seconds)

    def _CloseSession(self, request: Any) -> worker_pb2.CloseSessionResponse:
        self.sessions.close(request.session_id, request.delete_checkpoints)
        self.blobs.drop_sessions(only=request.session_id)
        return worker_pb2.CloseSessionResponse()

    def _ExtendGraph(self, request: Any) -> worker_pb2.ExtendGraphResponse:
        session = self.sessions.get(request.session_id)
        with session.locked():
            nodes = session.extend(list(request.nodes))
        reply = worker_pb2.ExtendGraphResponse(restored=session.restored_now)
        for node in nodes:
            info = reply.nodes.add(name=node.name)
            info.outputs.extend(_output_info(d, s) for d, s in node.outputs)
        return reply

    def _Construct(self, request: Any) -> worker_pb2.ConstructResponse:
        session = self.sessions.get(request.session_id)
        fn = session.construct(list(request.params), list(request.inputs), request.output,
                               list(request.accumulators), batched=request.batched)
        reply = worker_pb2.ConstructResponse(function_id=fn.function_id)
        reply.output.CopyFrom(_output_info(fn.output_dtype, fn.output_shape))
        reply.inputs.extend(_output_info(s.dtype, s.shape) for s in fn.input_specs)
        return reply

    def _Generate(self, request: Any) -> worker_pb2.GenerateResponse:
        # Its one change, a kept trace, is dropped by _generate when the reply is too large.
        return self._generate(self.sessions.get(request.session_id), request)

    def _ChoiceGradients(self, request: Any) -> worker_pb2.GradientResponse:
        # Changes nothing on the worker: no transaction needed.
        return self._gradients(self.sessions.get(request.session_id), request, None)

    def _AccumulateParamGradients(self, request: Any) -> worker_pb2.GradientResponse:
        session = self.sessions.get(request.session_id)
        return self._guarded(session, "AccumulateParamGradients",
                             self._bound(session, "accumulate", request),
                             lambda: self._gradients(session, request, request.scale_factor))

    def _RunOp(self, request: Any) -> worker_pb2.RunOpResponse:
        return self._run_op(self.sessions.get(request.session_id), request)

    def _Batch(self, request: Any) -> worker_pb2.BatchResponse:
        session = self.sessions.get(request.session_id)
        fused_tried = self.max_reply_bytes >= _NO_QUOTA
        if fused_tried:
            # No per-call quota to outgrow, and a fused Batch undoes itself when it fails:
            # no reply bound to work out, no transaction around it (a training step's path)
            fused = self._batch_fused(session, request)
            if fused is not None:
                return fused
        bound: int | None = 0
        for call in request.calls:
            kind = call.WhichOneof("call")
            one = None if kind is None else self._bound(session, _BOUND_KIND[kind],
                                                        getattr(call, kind))
            bound = None if bound is None or one is None else bound + one + 16
        return self._guarded(session, "Batch", bound,
                             lambda: self._batch(session, request, not fused_tried))

    def _batch(self, session: Session, request: Any,
               try_fused: bool = True) -> worker_pb2.BatchResponse:
        fused = self._batch_fused(session, request) if try_fused else None
        if fused is not None:
            return fused
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

    def _batch_fused(self, session: Session, request: Any) -> worker_pb2.BatchResponse | None:
        """The Batch as one compiled TensorFlow call (see :meth:`Session.run_fused`), or None
        when it is not fusable or fails (then nothing was changed)."""
        if len(request.calls) < 2:
            return None
        calls: list[FusedRequest] = []
        request_ids: list[int] = []
        try:
            for call in request.calls:
                kind = call.WhichOneof("call")
                inner = getattr(call, kind) if kind else None
                if inner is None or (inner.session_id and inner.session_id != request.session_id):
                    return None
                if kind in ("accumulate_param_gradients", "run_op") and inner.request_id:
                    if inner.request_id in session.applied:
                        return None  # a retry: the call-by-call path applies it at most once
                    request_ids.append(inner.request_id)
                # (a tensor that does not decode fails the call one by one, which says so)
                if kind == "generate":
                    calls.append(FusedRequest(
                        "generate", inner.function_id, [decode_tensor(a) for a in inner.args],
                        inner.keep_trace, list(inner.release_trace_handles)))
                elif kind == "accumulate_param_gradients":
                    if not (inner.trace_handle and inner.skip_arg_grads
                            and inner.HasField("retval_grad")):
                        return None
                    grad = decode_tensor(inner.retval_grad)
                    calls.append(FusedRequest("accumulate", inner.function_id,
                                              trace_handle=inner.trace_handle,
                                              retval_grad=grad, scale=inner.scale_factor))
                elif kind == "run_op" and not inner.fetches:
                    feeds = {name: decode_tensor(t) for name, t in inner.feeds.items()}
                    calls.append(FusedRequest("run", feeds=feeds, targets=list(inner.targets)))
                else:
                    return None
        except (errors.CoreError, ValueError, TypeError):
            return None
        results = session.run_fused(calls)
        if results is None:
            return None
        for request_id in request_ids:
            session.applied.add(request_id)
        reply = worker_pb2.BatchResponse()
        generated = iter(results)
        cap = self.reply_cap
        for index, call in enumerate(calls):
            result = reply.results.add()
            if call.kind == "accumulate":
                result.gradients.SetInParent()
            elif call.kind == "run":
                result.run_op.SetInParent()
            else:
                retval, handle = next(generated)
                result.generate.trace_handle = handle
                if not self._attach(result.generate.retval, retval):
                    fill_tensor(result.generate.retval, retval)
                if retval.nbytes > cap - 4096 and result.generate.ByteSize() > cap:
                    if handle:
                        session.drop_trace(handle)
                    exc = self._too_large(
                        f"call {index} (generate): the return value of function "
                        f"{call.function_id}", result.generate.ByteSize())
                    exc.batch_index = index  # type: ignore[attr-defined]
                    raise exc
        return reply

    def _AddGradients(self, request: Any) -> worker_pb2.AddGradientsResponse:
        built = add_gradients(self.sessions.registry, list(request.nodes), list(request.ys),
                              list(request.xs), list(request.grad_ys),
                              list(request.stop_gradients), request.name_scope)
        reply = worker_pb2.AddGradientsResponse(nodes=built.nodes, grads=built.grads)
        for node, outputs in zip(built.nodes, built.outputs):
            info = reply.infos.add(name=node.name)
            info.outputs.extend(_output_info(d, s) for d, s in outputs)
        return reply

    # ---- the calls, shared by their methods and Batch ----------------------------------

    @property
    def reply_cap(self) -> int:
        """The most bytes one reply may take, blobs included: the per-call quota (big
        tensors travel as blobs, so the message cap does not bound a reply)."""
        return self.max_reply_bytes

    def _too_large(self, what: str, size: int, cap: int | None = None) -> errors.ReplyTooLarge:
        if cap is not None:  # strings, which never travel as blobs, over one message
            return errors.ReplyTooLarge(
                f"{what}: the reply would take {size:,} bytes in one message, over this "
                f"worker's cap of {cap:,} bytes (raise it with --max-message-mb; string "
                f"tensors do not travel in chunks); nothing was changed")
        return errors.ReplyTooLarge(
            f"{what}: the reply would take {size:,} bytes, over this worker's per-call reply "
            f"limit of {self.reply_cap:,} bytes (raise it with --max-reply-mb); nothing was "
            f"changed")

    def _fill(self, session: Session, message: tensor_pb2.Tensor, value: Any) -> int:
        """Writes a reply tensor: inline, or (numeric, at least the blob threshold) as a
        blob kept for GetBlob, or (numeric, from :data:`ATTACHED_TENSOR_BYTES` up to the
        blob threshold, for a caller that takes them) as an attachment of the reply.
        Returns the bytes it adds to the reply."""
        if self._attach(message, value):
            return int(value.nbytes) + 64
        if value.dtype != object and value.nbytes >= self.blob_threshold:
            message.dtype = as_dtype(value.dtype).enum  # type: ignore[assignment]
            message.shape[:] = value.shape
            arr = wire_order(value)
            message.blob_id = self.blobs.keep_reply(session.session_id, arr)
            self._call.blobs.append(message.blob_id)
            return int(arr.nbytes) + 64
        fill_tensor(message, value)
        return int(value.nbytes) + 32 + 11 * value.ndim if value.dtype != object else 0

    def _attach(self, message: tensor_pb2.Tensor, value: Any) -> bool:
        """Names ``value`` in ``message`` as an attachment of the reply when the caller
        takes attachments and it is numeric, of :data:`ATTACHED_TENSOR_BYTES` or more and
        under the blob threshold; False (nothing written) otherwise."""
        attached = getattr(self._call, "attached", None)
        if (attached is None or value.dtype == object
                or not ATTACHED_TENSOR_BYTES <= value.nbytes < self.blob_threshold):
            return False
        message.dtype = as_dtype(value.dtype).enum  # type: ignore[assignment]
        message.shape[:] = value.shape
        message.blob_id = new_blob_id()
        attached.append((message.blob_id, wire_order(value).reshape(-1).view(np.uint8)))
        return True

    def _check_inline(self, what: str, reply: Any, values: list[Any]) -> None:
        """String tensors stay inline: their reply must fit one message."""
        if any(v.dtype == object for v in values):
            size = reply.ByteSize()
            if size > self.max_message_bytes:
                raise self._too_large(what, size, self.max_message_bytes)

    def _bound(self, session: Session, kind: str, request: Any) -> int | None:
        """Upper bound of a call's reply size known before it runs (None: unknown)."""
        arg_bytes = None
        if kind in ("gradients", "accumulate") and not request.trace_handle:
            arg_bytes = sum(tensor_nbytes(t) + 8 * len(t.string_val) for t in request.args)
            if any(t.string_val for t in request.args):
                return None
        return session.static_reply_bytes(kind, request, arg_bytes)

    def _guarded(self, session: Session, what: str, bound: int | None,
                 body: Callable[[], Any]) -> Any:
        """Runs ``body`` (one call, or a Batch) so that a reply over the cap changes nothing:
        when ``bound`` proves the reply fits, directly; otherwise inside a session
        transaction that is rolled back (variables, accumulators, kept traces) if it does
        not fit."""
        cap = self.reply_cap
        if bound is not None and bound + 64 <= cap:
            return body()
        with session.transaction() as transaction:
            try:
                reply = body()
            except errors.ReplyTooLarge:  # one call of a Batch: undo the whole Batch
                session.rollback(transaction)
                raise
            size = reply.ByteSize() + self._call_blob_bytes()
            if size > cap:
                session.rollback(transaction)
                raise self._too_large(what, size)
            return reply

    def _call_blob_bytes(self) -> int:
        return sum(self.blobs.reply_bytes(b) for b in getattr(self._call, "blobs", []))

    def _generate(self, session: Session, request: Any) -> worker_pb2.GenerateResponse:
        args = _decode_all(request.args, "argument")
        for released in request.release_trace_handles:
            session.drop_trace(released)
        retval, handle = self.batcher.generate(session, request.function_id, args,
                                               request.keep_trace)
        reply = worker_pb2.GenerateResponse(trace_handle=handle)
        what = f"the return value of function {request.function_id}"
        try:
            size = self._fill(session, reply.retval, retval)
            # A reply over the quota would fail after the trace was kept: check first.
            if retval.dtype == object:
                self._check_inline(what, reply, [retval])
                size = reply.ByteSize()
            if size > self.reply_cap:
                raise self._too_large(what, size)
        except (ValueError, TypeError) as exc:
            if handle:
                session.drop_trace(handle)
            raise errors.InvalidArgument(f"{what} cannot be encoded: {exc}") from None
        except errors.CoreError:
            if handle:
                session.drop_trace(handle)
            raise
        return reply

    def _gradients(self, session: Session, request: Any,
                   scale: float | None) -> worker_pb2.GradientResponse:
        args = [] if request.trace_handle else _decode_all(request.args, "argument")
        if not request.HasField("retval_grad"):
            raise errors.InvalidArgument("retval_grad is required")
        (grad,) = _decode_all([request.retval_grad], "retval_grad")
        request_id = request.request_id if scale is not None else 0
        grads = self.batcher.gradients(session, request.function_id, request.trace_handle, args,
                                       grad, scale, request.skip_arg_grads, request_id)
        if grads is None:  # not merged with other callers' calls
            with session.locked():
                if request_id and request_id in session.applied:
                    # applied before (its reply was lost): argument gradients only
                    if request.skip_arg_grads:
                        return worker_pb2.GradientResponse()
                    scale = None
                grads = session.gradients(request.function_id, request.trace_handle, args, grad,
                                          scale, skip_arg_grads=scale is not None
                                          and request.skip_arg_grads)
                session.applied.add(request_id)
        reply = worker_pb2.GradientResponse()
        size = sum(self._fill(session, reply.arg_grads.add(), g) for g in grads)
        if size + 64 > self.reply_cap:  # (an accumulation is undone by the caller's _guarded)
            raise self._too_large(f"the gradients of function {request.function_id}", size)
        return reply

    def _run_op(self, session: Session, request: Any) -> worker_pb2.RunOpResponse:
        feeds = {}
        for name, t in request.feeds.items():
            try:
                feeds[name] = decode_tensor(t)
            except (ValueError, TypeError) as exc:
                raise errors.InvalidArgument(f"feed {name!r}: {exc}") from None
        cap = self.reply_cap

        def finish(values: list[Any]) -> worker_pb2.RunOpResponse:
            # Runs before the session lets go of the run's snapshot: an encoding failure or a
            # reply over the cap undoes the run.
            reply = worker_pb2.RunOpResponse()
            size = 0
            for text, v in zip(request.fetches, values):
                try:
                    size += self._fill(session, reply.fetched.add(), v)
                except (ValueError, TypeError) as exc:
                    raise errors.InvalidArgument(
                        f"fetch {text!r} cannot be encoded: {exc}; nothing was changed") from None
            what = f"run of {list(request.fetches)}"
            if any(v.dtype == object for v in values):
                self._check_inline(what, reply, values)
                size += reply.ByteSize()
            if size + 64 > cap:
                raise self._too_large(what, size)
            return reply

        request_id = request.request_id
        with session.locked():
            targets = list(request.targets)
            if request_id and request_id in session.applied:
                targets = []  # applied before (its reply was lost): fetch only
            reply = session.run(feeds, list(request.fetches), targets, finish)
            session.applied.add(request_id)
            return reply
