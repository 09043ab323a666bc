"""The geometry of a drag's move, on a clean latent or on the decoded picture: the square windows of
SDE-Drag's copy-and-paste (Nie et al. 2023, arXiv 2311.01410, section 5), and a region moved along the
pairs' rigid moving-least-squares field (Schaefer, McPhail and Warren 2006) by backward mapping, as
Inpaint4Drag (Lu and Han 2025, arXiv 2509.04582) moves its region. Coordinates are pixels of the
tensor moved (x = column, y = row)."""
import torch

from .masks import fill_from_border


def pixel_at(x: float, y: float, height: int, width: int):
    """The pixel (column, row) a point (x, y) falls in, rounded and clamped to the height × width grid."""
    return min(max(round(x), 0), width - 1), min(max(round(y), 0), height - 1)


def windows(source, target, radius: int, height: int, width: int):
    """Row and column slices of the source and target patches: a (2r)×(2r) window around each point,
    each side clipped (the same for both) so that both windows stay inside the latent."""
    (sx, sy), (tx, ty) = source, target
    left, right = min(radius, sx, tx), min(radius, width - sx, width - tx)
    up, down = min(radius, sy, ty), min(radius, height - sy, height - ty)
    src = (slice(sy - up, sy + down), slice(sx - left, sx + right))
    tgt = (slice(ty - up, ty + down), slice(tx - left, tx + right))
    return src, tgt


def warp_windows(x, moves, radius: int):
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
