"""Gradients from ``generate``'s note of the dataflow, without running the body again.

When every float argument of every traced call is a value the body received unchanged (an
argument, a parameter, a call's return value), ``generate`` notes the calls
(``trace.flow``) and the direct gradient pass feeds them to its handler instead of
replaying the body (``gentf.dsl._dataflow``). The results must be exactly those of the
replay and of the autograd tape; any other argument drops the note. Also here: the
dense label array a ``Map`` reads from its constraints, cached until they are written.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from gentf import (
    Map,
    accumulate_param_gradients,
    categorical,
    choicemap,
    gen,
    generate,
    get_param_grad,
    normal,
    param,
    path,
    zero_param_grad,
)
from gentf.dsl import _direct
from numpy_gen_fn import Linear, LinearTrace

TOL = 1e-12
RNG = np.random.default_rng(11)
W = RNG.normal(size=(6, 3))
W3 = RNG.normal(size=(6, 6)) / 3
X = RNG.normal(size=3)
SIGMA = 0.5 + RNG.random(6)
OBS = RNG.normal(size=6)


def _noted(trace: Any) -> bool:
    """Whether the gradient pass can take the trace's noted calls instead of a replay."""
    return trace.flow is not None and trace.flow.steps() is not None


def _chain_model(lin: Linear, lin3: Linear, runs: list[int]) -> Any:
    @gen(params={"mu": np.zeros(6), "s": 0.5 + np.arange(6) / 10})
    def chain(x: Any, sigma: Any) -> None:
        runs.append(1)
        y = lin(x) @ "net"
        z = lin3(y) @ "net2"                 # a call's output straight into another call
        Map(normal)(z, sigma) @ "z"          # ... and an argument into a choice
        normal(y, sigma) @ "w"               # the same leaf and argument used again
        Map(normal)(param("mu"), param("s")) @ "m"  # parameters, read unchanged
        normal(param("mu"), 2.0) @ "k"       # a Python float is plain

    return chain


def _constraints() -> Any:
    return choicemap({"z": {i: OBS[i] for i in range(6)}, "w": OBS[::-1].copy(),
                      "m": {i: OBS[i] / 2 for i in range(6)}, "k": OBS / 3})


def _gradients(how: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[np.ndarray], list[int]]:
    """The chain model differentiated ``how``: "flow" (the note), "replay" (the body run
    again by the direct pass) or "tape" (autograd)."""
    lin, lin3, runs = Linear(W), Linear(W3), []
    model = _chain_model(lin, lin3, runs)
    with monkeypatch.context() as m:
        if how == "tape":
            m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
        trace, _ = generate(model, (X, SIGMA), _constraints())
        assert _noted(trace), "generate must note this body's dataflow"
        if how != "flow":
            trace.flow = None
        xg, sg = accumulate_param_gradients(trace, None, 0.3)
    out = [np.asarray(xg), np.asarray(sg), lin.grad.copy(), lin3.grad.copy()]
    for p in model.get_params():
        out.append(np.asarray(get_param_grad(model, p), dtype=np.float64))
        zero_param_grad(model, p)
    return out, runs


def test_the_noted_flow_gives_the_replays_and_the_tapes_gradients_without_running_the_body(
        monkeypatch: pytest.MonkeyPatch) -> None:
    flow, flow_runs = _gradients("flow", monkeypatch)
    replay, replay_runs = _gradients("replay", monkeypatch)
    tape, _ = _gradients("tape", monkeypatch)
    assert flow_runs == [1], "the note replaces the body's second run"
    assert replay_runs == [1, 1]
    for f, r, t in zip(flow, replay, tape):
        np.testing.assert_array_equal(f, r)  # the same calls in the same order: bit for bit
        np.testing.assert_allclose(f, t, rtol=TOL, atol=TOL)
    assert all(np.any(g != 0) for g in flow)


@pytest.mark.parametrize("arg", [
    "constant",     # an array the body made: its source is unknown
    "slice",        # a view of a leaf is a new object
    "element",      # a numpy scalar
])
def test_an_argument_of_unknown_source_drops_the_note_and_the_replay_serves(
        arg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lin = Linear(W)

    @gen
    def model(x: Any) -> None:
        y = lin(x) @ "net"
        if arg == "constant":
            normal(y, 0.5 * np.ones(6)) @ "v"
        elif arg == "slice":
            normal(y[:6], 0.5) @ "v"
        else:
            normal(y[0], 0.5) @ "v"

    cm = choicemap({"v": OBS[0] if arg == "element" else OBS})
    trace, _ = generate(model, (X,), cm)
    assert not _noted(trace)
    (xg,) = accumulate_param_gradients(trace, None, 1.0)
    direct = [xg, lin.grad.copy()]
    lin.grad[:] = 0
    with monkeypatch.context() as m:
        m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
        (xt,) = accumulate_param_gradients(trace, None, 1.0)
    for d, t in zip(direct, [xt, lin.grad]):
        np.testing.assert_allclose(d, t, rtol=TOL, atol=TOL)
    assert np.any(direct[1] != 0)


def test_a_container_of_leaves_drops_the_note_and_the_replay_names_it() -> None:
    lin = Linear(W)

    @gen
    def model(x: Any) -> None:
        y = lin(x) @ "net"
        Map(normal)(list(y), [0.5] * 6) @ "v"

    trace, _ = generate(model, (X,), choicemap({"v": {i: OBS[i] for i in range(6)}}))
    assert not _noted(trace)
    with pytest.raises(TypeError, match="container holding values that carry gradients"):
        accumulate_param_gradients(trace, None, 1.0)
    assert not np.any(lin.grad)


def test_one_object_with_two_sources_drops_the_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """A callee that returns its argument object: the body's ``x`` is both the argument
    and that call's output, which the replay tells apart (they are different boxes)."""

    @gen
    def same(v: Any) -> Any:
        normal(v, 1.0) @ "u"
        return v

    @gen
    def model(x: Any, sigma: Any) -> None:
        same(x) @ "id"
        normal(x, sigma) @ "a"

    cm = choicemap({"id": {"u": OBS[:3]}, "a": OBS[3:]})
    trace, _ = generate(model, (X, SIGMA[:3]), cm)
    assert not _noted(trace)
    direct = accumulate_param_gradients(trace, None, 1.0)
    with monkeypatch.context() as m:
        m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
        tape = accumulate_param_gradients(trace, None, 1.0)
    for d, t in zip(direct, tape):
        np.testing.assert_allclose(d, t, rtol=TOL, atol=TOL)
    # d/dx [log N(u; x, 1) + log N(a; x, sigma)] = (u - x) + (a - x) / sigma^2
    np.testing.assert_allclose(direct[0], (OBS[:3] - X) + (OBS[3:] - X) / SIGMA[:3] ** 2,
                               rtol=1e-12)


def test_a_maps_labels_are_read_once_and_again_after_a_write() -> None:
    cm = choicemap({"y": {0: 1, 1: 2, 2: 0}})
    sub = cm.get_submap("y")
    first = sub.dense_array(3)
    assert first is not None and first.tolist() == [1, 2, 0] and not first.flags.writeable
    assert sub.dense_array(3) is first
    cm[path("y", 1)] = 0  # written through the parent map
    again = sub.dense_array(3)
    assert again is not first and again.tolist() == [1, 0, 0]
    restored = pickle.loads(pickle.dumps(cm)).get_submap("y")
    assert restored == sub and restored.dense_array(3).tolist() == [1, 0, 0]
    assert not restored.dense_array(3).flags.writeable
    words = choicemap({0: "a", 1: "b"})
    assert words.dense_array(2) is None and words.dense_array(2) is None  # not numbers
    words[1] = 3.0
    words[0] = 1
    assert words.dense_array(2).tolist() == [1.0, 3.0]  # numbers after a write
    assert choicemap({0: True, 1: False}).dense_array(2) is None    # bools are not indices
    assert choicemap({0: 1, 1: {"z": 2}}).dense_array(2) is None    # a submap


def test_a_changed_label_is_checked_again() -> None:
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])

    @gen
    def model(p: Any) -> None:
        Map(categorical)(p) @ "y"

    cm = choicemap({"y": {0: 1, 1: 0}})
    for _ in range(2):  # the second time from the cached labels
        _, w = generate(model, (probs,), cm)
        assert w == pytest.approx(np.log(0.8) + np.log(0.6), rel=1e-12)
    cm[path("y", 1)] = 5  # outside 0 .. K-1
    _, w = generate(model, (probs,), cm)
    assert w == -np.inf
    cm[path("y", 1)] = -1  # negative: no wrapping around
    _, w = generate(model, (probs,), cm)
    assert w == -np.inf



class _FloatOut(Linear):
    """A one-row :class:`Linear` whose return value is a Python float."""

    def _run(self, args: tuple[Any, ...]) -> LinearTrace:
        (x,) = args
        return LinearTrace(self, args, float(self.W[0] @ np.asarray(x, dtype=np.float64)))

    def _grads(self, trace: Any, retval_grad: Any) -> tuple[np.ndarray, np.ndarray]:
        (x,) = trace.get_args()
        g = np.array([0.0 if retval_grad is None else float(retval_grad)])
        return (self.W.T @ g).astype(self.dtype), np.outer(g, np.asarray(x, dtype=np.float64))


@pytest.mark.parametrize("where", ["argument", "returned"])
def test_a_float_scalar_the_replay_tracks_is_not_taken_for_a_literal(
        where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A float scalar argument of the function (or a float a call returned) carries a
    gradient in the replay; passed on, it must not be noted as a plain literal."""
    lin, out = Linear(W), _FloatOut([0.8 * X / (X @ X)])  # out(X) = 0.8

    @gen
    def model(x: Any, s: float) -> None:
        y = lin(x) @ "net"
        sd = s if where == "argument" else out(x) @ "sd"
        normal(y, sd) @ "v"
        normal(y, 2.0) @ "w"  # a literal

    cm = choicemap({"v": OBS, "w": OBS[::-1].copy()})
    trace, _ = generate(model, (X, 0.8), cm)
    assert not _noted(trace)
    direct = [*accumulate_param_gradients(trace, None, 1.0), lin.grad.copy(), out.grad.copy()]
    lin.grad[:] = 0
    out.grad[:] = 0
    with monkeypatch.context() as m:
        m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
        tape = [*accumulate_param_gradients(trace, None, 1.0), lin.grad.copy(), out.grad.copy()]
    for d, t in zip(direct, tape):
        np.testing.assert_allclose(d, t, rtol=TOL, atol=TOL)
    # d/ds of log N(v; y, s) summed: -n/s + sum((v - y)^2) / s^3, into s or into out's W
    r = OBS - W @ X
    ds = -6 / 0.8 + np.sum(r ** 2) / 0.8 ** 3
    if where == "argument":
        assert direct[1] == pytest.approx(ds, rel=1e-12)
    else:
        np.testing.assert_allclose(direct[3], ds * X[None, :], rtol=1e-12)


def test_float_literals_alone_keep_the_note() -> None:
    lin = Linear(W)

    @gen
    def model(x: Any) -> None:
        y = lin(x) @ "net"
        normal(y, 0.5) @ "v"

    trace, _ = generate(model, (X,), choicemap({"v": OBS}))
    assert _noted(trace)


# ---- rows: ``dist(y[i]) @ ("y", i)``, a new view each time, told by where it lies ----


class _Rows(Linear):
    """``Linear`` on a batch: ``xs`` of shape (n, 3) gives ``xs @ W.T``, shape (n, 6)."""

    def _run(self, args: tuple[Any, ...]) -> LinearTrace:
        (xs,) = args
        return LinearTrace(self, args, (np.asarray(xs, np.float64) @ self.W.T).astype(self.dtype))

    def _grads(self, trace: Any, retval_grad: Any) -> tuple[np.ndarray, np.ndarray]:
        (xs,) = trace.get_args()
        g = np.asarray(retval_grad, np.float64)
        return (g @ self.W).astype(self.dtype), g.T @ np.asarray(xs, np.float64)


class _Twice(_Rows):
    """Returns its output twice, as the array and a view of all of it (two leaves on one
    memory: a row of either is a row of both)."""

    def _run(self, args: tuple[Any, ...]) -> LinearTrace:
        trace = super()._run(args)
        trace.retval = (trace.retval, trace.retval[...])
        return trace

    def _grads(self, trace: Any, retval_grad: Any) -> tuple[np.ndarray, np.ndarray]:
        return super()._grads(trace, sum(g for g in retval_grad if g is not None))


XS = RNG.normal(size=(10, 3))
YS = RNG.normal(size=(10, 6))
MU = RNG.normal(size=(4, 6))
W10 = RNG.normal(size=(10, 3))


def _compare_three_ways(make: Any, constraints: Any, monkeypatch: pytest.MonkeyPatch,
                        noted: bool) -> list[np.ndarray]:
    """Gradients of the model ``make(runs)`` builds, from the note (``noted``: it must be
    kept, else dropped), from the replay and from the tape, to 1e-12 (not bit for bit: the
    note takes ``y[-1]`` and ``z[::2][1]`` as the rows they are, which the replay leaves to
    the tape, adding in another order)."""
    results = []
    for how in ("flow", "replay", "tape"):
        runs: list[int] = []
        model, nets = make(runs)
        with monkeypatch.context() as m:
            if how == "tape":
                m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
            trace, _ = generate(model, (XS, SIGMA), constraints)
            if how == "flow":
                assert _noted(trace) == noted
            if how == "replay":
                trace.flow = None
            grads = list(accumulate_param_gradients(trace, None, 0.7))
        grads += [n.grad.copy() for n in nets]
        for p in model.get_params():
            grads.append(np.asarray(get_param_grad(model, p), dtype=np.float64))
        if how == "flow" and noted:
            assert runs == [1], "the note replaces the body's second run"
        results.append(grads)
    flow, replay, tape = results
    for f, r, t in zip(flow, replay, tape):
        np.testing.assert_allclose(f, r, rtol=TOL, atol=TOL)
        np.testing.assert_allclose(f, t, rtol=TOL, atol=TOL)
    return flow


def test_rows_of_leaves_parameters_and_arguments_keep_the_note(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def make(runs: list[int]) -> Any:
        net, net2, per_row = _Rows(W), _Rows(W3[:, :3]), Linear(W)

        @gen(params={"mu": MU})
        def model(xs: Any, sigma: Any) -> None:
            runs.append(1)
            y = net(xs) @ "net"
            z = net2(xs) @ "net2"
            for i in range(5):
                normal(y[i], sigma) @ ("y", i)              # a run over a leaf's rows
            for i in range(5):
                normal((z if i % 2 else y)[i], 1.5) @ ("z", i)  # two leaves, alternating
            normal(y[-1], sigma) @ "last"                   # a negative index
            normal(z[::2][1], sigma) @ "strided"             # row 2, through a slice
            for i in range(4):
                normal(param("mu")[i], 1.0) @ ("m", i)      # a parameter's rows
            normal(xs[1], 2.0) @ "x1"                       # an argument's row
            for i in range(10):
                normal(y[i], 0.5 if i < 9 else 1.5) @ ("w", i)  # a run among literals
            for i in range(3):
                out = per_row(xs[i]) @ ("per", i)           # a call on an argument's row
                normal(out, 1.0) @ ("o", i)

        return model, [net, net2, per_row]

    cm = choicemap({**{("o", i): YS[i] + 1 for i in range(3)}, **{("y", i): YS[i] for i in range(5)},
                    **{("z", i): YS[4 - i] for i in range(5)}, "last": YS[0],
                    "strided": YS[1], **{("m", i): YS[i] for i in range(4)},
                    "x1": XS[0] + 1, **{("w", i): YS[9 - i] for i in range(10)}})
    grads = _compare_three_ways(make, cm, monkeypatch, noted=True)
    assert all(np.any(g != 0) for g in grads)


@pytest.mark.parametrize("arg", [
    "column",   # a square leaf's column: a row's shape, not its strides
    "computed", # a row plus zero: memory of its own
    "twice",    # a row of two leaves on one memory: which one is ambiguous
])
def test_an_array_that_is_no_row_drops_the_note(arg: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def make(runs: list[int]) -> Any:
        net = _Twice(W) if arg == "twice" else _Rows(W10 if arg == "column" else W)

        @gen
        def model(xs: Any, sigma: Any) -> None:
            runs.append(1)
            out = net(xs) @ "net"  # (10, 10) for a column, else (10, 6)
            y = out[0] if arg == "twice" else out
            normal(y[1], 0.5) @ "before"  # a row
            if arg == "column":
                normal(y[:, 0], 1.0) @ "v"
            elif arg == "computed":
                normal(y[2] + 0.0, 1.0) @ "v"
            else:
                normal(out[1][2], 1.0) @ "v"

        return model, [net]

    cm = choicemap({"before": np.resize(YS[0], 10 if arg == "column" else 6),
                    "v": np.resize(YS[1], 10 if arg == "column" else 6)})
    grads = _compare_three_ways(make, cm, monkeypatch, noted=False)
    assert np.any(grads[-1] != 0)


@pytest.mark.parametrize("n", [7, 12])  # below and above a batched run's least length
def test_a_loop_over_rows_matches_map_and_the_tape(n: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop model, now taken from the note, against ``Map`` over the same rows."""
    probs = RNG.random((n, 4)).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    labels = [int(k) for k in RNG.integers(0, 4, n)]

    @gen
    def loop(p: Any) -> None:
        for i in range(n):
            categorical(p[i]) @ ("y", i)

    @gen
    def mapped(p: Any) -> None:
        Map(categorical)(p) @ "y"

    trace, w = generate(loop, (probs,), choicemap({("y", i): k for i, k in enumerate(labels)}))
    assert _noted(trace)
    mtrace, mw = generate(mapped, (probs,), choicemap({path("y", i): k
                                                      for i, k in enumerate(labels)}))
    (g,) = accumulate_param_gradients(trace, None, 1.0)
    (mg,) = accumulate_param_gradients(mtrace, None, 1.0)
    with monkeypatch.context() as m:
        m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
        (tg,) = accumulate_param_gradients(trace, None, 1.0)
    assert w == pytest.approx(mw, rel=1e-12)
    np.testing.assert_allclose(g, mg, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(g, tg, rtol=TOL, atol=TOL)
    expected = np.zeros((n, 4))
    expected[np.arange(n), labels] = 1 / probs[np.arange(n), labels].astype(np.float64)
    np.testing.assert_allclose(g, expected, rtol=1e-6)


def test_an_arrays_data_address_is_where_numpy_says() -> None:
    from gentf.wire._array_address import data_address, reads_header

    assert reads_header(), "numpy's array structure was not recognised: rows are found slowly"
    base = RNG.normal(size=(7, 5))
    for a in (base, base[3], base[2:, 1:], base.T[4], base[::-2][1], base[..., 0],
              np.asfortranarray(base)[2], base.astype(np.float32)[6]):
        assert data_address(a) == a.__array_interface__["data"][0]


def test_a_body_of_more_calls_than_a_note_holds_is_replayed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gentf.dsl import _dataflow

    monkeypatch.setattr(_dataflow, "MAX_NOTED_CALLS", 6)
    probs = RNG.random((8, 3))
    probs /= probs.sum(1, keepdims=True)

    @gen
    def loop(p: Any, n: int) -> None:
        for i in range(n):
            categorical(p[i]) @ ("y", i)

    labels = choicemap({("y", i): i % 3 for i in range(8)})
    short, _ = generate(loop, (probs, 6), labels)
    assert _noted(short)
    trace, _ = generate(loop, (probs, 8), labels)
    assert not _noted(trace)
    (g, _) = accumulate_param_gradients(trace, None, 1.0)
    expected = np.zeros((8, 3))
    expected[np.arange(8), np.arange(8) % 3] = 1 / probs[np.arange(8), np.arange(8) % 3]
    np.testing.assert_allclose(g, expected, rtol=1e-12)


_ACCESSORS = {  # how a body reads an argument out of an array, and whether that is a row
    "row": (lambda a, i: a[i % len(a)], True),
    "negative row": (lambda a, i: a[-1 - i % len(a)], True),
    "strided row": (lambda a, i: a[::2][i % ((len(a) + 1) // 2)], True),
    "whole": (lambda a, i: a, True),
    "column": (lambda a, i: a[:, i % a.shape[1]], False),  # of a square leaf: a row's shape
    "straddling": (lambda a, i: a.ravel()[(i % (len(a) - 1)) * a.shape[1] + 1:]
                   [:a.shape[1]], False),               # a row's shape and strides, mid-row
    "computed": (lambda a, i: a[i % len(a)] * 1.0, False),
}


@pytest.mark.parametrize("seed", range(60))
def test_random_bodies_over_rows_match_the_tape(seed: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Random bodies reading leaves, a parameter and an argument through the accessors
    above: the note is kept exactly when every argument is a row (or a whole array), and
    the gradients equal the autograd tape's either way."""
    rng = np.random.default_rng(seed)
    rows = [how for how, (_, is_row) in _ACCESSORS.items() if is_row]
    others = [how for how, (_, is_row) in _ACCESSORS.items() if not is_row]

    def op(hows: list[str]) -> tuple[str, str, int, float]:
        return (str(rng.choice(["y", "z", "mu", "xs"])), str(rng.choice(hows)),
                int(rng.choice([0, 1, 3, 10])), float(rng.choice([0.5, 1.5])))

    program = [op(rows) for _ in range(int(rng.integers(1, 10)))]
    if seed % 3:  # one argument that is no row, among rows: it alone must drop the note
        program.insert(int(rng.integers(0, len(program) + 1)), op(others))
    W6 = rng.normal(size=(6, 3))

    def run(tape: bool) -> tuple[bool, list[np.ndarray]]:
        net, net2 = _Rows(W6), _Rows(W10)

        @gen(params={"mu": MU})
        def model(xs: Any) -> None:
            arrays = {"y": net(xs) @ "net", "z": net2(xs) @ "net2", "mu": param("mu"),
                      "xs": xs}
            for n, (name, how, i, scale) in enumerate(program):
                normal(_ACCESSORS[how][0](arrays[name], i), scale) @ ("c", n)

        from gentf.dsl import _rng
        _rng.seed(seed)
        trace, _ = generate(model, (XS,), choicemap())
        with monkeypatch.context() as m:
            if tape:
                m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
            grads = list(accumulate_param_gradients(trace, None, 1.0))
        grads += [net.grad, net2.grad, np.asarray(get_param_grad(model, "mu"))]
        return (not tape) and _noted(trace), grads

    noted, direct = run(tape=False)
    _, tape = run(tape=True)
    assert noted == all(_ACCESSORS[how][1] for _, how, _, _ in program), program
    for d, t in zip(direct, tape):
        np.testing.assert_allclose(d, t, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("seed", range(25))
def test_consecutive_rows_resolve_as_each_row_alone_would(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The note takes ``dist(a[i + 1])`` after ``dist(a[i])`` by a few comparisons (no
    ``_Rows.source`` lookup); the resolved steps (blocks, keys, rows, sources) must be those of
    looking every row up (``_Rows.source``), over random orders of rows of: two leaves,
    two leaves sharing one buffer, a float32 leaf, an argument, and two distributions."""
    from gentf.dsl import _dataflow

    rng = np.random.default_rng(seed)
    shared = rng.random((12, 3))
    arrays = {"a": rng.random((6, 3)), "b": rng.random((6, 3)), "c": shared[:6],
              "d": shared[6:], "f": rng.random((6, 3)).astype(np.float32)}
    xs = rng.random((6, 3))
    dists = (object(), object())
    program = []
    while len(program) < 40:
        name = str(rng.choice([*arrays, "xs"]))
        start, length = int(rng.integers(0, 6)), int(rng.integers(1, 7))
        dist = dists[int(rng.integers(0, 2))]
        program += [(name, i, dist) for i in range(start, min(6, start + length))]

    def resolved() -> list[Any]:
        flow = _dataflow.Dataflow((xs,))
        for name, a in arrays.items():
            flow.returned(name, a, True)
        for n, (name, i, dist) in enumerate(program):
            row = (xs if name == "xs" else arrays[name])[i]
            assert flow.call(("c", n), dist, (row,))
        steps = flow.steps()
        assert steps is not None
        return [(type(s).__name__, s.keys, s.rows, s.of, s.at, s.dist)
                if isinstance(s, _dataflow.RowBlock) else s[:2] + s[3:] for s in steps]

    looked_up: list[int] = []
    source = _dataflow._Rows.source

    def counting(self: Any, a: Any) -> Any:
        looked_up.append(1)
        return source(self, a)

    monkeypatch.setattr(_dataflow._Rows, "source", counting)
    fast = resolved()
    assert 0 < len(looked_up) < len(program)  # rows continued without a lookup, and with

    def alone(self: Any, a: Any) -> Any:
        found = source(self, a)
        self.last = None  # no row continues from this one: each is looked up
        return found

    monkeypatch.setattr(_dataflow._Rows, "source", alone)
    assert fast == resolved()
