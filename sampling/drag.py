"""SDE-Drag: point-based dragging by Cycle-SDE inversion, copy-and-paste on the noisy latent, and a
reverse SDE that replays the recorded noise (Nie et al. 2023, "The Blessing of Randomness: SDE Beats
ODE in General Diffusion-based Image Editing", arXiv 2311.01410, section 5).

A drag of every point from its source S to its target T is cut into m sub-steps of about
`step_length` latent pixels; each sub-step is one full cycle on the current latent:
  1. invert: record the forward chain x_{t_1..t_K} (fresh noise; η = 0: DDIM inversion),
  2. on x_{t_K}, in unit-variance scale, paste the source patch F at the target (α·F) and replace
     the source by β·F + sqrt(1 − β²)·z,
  3. denoise back with the recorded noise (η = 0: the plain ODE, the paper's ODE-Drag baseline),
     resetting the region outside the mask to the recorded chain after every step.
Coordinates here are latent pixels (x = column, y = row). The move's geometry (the windows, a
region moved along the pairs' field) is `sampling.warp`'s.

`warp_drag` is the cheap alternative on the same pieces: move the windows once on the clean latent,
then one short pass over what moved and what it uncovered (Inpaint4Drag's idea), either SDE inpainting
or a Cycle-SDE replay of the input's own recorded noise.
"""
import math
from dataclasses import dataclass

import torch

from .cycle import RecordedRegion, ddim_inversion, forward_chain, replay
from .loop import KnownRegion, sample
from .masks import fill_from_border, grow
from .noise_levels import NoiseLevels
from .warp import pixel_at, warp_region, warp_windows, windows


@dataclass(frozen=True)
class Paste:
    """SDE-Drag's copy-and-paste settings (the authors' defaults): radius = r, the half-size of the
    square windows in latent pixels; beta = β, what remains of the source patch; alpha = α, the pasted
    patch's gain; drag_step = the sub-step length in latent pixels (one cycle per sub-step)."""
    radius: int = 5
    beta: float = 0.3
    alpha: float = 1.1
    drag_step: float = 2.0


def substeps(pairs, height: int, width: int, step_length: float):
    """The sub-steps of a drag: a list, one entry per sub-step, of [(source, target)] integer latent
    points, moving every pair from S + (i/m)·d to S + ((i+1)/m)·d. pairs: [((sx, sy), (tx, ty))]
    in (float) latent coordinates. With no pairs: one sub-step with nothing to paste (a pure
    reconstruction cycle)."""
    m = drag_substep_count(pairs, step_length)

    def at(s, t, f):
        return pixel_at(s[0] + f * (t[0] - s[0]), s[1] + f * (t[1] - s[1]), height, width)

    return [[(at(s, t, i / m), at(s, t, (i + 1) / m)) for s, t in pairs] for i in range(m)]


def copy_and_paste(levels: NoiseLevels, x, sigma: float, moves, paste: Paste, noise):
    """The edit on the noisy latent x at level sigma: for each (source, target), in order,
    target ← α·F and source ← β·F + sqrt(1 − β²)·z, with F the source patch (the windows of
    paste.radius), all in unit-variance scale (x / sqrt(a² + s²), `NoiseLevels.unit_scale`). noise: one
    N(0, I) draw shaped like x. Returns a new tensor."""
    radius, beta, alpha = paste.radius, paste.beta, paste.alpha
    unit = levels.unit_scale(sigma)
    y = x / unit
    height, width = y.shape[-2], y.shape[-1]
    for source, target in moves:
        src, tgt = windows(source, target, radius, height, width)
        patch = y[..., src[0], src[1]].clone()
        y[..., src[0], src[1]] = beta * patch + math.sqrt(1.0 - beta * beta) * noise[..., src[0], src[1]]
        y[..., tgt[0], tgt[1]] = alpha * patch
    return y * unit


def copy_and_paste_region(levels: NoiseLevels, x, sigma: float, moves, region, paste: Paste, noise):
    """`copy_and_paste` with the region (B or 1, 1, H, W) as the patch's shape: the region's pixels are
    moved along the sub-step's field (`warp_region`, backward mapping), where they land ← α·F, and the
    region pixels nothing lands on ← β·F + sqrt(1 − β²)·z, in unit-variance scale. Returns (new x,
    where the region now is). paste.radius is not read: the region is the patch."""
    beta, alpha = paste.beta, paste.alpha
    unit = levels.unit_scale(sigma)
    y = x / unit
    moved, hole, changed = warp_region(y, region, moves)
    landed, hole = (changed - hole) > 0.5, hole > 0.5
    y = torch.where(hole, beta * y + math.sqrt(1.0 - beta * beta) * noise, y)
    y = torch.where(landed, alpha * moved, y)
    return y * unit, landed[:, :1].to(x)


def sde_drag(denoise, levels: NoiseLevels, x0, sigmas, pairs, *, paste: Paste = Paste(), eta: float = 1.0,
             chain_noise=None, paste_noise=None, keep=None, callback=None, order: int = 1, region=None):
    """Drag x0 (clean latent batch) along `pairs` [((sx, sy), (tx, ty))] in latent pixels.

    sigmas: the decreasing schedule from t0 to 0 (the cycle runs up it and back down).
    paste: the windows' radius, β, α and the sub-step length (`Paste`).
    eta: 1 = SDE-Drag (Cycle-SDE); 0 = ODE-Drag (DDIM inversion, deterministic denoising).
    chain_noise / paste_noise: callables giving N(0, I) shaped like x0 (the forward chain's and the
    source perturbation's). keep: optional mask, 1 = may change. callback(i, x0_pred, x) per step,
    i counted over all sub-steps. order: 1 = the paper's DDPM/DDIM step, 2 = (SDE-)DPM-Solver++(2M)
    on the way down. region: optional (B or 1, 1, H, W) mask of what moves, the pasted patch's shape
    instead of the square windows (`copy_and_paste_region`), carried along from sub-step to sub-step.
    Returns (edited latent, [latent after each sub-step]).
    """
    sigmas_up = list(sigmas)[::-1]
    steps = len(sigmas_up) - 1
    x, frames = x0, []
    for j, moves in enumerate(substeps(pairs, x0.shape[-2], x0.shape[-1], paste.drag_step)):
        step_callback = None if callback is None else (lambda i, p, xi, j=j: callback(j * steps + i, p, xi))
        if eta > 0:
            chain = forward_chain(levels, x, sigmas_up, chain_noise)
        else:
            chain = ddim_inversion(denoise, levels, x, sigmas_up)
        if region is None:
            top = copy_and_paste(levels, chain[-1], sigmas_up[-1], moves, paste, paste_noise())
        else:
            top, region = copy_and_paste_region(levels, chain[-1], sigmas_up[-1], moves, region, paste, paste_noise())
        if eta > 0:
            x = replay(denoise, levels, top, chain, sigmas_up, eta, keep, step_callback, order)
        else:
            known = None if keep is None else RecordedRegion(chain, sigmas_up, keep)
            x = sample(denoise, levels, top, sigmas_up[::-1], 0.0, None, known, step_callback, order)
        frames.append(x)
    return x, frames


def drag_substep_count(pairs, step_length: float) -> int:
    """m, the number of full cycles a drag costs."""
    longest = max((math.dist(s, t) for s, t in pairs), default=0.0)
    return max(1, round(longest / step_length))


def warp_drag(denoise, levels: NoiseLevels, x0, sigmas, pairs, *, radius: int = 5, eta: float = 1.0, seam: int = 1,
              noise=None, step_noise=None, known_noise=None, keep=None, callback=None, order: int = 1,
              chain_noise=None, region=None, warped=None):
    """Warp-and-inpaint drag: the idea of Inpaint4Drag (Lu and Han 2025, arXiv 2509.04582) on the
    pack's SDE sampler, in latent space.

      1. move each (2r)×(2r) window from its source to its target on the clean latent, in one go;
      2. fill what the move uncovered from its border (a smooth guess, so the old content is gone);
      3. one pass from sigmas[0] to 0 over the changed region grown by `seam` latent pixels (hole,
         pasted windows and their seams); outside it the output is exactly the input.
    Step 3 is either plain SDE inpainting (fresh noise, the rest re-injected after every step,
    `loop.KnownRegion`), or, with chain_noise, Cycle-SDE: the input's forward chain is recorded (no
    model call), the warped guide is put on its top latent (x_top + a_top·(guide − x0)), and the pass
    replays the recorded noise (`cycle.replay`: twice the latents per step), so the repaired region
    keeps the input's own noise and texture statistics instead of drawing new ones.
    The pass repaints the pasted windows too: a window carries its old background along, and the pass
    is what fits it to the new place.
    noise: ComfyUI's N(0, I) for the start; step_noise / known_noise: the step and re-injection
    streams. keep: optional mask, 1 = may change. region: optional (B or 1, 1, H, W) mask of what
    moves; with it, step 1 moves exactly the region along the pairs' field (`warp_region`) instead of
    the windows. warped: optional (guide, changed) made elsewhere (`sampling.warp.warp_image`: the move
    made on the decoded picture and encoded back) instead of steps 1 and 2. Returns (edited latent, [the warped
    start, the edited latent]) (the frames a GIF of the drag shows).
    """
    if warped is not None:
        guide, changed = warped
    else:
        if region is not None:
            moved, hole, changed = warp_region(x0, region, pairs)
        else:
            moved, hole, changed = warp_windows(x0, substeps(pairs, x0.shape[-2], x0.shape[-1], math.inf)[0], radius)
        guide = fill_from_border(moved, hole)
    repaint = grow(changed[:, 0], seam)[:, None]
    if keep is not None:
        repaint = repaint * keep
    if not bool(repaint.any()):  # no points, or nothing inside the mask: nothing to do
        return x0, [x0]
    guide = torch.lerp(x0, guide, repaint)
    if chain_noise is not None:
        sigmas_up = list(sigmas)[::-1]
        chain = forward_chain(levels, x0, sigmas_up, chain_noise)
        top = chain[-1] + levels.a(sigmas_up[-1]) * (guide - x0)
        x = replay(denoise, levels, top, chain, sigmas_up, eta, repaint, callback, order)
    else:
        known = KnownRegion(levels, x0, repaint, known_noise)
        x = sample(denoise, levels, levels.noised(guide, noise, sigmas[0]), sigmas, eta, step_noise, known, callback,
                   order)
    return x, [guide, x]
