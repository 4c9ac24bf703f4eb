"""A run that cannot fail half way writes its variable in place (issue 9: no snapshot, so a
big value fed into a variable costs no copy of the variable); every other run still takes a
snapshot and is undone exactly when it fails."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import errors, tf
from gentf.graph._apply import apply_op

W0 = np.arange(12, dtype=np.float32).reshape(3, 4)


def _buffer_address(core_session, name):
    """The address of a variable's buffer now (the read is let go before returning, so it
    does not pin the buffer for the next write)."""
    value = core_session._variables[name].read_value()
    view = np.from_dlpack(value)
    address = view.ctypes.data
    del view, value
    return address


def _runner(core_session, fetches, targets):
    return next(r for key, r in core_session._runners.items()
                if key[1] == tuple(fetches) and key[2] == tuple(targets))


def test_a_fed_assign_add_writes_the_variable_in_place(session, core_session):
    x = tf.placeholder(tf.float32, shape=(3, 4), name="x")
    W = tf.Variable(W0, name="W")
    add = tf.assign_add(W, x)
    ones = np.ones((3, 4), np.float32)
    # The first write moves the variable off the buffer it was created from (the shipped
    # initial value's), once.
    session.run(add.op, feed_dict={x: ones})
    before = _buffer_address(core_session, "W")
    session.run(add.op, feed_dict={x: ones})
    assert _runner(core_session, [], [add.op.name]).atomic
    np.testing.assert_array_equal(session.run(W), W0 + 2)
    # No snapshot held the old buffer, so TensorFlow added into it rather than into a copy.
    assert _buffer_address(core_session, "W") == before


def test_a_run_that_can_fail_half_way_is_not_atomic_and_is_undone(session, core_session):
    W = tf.Variable(W0, name="W2")
    bump = tf.assign_add(W, np.ones(W0.shape, np.float32))
    nan = tf.log(tf.constant(-1.0))
    check = apply_op("CheckNumerics", [nan], {"message": "boom"}).outputs[0]
    bad = tf.group(bump, check)
    with pytest.raises(errors.InvalidArgumentError, match="boom"):
        session.run(bad)
    assert not _runner(core_session, [], [bad.name]).atomic
    np.testing.assert_array_equal(session.run(W), W0)


def test_two_writes_are_not_atomic(session, core_session):
    W = tf.Variable(W0, name="W3")
    V = tf.Variable(W0, name="V3")
    both = tf.group(tf.assign_add(W, W0), tf.assign_add(V, W0))
    session.run(both)
    assert not _runner(core_session, [], [both.name]).atomic
    np.testing.assert_array_equal(session.run(W), 2 * W0)
    np.testing.assert_array_equal(session.run(V), 2 * W0)


def test_a_bad_feed_into_an_atomic_assign_changes_nothing(session, core_session):
    x = tf.placeholder(tf.float32, shape=(None, 4), name="xb")
    W = tf.Variable(W0, name="W4")
    add = tf.assign_add(W, x)
    session.run(W)
    with pytest.raises(errors.InvalidArgumentError):
        session.run(add.op, feed_dict={x: np.ones((5, 4), np.float32)})
    assert _runner(core_session, [], [add.op.name]).atomic
    np.testing.assert_array_equal(session.run(W), W0)
