"""Writes the worker's op allow-list (server/gentf_server/core/allowlist_data.py).

The list is computed, not typed by hand:

1. **Seed**: the ops TensorFlow's own Python wrappers define in the modules models need
   (math, nn, array, random, linalg, special math, bitwise, manip, spectral), the resource
   variable ops the worker's variables use, the optimizers' dense ``ResourceApply*`` ops, a
   few control ops (``NoOp``, ``Identity`` ...), the summary ops that compute protos without
   I/O, and every op the TF-free client (``gentf.tf``) and ``gentf.interop`` emit.
2. **Safety filter**: ops matching the refusal pattern (files, processes, network, host
   callbacks), internal ``_`` ops, ops with a ``shared_name``/``container`` attribute
   (state shared across sessions; ``VarHandleOp`` excepted: the worker never runs it, it maps
   it to the session's own variable), ops with function attributes (the wire carries no
   function library), and the ops in :data:`EXCLUDED`, each with its reason (crashes the
   fuzz test found, blocking, reading another resource's memory).
3. **Gradient closure**: each allowed op is built in a scratch ``tf.Graph`` with placeholder
   inputs (unknown shapes, then small known shapes), ``tf.gradients`` is taken through it,
   and every op type the gradient functions emit joins the list when it passes the safety
   filter, until nothing new appears. Emitted ops the filter refuses are reported.

Usage: python tools/gen_op_allowlist.py [OUTPUT]   (takes about a minute)
"""

from __future__ import annotations

import importlib
import inspect
import os
import pathlib
import re
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from gentf_server.core.registry import op_registry
from tensorflow.python.framework import op_def_library

DEFAULT = (pathlib.Path(__file__).resolve().parent.parent / "server" / "gentf_server" / "core"
           / "allowlist_data.py")

SEED_MODULES = [
    "gen_math_ops", "gen_nn_ops", "gen_array_ops", "gen_random_ops", "gen_stateless_random_ops",
    "gen_stateless_random_ops_v2", "gen_linalg_ops", "gen_special_math_ops", "gen_bitwise_ops",
    "gen_manip_ops", "gen_spectral_ops",
]
"""``tensorflow.python.ops`` modules whose ops are all candidates (before the filter)."""

VARIABLE_OPS = {
    "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp",
    "AssignSubVariableOp", "VarIsInitializedOp", "VariableShape", "ResourceGather",
    "ResourceGatherNd", "ResourceScatterAdd", "ResourceScatterSub", "ResourceScatterMul",
    "ResourceScatterDiv", "ResourceScatterMin", "ResourceScatterMax", "ResourceScatterUpdate",
    "ResourceScatterNdAdd", "ResourceScatterNdSub", "ResourceScatterNdUpdate",
    "ResourceScatterNdMin", "ResourceScatterNdMax", "ResourceStridedSliceAssign",
}
"""Resource variable ops as the worker's variables use them."""

CONTROL_OPS = {"NoOp", "Identity", "IdentityN", "StopGradient", "PreventGradient", "Snapshot",
               "CheckNumerics", "Assert"}
"""Control and plumbing ops: groups, control dependencies, identities."""

SUMMARY_OPS = {"ScalarSummary", "HistogramSummary", "MergeSummary"}
"""Summary ops that compute a serialized proto and touch no file."""

CLIENT_OPS = {
    "Abs", "Acos", "Acosh", "Add", "AddN", "AddV2", "All", "Any", "ArgMax", "ArgMin", "Asin",
    "Asinh", "AssignAddVariableOp", "AssignSubVariableOp", "AssignVariableOp", "Atan", "Atan2",
    "Atanh", "AvgPool", "BatchMatMulV2", "BatchMatMulV3", "BiasAdd", "BitwiseAnd", "BitwiseOr",
    "BitwiseXor", "BroadcastTo", "Cast", "Ceil", "CheckNumerics", "Cholesky", "ClipByValue",
    "ConcatV2", "ConjugateTranspose", "Const", "Conv2D", "Conv2DBackpropInput", "Cos", "Cosh",
    "Cumprod", "Cumsum", "DepthwiseConv2dNative", "Digamma", "Div", "DivNoNan", "Einsum", "Elu",
    "Equal", "Erf", "Erfc", "EuclideanNorm", "Exp", "ExpandDims", "Expm1", "Fill", "Floor",
    "FloorDiv", "FloorMod", "Gather", "GatherNd", "GatherV2", "Greater", "GreaterEqual",
    "Identity", "Igamma", "Igammac", "Inv", "Invert", "IsFinite", "IsInf", "IsNan", "L2Loss",
    "LeakyRelu", "Less", "LessEqual", "Lgamma", "LinSpace", "Log", "Log1p",
    "LogMatrixDeterminant", "LogSoftmax", "LogicalAnd", "LogicalNot", "LogicalOr",
    "MatMul", "MatrixBandPart", "MatrixDeterminant", "MatrixDiagPartV3", "MatrixDiagV3",
    "MatrixInverse", "MatrixSolve", "MatrixTriangularSolve", "Max", "MaxPool", "Maximum", "Mean",
    "Min", "Minimum", "MirrorPad", "Mod", "Mul", "MulNoNan", "Neg", "NoOp", "NotEqual", "OneHot",
    "OnesLike", "Pack", "Pad", "PadV2", "Placeholder", "Pow", "PreventGradient", "Prod", "Qr",
    "RandomStandardNormal", "RandomUniform", "Range", "Rank", "ReadVariableOp", "RealDiv",
    "Reciprocal", "Relu", "Relu6", "Reshape", "ResourceApplyAdagrad", "ResourceApplyAdam",
    "ResourceApplyCenteredRMSProp", "ResourceApplyGradientDescent", "ResourceApplyMomentum",
    "ResourceApplyRMSProp", "ReverseV2", "Rint", "Round", "Rsqrt", "ScatterNd", "Select",
    "SelectV2", "SelfAdjointEigV2", "Selu", "Shape", "Sigmoid", "Sign", "Sin", "Sinh", "Size",
    "Slice", "Snapshot", "Softmax", "Softplus", "Softsign", "SparseSoftmaxCrossEntropyWithLogits",
    "Split", "SplitV", "Sqrt", "Square", "SquaredDifference", "Squeeze", "StopGradient",
    "StridedSlice", "Sub", "Sum", "Svd", "Tan", "Tanh", "TensorScatterUpdate", "Tile", "TopKV2",
    "Transpose", "TruncateDiv", "TruncateMod", "TruncatedNormal", "Unpack", "VarHandleOp",
    "Where", "Xdivy", "Xlog1py", "Xlogy", "Zeta", "ZerosLike",
}
"""Ops ``gentf.tf`` and ``gentf.interop`` emit (the client's op names); all must be allowed."""

REFUSED_PATTERN = re.compile(
    r"File|Save|Restore|Reader|Checkpoint|TFRecord|PyFunc|SummaryWriter|Write\w*Summary|"
    r"Print|Debug|Dataset|Iterator|Send|Recv|Rpc|Collective|Nccl|Immutable|Vocab|"
    r"TableFromText|TPU|LoadAndRemap|RemoteCall|RecordInput|Sharded|Filespec|"
    r"DecodeProto|EncodeProto|Calibration|DistributedSave|FileSystem|Sleep|ThreadPool|"
    r"Abort|Writer|ImportEvent|DumpTensor|Infeed|Outfeed|Xla|Gcs|BigQuery|Bigtable|Socket|"
    r"Mmap|Queue|Stage|Barrier|Mutex|Stack|TensorArray|Accumulator|Lookup|HashTable|Host"
)
"""Op names never allowed, whatever module defines them."""

EXCLUDED: dict[str, str] = {
    # Reading memory it does not own or state it should not see.
    "DestroyResourceOp": "destroys a variable the session's compiled functions still hold",
    "DisableCopyOnRead": "changes a variable's aliasing; reads could then see later writes",
    # Copy ops for debugging and host transfers.
    "Copy": "debugging op (debug_ops_spec attribute)",
    "CopyHost": "debugging op (debug_ops_spec attribute)",
    "GuaranteeConst": "asserts constness to grappler; a wrong promise is undefined behaviour",
}
"""Ops of the seed refused anyway, with the reason (the fuzz test adds its findings here)."""

_FUZZ_EXCLUDED_PATH = pathlib.Path(__file__).resolve().parent / "op_fuzz_exclusions.txt"


def _fuzz_exclusions() -> dict[str, str]:
    """``Op: reason`` lines the op fuzz test found (crashes, hangs): refused too."""
    out: dict[str, str] = {}
    if _FUZZ_EXCLUDED_PATH.exists():
        for line in _FUZZ_EXCLUDED_PATH.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(":")
                out[name.strip()] = reason.strip()
    return out


def module_ops(module_name: str) -> set[str]:
    """Op names a generated ``tensorflow.python.ops`` module wraps."""
    module = importlib.import_module(f"tensorflow.python.ops.{module_name}")
    source = inspect.getsource(module)
    return set(re.findall(r'_apply_op_helper\(\s*"(\w+)"', source))


def unsafe_reason(op_def: Any, excluded: dict[str, str]) -> str | None:
    """Why an op may not be allowed, or None."""
    name = op_def.name
    if name.startswith("_"):
        return "internal op"
    if name in excluded:
        return excluded[name]
    if REFUSED_PATTERN.search(name):
        return "reaches files, processes, threads, the network or shared state (name pattern)"
    attrs = {a.name: a.type for a in op_def.attr}
    if name != "VarHandleOp" and ("shared_name" in attrs or "container" in attrs):
        return "shared_name/container: state shared across sessions"
    if any(t in ("func", "list(func)") for t in attrs.values()):
        return "function attribute (the wire carries no function library)"
    if _quantized(op_def):
        return ("quantized kernel: no model needs it, its tensors cannot travel on the wire, "
                "and these kernels trust their min/max inputs")
    return None


_QUANTIZED = {tf.qint8, tf.quint8, tf.qint16, tf.quint16, tf.qint32}


def _quantized(op_def: Any) -> bool:
    """True when an input or output of the op can only be a quantized dtype."""
    allowed = {a.name: {tf.as_dtype(t) for t in a.allowed_values.list.type}
               for a in op_def.attr if a.type == "type" and a.HasField("allowed_values")}
    for arg in list(op_def.input_arg) + list(op_def.output_arg):
        if arg.type and tf.as_dtype(arg.type) in _QUANTIZED:
            return True
        types = allowed.get(arg.type_attr)
        if types and types <= _QUANTIZED:
            return True
    return False


_PREFERRED = [tf.float32, tf.float64, tf.int32, tf.int64, tf.bool, tf.complex64]


def _pick_type(attr: Any) -> tf.DType:
    allowed = [tf.as_dtype(t) for t in attr.allowed_values.list.type] if attr.HasField(
        "allowed_values") else []
    if attr.HasField("default_value") and attr.default_value.HasField("type"):
        default = tf.as_dtype(attr.default_value.type)
        if default.is_floating:
            return default
    for dtype in _PREFERRED:
        if not allowed or dtype in allowed:
            return dtype
    return allowed[0]


_SHAPES: list[list[int] | None] = [None, [], [3], [2, 3], [1, 4, 4, 2]]
"""Input shapes tried: unknown, then small known shapes of rank 0 to 4 (gradient
functions emit different ops when shapes are static)."""


def _python_value(kind: str, value: Any) -> Any:
    """An AttrValue as the Python value ``_apply_op_helper`` takes (None: unsupported)."""
    simple = {"int": "i", "float": "f", "bool": "b"}
    if kind in simple:
        return getattr(value, simple[kind])
    if kind == "string":
        return value.s.decode()
    if kind == "type":
        return tf.as_dtype(value.type)
    if kind == "shape":
        return tf.TensorShape(value.shape)
    if kind == "list(int)":
        return list(value.list.i)
    if kind == "list(float)":
        return list(value.list.f)
    if kind == "list(string)":
        return [s.decode() for s in value.list.s]
    if kind == "list(type)":
        return [tf.as_dtype(t) for t in value.list.type]
    if kind == "list(shape)":
        return [tf.TensorShape(x) for x in value.list.shape]
    if kind == "tensor":
        return tf.make_ndarray(value.tensor)
    return None


def build_and_differentiate(op_def: Any, shape: list[int] | None) -> set[str] | None:
    """Op types ``tf.gradients`` emits through one instance of ``op_def``; None when the op
    cannot be built generically or has no usable gradient."""
    graph = tf.Graph()
    with graph.as_default():
        attrs: dict[str, Any] = {}
        inferred = {a.type_attr for a in op_def.input_arg if a.type_attr}
        inferred |= {a.number_attr for a in op_def.input_arg if a.number_attr}
        inferred |= {a.type_list_attr for a in op_def.input_arg if a.type_list_attr}
        types: dict[str, tf.DType] = {}
        for attr in op_def.attr:
            if attr.type == "type":
                types[attr.name] = _pick_type(attr)
                if attr.name not in inferred:
                    attrs[attr.name] = types[attr.name]
            elif attr.name in inferred:
                continue
            elif attr.HasField("default_value"):
                value = _python_value(attr.type, attr.default_value)
                if value is None:
                    return None
                attrs[attr.name] = value
            elif attr.type == "int":
                attrs[attr.name] = max(1, attr.minimum)
            elif attr.type == "float":
                attrs[attr.name] = 0.5
            elif attr.type == "bool":
                attrs[attr.name] = False
            elif attr.type == "string":
                allowed = list(attr.allowed_values.list.s)
                attrs[attr.name] = allowed[0].decode() if allowed else "ab"
            elif attr.type == "shape":
                attrs[attr.name] = shape
            elif attr.type == "list(int)":
                attrs[attr.name] = [1, 1, 1, 1]
            elif attr.type == "list(type)":
                attrs[attr.name] = [tf.float32]
            else:
                return None
        inputs: dict[str, Any] = {}
        for arg in op_def.input_arg:
            if arg.type_list_attr:
                return None
            dtype = tf.as_dtype(arg.type) if arg.type else types.get(arg.type_attr)
            if dtype is None:
                return None
            count = 2 if arg.number_attr else 1

            def make(dtype: tf.DType = dtype) -> Any:
                if dtype == tf.resource:
                    return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[2, 3])
                known = dtype.is_floating or dtype.is_complex  # indices, axes: unknown
                return tf.compat.v1.placeholder(dtype, shape=shape if known else None)

            inputs[arg.name] = [make() for _ in range(count)] if arg.number_attr else make()
        try:
            op = op_def_library._apply_op_helper(op_def.name, **inputs, **attrs)
            if not isinstance(op, tf.Operation):
                op = op[2]  # (structure, is_stateful, operation, outputs)
            xs = [t for t in op.inputs if t.dtype.is_floating or t.dtype == tf.resource]
            ys = [t for t in op.outputs if t.dtype.is_floating]
            if not xs or not ys:
                return None
            grad_ys = [tf.compat.v1.placeholder(y.dtype, shape=y.shape) for y in ys]
            before = {id(o) for o in graph.get_operations()}
            tf.gradients(ys, xs, grad_ys=grad_ys)
        except Exception as exc:  # noqa: BLE001 - an op not buildable generically is skipped
            if os.environ.get("GEN_ALLOWLIST_DEBUG"):
                print(op_def.name, shape, type(exc).__name__, exc)
            return None
        return {o.type for o in graph.get_operations() if id(o) not in before}


def compute() -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """(allowed op -> why, refused candidate -> reason, gradient-emitted refused op -> by)."""
    registry = op_registry().tf_op_defs
    excluded = {**EXCLUDED, **_fuzz_exclusions()}
    seed: dict[str, str] = {}
    for module in SEED_MODULES:
        for name in sorted(module_ops(module)):
            seed.setdefault(name, module.removeprefix("gen_"))
    for name in sorted(module_ops("gen_training_ops")):
        if name.startswith("ResourceApply"):
            seed.setdefault(name, "optimizer apply op")
    for names, why in ((VARIABLE_OPS, "resource variable op"), (CONTROL_OPS, "control"),
                       (SUMMARY_OPS, "summary (no I/O)"), (CLIENT_OPS, "emitted by gentf.tf")):
        for name in sorted(names):
            seed.setdefault(name, why)
    allowed: dict[str, str] = {}
    refused: dict[str, str] = {}
    for name, why in sorted(seed.items()):
        op_def = registry.get(name)
        if op_def is None:
            refused[name] = "not registered in this TensorFlow"
            continue
        reason = unsafe_reason(op_def, excluded)
        if reason is None:
            allowed[name] = why
        else:
            refused[name] = reason
    missing = sorted(CLIENT_OPS - allowed.keys())
    if missing:
        raise SystemExit(f"ops the client emits would be refused: {missing} ({refused})")
    emitted_refused: dict[str, set[str]] = {}
    todo = sorted(allowed)
    done: set[str] = set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        op_def = registry[name]
        emitted: set[str] = set()
        for shape in _SHAPES:
            emitted |= build_and_differentiate(op_def, shape) or set()
        for new in sorted(emitted):
            if new in allowed:
                continue
            new_def = registry.get(new)
            reason = unsafe_reason(new_def, excluded) if new_def is not None else "unregistered"
            if reason is None:
                allowed[new] = f"gradient of {name}"
                todo.append(new)
            else:
                emitted_refused.setdefault(new, set()).add(name)
    return allowed, refused, emitted_refused


def main() -> None:
    """Computes the list and writes the data module."""
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    allowed, refused, emitted_refused = compute()
    lines = [
        f'"""Generated by tools/gen_op_allowlist.py from TensorFlow {tf.__version__}: do not edit.',
        "",
        "ALLOWED maps each op the worker accepts to why it is on the list (its TensorFlow",
        "module, its role, or the allowed op whose gradient emits it).",
        '"""',
        "",
        "ALLOWED: dict[str, str] = {",
    ]
    lines += [f"    {name!r}: {why!r}," for name, why in sorted(allowed.items())]
    lines += ["}", ""]
    out.write_text("\n".join(lines))
    print(f"{out}: {len(allowed)} ops allowed, {len(refused)} candidates refused")
    for name, reason in sorted(refused.items()):
        print(f"  refused {name}: {reason}")
    for name, users in sorted(emitted_refused.items()):
        print(f"  gradient emits refused {name} (for {sorted(users)[:5]})")


if __name__ == "__main__":
    main()
