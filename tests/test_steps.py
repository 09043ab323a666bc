"""The step maths of sampling/ on its own, and against ComfyUI's own samplers."""
import math

import comfy.samplers
import pytest
import torch

from fixtures import EMPTY, PARAMETERIZATIONS, gmm_model
from sde_edit_pack.adapter.guided import run_sampler
from sde_edit_pack.adapter.sampler import SDESampler
from sde_edit_pack.nodes.sde_sampler import SDESamplerEta
from sde_edit_pack.sampling.noise_levels import NoiseLevels
from sde_edit_pack.sampling.steps import forward_step, reverse_step, step_coefficients


@pytest.mark.parametrize("kind", ["ve", "flow"])
def test_eta_one_is_the_ddpm_posterior(kind):
    """η = 1: x_u | x_t, x0 is the exact Gaussian posterior of the forward process."""
    levels = NoiseLevels(kind)
    t, u = (0.8, 0.5) if kind == "flow" else (3.0, 1.2)
    a_t, s_t, a_u, s_u = levels.a(t), levels.s(t), levels.a(u), levels.s(u)
    # Forward: x_u = a_u x0 + s_u z1; x_t = (a_t/a_u) x_u + sqrt(s_t² - (a_t s_u / a_u)²) z2.
    k = a_t / a_u
    v = s_t ** 2 - (k * s_u) ** 2
    post_var = 1 / (1 / s_u ** 2 + k * k / v)  # Var(x_u | x_t, x0)
    x0, xt = 0.7, -1.3
    post_mean = post_var * (a_u * x0 / s_u ** 2 + k * xt / v)
    c_x0, c_eps, c_noise = step_coefficients(levels, t, u, 1.0)
    eps_hat = (xt - a_t * x0) / s_t
    assert c_x0 * x0 + c_eps * eps_hat == pytest.approx(post_mean, rel=1e-12)
    assert c_noise ** 2 == pytest.approx(post_var, rel=1e-12)


def test_flow_step_from_pure_noise_is_finite():
    """At a flow model's σ = 1 (a = 0) the step must not divide by a."""
    levels = NoiseLevels("flow")
    x, x0, w = torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4)
    for eta in (0.0, 0.5, 1.0):
        out = reverse_step(levels, x, x0, 1.0, 0.9, eta, w)
        assert torch.isfinite(out).all()
    # η = 1 from σ = 1: the posterior forgets x entirely: x_u = a_u·x0 + s_u·w.
    assert torch.allclose(reverse_step(levels, x, x0, 1.0, 0.9, 1.0, w), 0.1 * x0 + 0.9 * w, atol=1e-6)


@pytest.mark.parametrize("kind,t,u", [("ve", 0.1, 5.0), ("flow", 0.2, 0.9), ("flow", 0.0, 1.0)])
def test_forward_step_has_the_forward_marginal(kind, t, u):
    levels = NoiseLevels(kind)
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = torch.full((n,), 0.5, dtype=torch.float64)
    x_t = levels.noised(x0, torch.randn(n, generator=g, dtype=torch.float64), t)
    x_u = forward_step(levels, x_t, t, u, torch.randn(n, generator=g, dtype=torch.float64))
    # x_u must be a_u·x0 + s_u·ε: mean a_u·0.5, std s_u; tolerance 5 standard errors.
    se = levels.s(u) / math.sqrt(n)
    assert abs(x_u.mean().item() - levels.a(u) * 0.5) < 5 * se
    assert abs(x_u.std().item() - levels.s(u)) < 5 * levels.s(u) / math.sqrt(2 * n)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_ode_equals_comfyui_euler(parameterization):
    """η = 0 is the probability-flow ODE's Euler/DDIM step: it must agree with ComfyUI's own `euler`
    sampler (an independent implementation) run on the same model, noise and schedule."""
    model = gmm_model(parameterization)
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "simple", 30)[5:].cpu()  # denoise < 1: no max_denoise rescaling
    latent = {"samples": torch.randn(8, 1, 2, 2, generator=torch.Generator().manual_seed(1))}
    ours = run_sampler(model, EMPTY, EMPTY, 1.0, latent, 3, sigmas, SDESampler(eta=0.0))["samples"]
    theirs = run_sampler(model, EMPTY, EMPTY, 1.0, latent, 3, sigmas, comfy.samplers.sampler_object("euler"))["samples"]
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ the steppers, one registry

def test_the_loops_step_with_the_registry_and_refuse_any_other_order():
    """`sampling.steppers.STEPPERS` is the one place the orders are: the loop and Cycle-SDE's replay step
    with its entries (the same step as `steps.reverse_step` for order 1) and refuse an order it does not
    list (before, replay ran the second-order step for any order but 1); the nodes' order inputs take
    their bounds and names from it."""
    from sde_edit_pack.nodes.inpaint import SDEInpaint
    from sde_edit_pack.sampling.cycle import forward_chain, replay
    from sde_edit_pack.sampling.loop import sample
    from sde_edit_pack.sampling.noise import StepNoise
    from sde_edit_pack.sampling.steppers import ORDERS, STEPPERS
    levels, generator = NoiseLevels("ve"), torch.Generator().manual_seed(0)
    x, x0 = torch.randn(3, 2, generator=generator), torch.randn(3, 2, generator=generator)
    sigmas = [2.0, 1.0, 0.5, 0.0]
    noise = StepNoise(1, (3, 2))
    denoise = lambda x, sigma: x0.repeat(len(x) // len(x0), 1)  # noqa: E731 (replay: edited and recorded at once)
    assert torch.equal(sample(denoise, levels, x, sigmas[:2], 0.0, order=1), reverse_step(levels, x, x0, 2.0, 1.0, 0.0))
    chain = forward_chain(levels, x0, sigmas[::-1], noise)
    for order in ORDERS:  # every order listed samples, and replays the recorded chain back to its start
        assert torch.isfinite(sample(denoise, levels, x, sigmas, 1.0, noise, order=order)).all()
        torch.testing.assert_close(replay(denoise, levels, chain[-1], chain, sigmas[::-1], order=order), x0)
    for order in (0, 3, True):
        with pytest.raises(ValueError, match="order must be one of 1, 2"):
            sample(denoise, levels, x, sigmas, 1.0, noise, order=order)
        with pytest.raises(ValueError, match="order must be one of 1, 2"):
            replay(denoise, levels, chain[-1], chain, sigmas[::-1], order=order)
    for node in (SDEInpaint, SDESamplerEta):
        spec = next(i for i in node.define_schema().inputs if i.id == "order")
        assert (spec.min, spec.max, spec.default) == (min(ORDERS), max(ORDERS), 1)
        assert all(STEPPERS[order].name in spec.tooltip for order in ORDERS)
