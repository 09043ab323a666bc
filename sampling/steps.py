"""One reverse step with η ∈ [0, 1] and one forward noising step, on the levels of `NoiseLevels`.

Writing S = s/a (the VE noise level of x/a), the DDIM family of Song et al. 2021 (arXiv 2010.02502)
in VE form is, for a step from level t down to level u with prediction x0 and ε̂ = (x − a_t·x0)/s_t,

    τ   = η · S_u · sqrt(1 − (S_u/S_t)²)
    x_u = a_u·(x0 + sqrt(S_u² − τ²)·ε̂ + τ·w),   w ~ N(0, I)

η = 0 is the deterministic DDIM / probability-flow ODE step, η = 1 the DDPM posterior (ancestral)
step of the reverse SDE. Below it is written with a_u·S_u = s_u and r = S_u/S_t = s_u·a_t/(a_u·s_t),
which stays finite at a flow model's σ = 1 (a_t = 0, r = 0) and at the last step (s_u = 0).
"""
import math

from .noise_levels import NoiseLevels


def step_coefficients(levels: NoiseLevels, sigma_t: float, sigma_u: float, eta: float):
    """(c_x0, c_eps, c_noise) of x_u = c_x0·x0 + c_eps·ε̂ + c_noise·w for a step t → u, u < t."""
    a_t, s_t = levels.a(sigma_t), levels.s(sigma_t)
    a_u, s_u = levels.a(sigma_u), levels.s(sigma_u)
    r = 0.0 if s_u == 0.0 else s_u * a_t / (a_u * s_t)
    fresh = 1.0 - r * r  # share of the variance at u that the SDE draws anew, before η
    c_noise = s_u * eta * math.sqrt(fresh)
    c_eps = s_u * math.sqrt(max(1.0 - eta * eta * fresh, 0.0))
    return a_u, c_eps, c_noise


def predicted_noise(levels: NoiseLevels, x, x0, sigma_t: float):
    """ε̂ = (x − a_t·x0) / s_t, the noise that the prediction x0 implies."""
    return (x - levels.a(sigma_t) * x0) / levels.s(sigma_t)


def step_mean(levels: NoiseLevels, x, x0, sigma_t: float, sigma_u: float, eta: float):
    """The deterministic part of the step t → u and the scale of its fresh noise."""
    c_x0, c_eps, c_noise = step_coefficients(levels, sigma_t, sigma_u, eta)
    mean = c_x0 * x0
    if c_eps != 0.0:
        mean = mean + c_eps * predicted_noise(levels, x, x0, sigma_t)
    return mean, c_noise


def reverse_step(levels: NoiseLevels, x, x0, sigma_t: float, sigma_u: float, eta: float, noise=None):
    """x at level t → x at level u < t, given the model's x0. `noise` (w) is needed when η > 0."""
    mean, c_noise = step_mean(levels, x, x0, sigma_t, sigma_u, eta)
    if c_noise == 0.0:
        return mean
    if noise is None:
        raise ValueError("a stochastic step (eta > 0) needs noise")
    return mean + c_noise * noise


def forward_step(levels: NoiseLevels, x, sigma_t: float, sigma_u: float, noise):
    """Markov forward noising t → u, u ≥ t: x_u/a_u = x_t/a_t + sqrt(S_u² − S_t²)·z,
    written as x_u = (a_u/a_t)·x_t + sqrt(s_u² − (a_u·s_t/a_t)²)·z (finite at a_u = 0)."""
    a_t, s_t = levels.a(sigma_t), levels.s(sigma_t)
    a_u, s_u = levels.a(sigma_u), levels.s(sigma_u)
    carried = a_u * s_t / a_t
    return (a_u / a_t) * x + math.sqrt(max(s_u * s_u - carried * carried, 0.0)) * noise
