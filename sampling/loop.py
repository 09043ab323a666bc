"""The reverse-time sampling loop shared by the SDE Sampler, SDEdit and SDE Inpaint.

`denoise(x, sigma) -> x0` is the only thing asked of a model (ComfyUI's guider, with CFG and conds
applied, or a closed-form oracle). Steps are `steps.reverse_step` with η from 0 (ODE) to 1 (SDE).
"""
import torch

from .noise_levels import NoiseLevels
from .steps import multistep_step, reverse_step


class KnownRegion:
    """Re-injects the part of the latent that must not change (mask 0) after every step.

    Its noisy version follows the exact forward process of the input: it starts from the same
    noised latent as the sampled part and moves down with the DDPM posterior q(x_u | x_t, x0 = x_in)
    (the η = 1 step with the true x0), drawing from its own noise stream. So the re-injected region
    has the forward process' law at every level whatever η the sampler uses, and at σ = 0 it is
    x_in exactly.
    """

    def __init__(self, levels: NoiseLevels, x_in, mask, noise):
        self.levels, self.x_in, self.mask, self.noise = levels, x_in, mask, noise
        self.x = None

    def start(self, x_start):
        self.x = x_start

    def step(self, x_u, sigma_t: float, sigma_u: float):
        self.x = reverse_step(self.levels, self.x, self.x_in, sigma_t, sigma_u, 1.0, self.noise() if sigma_u > 0 else None)
        return torch.lerp(self.x, x_u, self.mask)  # mask 0: exactly the known latent


def sample(denoise, levels: NoiseLevels, x, sigmas, eta: float, noise=None, known: KnownRegion = None, callback=None,
           order: int = 1):
    """Solve the reverse SDE (η = 1) or ODE (η = 0) from x at sigmas[0] down to sigmas[-1].

    sigmas: decreasing floats. noise: callable giving w ~ N(0, I) per stochastic step.
    known: optional KnownRegion whose mask-0 part is re-injected after every step.
    order: 1 = the DDIM/DDPM step; 2 = the (SDE-)DPM-Solver++(2M) multistep step.
    callback(i, x0, x): after step i, with the model's prediction and the new latent.
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    if known is not None:
        known.start(x)
    x0_prev, h_prev = None, None
    for i in range(len(sigmas) - 1):
        t, u = sigmas[i], sigmas[i + 1]
        x0 = denoise(x, t)
        w = noise() if (eta > 0 and u > 0) else None
        if order == 1:
            x = reverse_step(levels, x, x0, t, u, eta, w)
        else:
            x, h_prev = multistep_step(levels, x, x0, t, u, eta, w, x0_prev, h_prev)
            x0_prev = x0
        if known is not None:
            x = known.step(x, t, u)
        if callback is not None:
            callback(i, x0, x)
    return x
