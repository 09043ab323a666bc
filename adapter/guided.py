"""Running a pack SAMPLER on a LATENT the way SamplerCustomAdvanced does: ComfyUI's noise
(seed and batch_index), schedule, CFGGuider (CFG, conds, ControlNet, patches), noise mask,
progress bar with previews, and interrupt."""
import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview


def edit_sigmas(model, scheduler: str, steps: int, strength: float):
    """The last steps+1 sigmas of a schedule of int(steps/strength) steps: KSampler's `denoise`,
    so strength means what it means in ComfyUI's own KSampler."""
    model_sampling = model.get_model_object("model_sampling")
    total = max(int(steps / strength), steps)
    sigmas = comfy.samplers.calculate_sigmas(model_sampling, scheduler, total).cpu()
    return sigmas[-(steps + 1):]


def run_sampler(model, positive, negative, cfg: float, latent: dict, seed: int, sigmas, sampler, mask=None):
    """Returns a new LATENT dict (the input's other keys kept); the input is never written."""
    samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
    noise = comfy.sample.prepare_noise(samples, seed, latent.get("batch_index"))
    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    steps = len(sigmas) - 1
    callback = latent_preview.prepare_callback(model, sampler.total_steps(steps) if hasattr(sampler, "total_steps") else steps)
    out = guider.sample(noise, samples, sampler, sigmas, denoise_mask=mask, callback=callback,
                        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    result = latent.copy()
    result["samples"] = out.to(comfy.model_management.intermediate_device())
    return result
