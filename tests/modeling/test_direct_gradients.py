"""The direct reverse pass (no autograd tape) against the autograd replay, exactly.

``accumulate_param_gradients`` of a ``@gen`` body whose tracked values go straight into
calls and choices (whole, or plain elements and slices) runs without autograd
(``gentf.dsl._direct``). Each model here is differentiated both ways (the tape forced by
turning the direct pass off) and the argument gradients, the callees' accumulated
parameter gradients and the function's own parameter gradients must agree to 1e-12; a
body that computes with a tracked value must take the tape, and still be right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from gentf import (
    Map,
    accumulate_param_gradients,
    accumulate_param_gradients_only,
    categorical,
    choicemap,
    gen,
    generate,
    get_param_grad,
    normal,
    param,
    poisson,
    zero_param_grad,
)
from gentf.dsl import _direct
from numpy_gen_fn import Linear, LinearTrace

TOL = 1e-12
RNG = np.random.default_rng(7)
W = RNG.normal(size=(6, 3))
X = RNG.normal(size=3)
OBS = RNG.normal(size=6)
W2 = RNG.normal(size=(6, 3))
LABELS = RNG.integers(0, 3, 4)


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _models(lin: Linear) -> dict[str, tuple[Callable[..., Any], Any]]:
    """name -> (model, constraints); every model keeps its dataflow direct."""

    @gen
    def map_normal(x: Any) -> None:
        y = lin(x) @ "net"
        Map(normal)(y, 0.5 * np.ones(6)) @ "y"

    @gen
    def loop_elements(x: Any) -> None:
        y = lin(x) @ "net"
        for i in range(4):
            normal(y[i], 0.5) @ ("y", i)
        normal(y[4:], np.array([0.5, 0.5])) @ "tail"

    @gen
    def chained(x: Any) -> None:  # a call's output into another call, then choices
        y = lin(x) @ "net"
        z = lin2(y[:3]) @ "net2"
        Map(normal)(z, np.ones(6)) @ "z"

    @gen(params={"mu": np.zeros(6), "s": 0.7})
    def with_params(x: Any) -> None:
        y = lin(x) @ "net"
        Map(normal)(y, 0.5 * np.ones(6)) @ "y"
        normal(param("mu"), param("s")) @ "m"

    cm_y = choicemap({"y": {i: OBS[i] for i in range(6)}})
    constraints = {
        "map_normal": cm_y,
        "loop_elements": choicemap({**{("y", i): OBS[i] for i in range(4)}, "tail": OBS[4:]}),
        "chained": choicemap({"z": {i: OBS[i] for i in range(6)}}),
        "with_params": choicemap({"y": {i: OBS[i] for i in range(6)}, "m": OBS}),
    }
    lin2 = Linear(W2)  # a second network, on y[:3]
    models = {"map_normal": map_normal, "loop_elements": loop_elements, "chained": chained,
              "with_params": with_params}
    return {name: (models[name], constraints[name]) for name in models}


def _gradients(name: str, tape: bool, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    lin = Linear(W)
    model, cm = _models(lin)[name]
    with monkeypatch.context() as m:
        if tape:
            m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
        trace, _ = generate(model, (X,), cm)
        (xg,) = accumulate_param_gradients(trace, None, 0.3)
    out = [np.asarray(xg), lin.grad.copy()]
    for p in model.get_params():
        out.append(np.asarray(get_param_grad(model, p), dtype=np.float64))
        zero_param_grad(model, p)
    return out


@pytest.mark.parametrize("name", ["map_normal", "loop_elements", "chained", "with_params"])
def test_direct_pass_equals_the_tape(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    original = _direct.direct_param_gradients

    def watching(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(_direct, "direct_param_gradients", watching)
    direct = _gradients(name, False, monkeypatch)
    assert calls == [True], "the direct pass must serve this model"
    tape = _gradients(name, True, monkeypatch)
    assert len(direct) == len(tape)
    for d, t in zip(direct, tape):
        assert d.shape == t.shape
        np.testing.assert_allclose(d, t, rtol=TOL, atol=TOL)
    assert np.any(direct[1] != 0)  # the network's accumulator moved


def test_direct_map_categorical_on_an_argument_against_the_closed_form() -> None:
    """The digits model's shape, with the probabilities as the model's argument:
    d/dp sum_i log p[i, y_i] is 1/p at each picked entry, 0 elsewhere."""
    probs = _softmax_rows(RNG.normal(size=(4, 3)))

    @gen
    def model(p: Any) -> None:
        Map(categorical)(p) @ "y"

    trace, _ = generate(model, (probs,), choicemap({"y": {i: int(v) for i, v in enumerate(LABELS)}}))
    (pg,) = _direct.direct_param_gradients(trace, None, 1.0, True)
    expected = np.zeros_like(probs)
    expected[np.arange(4), LABELS] = 1.0 / probs[np.arange(4), LABELS]
    np.testing.assert_allclose(pg, expected, rtol=1e-12)
    (pg2,) = accumulate_param_gradients(trace, None, 1.0)
    np.testing.assert_allclose(pg2, expected, rtol=1e-12)


def test_maps_of_discrete_distributions_take_no_site_and_equal_the_tape(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``Map(dist)`` of a distribution whose value has no gradient (poisson, categorical)
    is differentiated like a choice, without a call site: on a network's output (whole and
    a slice), interleaved with single choices on the same output, on a parameter and on an
    argument. Argument, network and parameter gradients equal the tape's; a Map whose
    kernel has no gradient for a tracked argument fails the same way both ways."""
    w_pos = np.abs(W) + 0.1
    x_pos = np.abs(X) + 0.2
    counts = RNG.integers(0, 5, 6)
    probs = _softmax_rows(RNG.normal(size=(4, 3)))
    created: list[Any] = []
    original = _direct._DistMap.__init__

    def noting(self: Any, *args: Any) -> None:
        created.append(args[0])
        original(self, *args)

    monkeypatch.setattr(_direct._DistMap, "__init__", noting)

    def run(tape: bool) -> list[np.ndarray]:
        lin = Linear(w_pos)

        @gen(params={"r": np.array([1.5, 0.5, 2.5]), "p": probs})
        def model(x: Any, p: Any) -> None:
            rates = lin(x) @ "net"
            poisson(rates[0]) @ "first"
            Map(poisson)(rates) @ "y"
            Map(poisson)(rates[2:5]) @ "mid"
            poisson(rates[5]) @ "last"
            Map(poisson)(param("r")) @ "pr"
            Map(categorical)(param("p")) @ "pc"
            Map(categorical)(p) @ "arg"
            Map(poisson)(x) @ "xs"

        labels = {i: int(v) for i, v in enumerate(LABELS)}
        cm = choicemap({"first": 2, "y": {i: int(c) for i, c in enumerate(counts)},
                        "mid": {0: 1, 1: 0, 2: 3}, "last": 4, "pr": {0: 1, 1: 2, 2: 0},
                        "pc": labels, "arg": labels, "xs": {0: 1, 1: 0, 2: 2}})
        with monkeypatch.context() as m:
            if tape:
                m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
            trace, _ = generate(model, (x_pos, probs), cm)
            xg, pg = accumulate_param_gradients(trace, None, 0.3)
        out = [np.asarray(xg), np.asarray(pg), lin.grad.copy()]
        out += [np.asarray(get_param_grad(model, n), dtype=np.float64) for n in ("r", "p")]
        return out

    direct = run(False)
    assert created == ["y", "mid", "pr", "pc", "arg", "xs"]  # every Map took no site
    created.clear()
    tape = run(True)
    assert created == []
    for d, t in zip(direct, tape):
        assert d.shape == t.shape
        np.testing.assert_allclose(d, t, rtol=TOL, atol=TOL)
    # d/dp sum log p[i, y_i] = 1/p at the picked entries, for the argument and the parameter
    expected = np.zeros_like(probs)
    expected[np.arange(4), LABELS] = 1.0 / probs[np.arange(4), LABELS]
    np.testing.assert_allclose(direct[1], expected, rtol=1e-12)
    np.testing.assert_allclose(direct[4], 0.3 * expected, rtol=1e-12)
    # d/dr of log poisson(n; r) = n/r - 1 on the parameter
    np.testing.assert_allclose(direct[3], 0.3 * (np.array([1, 2, 0]) / np.array([1.5, 0.5, 2.5]) - 1),
                               rtol=1e-12)

    @gen
    def no_gradient(x: Any) -> None:
        Map(_NoGradPoisson())(x) @ "y"

    trace, _ = generate(no_gradient, (x_pos,), choicemap({"y": {0: 1, 1: 0, 2: 2}}))
    with pytest.raises(ValueError, match="has no gradient for it"):
        accumulate_param_gradients(trace, None, 1.0)


class _NoGradPoisson(type(poisson)):  # type: ignore[misc]
    """poisson, claiming no gradient for its rate."""

    has_argument_grads = (False,)


def test_a_body_computing_with_a_tracked_value_takes_the_tape() -> None:
    lin = Linear(W)

    @gen
    def model(x: Any) -> None:
        y = lin(x) @ "net"
        Map(normal)(2.0 * y, 0.5 * np.ones(6)) @ "y"  # computed: the tape differentiates it

    trace, _ = generate(model, (X,), choicemap({"y": {i: OBS[i] for i in range(6)}}))
    assert _direct.direct_param_gradients(trace, None, 1.0, True) is None
    assert model in _direct._NEEDS_TAPE  # not tried again
    (xg,) = accumulate_param_gradients(trace, None, 1.0)
    # d/dx sum log N(obs; 2Wx, 0.5) = 2 W^T (obs - 2Wx) / 0.25
    np.testing.assert_allclose(xg, 2 * W.T @ (OBS - 2 * W @ X) / 0.25, rtol=1e-10)
    np.testing.assert_allclose(lin.grad, np.outer(2 * (OBS - 2 * W @ X) / 0.25, X), rtol=1e-10)


def test_a_body_that_swallows_exceptions_still_takes_the_tape() -> None:
    lin = Linear(W)

    @gen
    def model(x: Any) -> None:
        y = lin(x) @ "net"
        try:
            shifted = y + 1.0  # computed with a tracked value inside a broad except
        except Exception:  # noqa: BLE001 - the point of the test
            shifted = y
        Map(normal)(shifted, np.ones(6)) @ "y"

    trace, _ = generate(model, (X,), choicemap({"y": {i: OBS[i] for i in range(6)}}))
    (xg,) = accumulate_param_gradients(trace, None, 1.0)
    np.testing.assert_allclose(xg, W.T @ (OBS - W @ X - 1.0), rtol=1e-10)
    assert model in _direct._NEEDS_TAPE


def test_fancy_indexing_takes_the_tape_and_adds_repeats() -> None:
    lin = Linear(W)

    @gen
    def model(x: Any) -> None:
        y = lin(x) @ "net"
        normal(y[np.array([0, 0, 1])], np.ones(3)) @ "y"  # element 0 twice

    obs = OBS[:3]
    trace, _ = generate(model, (X,), choicemap({"y": obs}))
    (xg,) = accumulate_param_gradients(trace, None, 1.0)
    mu = W @ X
    r = np.zeros(6)
    r[0] = (obs[0] - mu[0]) + (obs[1] - mu[0])
    r[1] = obs[2] - mu[1]
    np.testing.assert_allclose(xg, W.T @ r, rtol=1e-10)
    _ = anp


W12 = RNG.normal(size=(12, 3))
OBS12 = RNG.normal(size=12)


def _loop_rows_gradients(tape: bool, monkeypatch: pytest.MonkeyPatch,
                         known_leaves: bool = True) -> list[np.ndarray]:
    """A per-address loop long enough to be differentiated as one batch: a run over
    distinct rows, a run that repeats rows, and a run with another constant."""
    lin = Linear(W12)

    @gen
    def loop_rows(x: Any) -> None:
        y = lin(x) @ "net"
        for i in range(12):
            normal(y[i], 0.5) @ ("y", i)
        for k in range(9):
            normal(y[k % 4], 0.25) @ ("again", k)
        for k in range(8):
            normal(y[k + 4], 2) @ ("wide", k)

    cm = choicemap({**{("y", i): OBS12[i] for i in range(12)},
                    **{("again", k): OBS12[k] for k in range(9)},
                    **{("wide", k): -OBS12[k] for k in range(8)}})
    with monkeypatch.context() as m:
        if tape:
            m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
        else:
            runs: list[int] = []
            original = _direct._add_run
            m.setattr(_direct, "_add_run", lambda run, wholes: (
                runs.append(len(run)), original(run, wholes if known_leaves else {})))
        trace, _ = generate(loop_rows, (X,), cm)
        (xg,) = accumulate_param_gradients(trace, None, 0.3)
    if not tape:
        assert runs == [12, 9, 8], "each loop must be differentiated as one batch"
    return [np.asarray(xg), lin.grad.copy()]


def test_a_long_loop_of_choices_is_batched_and_equals_the_tape(
        monkeypatch: pytest.MonkeyPatch) -> None:
    direct = _loop_rows_gradients(False, monkeypatch)
    tape = _loop_rows_gradients(True, monkeypatch)
    for d, t in zip(direct, tape):
        np.testing.assert_allclose(d, t, rtol=TOL, atol=TOL)
    assert np.any(direct[1] != 0)
    # a run gathers its rows from the leaf; where the leaf were not known it stacks the
    # rows the choices read: the same arrays, so the same gradients, exactly
    stacked = _loop_rows_gradients(False, monkeypatch, known_leaves=False)
    for d, s in zip(direct, stacked):
        np.testing.assert_array_equal(d, s)


def _broken_runs_gradients(tape: bool, monkeypatch: pytest.MonkeyPatch
                           ) -> tuple[list[np.ndarray], list[int]]:
    """Loops whose runs of like choices are cut: by a choice of another kind, a negative
    or numpy index, another constant, another call's leaf; and a run that is too short."""
    lin, lin_b = Linear(W12), Linear(W12[::-1].copy())

    @gen
    def broken(x: Any) -> None:
        y = lin(x) @ "net"
        z = lin_b(x) @ "net_b"
        for i in range(10):
            normal(y[i], 0.5) @ ("a", i)
        normal(y[-1], 0.5) @ "negative"            # a negative row: by itself
        normal(y[np.int64(2)], 0.5) @ "numpy_row"  # a numpy index: by itself
        for i in range(9):
            normal(y[i], 0.5 if i < 4 else 1.5) @ ("b", i)  # the constant changes at 4
        for i in range(12):
            normal((y if i % 2 else z)[i], 0.5) @ ("c", i)  # two leaves, alternating
        for i in range(8):
            normal(z[i], 0.5) @ ("d", i)
        normal(z[0:3], 0.5) @ "slice"

    cm = choicemap({**{("a", i): OBS12[i] for i in range(10)}, "negative": 0.3,
                    "numpy_row": -0.2, **{("b", i): OBS12[i] for i in range(9)},
                    **{("c", i): -OBS12[i] for i in range(12)},
                    **{("d", i): OBS12[i] / 2 for i in range(8)},
                    "slice": OBS12[:3]})
    runs: list[int] = []
    with monkeypatch.context() as m:
        if tape:
            m.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
        else:
            original = _direct._add_run
            m.setattr(_direct, "_add_run", lambda run, *rest: (runs.append(len(run)), original(run, *rest)))
        trace, _ = generate(broken, (X,), cm)
        (xg,) = accumulate_param_gradients(trace, None, 0.7)
    return [np.asarray(xg), lin.grad.copy(), lin_b.grad.copy()], runs


def test_cut_runs_of_choices_equal_the_tape(monkeypatch: pytest.MonkeyPatch) -> None:
    direct, runs = _broken_runs_gradients(False, monkeypatch)
    tape, _ = _broken_runs_gradients(True, monkeypatch)
    assert runs == [10, 8], "runs of at least 8 like choices batch; shorter ones do not"
    for d, t in zip(direct, tape):
        np.testing.assert_allclose(d, t, rtol=TOL, atol=TOL)
    assert all(np.any(d != 0) for d in direct)


def _watch_calls_into_maps(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The answers of every ``_calls_into_maps`` call from now on, in order."""
    taken: list[bool] = []
    original = _direct._calls_into_maps

    def watching(*args: Any) -> bool:
        taken.append(original(*args))
        return taken[-1]

    monkeypatch.setattr(_direct, "_calls_into_maps", watching)
    return taken


def test_calls_into_maps_skip_the_replay_and_pass_the_same_bits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``accumulate_param_gradients_only`` of a body whose calls read only its arguments and
    whose ``Map`` calls of a distribution read those calls' whole return values (the digits
    model's shape) skips building the replay: each network gets the same return-value
    cotangent, bit for bit and of the same dtype, in the same order, with the same scale,
    as through the replay; a network nothing reads gets zeros. Other shapes decline."""
    w_pos = np.abs(W) + 0.1
    x_pos = np.abs(X) + 0.2
    probs = _softmax_rows(RNG.normal(size=(4, 3)))
    counts = {i: int(c) for i, c in enumerate(RNG.integers(0, 5, 6))}
    labels = {i: int(v) for i, v in enumerate(LABELS)}
    taken = _watch_calls_into_maps(monkeypatch)

    def run(model: Any, cm: Any, nets: list[Linear], fast: bool) -> list[Any]:
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(_direct, "_calls_into_maps", lambda *a: False)
            trace, _ = generate(model, (x_pos, probs), cm)
            accumulate_param_gradients_only(trace, None, 0.3)
        return [(g.dtype, g.tobytes()) if g is not None else None
                for net in nets for g in net.retval_grads] + [net.scales for net in nets]

    def digits(fast: bool) -> list[Any]:
        a, b, idle = Linear(w_pos, np.float32), Linear(w_pos[::-1]), Linear(W)

        @gen
        def model(x: Any, p: Any) -> None:
            rates = a(x) @ "a"
            more = b(x) @ "b"
            idle(x) @ "idle"  # read by nothing: zeros
            Map(poisson)(rates) @ "y"
            Map(categorical)(p) @ "arg"  # the function's argument: untracked here
            Map(poisson)(more) @ "z"

        cm = choicemap({"y": counts, "z": counts, "arg": labels})
        return run(model, cm, [a, b, idle], fast)

    fast = digits(True)
    assert taken == [True]
    assert fast == digits(False)
    assert fast[0][0] == np.float32 and fast[2][0] == np.float64  # each network's own dtype
    assert np.frombuffer(fast[2][1]).tolist() == [0.0] * 6

    def declined(body: Callable[[Any], Any], cm: Any) -> None:
        def once(fast: bool) -> list[Any]:
            net = Linear(w_pos)

            @gen
            def model(x: Any, p: Any) -> None:
                body(net(x) @ "net")

            return run(model, cm, [net], fast)

        taken.clear()
        got = once(True)
        assert taken == [False]
        assert got == once(False)

    declined(lambda r: (Map(poisson)(r) @ "y", Map(poisson)(r) @ "again"),
             choicemap({"y": counts, "again": counts}))  # read twice
    declined(lambda r: (Map(poisson)(r) @ "y", poisson(r) @ "all"),
             choicemap({"y": counts, "all": np.array(list(counts.values()))}))  # a choice
    chain = Linear(np.abs(RNG.normal(size=(2, 6))) + 0.1)
    declined(lambda r: (Map(poisson)(r) @ "y", Map(poisson)(chain(r) @ "chain") @ "c"),
             choicemap({"y": counts, "c": {0: 1, 1: 3}}))  # a call on a call's value


class _RowsNet(Linear):
    """``x`` (n, 3) -> positive rows (n, 6), each summing to 1 (a softmax of ``x @ W.T``)."""

    def _run(self, args: tuple[Any, ...]) -> LinearTrace:
        (x,) = args
        z = np.asarray(x, dtype=np.float64) @ self.W.T
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return LinearTrace(self, args, (e / e.sum(axis=1, keepdims=True)).astype(self.dtype))

    def _grads(self, trace: Any, retval_grad: Any) -> tuple[np.ndarray, np.ndarray]:
        (x,) = trace.get_args()
        g = np.asarray(retval_grad, dtype=np.float64)
        self.retval_grads.append(retval_grad)
        return (g @ self.W).astype(self.dtype), g.T @ np.asarray(x, dtype=np.float64)


def test_loops_over_rows_of_calls_skip_the_replay_and_pass_the_same_bits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop of choices on the rows of a network's output (``categorical(probs[i]) @ ("y",
    i)``, the per-address digits model) skips the replay as the ``Map`` model does: each
    network gets the same return-value cotangent, bit for bit and of the same dtype, as
    through the replay (float32 and float64 networks, a distribution with a plain float
    argument and array values, a network nothing reads). Loops the replay would not
    differentiate as one run decline."""
    rows = 10
    x = RNG.normal(size=(rows, 3))
    w = RNG.normal(size=(6, 3))
    labels = RNG.integers(0, 6, rows)
    obs = RNG.normal(size=(rows, 6))
    taken = _watch_calls_into_maps(monkeypatch)

    def run(body: Callable[..., None], cm: Any, dtypes: list[Any], fast: bool) -> list[Any]:
        nets = [_RowsNet(w * (k + 1), dtype) for k, dtype in enumerate(dtypes)]

        @gen
        def model(xs: Any) -> None:
            body(*[net(xs) @ f"net{k}" for k, net in enumerate(nets)])

        with monkeypatch.context() as m:
            if not fast:
                m.setattr(_direct, "_calls_into_maps", lambda *a: False)
            trace, _ = generate(model, (x,), cm)
            accumulate_param_gradients_only(trace, None, 0.3)
        return [(g.dtype, g.tobytes()) for net in nets for g in net.retval_grads] + \
            [net.scales for net in nets]

    def both(body: Callable[..., None], cm: Any, dtypes: list[Any], skips: bool) -> list[Any]:
        taken.clear()
        got = run(body, cm, dtypes, True)
        assert taken == [skips]
        assert got == run(body, cm, dtypes, False)
        return got

    def digits(probs: Any, rates: Any, scales: Any, idle: Any) -> None:
        for i in range(rows):
            categorical(probs[i]) @ ("y", i)
        for i in range(rows):
            normal(rates[i], 0.5) @ ("z", i)
        for i in range(rows):
            normal(0.25, scales[i]) @ ("s", i)  # the row is the second argument

    cm = choicemap({**{("y", i): int(v) for i, v in enumerate(labels)},
                    **{("z", i): obs[i] for i in range(rows)},
                    **{("s", i): obs[i] + 0.5 for i in range(rows)}})
    got = both(digits, cm, [np.float32, np.float64, np.float64, np.float64], True)
    assert [dtype for dtype, _ in got[:4]] == [np.float32, np.float64, np.float64, np.float64]
    probs = _RowsNet(w, np.float32)._run((x,)).retval
    expect = np.zeros((rows, 6))
    expect[np.arange(rows), labels] = 1.0 / probs[np.arange(rows), labels].astype(np.float64)
    assert got[0][1] == expect.astype(np.float32).tobytes()  # d log p / d probs, by hand
    assert np.frombuffer(got[2][1]).any()  # the scales' rows got their gradient
    assert np.frombuffer(got[3][1]).tolist() == [0.0] * rows * 6
    assert got[4:] == [[0.3], [0.3], [0.3], [0.3]]

    def loop(rows_of: Callable[[int], int], n: int = rows) -> Callable[..., None]:
        def body(probs: Any) -> None:
            for i in range(n):
                categorical(probs[rows_of(i)]) @ ("y", i)
        return body

    ys = choicemap({("y", i): int(v) for i, v in enumerate(labels)})
    both(loop(lambda i: i, 5), ys, [np.float32], False)  # too few rows for one run
    both(loop(lambda i: i // 2), ys, [np.float32], False)  # a row read twice
    mixed = choicemap({("y", i): (np.int64(v) if i % 2 else int(v)) for i, v in enumerate(labels)})
    both(loop(lambda i: i), mixed, [np.float32], False)  # values of two types
    both(lambda p: (loop(lambda i: i)(p), Map(categorical)(p) @ "all"),
         choicemap({**{("y", i): int(v) for i, v in enumerate(labels)},
                    "all": {i: int(v) for i, v in enumerate(labels)}}),
         [np.float32], False)  # read twice
