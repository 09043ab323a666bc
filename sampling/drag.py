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
Coordinates here are latent pixels (x = column, y = row).

`warp_drag` is the cheap alternative on the same pieces: move the windows once on the clean latent,
then one short pass over what moved and what it uncovered (Inpaint4Drag's idea), either SDE inpainting
or a Cycle-SDE replay of the input's own recorded noise.
"""
import math

import torch

from .cycle import RecordedRegion, ddim_inversion, forward_chain, replay
from .loop import KnownRegion, sample
from .masks import fill_from_border, grow
from .noise_levels import NoiseLevels


def substeps(pairs, height: int, width: int, step_length: float):
    """The sub-steps of a drag: a list, one entry per sub-step, of [(source, target)] integer latent
    points, moving every pair from S + (i/m)·d to S + ((i+1)/m)·d. pairs: [((sx, sy), (tx, ty))]
    in (float) latent coordinates. With no pairs: one sub-step with nothing to paste (a pure
    reconstruction cycle)."""
    m = drag_substep_count(pairs, step_length)

    def at(s, t, f):
        x = min(max(round(s[0] + f * (t[0] - s[0])), 0), width - 1)
        y = min(max(round(s[1] + f * (t[1] - s[1])), 0), height - 1)
        return x, y

    return [[(at(s, t, i / m), at(s, t, (i + 1) / m)) for s, t in pairs] for i in range(m)]


def windows(source, target, radius: int, height: int, width: int):
    """Row and column slices of the source and target patches: a (2r)×(2r) window around each point,
    each side clipped (the same for both) so that both windows stay inside the latent."""
    (sx, sy), (tx, ty) = source, target
    left, right = min(radius, sx, tx), min(radius, width - sx, width - tx)
    up, down = min(radius, sy, ty), min(radius, height - sy, height - ty)
    src = (slice(sy - up, sy + down), slice(sx - left, sx + right))
    tgt = (slice(ty - up, ty + down), slice(tx - left, tx + right))
    return src, tgt


def copy_and_paste(levels: NoiseLevels, x, sigma: float, moves, radius: int, beta: float, alpha: float, noise):
    """The edit on the noisy latent x at level sigma: for each (source, target), in order,
    target ← α·F and source ← β·F + sqrt(1 − β²)·z, with F the source patch, all in unit-variance
    scale (x / sqrt(a² + s²)). noise: one N(0, I) draw shaped like x. Returns a new tensor."""
    unit = math.sqrt(levels.a(sigma) ** 2 + levels.s(sigma) ** 2)
    y = x / unit
    height, width = y.shape[-2], y.shape[-1]
    for source, target in moves:
        src, tgt = windows(source, target, radius, height, width)
        patch = y[..., src[0], src[1]].clone()
        y[..., src[0], src[1]] = beta * patch + math.sqrt(1.0 - beta * beta) * noise[..., src[0], src[1]]
        y[..., tgt[0], tgt[1]] = alpha * patch
    return y * unit


def copy_and_paste_region(levels: NoiseLevels, x, sigma: float, moves, region, beta: float, alpha: float, noise):
    """`copy_and_paste` with the region (B or 1, 1, H, W) as the patch's shape: the region's pixels are
    moved along the sub-step's field (`warp_region`, backward mapping), where they land ← α·F, and the
    region pixels nothing lands on ← β·F + sqrt(1 − β²)·z, in unit-variance scale. Returns (new x,
    where the region now is)."""
    unit = math.sqrt(levels.a(sigma) ** 2 + levels.s(sigma) ** 2)
    y = x / unit
    moved, hole, changed = warp_region(y, region, moves)
    landed, hole = (changed - hole) > 0.5, hole > 0.5
    y = torch.where(hole, beta * y + math.sqrt(1.0 - beta * beta) * noise, y)
    y = torch.where(landed, alpha * moved, y)
    return y * unit, landed[:, :1].to(x)


def sde_drag(denoise, levels: NoiseLevels, x0, sigmas, pairs, radius: int = 5, beta: float = 0.3, alpha: float = 1.1,
             step_length: float = 2.0, eta: float = 1.0, chain_noise=None, paste_noise=None, keep=None,
             callback=None, order: int = 1, region=None):
    """Drag x0 (clean latent batch) along `pairs` [((sx, sy), (tx, ty))] in latent pixels.

    sigmas: the decreasing schedule from t0 to 0 (the cycle runs up it and back down).
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
    for j, moves in enumerate(substeps(pairs, x0.shape[-2], x0.shape[-1], step_length)):
        step_callback = None if callback is None else (lambda i, p, xi, j=j: callback(j * steps + i, p, xi))
        if eta > 0:
            chain = forward_chain(levels, x, sigmas_up, chain_noise)
        else:
            chain = ddim_inversion(denoise, levels, x, sigmas_up)
        if region is None:
            top = copy_and_paste(levels, chain[-1], sigmas_up[-1], moves, radius, beta, alpha, paste_noise())
        else:
            top, region = copy_and_paste_region(levels, chain[-1], sigmas_up[-1], moves, region, beta, alpha, paste_noise())
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


def warp(x, moves, radius: int):
    """Move every source window to its target on the clean latent x, pair after pair (the windows
    of `copy_and_paste`, with α = 1 and nothing left behind). Returns (moved latent, hole, region):
    hole (1, 1, H, W) = source windows that no target covers (what the move uncovered), region =
    hole ∪ target windows (everything the move changed)."""
    moved = x.clone()
    height, width = x.shape[-2], x.shape[-1]
    hole, pasted = x.new_zeros(1, 1, height, width), x.new_zeros(1, 1, height, width)
    for source, target in moves:
        src, tgt = windows(source, target, radius, height, width)
        patch = moved[..., src[0], src[1]].clone()
        hole[..., src[0], src[1]] = 1.0
        moved[..., tgt[0], tgt[1]] = patch
        pasted[..., tgt[0], tgt[1]] = 1.0
    hole = hole * (1 - pasted)
    return moved, hole, torch.maximum(hole, pasted)


def displacement(pairs, height: int, width: int):
    """The backward displacement field of a region drag, (1, 2, H, W) as (dx, dy): the pixel v of the
    result shows the input at v − d(v) = f(v), with f the rigid moving-least-squares deformation that
    sends every target to its source (Schaefer, McPhail and Warren 2006, "Image Deformation Using Moving
    Least Squares", section 2.3; weights 1/|T − v|², α = 1):
        p* = Σ w T / Σ w,  q* = Σ w S / Σ w,  p̂ = T − p*,  q̂ = S − q*,  r = v − p*,
        f⃗ = Σ w (q̂ₓ c − q̂ᵧ s, q̂ₓ s + q̂ᵧ c)  with  c = p̂·r,  s = p̂ₓ rᵧ − p̂ᵧ rₓ,
        f(v) = |r| f⃗ / |f⃗| + q*.
    One pair is a translation (exactly T − S everywhere); at a target, its source exactly; two pairs
    turn the region rigidly about them or stretch what lies between them, and locally every part stays
    rigid (as wide as it was), which an inverse-distance blend of the moves does not (it is flat near
    each handle and bends a turned bar into an S). Backward mapping (Inpaint4Drag, Lu and Han 2025, moves
    its region so), so the moved region has no holes. Where several pairs share a target, their mean."""
    if not pairs:
        return torch.zeros(1, 2, height, width)
    if len({(t[0] - s[0], t[1] - s[1]) for s, t in pairs}) == 1:  # a translation, exactly
        (sx, sy), (tx, ty) = pairs[0]
        return torch.tensor([tx - sx, ty - sy], dtype=torch.float32)[None, :, None, None].expand(1, 2, height, width).clone()
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    source = torch.tensor([s for s, _ in pairs], dtype=torch.float64)  # (P, 2)
    target = torch.tensor([t for _, t in pairs], dtype=torch.float64)
    dist2 = (xs[None] - target[:, 0, None, None]) ** 2 + (ys[None] - target[:, 1, None, None]) ** 2  # (P, H, W)
    at_target = dist2 < 1e-12
    w = 1.0 / dist2.clamp_min(1e-12)
    total = w.sum(0)
    p_x, p_y = (w * target[:, 0, None, None]).sum(0) / total, (w * target[:, 1, None, None]).sum(0) / total
    q_x, q_y = (w * source[:, 0, None, None]).sum(0) / total, (w * source[:, 1, None, None]).sum(0) / total
    ph_x, ph_y = target[:, 0, None, None] - p_x, target[:, 1, None, None] - p_y
    qh_x, qh_y = source[:, 0, None, None] - q_x, source[:, 1, None, None] - q_y
    r_x, r_y = xs - p_x, ys - p_y
    c, s = ph_x * r_x + ph_y * r_y, ph_x * r_y - ph_y * r_x
    f_x, f_y = (w * (qh_x * c - qh_y * s)).sum(0), (w * (qh_x * s + qh_y * c)).sum(0)
    norm, r_norm = (f_x ** 2 + f_y ** 2).sqrt(), (r_x ** 2 + r_y ** 2).sqrt()
    flat = norm < 1e-12  # v at the weighted centre: no direction, and none needed (|r| = 0)
    scale = torch.where(flat, torch.zeros_like(norm), r_norm / norm.clamp_min(1e-12))
    map_x = torch.where(flat, r_x, scale * f_x) + q_x
    map_y = torch.where(flat, r_y, scale * f_y) + q_y
    hits = at_target.sum(0)
    if bool(hits.any()):  # at a target: its source (the mean where several pairs share it)
        hit = at_target.double()
        map_x = torch.where(hits > 0, (hit * source[:, 0, None, None]).sum(0) / hits.clamp_min(1), map_x)
        map_y = torch.where(hits > 0, (hit * source[:, 1, None, None]).sum(0) / hits.clamp_min(1), map_y)
    return torch.stack([xs - map_x, ys - map_y])[None].float()


def similar_region(x, seeds, threshold: float = 1.0, max_fraction: float = 0.25):
    """A region found from the handles, (B, 1, H, W): from each seed (x, y) (latent pixels, rounded),
    the 8-connected latent pixels whose vector lies within `threshold` of the seed's, distance in units
    of the latent's own per-channel spread over the picture (RMS over channels): a flood fill by
    similarity, what a user would mark on a flat-coloured object. A picture whose region from some seed
    covers more than max_fraction of it (the seed is on background, or the object blends into it) gets
    None: there is no object to find, and the caller keeps its windows."""
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    flat = x.reshape(batch, -1, height, width).float()
    spread = flat.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
    found = torch.zeros(batch, 1, height, width, dtype=torch.bool, device=x.device)
    for b in range(batch):
        for sx, sy in seeds:
            col, row = min(max(round(sx), 0), width - 1), min(max(round(sy), 0), height - 1)
            distance = ((flat[b] - flat[b, :, row, col, None, None]) / spread[b]).pow(2).mean(0).sqrt()
            similar = distance <= threshold
            region = torch.zeros(1, 1, height, width, dtype=torch.bool, device=x.device)
            region[..., row, col] = True
            while True:
                grown = torch.nn.functional.max_pool2d(region.float(), 3, stride=1, padding=1).bool() & similar
                if torch.equal(grown, region):
                    break
                region = grown
            if region.sum() > max_fraction * height * width:
                return None
            found[b] |= region[0]
    return found.to(x.dtype)


def _bilinear(values, src_x, src_y):
    """values (B, C, H, W) read at the (H, W) source coordinates, bilinearly, 0 outside. At whole-pixel
    coordinates the weights are exactly 1 and 0, so a whole-pixel move copies bit for bit."""
    batch, channels, height, width = values.shape
    x0, y0 = src_x.floor(), src_y.floor()
    fx, fy = src_x - x0, src_y - y0
    flat = values.reshape(batch, channels, height * width)
    out = torch.zeros_like(values)
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        ix, iy = x0 + dx, y0 + dy
        inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height) & (w > 0)
        index = (iy.clamp(0, height - 1) * width + ix.clamp(0, width - 1)).long().flatten()
        picked = flat[:, :, index].reshape(batch, channels, height, width)
        out = out + torch.where(inside, w * picked, torch.zeros_like(picked))
    return out


def warp_region(x, region, pairs):
    """Move what the region marks along the pairs' field (`displacement`), by backward mapping on the
    clean latent x (bilinear; a whole-pixel translation copies exactly). region: (B or 1, 1, H, W), 1 =
    moves. Returns (moved latent, hole, changed) as `warp`: hole = region pixels that nothing moved
    onto, changed = hole ∪ where the moved region landed."""
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    d = displacement(pairs, height, width).to(x)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=x.dtype, device=x.device),
                            torch.arange(width, dtype=x.dtype, device=x.device), indexing="ij")
    src_x, src_y = xs - d[0, 0], ys - d[0, 1]
    region = (region > 0.5).to(x).expand(batch, 1, height, width)
    flat = x.reshape(batch, -1, height, width)
    landed = _bilinear(region, src_x, src_y) > 0.5
    moved = torch.where(landed, _bilinear(flat, src_x, src_y), flat).reshape(x.shape)
    hole = (region > 0.5) & ~landed
    return moved, hole.to(x), (hole | landed).to(x)


def warp_image(decode, encode, x0, region, pairs, factor: int):
    """Step 1 and 2 of `warp_drag` on the picture instead of the latent: decode x0, move the region's
    pixels along the pairs' field at full resolution (`warp_region`, bilinear; edges `factor` times
    finer than on the latent), fill what it uncovered from its border, encode. region: (B or 1, 1, H, W)
    at image resolution; pairs in image pixels; decode / encode: latent (B, C, h, w) <-> picture
    (B, 3, H, W). Returns (guide latent, changed): changed = the latent pixels any changed image pixel
    falls in."""
    image = decode(x0)
    moved, hole, changed = warp_region(image, region, pairs)
    guide = encode(fill_from_border(moved, hole)).to(x0)
    changed = torch.nn.functional.max_pool2d(changed, factor)[..., :x0.shape[-2], :x0.shape[-1]]
    return guide, changed.to(x0)


def warp_drag(denoise, levels: NoiseLevels, x0, sigmas, pairs, radius: int = 5, eta: float = 1.0, seam: int = 1,
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
    the windows. warped: optional (guide, changed) made elsewhere (`warp_image`: the move made on the
    decoded picture and encoded back) instead of steps 1 and 2. Returns (edited latent, [the warped
    start, the edited latent]) (the frames a GIF of the drag shows).
    """
    if warped is not None:
        guide, changed = warped
    else:
        if region is not None:
            moved, hole, changed = warp_region(x0, region, pairs)
        else:
            moved, hole, changed = warp(x0, substeps(pairs, x0.shape[-2], x0.shape[-1], math.inf)[0], radius)
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
