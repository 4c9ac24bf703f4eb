"""Bindings generated from the op registry: every op gets a function with a real signature and
a docstring; nodes are constructed generically for as many ops as dummy inputs allow; the
registry is cached on disk; unknown ops are imported at run time."""

from __future__ import annotations

import inspect
import keyword
from typing import Any

import numpy as np
import pytest
from gentf import errors, tf
from gentf.graph import Graph
from gentf.graph._raw_ops import make_op_function, py_name, snake_case
from gentf.graph._registry import OpRegistry, registry
from gentf.v1 import worker_pb2
from gentf.wire import as_dtype

# Below this many generically constructed public ops, something regressed (measured: see report).
MIN_CONSTRUCTED = 450  # of the ~500 ops on the worker's allow-list


def _public_ops() -> list[str]:
    reg = registry()
    return [n for n in reg.names() if not n.startswith("_") and not reg.get(n).refused]


def test_every_binding_has_signature_and_doc() -> None:
    """Both binding styles exist for every op; signatures list inputs (escaped) then attrs."""
    names = registry().names()
    assert len(names) > 1800
    for name in names:
        op_def = registry().get(name)
        for positional in (False, True):
            fn = make_op_function(name, positional=positional)
            params = list(inspect.signature(fn).parameters)
            assert params[: len(op_def.inputs)] == [py_name(a.name) for a in op_def.inputs], name
            assert params[-1] == "name"
            assert not any(keyword.iskeyword(p) for p in params)
            assert fn.__doc__ and name in fn.__doc__
    assert "2-D convolution" in tf.raw_ops.Conv2D.__doc__
    assert str(inspect.signature(tf.ops.mat_mul)).startswith("(a, b, *, transpose_a=False, transpose_b=False")
    assert "in_" in inspect.signature(tf.raw_ops.DtypeWithDefaultOp).parameters  # keyword escaped
    assert snake_case("BatchMatMulV2") == "batch_mat_mul_v2" and snake_case("Conv2D") == "conv2d"


def _dummy_attr(attr: Any) -> Any:
    t = attr.type
    allowed = [as_dtype(int(x)) for x in attr.allowed_values.list.type] if attr.HasField("allowed_values") else []
    if t == "type":
        return allowed[0] if allowed else tf.float32
    if t == "list(type)":
        return [allowed[0] if allowed else tf.float32]
    if t == "int":
        return max(1, attr.minimum) if attr.has_minimum else 1
    if t == "list(int)":
        return [1] * max(1, attr.minimum if attr.has_minimum else 1)
    if t == "float":
        return 0.5
    if t == "bool":
        return False
    if t == "string":
        allowed_s = list(attr.allowed_values.list.s) if attr.HasField("allowed_values") else []
        return allowed_s[0].decode() if allowed_s else "x"
    if t == "list(string)":
        return ["x"]
    if t == "shape":
        return [2]
    if t == "list(shape)":
        return [[2]]
    if t == "list(float)":
        return [0.5]
    raise NotImplementedError(t)


def _dummy_input(arg: Any, attrs: dict[str, Any], defs: dict[str, Any]) -> Any:
    def dtype_of(attr_name: str) -> Any:
        if attr_name in attrs:
            return attrs[attr_name]
        d = defs[attr_name]
        allowed = [as_dtype(int(x)) for x in d.allowed_values.list.type] if d.HasField("allowed_values") else []
        pick = next((a for a in allowed if a.name == "float32"), allowed[0] if allowed else tf.float32)
        attrs[attr_name] = pick
        return pick

    if arg.type:
        dtype = as_dtype(int(arg.type))
    elif arg.type_attr:
        dtype = dtype_of(arg.type_attr)
    else:
        dtype = None
    if arg.number_attr:
        n = max(1, defs[arg.number_attr].minimum if defs[arg.number_attr].has_minimum else 1)
        return [tf.placeholder(dtype, shape=None) for _ in range(n)]
    if arg.type_list_attr:
        return [tf.placeholder(tf.float32, shape=None)]
    return tf.placeholder(dtype, shape=None)


def test_generic_node_construction(graph: Graph) -> None:
    """Build one node of every public, non-refused op with dummy inputs of allowed dtypes."""
    built, failed = 0, {}
    for name in _public_ops():
        op_def = registry().get(name)
        defs = {a.name: a for a in op_def.attrs}
        inferred = {a.number_attr for a in op_def.inputs} | {a.type_attr for a in op_def.inputs} | {
            a.type_list_attr for a in op_def.inputs}
        try:
            attrs: dict[str, Any] = {}
            inputs = {py_name(a.name): _dummy_input(a, attrs, defs) for a in op_def.inputs}
            kwargs = {py_name(k): v for k, v in attrs.items() if k not in inferred}
            for a in op_def.attrs:
                if a.name not in inferred and not a.HasField("default_value"):
                    kwargs[py_name(a.name)] = _dummy_attr(a)
            getattr(tf.raw_ops, name)(**inputs, **kwargs)
            built += 1
        except (TypeError, NotImplementedError, errors.InvalidArgumentError) as exc:
            failed[name] = str(exc)[:80]
    print(f"constructed {built} of {len(_public_ops())} public ops; e.g. not: {list(failed.items())[:5]}")
    assert built >= MIN_CONSTRUCTED
    assert all(op.to_node_def().op for op in graph.operations[-50:])


def test_registry_disk_cache(worker: Any, session: tf.Session, tmp_path: Any, monkeypatch: Any) -> None:
    """A fresh registry fetches a worker's definitions once, then loads them from the disk cache."""
    monkeypatch.setenv("GENTF_CACHE_DIR", str(tmp_path))
    fingerprint = session.worker_info.registry_fingerprint
    calls = []

    def fetch() -> worker_pb2.GetOpRegistryResponse:
        calls.append(1)
        return session.call("GetOpRegistry", worker_pb2.GetOpRegistryRequest())

    first = OpRegistry()
    first._load()
    first._fingerprint = "stale"
    assert first.ensure(fingerprint, fetch) == "worker"
    assert list(tmp_path.iterdir()) and calls == [1]
    second = OpRegistry()
    second._load()
    second._fingerprint = "stale"
    assert second.ensure(fingerprint, fetch) == "cache" and calls == [1]
    assert second.fingerprint == fingerprint and "MatMul" in second
    assert registry().fingerprint == fingerprint  # the bundled snapshot matches this worker


def test_import_op_at_run_time(session: tf.Session) -> None:
    """An op missing from the client's registry is fetched from the worker by name."""
    reg = registry()
    removed = reg._load().pop("Cumprod")
    reg.generation += 1
    try:
        assert "Cumprod" not in reg
        with pytest.raises(AttributeError):
            tf.raw_ops.Cumprod  # noqa: B018
        cumprod = tf.import_op("Cumprod", session)
        out = cumprod(tf.constant([1.0, 2.0, 3.0]), 0)
        np.testing.assert_allclose(session.run(out), [1.0, 2.0, 6.0])
    finally:
        reg._load()["Cumprod"] = removed
    with pytest.raises(errors.InvalidArgumentError):
        tf.import_op("NoSuchOpAnywhere", session)
