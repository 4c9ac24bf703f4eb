"""Gradients of @gen functions: finite differences, scale factors, autograd pitfalls."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from fd import fd_grad
from gentf.dsl import categorical, gamma, gen, get_param, get_param_grad, normal, param, set_param
from gentf.gfi import (
    accumulate_param_gradients,
    assess,
    choice_gradients,
    choicemap,
    generate,
    path,
    select,
    selectall,
    simulate,
)
from numpy_gen_fn import Linear

W0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]) / 10


def make_model(net: Linear) -> Any:
    @gen(params={"scale": np.array(0.7)})
    def inner(mu: np.ndarray) -> Any:
        s = param("scale")
        z = normal(mu * s, 1.0) @ "z"
        return anp.tanh(z)

    @gen(params={"theta": np.array([0.3, -0.4, 0.2])})
    def model(x: np.ndarray, k: int) -> Any:
        theta = param("theta")
        h = net(x * theta) @ "net"                     # a deterministic callee
        a = inner(h) @ "inner"                        # a @gen callee with its own param
        b = normal(anp.sum(a) + x[0], 0.5) @ "b"
        g = gamma(anp.exp(theta[0]), 1.0 + x[1] ** 2) @ "g"
        probs = anp.exp(h) / anp.sum(anp.exp(h))
        categorical(probs) @ "c"                      # a discrete choice
        return b * a + g

    return inner, model


def _setup() -> tuple[Linear, Any, Any, Any, np.ndarray]:
    net = Linear(W0)
    inner, model = make_model(net)
    x = np.array([0.5, -1.2, 0.8])
    trace = simulate(model, (x, 3))
    return net, inner, model, trace, x


def _objective(model: Any, x: np.ndarray, choices: Any, retval_grad: np.ndarray) -> float:
    weight, retval = assess(model, (x, 3), choices)
    return float(weight + np.sum(retval * retval_grad))


def test_choice_gradients_match_finite_differences() -> None:
    net, _, model, trace, x = _setup()
    choices = trace.get_choices()
    retval_grad = np.array([0.3, -1.1])
    sel = select("b", "g", path("inner", "z"), "c")
    (x_grad, k_grad), values, grads = choice_gradients(trace, sel, retval_grad)
    assert k_grad is None
    assert np.allclose(x_grad, fd_grad(lambda v: _objective(model, v, choices, retval_grad), x),
                       rtol=1e-5, atol=1e-6)
    assert set(values) == {"b", "g", "inner"} and "c" not in grads  # discrete: skipped
    for addr in ("b", "g", path("inner", "z")):
        def f(v: np.ndarray, addr: Any = addr) -> float:
            c = choices.copy()
            c = choicemap({a: (v if a == addr else val) for a, val in c.leaves()})
            return _objective(model, x, c, retval_grad)

        assert np.allclose(grads[addr], fd_grad(f, choices[addr]), rtol=1e-5, atol=1e-6), addr
        assert np.array_equal(values[addr], choices[addr])
    # parameters untouched
    assert not get_param_grad(model, "theta").any() and not net.grad.any()
    assert net.calls == {"accumulate": 0, "choice_gradients": 1}


def test_accumulate_param_gradients_match_finite_differences() -> None:
    net, inner, model, trace, x = _setup()
    choices = trace.get_choices()
    retval_grad = np.array([-0.5, 0.25])
    arg_grads = accumulate_param_gradients(trace, retval_grad, 1.0)
    theta0 = np.array(get_param(model, "theta"))

    def f_theta(v: np.ndarray) -> float:
        set_param(model, "theta", v)
        try:
            return _objective(model, x, choices, retval_grad)
        finally:
            set_param(model, "theta", theta0)

    def f_scale(v: np.ndarray) -> float:
        set_param(inner, "scale", v)
        try:
            return _objective(model, x, choices, retval_grad)
        finally:
            set_param(inner, "scale", 0.7)

    def f_w(v: np.ndarray) -> float:
        old, net.W = net.W, v
        try:
            return _objective(model, x, choices, retval_grad)
        finally:
            net.W = old

    assert np.allclose(get_param_grad(model, "theta"), fd_grad(f_theta, theta0), rtol=1e-5, atol=1e-6)
    assert np.allclose(get_param_grad(inner, "scale"), fd_grad(f_scale, np.array(0.7)),
                       rtol=1e-5, atol=1e-6)
    assert np.allclose(net.grad, fd_grad(f_w, W0), rtol=1e-5, atol=1e-6)
    assert np.allclose(arg_grads[0], fd_grad(lambda v: _objective(model, v, choices, retval_grad), x),
                       rtol=1e-5, atol=1e-6)
    assert net.calls == {"accumulate": 1, "choice_gradients": 0}


def test_scale_factor_scales_params_at_every_level_not_arg_grads() -> None:
    net, inner, model, trace, _ = _setup()
    g1 = accumulate_param_gradients(trace, None, 1.0)
    theta_1 = get_param_grad(model, "theta")
    scale_1 = get_param_grad(inner, "scale")
    w_1 = net.grad.copy()
    g3 = accumulate_param_gradients(trace, None, -2.5)
    assert np.allclose(g1[0], g3[0])  # argument gradients are never scaled
    assert np.allclose(get_param_grad(model, "theta"), theta_1 * (1 - 2.5))
    assert np.allclose(get_param_grad(inner, "scale"), scale_1 * (1 - 2.5))
    assert np.allclose(net.grad, w_1 * (1 - 2.5))
    assert net.scales == [1.0, -2.5]


def test_callee_on_untraced_inputs_is_still_visited() -> None:
    # Pitfall: nothing the callee sees is tracked (constant data, no params in the caller).
    net = Linear(W0)

    @gen
    def model(xs: list[float]) -> None:
        h = net(np.array([1.0, 2.0, 3.0])) @ "net"
        normal(h[0], 1.0) @ "y"

    trace, _ = generate(model, ([1.0],), choicemap({"y": 2.0}))
    accumulate_param_gradients(trace)
    assert net.calls["accumulate"] == 1
    # d/dW log N(2; (W x)[0], 1) = (2 - h0) * x in row 0
    h0 = float(W0[0] @ [1.0, 2.0, 3.0])
    assert np.allclose(net.grad, [[(2.0 - h0) * 1, (2.0 - h0) * 2, (2.0 - h0) * 3], [0, 0, 0]])


def test_callee_with_unused_output_is_still_visited() -> None:
    net = Linear(W0)

    @gen(params={"w": np.ones(3)})
    def model() -> float:
        net(param("w")) @ "net"  # output never used
        return normal(0.0, 1.0) @ "y"

    trace = simulate(model, ())
    accumulate_param_gradients(trace, 1.0, 2.0)
    assert net.calls["accumulate"] == 1
    assert np.allclose(net.retval_grads[0], 0.0)
    assert not get_param_grad(model, "w").any()


def test_float32_callee_gradients_are_cast() -> None:
    net = Linear(W0, dtype=np.float32)

    @gen
    def model(x: np.ndarray) -> None:
        h = net(x) @ "net"
        assert h.dtype == np.float32 or not isinstance(h, np.ndarray)
        normal(h, 1.0) @ "y"

    x = np.array([0.5, -1.0, 2.0])
    trace, _ = generate(model, (x,), choicemap({"y": np.array([1.0, 0.0])}))
    (x_grad,), _, _ = choice_gradients(trace, select(), None)
    assert x_grad.dtype == np.float64
    assert net.retval_grads[0].dtype == np.float32  # cotangent matches the callee's output
    h = (W0 @ x).astype(np.float32).astype(np.float64)
    assert np.allclose(x_grad, W0.T @ (np.array([1.0, 0.0]) - h), rtol=1e-5)


def test_one_callee_call_per_call_site() -> None:
    net = Linear(W0)

    @gen(params={"w": np.ones(3)})
    def model() -> None:
        for i in range(3):
            h = net(param("w") * (i + 1)) @ ("net", i)
            normal(anp.sum(h), 1.0) @ ("y", i)
            normal(h[0] * 2, 1.0) @ ("z", i)  # the output used twice

    trace = simulate(model, ())
    accumulate_param_gradients(trace)
    assert net.calls["accumulate"] == 3


def test_in_place_write_error_says_why() -> None:
    @gen(params={"w": np.ones(2)})
    def model() -> None:
        buf = np.zeros(2)
        buf[0] = param("w")[0]
        normal(buf[0], 1.0) @ "y"

    trace = simulate(model, ())
    with pytest.raises(Exception) as info:
        accumulate_param_gradients(trace)
    assert "in place" in "".join(getattr(info.value, "__notes__", []))


def test_container_argument_with_gradients_refused() -> None:
    net = Linear(W0)

    @gen(params={"w": np.ones(3)})
    def model() -> None:
        net([param("w")[0], 1.0, 2.0]) @ "net"

    trace = simulate(model, ())
    with pytest.raises(TypeError, match="container"):
        accumulate_param_gradients(trace)


def test_retval_grad_shape_checked() -> None:
    @gen
    def model(x: np.ndarray) -> Any:
        return normal(x, 1.0) @ "y"

    trace = simulate(model, (np.zeros(2),))
    with pytest.raises(ValueError, match="shape"):
        choice_gradients(trace, selectall(), np.zeros(3))
    (xg,), _, grads = choice_gradients(trace, selectall(), np.ones(2))
    y = trace["y"]
    assert np.allclose(xg, y)  # d/dx log N(y; x, 1) = y - x, x = 0
    assert np.allclose(grads["y"], -y + 1.0)
