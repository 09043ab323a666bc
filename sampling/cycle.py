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
from .steps import forward_step, step_mean


def forward_chain(levels: NoiseLevels, x0, sigmas_up, noise):
    """[x at sigmas_up[0], ..., x at sigmas_up[-1]] drawn with the Markov forward step from x0 given
    at sigmas_up[0] (0 for a clean latent); sigmas_up increasing. Returns the list of latents."""
    chain = [x0]
    for t, u in zip(sigmas_up[:-1], sigmas_up[1:]):
        chain.append(forward_step(levels, chain[-1], t, u, noise()))
    return chain


def replay(denoise, levels: NoiseLevels, x, chain, sigmas_up, eta: float = 1.0, keep=None, callback=None):
    """Run the edited latent x (at sigmas_up[-1]) back to sigmas_up[0] with the chain's noise.

    Every step evaluates the model on the edited and the recorded latent in one batched call.
    keep: optional mask (1 = may change); where it is 0 the latent is reset to the recorded one
    after every step, so it ends exactly equal to chain[0] there.
    """
    batch = x.shape[0]
    steps = len(sigmas_up) - 1
    for i, k in enumerate(range(steps, 0, -1)):
        t, u = sigmas_up[k], sigmas_up[k - 1]
        recorded = chain[k]
        x0_both = denoise(torch.cat([x, recorded]), t)
        x0, x0_rec = x0_both[:batch], x0_both[batch:]
        mean_rec, _ = step_mean(levels, recorded, x0_rec, t, u, eta)
        residual = chain[k - 1] - mean_rec  # c_noise·w_k: the noise this step drew on the way up
        mean, _ = step_mean(levels, x, x0, t, u, eta)
        x = mean + residual
        if keep is not None:
            x = torch.lerp(chain[k - 1], x, keep)
        if callback is not None:
            callback(i, x0, x)
    return x
