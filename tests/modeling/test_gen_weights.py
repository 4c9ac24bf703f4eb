"""@gen functions: every interface operation's weight against closed forms (normal-normal)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from gentf.dsl import gen, normal, param
from gentf.gfi import (
    EmptyChoiceMap,
    NoChange,
    UnknownChange,
    assess,
    choicemap,
    generate,
    path,
    project,
    propose,
    regenerate,
    select,
    selectall,
    simulate,
    update,
)

S0, S = 2.0, 0.5


@gen
def nn(n: int) -> float:
    mu = normal(0.0, S0) @ "mu"
    for i in range(n):
        normal(mu, S) @ ("y", i)
    return mu


def lp_mu(mu: float) -> float:
    return float(st.norm.logpdf(mu, 0.0, S0))


def lp_ys(ys: list[float], mu: float) -> float:
    return float(st.norm.logpdf(ys, mu, S).sum())


YS = [0.3, 1.1, 0.8]
OBS = choicemap({("y", i): y for i, y in enumerate(YS)})


def test_simulate_score_and_choices() -> None:
    trace = simulate(nn, (3,))
    mu = trace["mu"]
    ys = [trace[("y", i)] for i in range(3)]
    assert trace.get_score() == pytest.approx(lp_mu(mu) + lp_ys(ys, mu))
    assert set(trace.get_choices()) == {"mu", ("y", 0), ("y", 1), ("y", 2)}
    assert trace.get_retval() == mu == trace[()]
    assert trace.get_args() == (3,)


def test_generate_partial_and_full_constraints() -> None:
    trace, weight = generate(nn, (3,), OBS)
    mu = trace["mu"]
    assert [trace[("y", i)] for i in range(3)] == YS
    assert weight == pytest.approx(lp_ys(YS, mu))
    full = OBS.merge(choicemap({"mu": 0.4}))
    trace, weight = generate(nn, (3,), full)
    assert weight == pytest.approx(lp_mu(0.4) + lp_ys(YS, 0.4))
    assert trace.get_score() == pytest.approx(weight)
    _, w0 = generate(nn, (3,), EmptyChoiceMap())
    assert w0 == 0.0


def test_assess_is_the_joint_and_checks_completeness() -> None:
    full = OBS.merge(choicemap({"mu": -0.2}))
    weight, retval = assess(nn, (3,), full)
    assert weight == pytest.approx(lp_mu(-0.2) + lp_ys(YS, -0.2))
    assert retval == -0.2
    with pytest.raises(KeyError, match="mu"):
        assess(nn, (3,), OBS)
    with pytest.raises(ValueError, match="never visited"):
        assess(nn, (2,), full)


def test_propose_weight_is_score() -> None:
    choices, weight, retval = propose(nn, (2,))
    assert weight == pytest.approx(lp_mu(choices["mu"]) + lp_ys(
        [choices[("y", 0)], choices[("y", 1)]], choices["mu"]))
    assert retval == choices["mu"]


def test_update_constraint_weight_and_discard() -> None:
    trace, _ = generate(nn, (3,), OBS.merge(choicemap({"mu": 0.1})))
    new, weight, retdiff, discard = update(trace, (3,), (NoChange,), choicemap({"mu": 0.9}))
    assert new["mu"] == 0.9 and [new[("y", i)] for i in range(3)] == YS
    assert weight == pytest.approx(
        lp_mu(0.9) + lp_ys(YS, 0.9) - lp_mu(0.1) - lp_ys(YS, 0.1))
    assert weight == pytest.approx(new.get_score() - trace.get_score())
    assert discard == choicemap({"mu": 0.1})
    assert retdiff is UnknownChange
    assert trace["mu"] == 0.1  # the old trace is untouched


def test_update_with_changed_args_removes_and_adds_choices() -> None:
    trace, _ = generate(nn, (3,), OBS.merge(choicemap({"mu": 0.1})))
    fewer, weight, _, discard = update(trace, (2,), (UnknownChange,), EmptyChoiceMap())
    assert weight == pytest.approx(-float(st.norm.logpdf(YS[2], 0.1, S)))
    assert discard == choicemap({("y", 2): YS[2]})
    assert ("y", 2) not in fewer.get_choices()
    more, weight, _, discard = update(fewer, (4,), (UnknownChange,), choicemap({("y", 3): 2.0}))
    assert more[("y", 3)] == 2.0
    # ("y", 2) is new and unconstrained (sampled, no weight); ("y", 3) new and constrained
    assert weight == pytest.approx(float(st.norm.logpdf(2.0, 0.1, S)))
    assert discard.is_empty()


def test_update_refuses_unvisited_constraints() -> None:
    trace = simulate(nn, (2,))
    with pytest.raises(ValueError, match=r"never visited.*\('y', 5\)"):
        update(trace, None, None, choicemap({("y", 5): 1.0}))
    with pytest.raises(ValueError, match="submap"):
        update(trace, None, None, choicemap({path("mu", "x"): 1.0}))


def test_regenerate_weight() -> None:
    trace, _ = generate(nn, (3,), OBS.merge(choicemap({"mu": 0.1})))
    new, weight, _ = regenerate(trace, (3,), (NoChange,), select("mu"))
    mu_new = new["mu"]
    assert mu_new != 0.1
    assert weight == pytest.approx(lp_ys(YS, mu_new) - lp_ys(YS, 0.1))
    same, weight, _ = regenerate(trace, None, None, select())
    assert weight == pytest.approx(0.0) and same["mu"] == 0.1
    # Removed choices do not count in regenerate's weight.
    _, weight, _ = regenerate(trace, (1,), (UnknownChange,), select())
    assert weight == pytest.approx(0.0)


def test_project() -> None:
    trace, _ = generate(nn, (3,), OBS.merge(choicemap({"mu": 0.1})))
    assert project(trace, select("mu")) == pytest.approx(lp_mu(0.1))
    assert project(trace, selectall()) == pytest.approx(trace.get_score())
    assert project(trace, select()) == 0.0


@gen
def outer(n: int) -> float:
    a = nn(n) @ "inner"
    return normal(a, 1.0) @ "z"


def test_nested_calls() -> None:
    constraints = choicemap({"inner": {"mu": 0.5, ("y", 0): 1.0}, "z": 0.0})
    trace, weight = generate(outer, (1,), constraints)
    assert trace[path("inner", "mu")] == 0.5
    assert trace["inner"] == 0.5  # a call's address gives its return value
    assert trace.get_choices()["inner"]["mu"] == 0.5
    expected = lp_mu(0.5) + lp_ys([1.0], 0.5) + float(st.norm.logpdf(0.0, 0.5, 1.0))
    assert weight == pytest.approx(expected)
    new, w, _, discard = update(trace, None, None, choicemap({path("inner", "mu"): 0.7}))
    assert discard == choicemap({path("inner", "mu"): 0.5})
    assert w == pytest.approx(new.get_score() - trace.get_score())
    assert project(trace, select(path("inner", "mu"))) == pytest.approx(lp_mu(0.5))
    regen, w, _ = regenerate(trace, None, None, select("inner"))
    assert w == pytest.approx(float(st.norm.logpdf(0.0, regen["inner"], 1.0))
                              - float(st.norm.logpdf(0.0, 0.5, 1.0)))
    with pytest.raises(ValueError, match="call"):
        generate(outer, (1,), choicemap({"inner": 3.0}))


def test_duplicate_address_refused() -> None:
    @gen
    def dup() -> None:
        normal(0.0, 1.0) @ "x"
        normal(0.0, 1.0) @ "x"

    with pytest.raises(ValueError, match="'x' was used twice"):
        simulate(dup, ())


def test_untraced_calls() -> None:
    assert isinstance(nn(2), float)  # outside a model: runs, returns the return value

    @gen
    def body() -> float:
        u = nn(1)  # unaddressed: runs untraced at once, as in Gen
        assert isinstance(u, float)
        v = nn(1).untraced()  # the explicit spelling
        return u + v + normal(0.0, 1.0) @ "x"

    trace = simulate(body, ())
    assert set(trace.get_choices()) == {"x"}
    assert trace.get_score() == pytest.approx(float(st.norm.logpdf(trace["x"])))


def test_pending_call_errors() -> None:
    @gen
    def bad() -> None:
        "x" @ normal(0.0, 1.0)

    with pytest.raises(TypeError, match="address second"):
        simulate(bad, ())


def test_params_read_inside_and_errors() -> None:
    @gen(params={"b": 1.5})
    def shifted() -> float:
        return normal(param("b"), 1.0) @ "x"

    _, w = generate(shifted, (), choicemap({"x": 1.5}))
    assert w == pytest.approx(float(st.norm.logpdf(0.0)))
    with pytest.raises(RuntimeError, match="only inside a @gen body"):
        param("b")

    @gen
    def missing() -> float:
        return param("nope")

    with pytest.raises(KeyError, match="no parameter 'nope'"):
        simulate(missing, ())


def test_update_passes_nochange_to_callees_with_unchanged_args() -> None:
    from numpy_gen_fn import Linear

    seen: list[tuple[object, ...]] = []

    class Recording(Linear):
        def update(self, trace, args, argdiffs, constraints):  # type: ignore[no-untyped-def]
            seen.append(tuple(argdiffs))
            return super().update(trace, args, argdiffs, constraints)

    net = Recording(np.eye(2), dtype=np.float32)

    @gen
    def m(x: np.ndarray) -> None:
        net(x) @ "net"
        normal(0.0, 1.0) @ "z"

    x = np.array([1.0, 2.0])
    trace = simulate(m, (x,))
    update(trace, (x.copy(),), (UnknownChange,), choicemap({"z": 0.5}))
    update(trace, (x + 1,), (UnknownChange,), EmptyChoiceMap())
    assert seen == [(NoChange,), (UnknownChange,)]


def test_subclass_untraced_call_override_still_traces_inside_models() -> None:
    from numpy_gen_fn import Linear

    class Direct(Linear):
        def untraced_call(self, args: tuple[object, ...]) -> object:
            return "direct"  # its own untraced call

    net = Direct(np.eye(2))
    assert net(np.ones(2)) == "direct"

    @gen
    def m() -> object:
        traced = net(np.ones(2)) @ "net"
        assert isinstance(net(np.ones(2)), str)  # unaddressed: its own untraced call
        return traced, net(np.ones(2)).untraced()

    traced, untraced = simulate(m, ()).get_retval()
    assert np.allclose(traced, [1.0, 1.0]) and untraced == "direct"


def test_gfi_exports_are_sorted_and_complete() -> None:
    import gentf.dsl
    import gentf.gfi
    import gentf.inference

    for module in (gentf.gfi, gentf.dsl, gentf.inference):
        names = module.__all__
        assert names == sorted(names)
        assert all(hasattr(module, n) for n in names)
        public = {n for n in vars(module) if not n.startswith("_")
                  and not isinstance(getattr(module, n), type(module))}
        assert public <= set(names) | {"annotations"}, public - set(names)


def test_a_failing_body_leaves_no_handler_behind() -> None:
    @gen
    def broken() -> None:
        normal(0.0, 1.0) @ "x"
        raise ZeroDivisionError("inside the body")

    with pytest.raises(ZeroDivisionError):
        simulate(broken, ())
    assert isinstance(normal(0.0, 1.0), float)  # outside a model again: a plain sample
