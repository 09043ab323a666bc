"""Input checks, run before any model is loaded: a bad input gets an error that names it and says
what is allowed, and nothing is sampled."""
import math

import torch


class InputError(ValueError):
    pass


class NonFiniteOutput(RuntimeError):
    """A run that would return NaN or inf: raised instead of returning it."""


def check_finite_tensor(name: str, value):
    if isinstance(value, torch.Tensor) and not bool(torch.isfinite(value).all()):
        raise InputError(f"{name} contains NaN or infinite values")


MAX_SCHEDULE = 10000  # steps in one ComfyUI schedule: computing a longer one cannot be interrupted
MAX_SAMPLING_STEPS = 100_000  # steps one prompt may run in all (repeats, drag cycles)
MAX_LATENT_VALUE = 1e4  # real latents stay within ±100 (unscaled VAE latents ±50); beyond this the steps overflow


def check_range(name: str, value, low, high, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        interval = f"{'(' if low_open else '['}{low}, {high}]"
        raise InputError(f"{name} must be in {interval}, got {value}")


def check_latent(name: str, latent):
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.is_nested:
        raise InputError(f"{name} must be a LATENT with a 'samples' tensor")
    if samples.ndim not in (4, 5) or samples.numel() == 0:
        raise InputError(f"{name} is empty or not a (batch, channels, [frames,] height, width) latent: shape {tuple(samples.shape)}")
    check_finite_tensor(name, samples)
    check_latent_values(name, samples)
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
    check_finite_tensor(name, mask)
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


def check_edit_mask(mask, latent: dict, latent_name: str, samples, required: bool = False):
    """An editing node's `mask` input or, where it is not connected, its LATENT's noise_mask, checked by
    `check_mask` under the name of the one used; None where there is neither, which `required` refuses
    (SDE Inpaint: the mask is what it fills)."""
    if mask is not None:
        return check_mask("mask", mask, samples)
    if required and latent.get("noise_mask") is None:
        raise InputError("mask: connect a MASK, or give a LATENT with a noise mask (SetLatentNoiseMask, VAEEncodeForInpaint)")
    return check_mask(f"{latent_name}'s noise_mask", latent.get("noise_mask"), samples)


def check_sampler_inputs(latent_image, noise_mask, sigmas, flow: bool):
    """What SamplerCustomAdvanced hands a SAMPLER of the pack, which nothing else has looked at (the pack's
    own nodes check their inputs where they enter): checked as the nodes check theirs. flow: the model's
    signal scale is 1 − σ, so σ above 1 is refused."""
    check_finite_tensor("latent_image", latent_image)
    check_latent_values("latent_image", latent_image)
    if noise_mask is not None:
        check_finite_tensor("noise_mask", noise_mask)
        if noise_mask.min() < 0 or noise_mask.max() > 1:
            raise InputError(f"noise_mask values must be in [0, 1], got [{float(noise_mask.min())}, {float(noise_mask.max())}]")
    check_sigmas("sigmas", sigmas)
    if flow and float(sigmas.max()) > 1.0:  # a(σ) = 1 − σ: above 1 the signal turns negative
        raise InputError(f"sigmas: a flow model's noise levels run from 1 (pure noise) to 0; got up to "
                         f"{float(sigmas.max()):.4g} (a SetFirstSigma or custom schedule above 1)")


def check_schedule(steps: int, strength: float, strength_name: str = "strength"):
    """KSampler-style strength runs the last `steps` of a schedule of steps / strength steps: bound it."""
    total = steps / strength
    if not total <= MAX_SCHEDULE:
        raise InputError(f"{strength_name} {strength:g} with steps {steps} asks for a schedule of {total:.3g} steps; "
                         f"steps / {strength_name} must be at most {MAX_SCHEDULE} (here: {strength_name} ≥ "
                         f"{steps / MAX_SCHEDULE:g}, or fewer steps)")


def check_work(name: str, steps: int, detail: str):
    if steps > MAX_SAMPLING_STEPS:
        raise InputError(f"{name}: this prompt would run {steps} sampling steps ({detail}); at most "
                         f"{MAX_SAMPLING_STEPS} are allowed in one prompt")


def free_bytes_for_sampling(model, device) -> int:
    """Bytes free for sampling on `device`, as ComfyUI's own sampling asks (samplers.py, 0.33): the
    MODEL's patcher where it has `get_free_memory(device)` (ComfyUI 0.33 on: with dynamic VRAM it adds
    what the resident models' weights would give up), else the device's free memory (0.3.75)."""
    import comfy.model_management
    patcher_free = getattr(model, "get_free_memory", None)
    if callable(patcher_free):
        return patcher_free(device)
    return comfy.model_management.get_free_memory(device)


def check_memory(name: str, samples, latents_held: int, model=None):
    """Refuse a latent whose sampling would hold more float32 copies of it than the device has room for.
    model: the MODEL (a ModelPatcher) that will sample it: its device and its free memory; None: the
    torch device's free memory."""
    import comfy.model_management
    need = latents_held * samples.numel() * 4
    device = getattr(model, "load_device", None) or comfy.model_management.get_torch_device()
    free = free_bytes_for_sampling(model, device)
    if need > free:
        raise InputError(f"{name} is {tuple(samples.shape)}: sampling it holds about {latents_held} float32 copies "
                         f"({need / 2 ** 30:.1f} GiB) and {device} has {free / 2 ** 30:.1f} GiB free; use a smaller "
                         "latent or batch")


def check_choice(name: str, value, options):
    """A COMBO value. ComfyUI 0.3.75 does not check a V3 node's combos when the prompt arrives. options: any
    collection (a dict's keys too); a value it cannot even be looked up in (a list, a dict) is refused."""
    try:
        known = value in options
    except (TypeError, ValueError, RuntimeError):  # unhashable in a dict or set; a tensor's ambiguous ==
        known = False
    if not known:
        shown = ", ".join(map(str, options)) if len(options) <= 20 else f"{len(options)} options, e.g. {', '.join(map(str, list(options)[:5]))}"
        raise InputError(f"{name} must be one of {shown}; got {value!r}")


def check_model(name: str, model):
    """A MODEL input that is a MODEL (a value typed into a prompt where a link belongs is not)."""
    if not hasattr(model, "get_model_object"):
        raise InputError(f"{name} must be a MODEL (connect a model loader), got {type(model).__name__}")


def check_conditioning(name: str, cond):
    """A CONDITIONING input: a list of [tensor, dict] pairs."""
    ok = isinstance(cond, list) and all(isinstance(c, (list, tuple)) and len(c) == 2 and isinstance(c[0], torch.Tensor)
                                        and isinstance(c[1], dict) for c in cond)
    if not ok:
        raise InputError(f"{name} must be a CONDITIONING (connect a text encoder), got {type(cond).__name__}")


def check_vae(name: str, vae):
    if vae is not None and not hasattr(vae, "decode"):
        raise InputError(f"{name} must be a VAE (connect a VAE loader) or be left unconnected, got {type(vae).__name__}")


def check_sigmas(name: str, sigmas):
    """A schedule the steps can run: finite, ≥ 0, non-increasing, starting above 0."""
    check_finite_tensor(name, sigmas)
    values = [float(s) for s in sigmas.flatten()] if isinstance(sigmas, torch.Tensor) else list(sigmas)
    if len(values) > 1 and (values[0] <= 0 or min(values) < 0 or any(b > a for a, b in zip(values, values[1:]))):
        raise InputError(f"{name} must fall from a positive first value to 0 or more, never rising; got "
                         f"{', '.join(f'{v:.4g}' for v in values[:6])}{' ...' if len(values) > 6 else ''}")


def check_latent_values(name: str, samples):
    largest = float(samples.abs().max()) if samples.numel() else 0.0
    if largest > MAX_LATENT_VALUE:
        raise InputError(f"{name} has values up to {largest:.3g}; latent values must be within ±{MAX_LATENT_VALUE:g} "
                         "(a VAE's latents are within ±100)")


def check_lora(name: str, lora):
    """A LORA_MODEL (TrainLoraNode's): a non-empty dict of finite tensors."""
    if lora is None:
        return
    if not isinstance(lora, dict) or not lora or not all(isinstance(v, torch.Tensor) for v in lora.values()):
        raise InputError(f"{name} must be a LORA_MODEL (connect Train LoRA's lora output), got {type(lora).__name__}")
    for key, value in lora.items():
        check_finite_tensor(f"{name} ({key})", value)


def check_hooks(name: str, hooks):
    """A HOOKS input (Create Hook LoRA's, for instance)."""
    if hooks is not None and not (hasattr(hooks, "hooks") and hasattr(hooks, "set_keyframes_on_hooks")):
        raise InputError(f"{name} must be HOOKS (connect Create Hook LoRA) or be left unconnected, got {type(hooks).__name__}")
