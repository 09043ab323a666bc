"""Recording a forward noise chain and replaying it backwards: Cycle-SDE of Nie et al. 2023
("The Blessing of Randomness: SDE Beats ODE in General Diffusion-based Image Editing",
arXiv 2311.01410).

The forward chain x_{t_1}, ..., x_{t_K} is drawn from x0 with fresh noise at every step and kept.
Going back, the model is evaluated on the recorded x_{t_k}; the step's deterministic part is
subtracted from the recorded x_{t_{k-1}}, and what is left, the noise the step must have drawn
(c_noise·w_k, kept in absolute units so that it is also defined at the last step where c_noise = 0),
is added to the edited latent's own step. With no edit this gives back x0 to float precision.
"""
import torch

from .noise_levels import NoiseLevels
from .steppers import stepper
from .steps import forward_step, reverse_step


def forward_chain(levels: NoiseLevels, x0, sigmas_up, noise):
    """[x at sigmas_up[0], ..., x at sigmas_up[-1]] drawn with the Markov forward step from x0 given
    at sigmas_up[0] (0 for a clean latent); sigmas_up increasing. Returns the list of latents."""
    chain = [x0]
    for t, u in zip(sigmas_up[:-1], sigmas_up[1:]):
        chain.append(forward_step(levels, chain[-1], t, u, noise()))
    return chain


def ddim_inversion(denoise, levels: NoiseLevels, x0, sigmas_up):
    """The deterministic chain of DDIM inversion (the ODE baseline of the drag paper): each step
    t → u upwards is the DDIM step x_u = a_u·x̂0 + s_u·ε̂ with the model evaluated at the lower
    level t. From a clean latent (t = 0) ε̂ is undefined; evaluated at the next level the step is
    the identity, so the clean latent is taken as the latent at sigmas_up[1] (as DDIM inversion
    in diffusers does with its first timestep) and the first step costs no model call."""
    chain = [x0]
    for t, u in zip(sigmas_up[:-1], sigmas_up[1:]):
        x = chain[-1]
        chain.append(x if t == 0 else reverse_step(levels, x, denoise(x, t), t, u, 0.0))
    return chain


class RecordedRegion:
    """For `loop.sample`: where mask is 0 the latent is reset to the recorded chain's latent at the
    level just reached, so that region ends exactly equal to chain[0]."""

    def __init__(self, chain, sigmas_up, mask):
        self.by_sigma = {float(s): x for s, x in zip(sigmas_up, chain)}
        self.mask = mask

    def step(self, x_u, sigma_u: float):
        return torch.lerp(self.by_sigma[float(sigma_u)], x_u, self.mask)


def replay(denoise, levels: NoiseLevels, x, chain, sigmas_up, eta: float = 1.0, keep=None, callback=None, order: int = 1):
    """Run the edited latent x (at sigmas_up[-1]) back to sigmas_up[0] with the chain's noise.

    Every step evaluates the model on the edited and the recorded latent in one batched call.
    keep: optional mask (1 = may change); where it is 0 the latent is reset to the recorded one
    after every step, so it ends exactly equal to chain[0] there.
    order: a key of `steppers.STEPPERS` (another raises): 1 = the DDPM step (the paper's); 2 =
    SDE-DPM-Solver++(2M). Any step rule replays exactly: the residual is whatever carries the recorded
    latent to the next recorded latent, so with no edit x comes back to chain[0] for any order. The
    edited and the recorded latents each keep their own memory (order 2: their previous prediction).
    """
    batch = x.shape[0]
    steps = len(sigmas_up) - 1
    step, memory, memory_rec = stepper(order), None, None
    for i, k in enumerate(range(steps, 0, -1)):
        t, u = sigmas_up[k], sigmas_up[k - 1]
        recorded = chain[k]
        x0_both = denoise(torch.cat([x, recorded]), t)
        x0, x0_rec = x0_both[:batch], x0_both[batch:]
        mean_rec, _, memory_rec = step.mean(levels, recorded, x0_rec, t, u, eta, memory_rec)
        mean, _, memory = step.mean(levels, x, x0, t, u, eta, memory)
        residual = chain[k - 1] - mean_rec  # c_noise·w_k: the noise this step drew on the way up
        x = mean + residual
        if keep is not None:
            x = torch.lerp(chain[k - 1], x, keep)
        if callback is not None:
            callback(i, x0, x)
    return x
