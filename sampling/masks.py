"""Mask shaping for the seam of an inpainted region (1 = repaint, 0 = keep), on (B, H, W) masks."""
import torch
import torch.nn.functional as F


def grow(mask, pixels: int):
    """Dilate the repaint region by `pixels` (a square structuring element)."""
    if pixels <= 0:
        return mask
    return F.max_pool2d(mask[:, None], 2 * pixels + 1, stride=1, padding=pixels)[:, 0]


def feather(mask, pixels: int):
    """Soften the edge over `pixels` outside the region: a box blur, with the region itself kept
    at 1, so what was to be repainted still is and only a `pixels`-wide ring on the known side is
    partly repainted (beyond it the mask stays exactly 0)."""
    if pixels <= 0:
        return mask
    blurred = F.avg_pool2d(mask[:, None], 2 * pixels + 1, stride=1, padding=pixels, count_include_pad=False)[:, 0]
    return torch.maximum(mask, blurred)


def shape_mask(mask, grow_by: int = 0, feather_by: int = 0):
    return feather(grow(mask, grow_by), feather_by)


def fill_from_border(x, hole):
    """x with its hole (mask 1) filled from the surrounding known values, ring by ring inwards:
    each hole pixel next to a known one takes their mean, then counts as known. A cheap, smooth
    guess of what the hole showed (the start of an inpainting pass at a strength below 1, so that
    what the hole held before, e.g. a dragged object, is not there to be regenerated).
    x: (B, C, H, W) or (B, C, T, H, W) (a video-VAE latent, filled frame by frame); hole: (B or 1, 1, H, W)
    in {0, 1}. A hole that covers everything gets 0."""
    if x.ndim > 4:
        return fill_from_border(x.reshape(x.shape[0], -1, *x.shape[-2:]), hole).reshape(x.shape)
    known = (1 - hole).expand(x.shape[0], 1, *x.shape[-2:]).clone()
    value = x * known
    for _ in range(max(x.shape[-2], x.shape[-1])):
        if bool(known.min() > 0):
            break
        total = F.avg_pool2d(value, 3, stride=1, padding=1, divisor_override=1)
        count = F.avg_pool2d(known, 3, stride=1, padding=1, divisor_override=1)
        ring = (known == 0) & (count > 0)
        value = torch.where(ring, total / count.clamp_min(1), value)
        known = torch.where(ring, torch.ones_like(known), known)
    return value
