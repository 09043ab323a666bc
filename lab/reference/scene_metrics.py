"""Measuring edits on the reference scene set, whose images are all known exactly.

Images are (B, 3, H, W) in [0, 1]; masks (B or 1, H, W) with 1 = hidden / repainted. Distances are
RMS over the pixels they cover, in [0, 1] units.
"""
import math

import torch

from . import scenes


def rms(a, b, region=None):
    d2 = (a - b) ** 2
    if region is None:
        return d2.flatten(1).mean(1).sqrt()
    r = region[:, None].expand_as(d2)
    return ((d2 * r).flatten(1).sum(1) / r.flatten(1).sum(1).clamp_min(1)).sqrt()


def consistent(references, image, hidden, tolerance=1e-3):
    """(B, N) bool: reference n agrees with image b on b's visible part (RMS < tolerance)."""
    visible = (1 - hidden).expand(image.shape[0], -1, -1)
    out = []
    for img, vis in zip(image, visible):
        v = vis[None, None]
        d2 = ((references - img[None]) ** 2 * v).flatten(1).sum(1) / (3 * v.sum()).clamp_min(1)
        out.append(d2.sqrt() < tolerance)
    return torch.stack(out)


def completion_report(outputs, inputs, hidden, references=None, match=0.02):
    """Per output: distance to the nearest reference consistent with the input's visible part
    (over the hidden region), whether that is under `match` (a consistent completion), and the
    largest change of the known region (should be 0)."""
    if references is None:
        references, _ = scenes.reference_images(outputs.shape[-1])
    ok = consistent(references, inputs, hidden)
    hid = hidden.expand(outputs.shape[0], -1, -1)
    dist = torch.stack([
        rms(references[ok[b]], outputs[b:b + 1].expand(int(ok[b].sum()), -1, -1, -1), hid[b:b + 1].expand(int(ok[b].sum()), -1, -1)).min()
        if ok[b].any() else torch.tensor(float("inf"))
        for b in range(outputs.shape[0])])
    known_error = ((outputs - inputs).abs() * (1 - hid)[:, None]).flatten(1).amax(1)
    return {"distance": dist, "consistent": dist < match, "known_error": known_error}


def exact_conditional(references, image, hidden, tau: float = 0.0, tolerance: float = 1e-3):
    """p(reference k | the visible part of image), (B, N), for the model whose data is the reference
    set (tau = 0: uniform over the references that agree with the visible part, RMS < tolerance) or
    that set blurred by Gaussian noise of standard deviation tau in latent units (x0 = m_k + tau·z,
    latents = 2·image − 1): p(k | v) ∝ exp(−‖v − m_k,visible‖² / (2 tau²)), uniform prior."""
    if tau == 0.0:
        ok = consistent(references, image, hidden, tolerance).to(torch.float64)
        return ok / ok.sum(-1, keepdim=True).clamp_min(1)
    visible = (1 - hidden).expand(image.shape[0], -1, -1)
    out = []
    for img, vis in zip(image, visible):
        d2 = (((references - img[None]) * 2) ** 2 * vis[None, None]).flatten(1).sum(1).to(torch.float64)
        out.append(torch.softmax(-d2 / (2 * tau * tau), 0))
    return torch.stack(out)


def total_variation(p, q):
    """½ Σ |p − q| along the last dimension."""
    return 0.5 * (p - q).abs().sum(-1)


def sampling_floor(p, n: int, draws: int = 2000, generator=None):
    """The total variation an empirical distribution of n independent draws from p itself has from
    p, on average: what a perfect sampler scores with n samples. p: (B, N); returns (B,)."""
    floors = []
    for row in p:
        idx = torch.multinomial(row.float(), n * draws, replacement=True, generator=generator).reshape(draws, n)
        counts = torch.zeros(draws, row.shape[0], dtype=torch.float64).scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float64))
        floors.append(total_variation(counts / n, row[None]).mean())
    return torch.stack(floors)


def kl_terms(x, strokes, refs, a, variance):
    """The KL proxy of one latent x against the model's marginal at a level with signal scale a and
    per-pixel variance `variance` (a²τ² + s²): with m the nearest component mean, r = x − a·m and
    d = stroke − m, split into
      imprint term  ⟨r, d̂⟩² / (2·variance): a mean shift along the stroke direction (what the edit left),
      noise term    (D − 1)/2 · f(q), f(q) = q − 1 − ln q, q the mean square of r across d̂ over the
                    variance: a noise level off the model's in the other D − 1 directions,
    the KL of the fitted Gaussian, split along d̂ and across it so that no part is counted twice.
    Returns the two terms, the imprint ⟨r, d̂⟩/sqrt(variance) and sqrt(q), each (B,)."""
    flat, refs_flat = x.flatten(1).double(), refs.flatten(1).double()
    d2 = (flat * flat).sum(1, keepdim=True) - 2 * a * flat @ refs_flat.T + a * a * (refs_flat * refs_flat).sum(1)
    k = d2.argmin(1)
    r = flat - a * refs_flat[k]
    d = strokes.flatten(1).double() - refs_flat[k]
    unit = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
    along = (r * unit).sum(1)
    rest = r - along[:, None] * unit  # the other D − 1 directions
    imprint = along / math.sqrt(variance)
    q = rest.pow(2).sum(1) / (r.shape[1] - 1) / variance
    return imprint ** 2 / 2, (r.shape[1] - 1) / 2 * (q - 1 - torch.log(q)), imprint, q.sqrt()
