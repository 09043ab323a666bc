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
    if eta == 0.0:  # DDIM: also valid upwards (u > t), which is DDIM inversion
        return a_u, s_u, 0.0
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
    return with_noise(*step_mean(levels, x, x0, sigma_t, sigma_u, eta), noise)


def with_noise(mean, c_noise: float, noise=None):
    """mean + c_noise·w: a step's fresh noise added (`noise`, w, is needed when c_noise ≠ 0)."""
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


def multistep_mean(levels: NoiseLevels, x, x0, sigma_t: float, sigma_u: float, eta: float, x0_prev=None, h_prev=None):
    """Second-order multistep step: DPM-Solver++(2M) at η = 0 and SDE-DPM-Solver++(2M) at η = 1
    (Lu et al. 2022, arXiv 2211.01095; the midpoint form of k-diffusion's `sample_dpmpp_2m_sde`).

    In log-SNR time λ = −log S the step t → u has length h = λ_u − λ_t and r = e^{−h} = S_u/S_t:
        x_u/a_u = r^(1+η)·x_t/a_t + (1 − r^(1+η))·(x0 + (h/h_prev)/2·(x0 − x0_prev)) + S_u·sqrt(1 − r^(2η))·w
    Without x0_prev it is the first-order exponential integrator, which at η = 0 and η = 1 is
    exactly `reverse_step` (DDIM and DDPM); in between its η is k-diffusion's, not DDIM's.
    Returns (deterministic part, scale of w, h), h to be passed on as the next step's h_prev; the
    split lets Cycle-SDE replay this step too (`cycle.replay`).
    """
    a_t, s_t = levels.a(sigma_t), levels.s(sigma_t)
    a_u, s_u = levels.a(sigma_u), levels.s(sigma_u)
    if s_u == 0.0:  # the last step lands on the prediction itself
        return a_u * x0, 0.0, math.inf
    r = s_u * a_t / (a_u * s_t)  # 0 at a flow model's σ = 1
    h = math.inf if r == 0.0 else -math.log(r)
    keep = r ** (1.0 + eta)
    d = x0
    if x0_prev is not None and h_prev is not None and math.isfinite(h_prev) and h_prev > 0:
        d = x0 + (0.5 * h / h_prev) * (x0 - x0_prev)
    # keep·a_u/a_t = r^η·s_u/s_t: finite where a_t = 0 (0^0 = 1 at η = 0)
    mean = ((r ** eta) * s_u / s_t) * x + a_u * (1.0 - keep) * d
    fresh = 1.0 - r ** (2.0 * eta)
    c_noise = s_u * math.sqrt(fresh) if (eta > 0 and fresh > 0) else 0.0
    return mean, c_noise, h

