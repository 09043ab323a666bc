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
from .sampler import EditSampler


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


def put_back(out, original, kept):
    """`out` with the elements where `kept` is True set to `original` (kept of another shape than `out`:
    `out` as it is)."""
    if kept.shape != out.shape or original.shape != out.shape:
        return out
    return torch.where(kept.to(out.device), original.to(out), out)


class Returning(comfy.samplers.Sampler):
    """A pack sampler handed to ComfyUI's guider for one run: the guider gives back the latent alone
    (ComfyUI's SAMPLER protocol), `edited` holds everything the run returned (`EditSampler.edit`). The
    inputs were checked where they entered, by the node: the run does not check them again."""

    def __init__(self, sampler: EditSampler):
        self.sampler, self.edited = sampler, None

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        """ComfyUI's SAMPLER protocol, its arguments by name (its guider passes disable_pbar positionally)."""
        self.edited = self.sampler.edit(model_wrap, sigmas, extra_args, callback, noise, latent_image, denoise_mask)
        return self.edited.latent


def guided_sample(model, positive, negative, cfg: float, latent: dict, seed: int, sigmas, sampler, mask, guider,
                  total: int):
    """(the LATENT's samples in float32, the sampler's result) of `sampler` under the guider (a constant-cfg
    CFGGuider when None), with ComfyUI's noise for the seed and batch_index and a progress bar of `total`."""
    # float32 from here on, the noise too: a float16 latent then gives what the float32 latent of the
    # same values gives (ComfyUI draws the noise in the latent's dtype), and the steps cannot overflow.
    samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"]).float()
    noise = comfy.sample.prepare_noise(samples, seed, latent.get("batch_index"))
    if guider is None:
        guider = comfy.samplers.CFGGuider(model)
        guider.set_cfg(cfg)
    guider.set_conds(positive, negative)
    callback = latent_preview.prepare_callback(model, total)
    out = guider.sample(noise, samples, sampler, sigmas, denoise_mask=mask, callback=callback,
                        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    return samples, out


def as_latent(latent: dict, samples) -> dict:
    """A new LATENT: `latent`'s other keys kept, its samples these (the input is never written)."""
    result = latent.copy()
    result["samples"] = samples.to(comfy.model_management.intermediate_device())
    return result


def run_edit(model, positive, negative, cfg: float, latent: dict, seed: int, sigmas, sampler: EditSampler, mask=None,
             guider=None):
    """A pack sampler's run, as the pack's nodes make it: (a new LATENT, [the latents it handed out besides,
    e.g. a drag's frames]). What the sampler left as it was (outside the mask, what a warp did not move)
    comes back bit-exact, frames too, whatever the model's latent scale: the sampler keeps it exact in
    the model's scale, and x·s/s equals x only to float rounding when the latent format has a scale or
    shift (SD1.5's 0.18215, SDXL's, SD3's, Flux's). guider: as `run_sampler`."""
    run = Returning(sampler)
    samples, out = guided_sample(model, positive, negative, cfg, latent, seed, sigmas, run, mask, guider,
                                 sampler.total_steps(len(sigmas) - 1))
    edited = run.edited
    frames = [put_back(frame, samples, kept) for frame, kept in zip(edited.frames, edited.frames_kept)]
    return as_latent(latent, put_back(out, samples, edited.kept)), frames


def run_sampler(model, positive, negative, cfg: float, latent: dict, seed: int, sigmas, sampler, mask=None,
                guider=None):
    """Returns a new LATENT dict (the input's other keys kept); the input is never written. sampler: one
    of the pack's (`run_edit`: what it left as the input comes back bit-exact) or ComfyUI's own (KSAMPLER,
    as it is). guider: a CFGGuider to use instead of a constant-cfg one (its cfg is then its own)."""
    if isinstance(sampler, EditSampler):
        return run_edit(model, positive, negative, cfg, latent, seed, sigmas, sampler, mask, guider)[0]
    _, out = guided_sample(model, positive, negative, cfg, latent, seed, sigmas, sampler, mask, guider, len(sigmas) - 1)
    return as_latent(latent, out)
