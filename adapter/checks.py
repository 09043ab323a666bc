"""Input checks, run before any model is loaded: a bad input gets an error that names it and says
what is allowed, and nothing is sampled."""
import math

import torch


class InputError(ValueError):
    pass


def check_range(name: str, value, low, high, low_open=False):
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok or (isinstance(value, float) and math.isnan(value)):
        interval = f"{'(' if low_open else '['}{low}, {high}]"
        raise InputError(f"{name} must be in {interval}, got {value}")


def check_latent(name: str, latent):
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.is_nested:
        raise InputError(f"{name} must be a LATENT with a 'samples' tensor")
    if samples.ndim not in (4, 5) or samples.numel() == 0:
        raise InputError(f"{name} is empty or not a (batch, channels, [frames,] height, width) latent: shape {tuple(samples.shape)}")
    if not torch.isfinite(samples).all():
        raise InputError(f"{name} contains NaN or infinite values")
    batch_index = latent.get("batch_index")
    if batch_index is not None and len(batch_index) != samples.shape[0]:
        raise InputError(f"{name} has {len(batch_index)} batch_index entries for a batch of {samples.shape[0]}")
    return samples


def check_mask(name: str, mask, samples, tolerance: float = 0.02):
    """A MASK (H, W) or (B, H, W), at latent or image resolution, of the latent's aspect ratio,
    batch 1 or the latent's batch, values in [0, 1] (1 = may change)."""
    if mask is None:
        return None
    if isinstance(mask, torch.Tensor) and mask.ndim == 4 and mask.shape[1] == 1:  # a LATENT's noise_mask
        mask = mask[:, 0]
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3) or mask.numel() == 0:
        raise InputError(f"{name} must be a MASK of shape (height, width) or (batch, height, width), got {getattr(mask, 'shape', type(mask))}")
    if not torch.isfinite(mask).all():
        raise InputError(f"{name} contains NaN or infinite values")
    if mask.min() < 0 or mask.max() > 1:
        raise InputError(f"{name} values must be in [0, 1], got [{float(mask.min())}, {float(mask.max())}]")
    mask = mask if mask.ndim == 3 else mask[None]
    batch, height, width = samples.shape[0], samples.shape[-2], samples.shape[-1]
    if mask.shape[0] not in (1, batch):
        raise InputError(f"{name} has a batch of {mask.shape[0]}; it must be 1 or the latent's batch ({batch})")
    ratio, latent_ratio = mask.shape[-1] / mask.shape[-2], width / height
    if abs(ratio / latent_ratio - 1) > tolerance + 1 / min(height, width):
        raise InputError(f"{name} is {mask.shape[-1]}x{mask.shape[-2]} (width x height), which does not fit the latent's "
                         f"aspect ratio {width}x{height}; give it at image or latent resolution")
    return mask
