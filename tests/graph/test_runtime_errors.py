"""TensorFlow failures at run time name the client's op and the user's line that created it."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from gentf import TFFunction, choice_gradients, choicemap, generate, select
from gentf import tf as gtf
from gentf.errors import GentfError, InternalError, InvalidArgumentError

HERE = __file__


def _line() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno


def _assert_names(err: GentfError, op_name: str, op_type: str, line: int) -> None:
    where = f"{HERE}:{line}"
    assert err.op_name == op_name and err.op_type == op_type and err.source == where
    assert f"op {op_name!r} ({op_type}), created at {where}" in str(err)
    assert "__inference" not in str(err) and "{{node" not in str(err)


def test_reshape_of_an_incompatible_feed(session: gtf.Session) -> None:
    """A reshape fed 5 values for 6 slots: TensorFlow's reason, the op and this file's line."""
    x = gtf.placeholder(gtf.float32, (None,), name="x")
    r = gtf.reshape(x, (2, 3)); line = _line()
    with pytest.raises(InvalidArgumentError) as info:
        session.run(r, {x: np.ones(5, np.float32)})
    assert "Input to reshape is a tensor with 5 values, but the requested shape has 6" in str(info.value)
    _assert_names(info.value, r.op.name, "Reshape", line)
    np.testing.assert_array_equal(session.run(r, {x: np.arange(6, dtype=np.float32)}),
                                  np.arange(6).reshape(2, 3))


def test_gather_out_of_range_in_a_name_scope(session: gtf.Session) -> None:
    """An out-of-range gather inside a name scope is named by its scoped client name."""
    idx = gtf.placeholder(gtf.int32, (None,), name="idx")
    with gtf.name_scope("lookup"):
        g = gtf.gather(gtf.constant(np.arange(3.0)), idx); line = _line()
    assert g.op.name.startswith("lookup/")
    with pytest.raises(InvalidArgumentError) as info:
        session.run(g, {idx: np.array([0, 5], np.int32)})
    assert "indices[1] = 5 is not in [0, 3)" in str(info.value)
    _assert_names(info.value, g.op.name, "GatherV2", line)


def test_check_numerics_in_a_tffunction_forward(session: gtf.Session) -> None:
    """A CheckNumerics failure inside a TFFunction's forward pass (Generate) names the op."""
    x = gtf.placeholder(gtf.float64, (3,), name="x")
    logs = gtf.math.log(x)
    checked = gtf.raw_ops.CheckNumerics(tensor=logs, message="log of x"); line = _line()
    net = TFFunction([], [x], checked * 2.0, session)
    with pytest.raises(GentfError) as info:
        generate(net, (np.array([1.0, -1.0, 2.0]),), choicemap())
    assert isinstance(info.value, (InvalidArgumentError, InternalError))
    assert "log of x" in str(info.value)
    _assert_names(info.value, checked.op.name, "CheckNumerics", line)
    trace, _ = generate(net, (np.array([1.0, np.e, 2.0]),), choicemap())
    np.testing.assert_allclose(trace.get_retval(), 2 * np.log([1.0, np.e, 2.0]))


def test_auto_named_node_is_named_by_its_new_name(session: gtf.Session) -> None:
    """A node renamed by auto_name is reported by the name it was sent under."""
    x = gtf.placeholder(gtf.float32, (None,), name="x")
    with gtf.auto_name():
        grid = gtf.reshape(x, (2, 2)); line = _line()
    assert grid.op.name == "grid"
    with pytest.raises(InvalidArgumentError) as info:
        session.run(grid, {x: np.ones(3, np.float32)})
    _assert_names(info.value, "grid", "Reshape", line)


def test_failure_in_a_gradient_names_the_forward_op(session: gtf.Session) -> None:
    """CheckNumerics also checks its gradient: a NaN return-value gradient fails in the
    gradient TensorFlow built, reported as the gradient of the user's op at its line."""
    x = gtf.placeholder(gtf.float64, (3,), name="x")
    W = gtf.Variable(np.ones(3), name="W")
    with gtf.name_scope("layer"):
        checked = gtf.raw_ops.CheckNumerics(tensor=x * W, message="xW"); line = _line()
    net = TFFunction([W], [x], checked * 2.0, session)
    trace, _ = generate(net, (np.array([1.0, 2.0, 3.0]),), choicemap())
    with pytest.raises(InvalidArgumentError) as info:
        choice_gradients(trace, select(), np.array([np.nan, 1.0, 1.0]))
    assert "in gradient" in str(info.value)
    assert f"in the gradient of op 'layer/CheckNumerics' (CheckNumerics), created at {HERE}:{line}" \
        in str(info.value)
    _assert_names(info.value, "layer/CheckNumerics", "CheckNumerics", line)
    (x_grad,), _, _ = choice_gradients(trace, select(), np.ones(3))
    np.testing.assert_allclose(x_grad, 2.0 * np.ones(3))
