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
