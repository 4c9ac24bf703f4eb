from gentf.v1 import graph_pb2 as _graph_pb2
from gentf.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetWorkerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetWorkerInfoResponse(_message.Message):
    __slots__ = ("gentf_version", "tensorflow_version", "devices", "max_message_bytes", "registry_fingerprint", "wire_version", "min_client_wire_version")
    GENTF_VERSION_FIELD_NUMBER: _ClassVar[int]
    TENSORFLOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    WIRE_VERSION_FIELD_NUMBER: _ClassVar[int]
    MIN_CLIENT_WIRE_VERSION_FIELD_NUMBER: _ClassVar[int]
    gentf_version: str
    tensorflow_version: str
    devices: _containers.RepeatedScalarFieldContainer[str]
    max_message_bytes: int
    registry_fingerprint: str
    wire_version: int
    min_client_wire_version: int
    def __init__(self, gentf_version: _Optional[str] = ..., tensorflow_version: _Optional[str] = ..., devices: _Optional[_Iterable[str]] = ..., max_message_bytes: _Optional[int] = ..., registry_fingerprint: _Optional[str] = ..., wire_version: _Optional[int] = ..., min_client_wire_version: _Optional[int] = ...) -> None: ...

class GetOpRegistryRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class GetOpRegistryResponse(_message.Message):
    __slots__ = ("tensorflow_version", "registry_fingerprint", "ops")
    TENSORFLOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    tensorflow_version: str
    registry_fingerprint: str
    ops: _containers.RepeatedCompositeFieldContainer[_graph_pb2.OpDef]
    def __init__(self, tensorflow_version: _Optional[str] = ..., registry_fingerprint: _Optional[str] = ..., ops: _Optional[_Iterable[_Union[_graph_pb2.OpDef, _Mapping]]] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("lease_seconds", "name", "owner", "routes_direct_calls")
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ROUTES_DIRECT_CALLS_FIELD_NUMBER: _ClassVar[int]
    lease_seconds: float
    name: str
    owner: str
    routes_direct_calls: bool
    def __init__(self, lease_seconds: _Optional[float] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., routes_direct_calls: _Optional[bool] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session_id", "lease_seconds", "restored_from", "direct_address", "direct_route")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FROM_FIELD_NUMBER: _ClassVar[int]
    DIRECT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DIRECT_ROUTE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    lease_seconds: float
    restored_from: str
    direct_address: str
    direct_route: str
    def __init__(self, session_id: _Optional[str] = ..., lease_seconds: _Optional[float] = ..., restored_from: _Optional[str] = ..., direct_address: _Optional[str] = ..., direct_route: _Optional[str] = ...) -> None: ...

class RenewLeaseRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RenewLeaseResponse(_message.Message):
    __slots__ = ("lease_seconds",)
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    lease_seconds: float
    def __init__(self, lease_seconds: _Optional[float] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("session_id", "delete_checkpoints")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    delete_checkpoints: bool
    def __init__(self, session_id: _Optional[str] = ..., delete_checkpoints: _Optional[bool] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExtendGraphRequest(_message.Message):
    __slots__ = ("session_id", "nodes")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    nodes: _containers.RepeatedCompositeFieldContainer[_graph_pb2.NodeDef]
    def __init__(self, session_id: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[_graph_pb2.NodeDef, _Mapping]]] = ...) -> None: ...

class ExtendGraphResponse(_message.Message):
    __slots__ = ("nodes", "restored")
    NODES_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_graph_pb2.NodeInfo]
    restored: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, nodes: _Optional[_Iterable[_Union[_graph_pb2.NodeInfo, _Mapping]]] = ..., restored: _Optional[_Iterable[str]] = ...) -> None: ...

class ConstructRequest(_message.Message):
    __slots__ = ("session_id", "params", "inputs", "output", "accumulators", "batched")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ACCUMULATORS_FIELD_NUMBER: _ClassVar[int]
    BATCHED_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    params: _containers.RepeatedScalarFieldContainer[str]
    inputs: _containers.RepeatedScalarFieldContainer[str]
    output: str
    accumulators: _containers.RepeatedScalarFieldContainer[str]
    batched: bool
    def __init__(self, session_id: _Optional[str] = ..., params: _Optional[_Iterable[str]] = ..., inputs: _Optional[_Iterable[str]] = ..., output: _Optional[str] = ..., accumulators: _Optional[_Iterable[str]] = ..., batched: _Optional[bool] = ...) -> None: ...

class ConstructResponse(_message.Message):
    __slots__ = ("function_id", "output", "inputs")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    output: _graph_pb2.OutputInfo
    inputs: _containers.RepeatedCompositeFieldContainer[_graph_pb2.OutputInfo]
    def __init__(self, function_id: _Optional[str] = ..., output: _Optional[_Union[_graph_pb2.OutputInfo, _Mapping]] = ..., inputs: _Optional[_Iterable[_Union[_graph_pb2.OutputInfo, _Mapping]]] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("session_id", "function_id", "args", "keep_trace", "release_trace_handles")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    KEEP_TRACE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_TRACE_HANDLES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    function_id: str
    args: _containers.RepeatedCompositeFieldContainer[_tensor_pb2.Tensor]
    keep_trace: bool
    release_trace_handles: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, session_id: _Optional[str] = ..., function_id: _Optional[str] = ..., args: _Optional[_Iterable[_Union[_tensor_pb2.Tensor, _Mapping]]] = ..., keep_trace: _Optional[bool] = ..., release_trace_handles: _Optional[_Iterable[int]] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("retval", "trace_handle")
    RETVAL_FIELD_NUMBER: _ClassVar[int]
    TRACE_HANDLE_FIELD_NUMBER: _ClassVar[int]
    retval: _tensor_pb2.Tensor
    trace_handle: int
    def __init__(self, retval: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., trace_handle: _Optional[int] = ...) -> None: ...

class GradientRequest(_message.Message):
    __slots__ = ("session_id", "function_id", "trace_handle", "args", "retval_grad", "scale_factor", "skip_arg_grads", "request_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_HANDLE_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    RETVAL_GRAD_FIELD_NUMBER: _ClassVar[int]
    SCALE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    SKIP_ARG_GRADS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    function_id: str
    trace_handle: int
    args: _containers.RepeatedCompositeFieldContainer[_tensor_pb2.Tensor]
    retval_grad: _tensor_pb2.Tensor
    scale_factor: float
    skip_arg_grads: bool
    request_id: int
    def __init__(self, session_id: _Optional[str] = ..., function_id: _Optional[str] = ..., trace_handle: _Optional[int] = ..., args: _Optional[_Iterable[_Union[_tensor_pb2.Tensor, _Mapping]]] = ..., retval_grad: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., scale_factor: _Optional[float] = ..., skip_arg_grads: _Optional[bool] = ..., request_id: _Optional[int] = ...) -> None: ...

class GradientResponse(_message.Message):
    __slots__ = ("arg_grads",)
    ARG_GRADS_FIELD_NUMBER: _ClassVar[int]
    arg_grads: _containers.RepeatedCompositeFieldContainer[_tensor_pb2.Tensor]
    def __init__(self, arg_grads: _Optional[_Iterable[_Union[_tensor_pb2.Tensor, _Mapping]]] = ...) -> None: ...

class RunOpRequest(_message.Message):
    __slots__ = ("session_id", "feeds", "fetches", "targets", "request_id")
    class FeedsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDS_FIELD_NUMBER: _ClassVar[int]
    FETCHES_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    feeds: _containers.MessageMap[str, _tensor_pb2.Tensor]
    fetches: _containers.RepeatedScalarFieldContainer[str]
    targets: _containers.RepeatedScalarFieldContainer[str]
    request_id: int
    def __init__(self, session_id: _Optional[str] = ..., feeds: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., fetches: _Optional[_Iterable[str]] = ..., targets: _Optional[_Iterable[str]] = ..., request_id: _Optional[int] = ...) -> None: ...

class RunOpResponse(_message.Message):
    __slots__ = ("fetched",)
    FETCHED_FIELD_NUMBER: _ClassVar[int]
    fetched: _containers.RepeatedCompositeFieldContainer[_tensor_pb2.Tensor]
    def __init__(self, fetched: _Optional[_Iterable[_Union[_tensor_pb2.Tensor, _Mapping]]] = ...) -> None: ...

class BatchCall(_message.Message):
    __slots__ = ("generate", "choice_gradients", "accumulate_param_gradients", "run_op")
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    CHOICE_GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    ACCUMULATE_PARAM_GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    RUN_OP_FIELD_NUMBER: _ClassVar[int]
    generate: GenerateRequest
    choice_gradients: GradientRequest
    accumulate_param_gradients: GradientRequest
    run_op: RunOpRequest
    def __init__(self, generate: _Optional[_Union[GenerateRequest, _Mapping]] = ..., choice_gradients: _Optional[_Union[GradientRequest, _Mapping]] = ..., accumulate_param_gradients: _Optional[_Union[GradientRequest, _Mapping]] = ..., run_op: _Optional[_Union[RunOpRequest, _Mapping]] = ...) -> None: ...

class BatchRequest(_message.Message):
    __slots__ = ("session_id", "calls")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    calls: _containers.RepeatedCompositeFieldContainer[BatchCall]
    def __init__(self, session_id: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[BatchCall, _Mapping]]] = ...) -> None: ...

class BatchResult(_message.Message):
    __slots__ = ("generate", "gradients", "run_op")
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    RUN_OP_FIELD_NUMBER: _ClassVar[int]
    generate: GenerateResponse
    gradients: GradientResponse
    run_op: RunOpResponse
    def __init__(self, generate: _Optional[_Union[GenerateResponse, _Mapping]] = ..., gradients: _Optional[_Union[GradientResponse, _Mapping]] = ..., run_op: _Optional[_Union[RunOpResponse, _Mapping]] = ...) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchResult, _Mapping]]] = ...) -> None: ...

class AddGradientsRequest(_message.Message):
    __slots__ = ("nodes", "ys", "xs", "grad_ys", "stop_gradients", "name_scope")
    NODES_FIELD_NUMBER: _ClassVar[int]
    YS_FIELD_NUMBER: _ClassVar[int]
    XS_FIELD_NUMBER: _ClassVar[int]
    GRAD_YS_FIELD_NUMBER: _ClassVar[int]
    STOP_GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    NAME_SCOPE_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_graph_pb2.NodeDef]
    ys: _containers.RepeatedScalarFieldContainer[str]
    xs: _containers.RepeatedScalarFieldContainer[str]
    grad_ys: _containers.RepeatedScalarFieldContainer[str]
    stop_gradients: _containers.RepeatedScalarFieldContainer[str]
    name_scope: str
    def __init__(self, nodes: _Optional[_Iterable[_Union[_graph_pb2.NodeDef, _Mapping]]] = ..., ys: _Optional[_Iterable[str]] = ..., xs: _Optional[_Iterable[str]] = ..., grad_ys: _Optional[_Iterable[str]] = ..., stop_gradients: _Optional[_Iterable[str]] = ..., name_scope: _Optional[str] = ...) -> None: ...

class AddGradientsResponse(_message.Message):
    __slots__ = ("nodes", "infos", "grads")
    NODES_FIELD_NUMBER: _ClassVar[int]
    INFOS_FIELD_NUMBER: _ClassVar[int]
    GRADS_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_graph_pb2.NodeDef]
    infos: _containers.RepeatedCompositeFieldContainer[_graph_pb2.NodeInfo]
    grads: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, nodes: _Optional[_Iterable[_Union[_graph_pb2.NodeDef, _Mapping]]] = ..., infos: _Optional[_Iterable[_Union[_graph_pb2.NodeInfo, _Mapping]]] = ..., grads: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckpointRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CheckpointResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class RestoreCheckpointRequest(_message.Message):
    __slots__ = ("session_id", "path")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    path: str
    def __init__(self, session_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class RestoreCheckpointResponse(_message.Message):
    __slots__ = ("path", "restored")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FIELD_NUMBER: _ClassVar[int]
    path: str
    restored: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, path: _Optional[str] = ..., restored: _Optional[_Iterable[str]] = ...) -> None: ...

class BlobChunk(_message.Message):
    __slots__ = ("session_id", "data", "total_bytes", "blob_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    data: bytes
    total_bytes: int
    blob_id: str
    def __init__(self, session_id: _Optional[str] = ..., data: _Optional[bytes] = ..., total_bytes: _Optional[int] = ..., blob_id: _Optional[str] = ...) -> None: ...

class PutBlobResponse(_message.Message):
    __slots__ = ("blob_id", "total_bytes")
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    blob_id: str
    total_bytes: int
    def __init__(self, blob_id: _Optional[str] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class GetBlobRequest(_message.Message):
    __slots__ = ("session_id", "blob_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    blob_id: str
    def __init__(self, session_id: _Optional[str] = ..., blob_id: _Optional[str] = ...) -> None: ...
