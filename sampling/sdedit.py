"""SDEdit: Guided Image Synthesis and Editing with Stochastic Differential Equations
(Meng et al. 2021, arXiv 2108.01073).

Perturb the guide to level t0 = sigmas[0] and solve the reverse SDE (η = 1) or ODE (η = 0) back;
repeat K times, the output of one round being the guide of the next. With a mask (1 = edit), only
the masked region is sampled and the rest is the input, re-noised to the current level after every
step and exactly the input at the end.
"""
from .loop import KnownRegion, sample
from .noise_levels import NoiseLevels


def sdedit(denoise, levels: NoiseLevels, guide, noise, sigmas, eta: float, step_noise, repeats: int = 1,
           mask=None, known_noise=None, callback=None):
    """guide: clean latent batch; noise: N(0, I) for the first perturbation (later rounds draw
    theirs from step_noise); sigmas: decreasing floats from t0; mask: 1 = edit, broadcastable."""
    steps = len(sigmas) - 1
    x = guide
    for k in range(repeats):
        eps = noise if k == 0 else step_noise()
        x_t = levels.noised(x, eps, sigmas[0])
        known = None if mask is None else KnownRegion(levels, guide, mask, known_noise)
        round_callback = None if callback is None else (lambda i, x0, xi, k=k: callback(k * steps + i, x0, xi))
        x = sample(denoise, levels, x_t, sigmas, eta, step_noise, known, round_callback)
    return x
