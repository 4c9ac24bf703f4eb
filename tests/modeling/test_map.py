"""Gen's Map combinator against the equivalent loop models: same traces, weights, gradients.

The loop equivalent of ``Map(k)(args) @ "y"`` is a ``@gen`` function that calls
``k(args[0][i], ...) @ i`` for each ``i``, called at ``"y"``: both put element ``i``'s
choices at ``path("y", i)``, so choice maps compare directly.
"""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from fd import fd_grad
from gentf import (
    Map,
    accumulate_param_gradients,
    assess,
    categorical,
    choice_gradients,
    choicemap,
    gen,
    generate,
    get_param_grad,
    normal,
    param,
    path,
    project,
    regenerate,
    seed,
    select,
    selectall,
    simulate,
    update,
    zero_param_grad,
)
from gentf.dsl import bernoulli, dirichlet, gamma
from gentf.gfi import NoChange, UnknownChange

TOL = 1e-12
N, D, K = 7, 3, 4
RNG = np.random.default_rng(2024)
XS = RNG.normal(size=(N, D))
YS = RNG.integers(0, K, N)
W0 = RNG.normal(size=(D, K)) * 0.5


def _softmax(z: Any) -> Any:
    e = anp.exp(z - anp.max(z, axis=1, keepdims=True))
    return e / anp.sum(e, axis=1, keepdims=True)


@gen
def cat_loop(probs: Any) -> Any:
    return anp.array([categorical(probs[i]) @ i for i in range(len(probs))])


@gen
def normal_loop(mus: Any, stds: Any) -> Any:
    return anp.array([normal(mus[i], stds[i]) @ i for i in range(len(mus))])


def _classifier(sub: Any) -> Any:
    @gen(params={"w": W0})
    def model(xs: Any) -> Any:
        probs = _softmax(anp.dot(xs, param("w")))
        return sub(probs) @ "y"

    return model


def _regression(sub: Any) -> Any:
    @gen(params={"w": np.array([0.3, -0.2, 0.1])})
    def model(xs: Any, noise: float) -> Any:
        mus = anp.dot(xs, param("w"))
        stds = noise * anp.ones(len(xs)) + 0.1 * anp.arange(len(xs))
        vals = sub(mus, stds) @ "y"
        normal(anp.sum(vals), 1.0) @ "total"
        return vals

    return model


def _labels(ys: Any) -> Any:
    return choicemap({"y": {i: int(y) for i, y in enumerate(ys)}})


def _same_trace(a: Any, b: Any) -> None:
    assert a.get_choices() == b.get_choices()
    assert a.get_score() == pytest.approx(b.get_score(), abs=TOL)
    assert np.array_equal(np.asarray(a.get_retval()), np.asarray(b.get_retval()))


def _close(a: Any, b: Any) -> None:
    assert np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                       rtol=0, atol=TOL)


# ---- distribution kernels ----------------------------------------------------------------


def test_map_categorical_generate_update_regenerate_match_loop() -> None:
    m_model, l_model = _classifier(Map(categorical)), _classifier(cat_loop)
    cm = _labels(YS)
    mt, mw = generate(m_model, (XS,), cm)
    lt, lw = generate(l_model, (XS,), cm)
    _same_trace(mt, lt)
    assert mw == pytest.approx(lw, abs=TOL)
    probs = _softmax(XS @ W0)
    assert mw == pytest.approx(float(np.sum(np.log(probs[np.arange(N), YS]))), abs=TOL)
    assert mt[path("y", 3)] == YS[3]

    # update: new arguments and two constraints
    xs2 = XS * 1.5
    new = choicemap({path("y", 0): (int(YS[0]) + 1) % K, path("y", 5): 0})
    mu = update(mt, (xs2,), (UnknownChange,), new)
    lu = update(lt, (xs2,), (UnknownChange,), new)
    _same_trace(mu[0], lu[0])
    assert mu[1] == pytest.approx(lu[1], abs=TOL)
    assert mu[3] == lu[3]
    assert mu[3][path("y", 0)] == YS[0]

    # regenerate: same generator state, same draws
    seed(5)
    mr = regenerate(mt, (XS,), (NoChange,), select(path("y", 2), path("y", 4)))
    seed(5)
    lr = regenerate(lt, (XS,), (NoChange,), select(path("y", 2), path("y", 4)))
    _same_trace(mr[0], lr[0])
    assert mr[1] == pytest.approx(lr[1], abs=TOL)
    sel = select(path("y", 1), path("y", 6))
    assert project(mt, sel) == pytest.approx(project(lt, sel), abs=TOL)


def test_map_categorical_gradients_match_loop_and_finite_differences() -> None:
    grads = {}
    for name, sub in (("map", Map(categorical)), ("loop", cat_loop)):
        model = _classifier(sub)
        trace, _ = generate(model, (XS,), _labels(YS))
        zero_param_grad(model, "w")
        (xs_grad,) = accumulate_param_gradients(trace, None, 0.5)
        grads[name] = (xs_grad, get_param_grad(model, "w"))
        (xs_grad2,), _, _ = choice_gradients(trace, selectall(), None)
        _close(xs_grad2, xs_grad)
    _close(grads["map"][0], grads["loop"][0])
    _close(grads["map"][1], grads["loop"][1])

    def loglik(w: np.ndarray) -> float:
        p = _softmax(XS @ w.reshape(D, K))
        return float(np.sum(np.log(p[np.arange(N), YS])))

    assert np.allclose(grads["map"][1], 0.5 * fd_grad(loglik, W0.ravel()).reshape(D, K),
                       atol=1e-6)


def test_map_normal_all_operations_match_loop() -> None:
    m_model, l_model = _regression(Map(normal)), _regression(normal_loop)
    seed(11)
    mt = simulate(m_model, (XS, 0.7))
    seed(11)
    lt = simulate(l_model, (XS, 0.7))
    _same_trace(mt, lt)
    cm = choicemap({"y": {0: 0.5, 2: -1.0}, "total": 0.3})
    seed(3)
    mg, mw = generate(m_model, (XS, 0.7), cm)
    seed(3)
    lg, lw = generate(l_model, (XS, 0.7), cm)
    _same_trace(mg, lg)
    assert mw == pytest.approx(lw, abs=TOL)

    mu = update(mg, (XS, 0.9), (NoChange, UnknownChange), choicemap({path("y", 1): 2.0}))
    lu = update(lg, (XS, 0.9), (NoChange, UnknownChange), choicemap({path("y", 1): 2.0}))
    _same_trace(mu[0], lu[0])
    assert mu[1] == pytest.approx(lu[1], abs=TOL) and mu[3] == lu[3]

    for sel in (selectall(), select(path("y", 2), "total"), select("y")):
        ma, mv, mgr = choice_gradients(mg, sel, np.linspace(-1, 1, N))
        la, lv, lgr = choice_gradients(lg, sel, np.linspace(-1, 1, N))
        _close(ma[0], la[0])
        assert mv == lv
        assert mgr.keys() == lgr.keys()
        for addr, g in lgr.leaves():
            assert mgr[addr] == pytest.approx(g, abs=TOL)

    for model, trace in ((m_model, mg), (l_model, lg)):
        zero_param_grad(model, "w")
        accumulate_param_gradients(trace, np.ones(N), 2.0)
    _close(get_param_grad(m_model, "w"), get_param_grad(l_model, "w"))


def test_map_normal_choice_gradients_against_finite_differences() -> None:
    mus, stds = np.array([0.1, -0.4, 2.0]), np.array([1.0, 0.5, 2.0])
    trace, _ = generate(Map(normal), (mus, stds), choicemap({0: 0.3, 1: 0.2, 2: 1.0}))
    (g_mu, g_std), values, grads = choice_gradients(trace, select(1), None)
    assert list(values.keys()) == [1]
    x = np.array([0.3, 0.2, 1.0])

    def lp(m: np.ndarray, s: np.ndarray, v: np.ndarray) -> float:
        return float(np.sum(-0.5 * ((v - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)))

    assert np.allclose(g_mu, fd_grad(lambda m: lp(m, stds, x), mus), atol=1e-6)
    assert np.allclose(g_std, fd_grad(lambda s: lp(mus, s, x), stds), atol=1e-6)
    assert grads[1] == pytest.approx(fd_grad(lambda v: lp(mus, stds, v), x)[1], abs=1e-6)


def test_map_vector_elements_broadcast_like_single_calls() -> None:
    # element i: normal(mus[i] (a D-vector), stds[i] (a scalar)) -> a D-vector value
    stds = np.array([0.5, 1.0, 2.0, 1.5, 0.7, 0.9, 1.1])
    seed(1)
    trace = simulate(Map(normal), (XS, stds))
    seed(1)
    singles = [normal(XS[i], stds[i]) for i in range(N)]
    for i in range(N):
        assert np.array_equal(trace[i], singles[i])
    expected = sum(normal.logpdf(singles[i], XS[i], stds[i]) for i in range(N))
    assert trace.get_score() == pytest.approx(expected, abs=TOL)
    g_x, g_s = accumulate_param_gradients(trace, None)
    for i in range(N):
        _, gx, gs = normal.logpdf_grad(singles[i], XS[i], stds[i])
        _close(g_x[i], gx)
        assert g_s[i] == pytest.approx(gs, abs=TOL)


def test_map_non_elementwise_and_list_arguments_go_element_by_element() -> None:
    alphas = [np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 4.0])]
    values = [np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.1, 0.8])]
    trace, w = generate(Map(dirichlet), (alphas,), choicemap({0: values[0], 1: values[1]}))
    expected = [dirichlet.logpdf(v, a) for v, a in zip(values, alphas)]
    assert w == pytest.approx(sum(expected), abs=TOL)
    (g_alpha,) = accumulate_param_gradients(trace, None)
    assert isinstance(g_alpha, list)
    for g, v, a in zip(g_alpha, values, alphas):
        _close(g, dirichlet.logpdf_grad(v, a)[1])
    # gamma over a list of floats: vectorized, gradients come back as a list
    trace, w = generate(Map(gamma), ([2.0, 3.0], [1.0, 0.5]), choicemap({0: 1.5, 1: 0.7}))
    assert w == pytest.approx(gamma.logpdf(1.5, 2.0, 1.0) + gamma.logpdf(0.7, 3.0, 0.5), abs=TOL)
    g_k, _ = accumulate_param_gradients(trace, None)
    assert isinstance(g_k, list)
    assert g_k[1] == pytest.approx(gamma.logpdf_grad(0.7, 3.0, 0.5)[1], abs=TOL)


def test_map_update_grows_and_shrinks_like_gen() -> None:
    p = np.full((3, 2), 0.5) * np.array([0.2, 1.8])
    trace, _ = generate(Map(bernoulli), (p[:, 0],), choicemap({0: True, 1: False, 2: True}))
    # shrink: element 2 is removed into the discard, its score leaves the weight
    small, w, diff, discard = update(trace, (p[:2, 0],), (UnknownChange,), choicemap())
    assert len(small.get_choices()) == 2 and discard == choicemap({2: True})
    assert w == pytest.approx(-np.log(0.1), abs=TOL) and diff is UnknownChange
    # grow with a constraint on the new element: it counts in the weight
    big, w, _, discard = update(small, (np.full(4, 0.3),), (UnknownChange,),
                                choicemap({3: True}))
    old = np.log(0.1) + np.log(0.9)
    assert w == pytest.approx(np.log(0.3) + np.log(0.7) - old + np.log(0.3), abs=TOL)
    assert discard.is_empty() and big[3] is True
    _, w, diff, _ = update(big, (np.full(4, 0.3),), (NoChange,), choicemap())
    assert w == 0.0 and diff is NoChange
    with pytest.raises(ValueError, match="no element visits"):
        update(big, (np.full(4, 0.3),), (NoChange,), choicemap({7: True}))
    with pytest.raises(ValueError, match="differ in length"):
        simulate(Map(normal), (np.zeros(3), np.ones(2)))
    w, retval = assess(Map(bernoulli), (np.full(2, 0.3),), choicemap({0: True, 1: True}))
    assert w == pytest.approx(2 * np.log(0.3)) and list(retval) == [True, True]
    with pytest.raises(KeyError):
        assess(Map(bernoulli), (np.full(2, 0.3),), choicemap({0: True}))


# ---- generative-function kernels ---------------------------------------------------------


@gen(params={"scale": np.array(1.3)})
def point(x: float, mu: float) -> Any:
    z = normal(mu, 1.0) @ "z"
    normal(z * x * param("scale"), 0.5) @ "obs"
    return z * x


@gen
def point_loop(xs: Any, mus: Any) -> Any:
    return [point(xs[i], mus[i]) @ i for i in range(len(xs))]


@gen
def points_model(xs: Any, mus: Any, sub: Any) -> Any:
    vals = sub(xs, mus * 2.0) @ "pts"
    normal(anp.sum(anp.array(vals)), 1.0) @ "sum"
    return vals


def test_map_gen_kernel_matches_loop_in_every_operation() -> None:
    xs, mus = np.array([0.5, -1.0, 2.0, 0.3]), np.array([0.1, 0.2, -0.3, 0.0])
    obs = choicemap({"pts": {i: {"obs": 0.1 * i} for i in range(4)}, "sum": 0.5})
    traces = {}
    for name, sub in (("map", Map(point)), ("loop", point_loop)):
        seed(9)
        traces[name] = generate(points_model, (xs, mus, sub), obs)
    (mt, mw), (lt, lw) = traces["map"], traces["loop"]
    _same_trace(mt, lt)
    assert mw == pytest.approx(lw, abs=TOL)
    assert mt[path("pts", 2, "obs")] == 0.2

    xs2 = xs + 0.25
    new = choicemap({path("pts", 1, "z"): 0.4})
    mu = update(mt, (xs2, mus, Map(point)), None, new)
    lu = update(lt, (xs2, mus, point_loop), None, new)
    _same_trace(mu[0], lu[0])
    assert mu[1] == pytest.approx(lu[1], abs=TOL) and mu[3] == lu[3]

    sel = select(path("pts", 0, "z"), path("pts", 3, "z"))
    seed(4)
    mr = regenerate(mt, None, None, sel)
    seed(4)
    lr = regenerate(lt, None, None, sel)
    _same_trace(mr[0], lr[0])
    assert mr[1] == pytest.approx(lr[1], abs=TOL)
    assert project(mt, sel) == pytest.approx(project(lt, sel), abs=TOL)

    results = {}
    for name, trace in (("map", mt), ("loop", lt)):
        zero_param_grad(point, "scale")
        arg_grads = accumulate_param_gradients(trace, None, 0.5)
        cg = choice_gradients(trace, select("pts"), None)
        results[name] = (arg_grads, float(get_param_grad(point, "scale")), cg)
    (ma, ms, mc), (la, ls, lc) = results["map"], results["loop"]
    _close(ma[0], la[0])
    _close(ma[1], la[1])
    assert ms == pytest.approx(ls, abs=TOL) and ms != 0.0
    _close(mc[0][0], lc[0][0])
    assert mc[1] == lc[1]
    for addr, g in lc[2].leaves():
        assert mc[2][addr] == pytest.approx(g, abs=TOL)


def test_map_rejects_bad_kernels_and_constraints() -> None:
    with pytest.raises(TypeError, match="kernel"):
        Map(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="vectors"):
        simulate(Map(normal), (0.0, 1.0))
    with pytest.raises(ValueError, match="no element visits"):
        generate(Map(normal), (np.zeros(2), np.ones(2)), choicemap({"a": 1.0}))
    assert repr(Map(normal)) == "Map(normal)"


# ---- the replay's direct path: choices on elements of a call's return value ---------------


def test_choices_on_elements_of_a_call_skip_autograd_with_the_same_gradients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gentf.dsl import _backprop
    from numpy_gen_fn import Linear

    direct_adds: list[Any] = []
    original = _backprop._Site.add_direct

    def counting(site: Any, k: int, idx: Any, grad: Any) -> None:
        direct_adds.append(idx)
        original(site, k, idx, grad)

    monkeypatch.setattr(_backprop._Site, "add_direct", counting)

    W = RNG.normal(size=(5, 3))
    x = RNG.normal(size=3)
    obs = RNG.normal(size=5)

    def model_of(kind: str, lin: Linear) -> Any:
        @gen
        def model(x: Any) -> Any:
            y = lin(x) @ "net"
            if kind == "map":
                Map(normal)(y, 0.5 * anp.ones(5)) @ "y"
                return y
            for i in range(3):  # elements: direct, or through autograd when multiplied
                normal(y[i] if kind == "direct" else y[i] * 1.0, 0.5) @ ("y", i)
            tail = y[3:] if kind == "direct" else y[3:] * 1.0
            normal(tail, np.array([0.5, 0.5])) @ "tail"
            return y

        return model

    results = {}
    for kind in ("direct", "autograd", "map"):
        lin = Linear(W)
        model = model_of(kind, lin)
        cm = (choicemap({"y": {i: obs[i] for i in range(5)}}) if kind == "map" else
              choicemap({**{("y", i): obs[i] for i in range(3)}, "tail": obs[3:]}))
        trace, w = generate(model, (x,), cm)
        (xg,) = accumulate_param_gradients(trace, np.ones(5), 0.3)
        (xg2,), _, _ = choice_gradients(trace, select(), np.ones(5))
        results[kind] = (w, xg, xg2, lin.grad.copy())
        # the direct path served the plain element reads (3 elements and a slice, twice)
        assert len(direct_adds) == (8 if kind == "direct" else 0), kind
        direct_adds.clear()
    for kind in ("autograd", "map"):
        w, xg, xg2, wg = results[kind]
        assert w == pytest.approx(results["direct"][0], abs=TOL)
        _close(xg, results["direct"][1])
        _close(xg2, results["direct"][2])
        _close(wg, results["direct"][3])
    # against the closed form: d/dW [sum log N(obs; Wx, 0.5) + sum(Wx)] = outer(r, x)
    r = (obs - W @ x) / 0.25 + 1.0
    _close(results["direct"][3], 0.3 * np.outer(r, x))
    _close(results["direct"][1], W.T @ r)


# ---- the batched fast paths: plain int indices, every element observed, cached batch ------


@pytest.mark.parametrize("key", [3, -1, True, np.int64(5), 1.0])
def test_map_refuses_each_kind_of_bad_index(key: Any) -> None:
    # Plain ints in range take a fast check; everything else must still be refused by name.
    labels = {0: 1, key: 1}  # (True and 1.0 would merge with a key 1 in a dict)
    with pytest.raises(ValueError, match="no element visits"):
        generate(Map(categorical), (np.full((3, 3), 1 / 3),), choicemap(labels))


def test_map_fully_observed_generate_and_gradients_match_the_general_path() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=7).astype(np.float32)
    ys = [int(v) for v in rng.integers(0, 4, size=7)]
    m = Map(categorical)
    trace, weight = generate(m, (probs,), choicemap(dict(enumerate(ys))))
    # All observed: the weight is the score; the general path (one element free) agrees on
    # the others' terms.
    expected = np.log(probs[np.arange(7), ys]).astype(np.float64)  # float32 terms
    np.testing.assert_array_equal(trace.scores, expected)
    assert weight == trace.get_score() == float(np.sum(expected))
    _, w6 = generate(m, (probs,), choicemap(dict(list(enumerate(ys))[:6])))
    assert w6 == float(np.sum(expected[:6]))
    # The gradients from the batch kept at scoring equal those computed afresh.
    kept = m._dist_grads(trace)
    trace._batch = None
    fresh = m._dist_grads(trace)
    assert kept[0] is None and fresh[0] is None
    np.testing.assert_array_equal(kept[1][0], fresh[1][0])
    assert kept[1][0].dtype == np.float32
    g = np.zeros((7, 4))
    g[np.arange(7), ys] = 1 / probs[np.arange(7), ys]
    np.testing.assert_allclose(kept[1][0], g, rtol=1e-6)


def test_batched_categorical_scores_invalid_indices_as_impossible() -> None:
    probs = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])
    for values in (np.array([0, 3, 1]), np.array([-1, 2, 1]), np.array([0.0, 1.5, 2.0])):
        terms = categorical.logpdf_terms(values, probs)
        bad = ~np.isin(values, [0, 1, 2])
        assert np.all(np.isneginf(terms[bad]))
        ok = np.flatnonzero(~bad)
        np.testing.assert_array_equal(
            terms[ok], np.log(probs[ok, values[ok].astype(int)]))
        _, g = categorical.logpdf_terms_grad(values, probs)
        assert np.all(g[bad] == 0.0)
        np.testing.assert_array_equal(g[ok, values[ok].astype(int)],
                                      1 / probs[ok, values[ok].astype(int)])
    valid = np.array([2, 0, 1])
    assert categorical.logpdf(valid, probs) == pytest.approx(
        np.log(0.5) + np.log(0.1) + np.log(0.2))


@pytest.mark.parametrize("keys", [(0, 2, 5), (0, 1, 2.0), (0, 1, -1)])
def test_map_refuses_a_bad_index_among_as_many_keys_as_elements(keys: tuple[Any, ...]) -> None:
    # As many keys as elements: the one-pass read of a fully observed vector must not
    # take a wrong key for an element.
    with pytest.raises(ValueError, match="no element visits"):
        generate(Map(categorical), (np.full((3, 3), 1 / 3),), choicemap(dict.fromkeys(keys, 1)))


def test_choicemap_dense_values_only_for_exactly_the_int_keys_0_to_n() -> None:
    assert choicemap({1: "b", 0: "a", 2: "c"}).dense_values(3) == ["a", "b", "c"]
    assert choicemap({}).dense_values(0) == []
    assert choicemap({0: 1, 1: 2}).dense_values(3) is None            # too few
    assert choicemap({0: 1, 1: 2, 3: 4}).dense_values(3) is None      # a gap
    assert choicemap({0: 1, 1: 2, np.int64(2): 3}).dense_values(3) is None  # not a plain int
    assert choicemap({0: 1, 1: 2, 2: {"z": 3}}).dense_values(3) is None  # a submap


def test_categorical_reuses_a_labels_positions_only_for_the_same_labels_and_shape() -> None:
    """The flat positions picked by read-only labels are kept for the next call with the
    same labels and probabilities' shape; other labels, another shape or writable labels
    are picked afresh (each score equals numpy's)."""
    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.ones(4), size=6)
    wider = rng.dirichlet(np.ones(5), size=6)
    labels = np.array([0, 3, 1, 2, 3, 0])
    labels.flags.writeable = False
    other = np.array([1, 1, 0, 2, 3, 3])
    other.flags.writeable = False
    writable = np.array([2, 0, 0, 1, 3, 1])

    def expected(p: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.log(p[np.arange(len(y)), y])

    for p, y in ((probs, labels), (probs, labels), (probs, other), (wider, other),
                 (probs, writable), (probs, labels)):
        np.testing.assert_array_equal(categorical.logpdf_terms(y, p), expected(p, y))
        g = np.zeros_like(p)
        g[np.arange(6), y] = 1 / p[np.arange(6), y]
        np.testing.assert_array_equal(categorical.logpdf_terms_grad(y, p)[1], g)
    assert categorical._last_at is not None and categorical._last_at[0] is labels
    writable[:] = [3, 3, 3, 3, 3, 3]  # changed after use: never kept, so scored as it is now
    np.testing.assert_array_equal(categorical.logpdf_terms(writable, probs),
                                  expected(probs, writable))
    with pytest.raises(ValueError, match="need a value of shape"):
        categorical.logpdf_terms(labels, probs[:5])  # kept labels, another shape: checked


def test_map_one_argument_batches_score_and_differentiate_as_the_general_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lone argument already aligned with the values (probs (N, K) and N labels, N rates
    and N values) is scored and differentiated without the general path's alignment and
    broadcasting: the same bits and dtypes as that path, value gradients included."""
    from gentf.dsl import exponential, poisson
    from gentf.dsl._map_combinator import Map as MapClass

    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.ones(5), size=9).astype(np.float32)
    rates = rng.uniform(0.5, 2.0, size=9)
    cases = [
        (categorical, (probs,), [int(v) for v in rng.integers(0, 5, size=9)]),
        (exponential, (rates,), [float(v) for v in rng.exponential(1.0, size=9)]),
        (poisson, (rates.astype(np.float32),), [int(v) for v in rng.poisson(1.0, size=9)]),
        (normal, (rates, rates), [float(v) for v in rng.normal(size=9)]),  # two: never short
    ]
    taken: list[bool] = []
    original = MapClass._one_batch

    def spying(self: Any, values: Any, args: tuple[Any, ...]) -> Any:
        out = original(self, values, args)
        taken.append(out is not None)
        return out

    def run(kernel: Any, args: tuple[Any, ...], ys: list[Any]) -> tuple[Any, ...]:
        trace, weight = generate(Map(kernel), args, choicemap(dict(enumerate(ys))))
        value_grads, arg_grads = Map(kernel)._dist_grads(trace)
        return trace.scores, weight, value_grads, arg_grads

    for kernel, args, ys in cases:
        taken.clear()
        monkeypatch.setattr(MapClass, "_one_batch", spying)
        short = run(kernel, args, ys)
        assert taken == [len(args) == 1]
        monkeypatch.setattr(MapClass, "_one_batch", lambda self, values, args: None)
        general = run(kernel, args, ys)
        np.testing.assert_array_equal(short[0], general[0])
        assert short[1] == general[1]
        for a, b in [(short[2], general[2]), *zip(short[3], general[3])]:
            assert (a is None) == (b is None)
            if a is not None:
                assert np.asarray(a).dtype == np.asarray(b).dtype
                np.testing.assert_array_equal(a, b)
    assert general[2] is not None  # normal's value gradient was compared
