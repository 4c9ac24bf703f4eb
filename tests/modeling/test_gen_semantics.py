"""Gen.jl's dynamic-language semantics as Gen users write them, with exact values.

Hierarchical call addresses (Gen's ``{:data => i} ~ point(mu)``, here
``point(mu) @ path("data", i)``), the short forms ``update(trace, constraints)`` and
``regenerate(trace, selection)``, ``NoChange()``/``UnknownChange()``, ``ParamUpdate(conf,
gen_fn)`` and unaddressed calls (run untraced, as in Gen). Every weight, discard and
gradient is checked against log densities computed by hand with scipy.
"""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
import scipy.stats as st
from gentf.dsl import gen, get_param, get_param_grad, normal, param
from gentf.gfi import (
    Diff,
    NoChange,
    UnknownChange,
    accumulate_param_gradients,
    assess,
    choice_gradients,
    choicemap,
    generate,
    path,
    project,
    regenerate,
    select,
    simulate,
    update,
)
from gentf.inference import ADAM, FixedStepGradientDescent, ParamUpdate

S = 0.5  # observation noise of each data point


def lp(x: float, mu: float, s: float) -> float:
    return float(st.norm.logpdf(x, mu, s))


@gen
def point(mu: float) -> float:
    return normal(mu, S) @ "x"


@gen
def model(n: int) -> float:
    mu = normal(0.0, 1.0) @ "mu"
    for i in range(n):
        point(mu) @ path("data", i)
    return mu


def xs_of(trace: Any, n: int) -> list[float]:
    return [trace[path("data", i, "x")] for i in range(n)]


def score_of(mu: float, xs: list[float]) -> float:
    return lp(mu, 0.0, 1.0) + sum(lp(x, mu, S) for x in xs)


# ---- hierarchical call addresses ---------------------------------------------------------


def test_generate_at_hierarchical_call_addresses() -> None:
    trace, w = generate(model, (3,), choicemap({"mu": 0.3, path("data", 1, "x"): 0.7}))
    xs = xs_of(trace, 3)
    assert xs[1] == 0.7
    assert w == pytest.approx(lp(0.3, 0, 1) + lp(0.7, 0.3, S), abs=1e-12)
    assert trace.get_score() == pytest.approx(score_of(0.3, xs), abs=1e-12)
    choices = trace.get_choices()
    # The callee's choices live under the hierarchical prefix, as in Gen's choice map.
    assert set(choices) == {"mu", "data"}
    assert set(choices["data"]) == {0, 1, 2}
    assert choices[path("data", 1)] == choicemap({"x": 0.7})
    assert choices.get_submap(path("data", 1)).get_value("x") == 0.7
    # trace[addr] at a call address is the call's return value (Gen's trace[addr]).
    assert trace[path("data", 1)] == 0.7 and trace["mu"] == 0.3 and trace[()] == 0.3
    with pytest.raises(KeyError, match="no choice or call"):
        trace[path("data", 5, "x")]
    with pytest.raises(KeyError, match="'mu' is a random choice"):
        trace[path("mu", "x")]


def test_update_through_hierarchical_calls_weights_and_discards() -> None:
    trace, _ = generate(model, (3,), choicemap({"mu": 0.3, path("data", 0, "x"): -0.1,
                                                path("data", 1, "x"): 0.7,
                                                path("data", 2, "x"): 0.2}))
    xs = [-0.1, 0.7, 0.2]
    old = score_of(0.3, xs)

    # A constraint inside one call: only that call's choice changes.
    new_trace, w, retdiff, discard = update(
        trace, (3,), (NoChange,), choicemap({path("data", 2, "x"): 1.5}))
    assert w == pytest.approx(lp(1.5, 0.3, S) - lp(0.2, 0.3, S), abs=1e-12)
    assert discard == choicemap({path("data", 2, "x"): 0.2})
    assert xs_of(new_trace, 3) == [-0.1, 0.7, 1.5] and retdiff is UnknownChange

    # Fewer data: the removed call's choices are discarded and its score leaves the weight.
    new_trace, w, _, discard = update(trace, (2,), (UnknownChange,), choicemap())
    assert w == pytest.approx(-lp(0.2, 0.3, S), abs=1e-12)
    assert discard == choicemap({path("data", 2, "x"): 0.2})
    assert new_trace.get_score() == pytest.approx(score_of(0.3, xs[:2]), abs=1e-12)

    # More data: a new constrained call adds its log density; a new free one adds nothing.
    new_trace, w, _, discard = update(
        trace, (5,), (UnknownChange,), choicemap({path("data", 3, "x"): 0.9}))
    assert w == pytest.approx(lp(0.9, 0.3, S), abs=1e-12)
    assert discard.is_empty()
    assert new_trace.get_score() == pytest.approx(score_of(0.3, xs_of(new_trace, 5)), abs=1e-12)

    # A changed mu re-scores every kept call: weight = new log p - old log p.
    new_trace, w, _, discard = update(trace, (3,), (NoChange,), choicemap({"mu": -0.4}))
    assert w == pytest.approx(score_of(-0.4, xs) - old, abs=1e-12)
    assert discard == choicemap({"mu": 0.3})

    # Gen: "Did not visit all constraints".
    with pytest.raises(ValueError, match=r"never visited.*path\('data', 7, 'x'\)"):
        update(trace, (3,), (NoChange,), choicemap({path("data", 7, "x"): 1.0}))
    with pytest.raises(ValueError, match="is a call of a generative function"):
        update(trace, (3,), (NoChange,), choicemap({path("data", 1): 1.0}))


def test_project_regenerate_and_assess_through_hierarchical_calls() -> None:
    trace, _ = generate(model, (3,), choicemap({"mu": 0.3, path("data", 0, "x"): -0.1,
                                                path("data", 1, "x"): 0.7,
                                                path("data", 2, "x"): 0.2}))
    xs = [-0.1, 0.7, 0.2]
    assert project(trace, select(path("data", 1))) == pytest.approx(lp(0.7, 0.3, S))
    assert project(trace, select(path("data", 1, "x"), "mu")) == pytest.approx(
        lp(0.7, 0.3, S) + lp(0.3, 0, 1))
    assert project(trace, select("data")) == pytest.approx(sum(lp(x, 0.3, S) for x in xs))
    assert project(trace, ~select("mu")) == pytest.approx(sum(lp(x, 0.3, S) for x in xs))

    # Resampling mu from its prior: weight = log p(xs | mu') - log p(xs | mu).
    new_trace, w, _ = regenerate(trace, (3,), (NoChange,), select("mu"))
    mu2 = new_trace["mu"]
    assert mu2 != 0.3 and xs_of(new_trace, 3) == xs
    assert w == pytest.approx(sum(lp(x, mu2, S) - lp(x, 0.3, S) for x in xs), abs=1e-12)
    # Resampling inside one call: the proposal is the prior, so the weight is 0.
    new_trace, w, _ = regenerate(trace, (3,), (NoChange,), select(path("data", 1)))
    assert w == 0.0 and new_trace[path("data", 1, "x")] != 0.7
    assert xs_of(new_trace, 3)[::2] == [-0.1, 0.2]

    weight, retval = assess(model, (3,), trace.get_choices())
    assert weight == pytest.approx(score_of(0.3, xs), abs=1e-12) and retval == 0.3
    with pytest.raises(KeyError, match="no value for the random choice"):
        assess(model, (4,), trace.get_choices())


def test_gradients_through_hierarchical_calls() -> None:
    @gen(params={"b": 0.25})
    def shifted(mu: float) -> float:
        return normal(mu + param("b"), S) @ "x"

    @gen
    def m(n: int) -> float:
        mu = normal(0.0, 1.0) @ "mu"
        for i in range(n):
            shifted(mu) @ path("data", i)
        return mu

    xs = [-0.1, 0.7, 0.2]
    mu, b = 0.3, 0.25
    obs = choicemap({"mu": mu, **{path("data", i, "x"): x for i, x in enumerate(xs)}})
    trace, _ = generate(m, (3,), obs)

    _, values, grads = choice_gradients(trace, select("mu", path("data", 1, "x")), None)
    assert values == choicemap({"mu": mu, path("data", 1, "x"): 0.7})
    assert grads["mu"] == pytest.approx(-mu + sum((x - mu - b) / S**2 for x in xs))
    assert grads[path("data", 1, "x")] == pytest.approx(-(0.7 - mu - b) / S**2)
    assert set(grads["data"]) == {1}  # nothing for unselected calls

    accumulate_param_gradients(trace, None, 2.0)
    assert float(get_param_grad(shifted, "b")) == pytest.approx(
        2.0 * sum((x - mu - b) / S**2 for x in xs))


def test_random_choices_at_hierarchical_addresses_and_overlaps() -> None:
    @gen
    def grid() -> None:
        for i in range(2):
            for j in range(2):
                normal(float(i + j), 1.0) @ path("z", i, j)

    values = {path("z", i, j): 0.1 * (i + 2 * j) for i in range(2) for j in range(2)}
    trace, w = generate(grid, (), choicemap(values))
    assert w == pytest.approx(sum(lp(v, a.keys[1] + a.keys[2], 1.0) for a, v in values.items()))
    assert trace.get_choices()["z"][1][0] == pytest.approx(0.1)
    assert trace[path("z", 1, 1)] == pytest.approx(0.3)
    new_trace, w2, _, discard = update(trace, choicemap({path("z", 0, 1): 2.0}))
    assert w2 == pytest.approx(lp(2.0, 1.0, 1.0) - lp(0.2, 1.0, 1.0))
    assert discard == choicemap({path("z", 0, 1): 0.2}) and new_trace[path("z", 0, 1)] == 2.0

    @gen
    def overlap() -> None:
        normal(0.0, 1.0) @ "a"
        point(0.0) @ path("a", 1)

    with pytest.raises(ValueError, match=r"path\('a', 1\) and address 'a' overlap"):
        simulate(overlap, ())

    @gen
    def twice() -> None:
        point(0.0) @ path("d", 1)
        point(0.0) @ path("d", 1)

    with pytest.raises(ValueError, match=r"path\('d', 1\) was used twice"):
        simulate(twice, ())


def test_generate_keeps_the_score_the_trace_would_sum() -> None:
    """The score ``generate`` keeps while recording is, bit for bit, the one the trace sums
    from its records (choices constrained or drawn, calls, a Map's float32 scores)."""
    from gentf import Map, categorical
    from gentf.dsl._trace import GenTrace

    @gen
    def inner(mu: float) -> float:
        return normal(mu, 0.3) @ "x"

    @gen
    def model(probs: Any) -> None:
        a = normal(0.1, 1.0) @ "a"
        inner(a) @ "call"
        Map(categorical)(probs) @ "labels"
        for i in range(3):
            normal(a * i, 2.0) @ ("n", i)

    probs = np.full((5, 4), 0.25, dtype=np.float32)
    for cm in (choicemap(), choicemap({"a": 0.7, ("n", 1): -0.2, "labels": {0: 3, 4: 1}})):
        trace, _ = generate(model, (probs,), cm)
        summed = GenTrace(model, (probs,), trace.records, None).get_score()
        assert trace.get_score() == summed and type(trace.get_score()) is float
        a = trace["a"]
        by_hand = (st.norm.logpdf(a, 0.1, 1.0) + st.norm.logpdf(trace[path("call", "x")], a, 0.3)
                   + 5 * np.log(0.25)
                   + sum(st.norm.logpdf(trace[("n", i)], a * i, 2.0) for i in range(3)))
        assert trace.get_score() == pytest.approx(by_hand, rel=1e-7)  # (float32 labels)


def test_an_unhashable_address_is_a_type_error_naming_it() -> None:
    """``dist(args) @ addr`` with an unhashable ``addr`` raises a TypeError naming the
    address, in every interface operation, before and after a path(...) was visited."""

    @gen
    def first() -> None:
        normal(0.0, 1.0) @ ["y", 1]

    @gen
    def after_a_path() -> None:
        normal(0.0, 1.0) @ path("x", 1)
        normal(0.0, 1.0) @ {"y": 1}

    for model, shown in ((first, r"list \['y', 1\]"), (after_a_path, r"dict \{'y': 1\}")):
        with pytest.raises(TypeError, match="address must be hashable.*got " + shown):
            simulate(model, ())
        with pytest.raises(TypeError, match="address must be hashable.*got " + shown):
            generate(model, (), choicemap())

    @gen
    def flip(bad: bool) -> None:
        normal(0.0, 1.0) @ (["y"] if bad else "y")

    trace = simulate(flip, (False,))
    before = (trace["y"], trace.get_score(), trace.get_args())
    with pytest.raises(TypeError, match=r"address must be hashable.*got list \['y'\]"):
        update(trace, (True,), (UnknownChange,), choicemap())
    assert (trace["y"], trace.get_score(), trace.get_args()) == before  # as it was


# ---- short forms and diffs ---------------------------------------------------------------


def test_short_form_update_is_the_full_form_with_nochange() -> None:
    trace, _ = generate(model, (3,), choicemap({"mu": 0.3}))
    xs = xs_of(trace, 3)
    cm = choicemap({"mu": -0.2})
    short = update(trace, cm)
    full = update(trace, (3,), (NoChange,), cm)
    assert short[0].get_args() == (3,)  # the choice map was not taken for the arguments
    assert short[1] == full[1] == pytest.approx(score_of(-0.2, xs) - score_of(0.3, xs))
    assert short[3] == full[3] == choicemap({"mu": 0.3})
    as_dict = update(trace, {"mu": -0.2})  # a dict in that position is a choice map too
    assert as_dict[1] == short[1] and as_dict[3] == short[3]
    # update(trace, args, constraints): new arguments with UnknownChange.
    _, w, _, discard = update(trace, (2,), cm)
    assert w == pytest.approx(score_of(-0.2, xs[:2]) - score_of(0.3, xs))
    assert discard == choicemap({"mu": 0.3, path("data", 2, "x"): xs[2]})
    with pytest.raises(TypeError, match="nothing after the constraints"):
        update(trace, cm, (NoChange,))
    with pytest.raises(ValueError, match="1 arguments but 2 argdiffs"):
        update(trace, (3,), (NoChange, NoChange), cm)
    with pytest.raises(TypeError, match="NoChange or UnknownChange"):
        update(trace, (3,), (True,), cm)


def test_short_form_regenerate() -> None:
    trace, _ = generate(model, (3,), choicemap({"mu": 0.3}))
    xs = xs_of(trace, 3)
    new_trace, w, _ = regenerate(trace, select("mu"))
    assert new_trace.get_args() == (3,)
    assert w == pytest.approx(sum(lp(x, new_trace["mu"], S) - lp(x, 0.3, S) for x in xs))
    with pytest.raises(TypeError, match="expected a Selection"):
        regenerate(trace, (3,), (NoChange,), "mu")  # type: ignore[arg-type]


def test_nochange_and_unknownchange_are_callable_singletons() -> None:
    assert NoChange() is NoChange and UnknownChange() is UnknownChange
    assert isinstance(NoChange(), Diff) and isinstance(UnknownChange, Diff)
    assert isinstance(NoChange(), NoChange)  # Gen's isa(diff, NoChange)
    assert not isinstance(UnknownChange(), NoChange) and not isinstance(None, NoChange)
    assert repr(NoChange()) == "NoChange"
    trace, _ = generate(model, (2,), choicemap({"mu": 0.3}))
    a = update(trace, (2,), (NoChange(),), choicemap({"mu": 0.1}))
    b = update(trace, (2,), (NoChange,), choicemap({"mu": 0.1}))
    assert a[1] == b[1] and a[2] is UnknownChange()


# ---- ParamUpdate(conf, gen_fn) -----------------------------------------------------------


def _two_param_fn() -> Any:
    @gen(params={"m": np.array([0.5, -1.0]), "log_s": 0.2})
    def f() -> None:
        normal(param("m"), anp.exp(param("log_s"))) @ "y"

    return f


def test_param_update_of_a_whole_function_equals_the_dict_form() -> None:
    f_all, f_dict = _two_param_fn(), _two_param_fn()
    upd_all = ParamUpdate(ADAM(0.1), f_all)
    upd_dict = ParamUpdate(ADAM(0.1), {f_dict: ["m", "log_s"]})
    for y in ([1.0, 2.0], [0.0, -1.0], [3.0, 0.5]):
        for f, upd in ((f_all, upd_all), (f_dict, upd_dict)):
            trace, _ = generate(f, (), choicemap({"y": np.array(y)}))
            accumulate_param_gradients(trace)
            upd.apply()
    for name in ("m", "log_s"):
        assert np.array_equal(get_param(f_all, name), get_param(f_dict, name))
        assert np.all(get_param_grad(f_all, name) == 0)
    assert not np.allclose(get_param(f_all, "m"), [0.5, -1.0])  # it did move

    f_pair = _two_param_fn()
    upd_pair = ParamUpdate(FixedStepGradientDescent(0.1), (f_pair, ["m"]))
    trace, _ = generate(f_pair, (), choicemap({"y": np.array([1.0, 1.0])}))
    accumulate_param_gradients(trace)
    g = get_param_grad(f_pair, "m")
    upd_pair.apply()
    assert np.allclose(get_param(f_pair, "m"), np.array([0.5, -1.0]) + 0.1 * g)
    assert float(get_param(f_pair, "log_s")) == 0.2  # not listed, not moved

    with pytest.raises(ValueError, match="no trainable parameters"):
        ParamUpdate(ADAM(0.1), model)
    with pytest.raises(ValueError, match="listed twice"):
        ParamUpdate(ADAM(0.1), f_pair, {f_pair: ["m"]})


def test_param_update_of_a_whole_tffunction_equals_the_dict_form(session: Any) -> None:
    from gentf import TFFunction, get_param_grad_tf_var, runtf, tf

    W0 = np.array([[0.2, -0.5], [0.4, 0.1]])
    xs = tf.placeholder(tf.float64, shape=(None, 2), name="xs")
    nets = []
    for k in range(2):
        W = tf.Variable(W0, name=f"W{k}")
        b = tf.Variable(np.array([0.1, -0.2]), name=f"b{k}")
        nets.append((TFFunction([W, b], [xs], tf.add(tf.matmul(xs, W), b), session), W, b))
    (net_a, Wa, ba), (net_b, Wb, bb) = nets
    upd_a = ParamUpdate(FixedStepGradientDescent(0.05), net_a)
    upd_b = ParamUpdate(FixedStepGradientDescent(0.05), {net_b: [Wb, bb]})
    x = np.array([[1.0, 2.0], [-0.5, 0.3]])
    for net, upd in ((net_a, upd_a), (net_b, upd_b)):
        trace, _ = generate(net, (x,), choicemap())
        accumulate_param_gradients(trace, np.ones((2, 2)), 1.0)
        upd.apply()
    Wa1, ba1, Wb1, bb1 = runtf(net_a, [Wa, ba, Wb, bb])
    assert np.allclose(Wa1, W0 + 0.05 * x.T @ np.ones((2, 2)))  # ascent on sum(retval)
    assert np.array_equal(Wa1, Wb1) and np.array_equal(ba1, bb1)
    assert np.all(runtf(net_a, get_param_grad_tf_var(net_a, Wa)) == 0)


# ---- unaddressed calls -------------------------------------------------------------------


def test_an_unaddressed_gen_call_runs_untraced() -> None:
    @gen
    def noisy_double(v: float) -> float:
        normal(0.0, 1.0) @ "noise"  # a random choice that the caller never sees
        return 2.0 * v

    @gen
    def m() -> tuple[float, float]:
        x = normal(0.0, 1.0) @ "x"
        d = noisy_double(x)  # Gen: a plain call, untraced
        n = normal(0.0, 1.0)  # a distribution called without an address: a sample
        y = normal(d, 1.0) @ "y"
        return d, n + y

    trace, w = generate(m, (), choicemap({"x": 0.4, "y": 1.0}))
    assert trace.get_retval()[0] == 0.8  # its return value
    assert set(trace.get_choices()) == {"x", "y"}  # its choices are not traced
    expected = lp(0.4, 0, 1) + lp(1.0, 0.8, 1.0)
    assert trace.get_score() == pytest.approx(expected) and w == pytest.approx(expected)
    # ... and re-run by update, regenerate and gradients, still untraced.
    new_trace, w2, _, _ = update(trace, choicemap({"x": 0.5}))
    assert w2 == pytest.approx(lp(0.5, 0, 1) + lp(1.0, 1.0, 1.0) - expected)
    assert new_trace.get_retval()[0] == 1.0 and set(new_trace.get_choices()) == {"x", "y"}
    _, _, grads = choice_gradients(trace, select("x", "y"))
    # No gradient flows through an untraced call: d is a constant for x.
    assert grads["x"] == pytest.approx(-0.4) and grads["y"] == pytest.approx(-(1.0 - 0.8))


def test_call_sites_are_read_as_written() -> None:
    @gen
    def helper(mu: float) -> float:
        return normal(mu, 1.0) @ "h"  # a traced choice inside a plain Python helper

    def plain_helper(mu: float) -> float:
        return normal(mu, 1.0) @ "p"

    @gen
    def m() -> Any:
        a = point(0.0) @ "a"
        b = (point(0.0)) @ "b"
        c = point(
            0.0
        ) @ path(
            "c", 0)
        d = [point(0.0) @ ("d", i) for i in range(2)]
        e = np.array([1.0, 2.0]) @ np.array([point(0.0), 1.0])  # right operand: untraced
        f = point(0.0).untraced()
        g = helper(0.0) @ "g"
        p = plain_helper(0.0)
        return a, b, c, d, e, f, g, p

    trace = simulate(m, ())
    choices = trace.get_choices()
    assert set(choices) == {"a", "b", "c", ("d", 0), ("d", 1), "g", "p"}
    assert choices[path("g", "h")] == trace["g"]
    assert choices["p"] == trace.get_retval()[-1]

    class Wrapped(type(point)):  # type: ignore[misc]
        def __call__(self, *args: Any) -> Any:
            return super().__call__(*args)

    wrapped = Wrapped(point.fn, name="wrapped")

    @gen
    def m2() -> Any:
        return wrapped(0.0) @ "w", wrapped(0.0)

    trace = simulate(m2, ())
    assert set(trace.get_choices()) == {"w"} and isinstance(trace.get_retval()[1], float)


def test_an_unaddressed_tffunction_call_runs_untraced(session: Any) -> None:
    from gentf import TFFunction, get_param_grad_tf_var, runtf, tf

    W0 = np.array([[0.2, -0.5], [0.4, 0.1]])
    xs = tf.placeholder(tf.float64, shape=(None, 2), name="xs")
    W = tf.Variable(W0, name="W")
    net = TFFunction([W], [xs], tf.tanh(tf.matmul(xs, W)), session)

    @gen
    def m(x: np.ndarray) -> Any:
        h = net(x)  # untraced: the network's output, no record, no accumulation
        return normal(h, 1.0) @ "y"

    x = np.array([[1.0, -1.0], [0.5, 2.0]])
    y = np.zeros((2, 2))
    trace, w = generate(m, (x,), choicemap({"y": y}))
    h = np.tanh(x @ W0)
    assert w == pytest.approx(float(np.sum(st.norm.logpdf(y, h, 1.0))))
    assert set(trace.get_choices()) == {"y"} and set(trace.records) == {"y"}
    (x_grad,) = accumulate_param_gradients(trace, None, 1.0)
    assert np.all(x_grad == 0)  # the untraced call is a constant for gradients
    assert np.all(runtf(net, get_param_grad_tf_var(net, W)) == 0)


def test_a_tffunction_at_hierarchical_addresses_trains(session: Any) -> None:
    from gentf import TFFunction, get_param_grad_tf_var, runtf, tf

    W0 = np.array([[0.2, -0.5], [0.4, 0.1]])
    xs = tf.placeholder(tf.float64, shape=(None, 2), name="xs")
    W = tf.Variable(W0, name="W")
    net = TFFunction([W], [xs], tf.tanh(tf.matmul(xs, W)), session)
    x = np.array([[1.0, -1.0], [0.5, 2.0]])

    @gen
    def m() -> None:
        for i in range(2):
            h = net(x * (i + 1)) @ path("layer", i)
            normal(h, 1.0) @ path("y", i)

    y = {path("y", i): np.full((2, 2), 0.1 * i) for i in range(2)}
    trace, w = generate(m, (), choicemap(y))
    hs = [np.tanh((x * (i + 1)) @ W0) for i in range(2)]
    assert np.allclose(trace[path("layer", 1)], hs[1])
    assert w == pytest.approx(sum(float(np.sum(st.norm.logpdf(y[path("y", i)], hs[i], 1.0)))
                                  for i in range(2)))
    assert set(trace.get_choices()) == {"y"}  # a TFFunction makes no choices
    accumulate_param_gradients(trace)
    expected = sum((x * (i + 1)).T @ ((y[path("y", i)] - hs[i]) * (1 - hs[i] ** 2))
                   for i in range(2))
    assert np.allclose(runtf(net, get_param_grad_tf_var(net, W)), expected, rtol=1e-6)


def test_without_source_positions_an_unaddressed_call_is_a_pending_call() -> None:
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        from gentf.dsl import gen, normal
        from gentf.gfi import PendingCall, simulate

        @gen
        def m():
            u = normal(0.0, 1.0)
            assert isinstance(u, PendingCall), u
            try:
                u + 1.0
            except TypeError as exc:
                assert "not given an address" in str(exc)
            return normal(0.0, 1.0) @ "x"

        assert set(simulate(m, ()).get_choices()) == {"x"}
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-X", "no_debug_ranges", "-c", script],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.stdout.strip() == "ok", proc.stderr
