"""The reverse-time sampling loop shared by the SDE Sampler, SDEdit and SDE Inpaint.

`denoise(x, sigma) -> x0` is the only thing asked of a model (ComfyUI's guider, with CFG and conds
applied, or a closed-form oracle). Its steps are `steppers.STEPPERS`'s, with η from 0 (ODE) to 1 (SDE).
"""
import torch

from .noise_levels import NoiseLevels
from .steppers import stepper
from .steps import with_noise


class KnownRegion:
    """Re-injects the part of the latent that must not change (mask 0) after every step, as the
    SDE-inpainting paper's baseline does: x_u = m·x_u + (1 − m)·(a_u·x_in + s_u·z). z is drawn by
    `noise` at every step: fresh draws from the region's own stream (so runs that differ only in η
    re-inject the very same latents), or, as the authors' pipeline does, one fixed tensor (the
    noise that started the sampling) every time. At σ = 0 that is x_in exactly (lerp with weight 0
    returns its first argument)."""

    def __init__(self, levels: NoiseLevels, x_in, mask, noise):
        self.levels, self.x_in, self.mask, self.noise = levels, x_in, mask, noise

    def step(self, x_u, sigma_u: float):
        known = self.x_in if sigma_u == 0 else self.levels.noised(self.x_in, self.noise(), sigma_u)
        return torch.lerp(known, x_u, self.mask)


def sample(denoise, levels: NoiseLevels, x, sigmas, eta: float, noise=None, known: KnownRegion = None, callback=None,
           order: int = 1):
    """Solve the reverse SDE (η = 1) or ODE (η = 0) from x at sigmas[0] down to sigmas[-1].

    sigmas: decreasing floats. noise: callable giving w ~ N(0, I) per stochastic step.
    known: optional KnownRegion whose mask-0 part is re-injected after every step.
    order: a key of `steppers.STEPPERS`: 1 = the DDIM/DDPM step; 2 = the (SDE-)DPM-Solver++(2M)
    multistep step; another raises.
    callback(i, x0, x): after step i, with the model's prediction and the new latent.
    """
    step, memory = stepper(order), None
    for i in range(len(sigmas) - 1):
        t, u = sigmas[i], sigmas[i + 1]
        x0 = denoise(x, t)
        w = noise() if (eta > 0 and u > 0) else None
        mean, c_noise, memory = step.mean(levels, x, x0, t, u, eta, memory)
        x = with_noise(mean, c_noise, w)
        if known is not None:
            x = known.step(x, u)
        if callback is not None:
            callback(i, x0, x)
    return x


def inpainting_start(levels: NoiseLevels, x_in, noise, sigma: float, mask):
    """The latent an inpainting run starts from at level sigma, when it starts at the top of the
    schedule (strength 1): pure noise in the repaint region (mask 1), with the unit-variance
    marginal's scale sqrt(a² + s²) as for an empty latent, so nothing of what the mask hides is
    left to steer the result; the input re-noised elsewhere. (x_in + σ·noise would keep the hidden
    content at a signal-to-noise ratio of 1/σ_max, which the deterministic ODE carries to the end.)"""
    return torch.lerp(levels.noised(x_in, noise, sigma), levels.unit_scale(sigma) * noise, mask)
