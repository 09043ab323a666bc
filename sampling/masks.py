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


def paint_strokes(strokes, height: int, width: int, base=None):
    """A (1, H, W) mask painted with brush strokes, in order: strokes [(radius, erase, [(x, y), ...])]
    in pixels (x from the left, y from the top, a pixel at its integer coordinate); a pixel is under a
    stroke when its distance to the stroke's polyline (one point: a disc) is at most radius. Painting
    sets 1, erasing sets 0, on `base` (1, H, W) or on zeros. The point editor draws the same strokes
    in the browser (round caps and joins of width 2·radius), so its overlay is this mask."""
    mask = torch.zeros(1, height, width) if base is None else base.clone()
    for radius, erase, path in strokes:
        ends = list(zip(path, path[1:])) or [(path[0], path[0])]
        for (ax, ay), (bx, by) in ends:
            # only the segment's bounding box, grown by the radius, can be reached
            x0, x1 = max(0, int(min(ax, bx) - radius)), min(width, int(max(ax, bx) + radius) + 1)
            y0, y1 = max(0, int(min(ay, by) - radius)), min(height, int(max(ay, by) + radius) + 1)
            if x0 >= x1 or y0 >= y1:
                continue
            ys, xs = torch.meshgrid(torch.arange(y0, y1, dtype=torch.float64), torch.arange(x0, x1, dtype=torch.float64),
                                    indexing="ij")
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            t = ((xs - ax) * dx + (ys - ay) * dy) / length2 if length2 > 0 else torch.zeros_like(xs)
            t = t.clamp(0, 1)
            under = (xs - ax - t * dx) ** 2 + (ys - ay - t * dy) ** 2 <= radius * radius
            mask[0, y0:y1, x0:x1] = torch.where(under, torch.tensor(0.0 if erase else 1.0), mask[0, y0:y1, x0:x1])
    return mask
