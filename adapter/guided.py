"""Running a pack SAMPLER on a LATENT the way SamplerCustomAdvanced does: ComfyUI's noise
(seed and batch_index), schedule, CFGGuider (CFG, conds, ControlNet, patches), noise mask,
progress bar with previews, and interrupt."""
import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import torch

from ..sampling.ramps import linear_ramp, schedule_position
from .checks import InputError


def schedule_tail(model, scheduler: str, total: int, run: int):
    """The last run+1 sigmas of ComfyUI's `scheduler` schedule of `total` steps."""
    model_sampling = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(model_sampling, scheduler, total).cpu()
    if not bool(torch.isfinite(sigmas).all()):  # e.g. kl_optimal with 1 step gives [nan, 0]
        raise InputError(f"scheduler {scheduler!r} with steps {total} gives noise levels that are not numbers "
                         f"({', '.join(f'{float(v):.4g}' for v in sigmas[:6])}): choose more steps or another scheduler")
    return sigmas[-(run + 1):]


def edit_sigmas(model, scheduler: str, steps: int, strength: float):
    """The last steps+1 sigmas of a schedule of int(steps/strength) steps: KSampler's `denoise`,
    so strength means what it means in ComfyUI's own KSampler."""
    return schedule_tail(model, scheduler, max(int(steps / strength), steps), steps)


class RisingCFGGuider(comfy.samplers.CFGGuider):
    """CFG that rises linearly along the schedule, from 1 at σ = 0 to `cfg` at its first σ, as
    SDE-Drag does (strong guidance where the pasted patch is still noise, none near the end)."""

    def __init__(self, model, sigmas, cfg: float):
        super().__init__(model)
        self.set_cfg(cfg)
        self.schedule = [float(s) for s in sigmas]  # decreasing, ends at 0

    def cfg_at(self, sigma: float) -> float:
        return linear_ramp(*schedule_position(self.schedule, sigma), 1.0, self.cfg)

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        scale = self.cfg_at(float(timestep.flatten()[0]))
        return comfy.samplers.sampling_function(self.inner_model, x, timestep, self.conds.get("negative", None),
                                                self.conds.get("positive", None), scale,
                                                model_options=model_options, seed=seed)


def run_sampler(model, positive, negative, cfg: float, latent: dict, seed: int, sigmas, sampler, mask=None,
                guider=None):
    """Returns a new LATENT dict (the input's other keys kept); the input is never written.
    guider: a CFGGuider to use instead of a constant-cfg one (its cfg is then its own)."""
    # float32 from here on, the noise too: a float16 latent then gives what the float32 latent of the
    # same values gives (ComfyUI draws the noise in the latent's dtype), and the steps cannot overflow.
    samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"]).float()
    noise = comfy.sample.prepare_noise(samples, seed, latent.get("batch_index"))
    if guider is None:
        guider = comfy.samplers.CFGGuider(model)
        guider.set_cfg(cfg)
    guider.set_conds(positive, negative)
    steps = len(sigmas) - 1
    callback = latent_preview.prepare_callback(model, sampler.total_steps(steps) if hasattr(sampler, "total_steps") else steps)
    out = guider.sample(noise, samples, sampler, sigmas, denoise_mask=mask, callback=callback,
                        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    # What the sampler left as it was (outside the mask, what a warp did not move) comes back bit-exact,
    # whatever the model's latent scale (EditSampler.exact); a drag's frames too.
    if hasattr(sampler, "exact"):  # the pack's samplers; ComfyUI's own (KSAMPLER) are left as they are
        out = sampler.exact(out, samples)
    result = latent.copy()
    result["samples"] = out.to(comfy.model_management.intermediate_device())
    return result
