"""Finding what moves when the user marks nothing: the region around a drag's handles."""
import torch

from .warp import pixel_at


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
            col, row = pixel_at(sx, sy, height, width)
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
