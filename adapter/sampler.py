"""The pack's algorithms as a ComfyUI SAMPLER (`comfy.samplers.Sampler`).

A Sampler receives the clean latent and the raw noise (KSAMPLER only hands its function the
already-noised x), which an editing method needs. Under `CFGGuider` / `SamplerCustomAdvanced` the
`model_wrap` it gets applies CFG, conds, ControlNet and model patches and returns x0.
"""
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import comfy.model_management
import comfy.model_sampling
import comfy.samplers
import torch

from ..sampling.drag import Paste, sde_drag, warp_drag
from ..sampling.loop import KnownRegion, inpainting_start, sample
from ..sampling.noise import StepNoise
from ..sampling.noise_levels import NoiseLevels
from ..sampling.sdedit import sdedit
from .checks import InputError, NonFiniteOutput, check_model, check_sampler_inputs

# Streams of StepNoise for one seed: the reverse steps (and the drag's forward chain), the
# re-injected known region, the drag's source perturbation.
STEP_STREAM, KNOWN_STREAM, PASTE_STREAM = 1, 2, 3
# How the known region is re-noised after every step: fresh noise each step (measured better), or the
# one noise tensor that started the sampling (the authors' pipeline).
KNOWN_NOISE = ("fresh", "fixed")


def noise_levels_of(model_sampling) -> NoiseLevels:
    """x = a·x0 + s·ε of a ComfyUI model: flow (CONST) models scale the signal by 1 − σ. Cosmos'
    rectified flow (COSMOS_RFLOW, Cosmos Predict2) rescales only the network's input: its noise_scaling
    is x0 + σ·ε, as for EPS. Newer cores scale a flow model's noise by its noise_scale (HiDream-O1:
    8). Refused, naming `model`: the image-to-image CONSTs of newer cores, whose noise_scaling returns
    the input image unnoised (their sampling starts from the image, not from noise): IMG_TO_IMG_FLOW
    (0.33, WAN21_FlowRVS; x0 = the network's output) and IMG_TO_IMG_VELOCITY (after 0.33, Marigold
    v2 through ModelSamplingAuraFlow's `sampling` img_to_img_velocity; x0 = input − output)."""
    for name in ("IMG_TO_IMG_FLOW", "IMG_TO_IMG_VELOCITY"):
        kind = getattr(comfy.model_sampling, name, None)  # None on cores without it
        if kind is not None and isinstance(model_sampling, kind):
            raise InputError(f"model: its model_sampling is {name}, an image-to-image model (ComfyUI starts its "
                             "sampling from the input image itself, never noised); SDEdit, SDE Inpaint and SDE-Drag "
                             "need a model that denoises a noised latent (EPS, V_PREDICTION, EDM, X0, COSMOS_RFLOW or "
                             "CONST/flow)")
    if isinstance(model_sampling, comfy.model_sampling.CONST):
        # newer cores: x = (1 − σ)·x0 + σ·(noise_scale·ε), noise_scale 1 unless the model sets it
        return NoiseLevels("flow", float(getattr(model_sampling, "noise_scale", 1.0)))
    if isinstance(model_sampling, (comfy.model_sampling.EPS, comfy.model_sampling.COSMOS_RFLOW)):  # EPS, V, EDM, X0
        return NoiseLevels("ve")
    # ComfyUI's model_sampling is a class built on the fly, named ModelSampling: name what it is made of
    kinds = "/".join(base.__name__ for base in type(model_sampling).__bases__) or type(model_sampling).__name__
    raise ValueError(f"model sampling {kinds} is not supported (EPS, V_PREDICTION, EDM, X0, COSMOS_RFLOW and "
                     "CONST/flow are)")


def check_editable_model(name: str, model):
    """A MODEL input the pack can edit: a MODEL, whose model_sampling `noise_levels_of` knows how to noise.
    Refused naming the input where it enters, before any work (the model is not loaded to find out)."""
    check_model(name, model)
    try:
        noise_levels_of(model.get_model_object("model_sampling"))
    except InputError:
        raise
    except ValueError as e:
        raise InputError(f"{name}: {e}") from None


@dataclass
class EditRun:
    """What an algorithm gets: the model as denoise(x, σ) -> x0, the levels, the clean latent,
    ComfyUI's noise, the schedule, the (resized) mask and the noise streams."""
    denoise: Callable
    levels: NoiseLevels
    latent: torch.Tensor
    noise: torch.Tensor
    sigmas: list
    mask: Optional[torch.Tensor]
    step_noise: StepNoise
    known_noise: StepNoise
    callback: Optional[Callable]
    stream: Callable  # stream(n) -> a StepNoise of stream n for this seed and batch
    process_latent_in: Callable  # the model's: a latent in ComfyUI's convention -> in the model's
    sigma_max: float = float("inf")  # the model's largest σ: a schedule starting there is a full one


class Edited(NamedTuple):
    """What one run of an EditSampler gives back. latent: the result as a SAMPLER returns it; kept: where
    it is exactly the input latent; frames: the latents a drag hands out besides it, in ComfyUI's latent
    convention (as a LATENT's samples); frames_kept: where each is exactly the input latent."""
    latent: torch.Tensor
    kept: torch.Tensor
    frames: tuple = ()
    frames_kept: tuple = ()


class EditSampler(comfy.samplers.Sampler):
    """Base SAMPLER: subclasses implement `run(EditRun)`, which returns the edited latent, or (edited
    latent, [frames]) for a method that hands out latents besides its result.

    seed / batch_indices: given by the pack's own nodes; inside SamplerCustomAdvanced the seed comes
    from the NOISE input (extra_args["seed"]) and the batch is numbered 0..B-1. A sampler holds its
    settings only: what a run gives back is returned (`edit`), never left on it.
    """

    def __init__(self, seed: Optional[int] = None, batch_indices=None):
        self.seed, self.batch_indices = seed, batch_indices

    def run(self, job: EditRun):
        raise NotImplementedError

    def total_steps(self, steps: int) -> int:
        return steps

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None, disable_pbar=False):
        """ComfyUI's SAMPLER protocol (SamplerCustomAdvanced): the latent, the noise mask and the sigmas
        enter the pack here, so they are checked here. Returns the result latent."""
        return self.edit(model_wrap, sigmas, extra_args, callback, noise, latent_image, denoise_mask, check=True).latent

    def edit(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None, *,
             check: bool = False) -> Edited:
        """One run, with all it gives back (`Edited`). check: the inputs come from SamplerCustomAdvanced
        (`sample`); the pack's nodes checked theirs where they entered (`adapter.guided.run_edit`)."""
        model_sampling = model_wrap.inner_model.model_sampling
        levels = noise_levels_of(model_sampling)
        if latent_image is None:
            latent_image = torch.zeros_like(noise)
        # The pack's arithmetic runs in float32 whatever the latent's dtype (a float16 latent overflows
        # in the steps' divisions by σ), as newer ComfyUI's guider does; the guider returns float32.
        latent_image, noise = latent_image.float(), noise.float()
        denoise_mask = None if denoise_mask is None else denoise_mask.float()
        if check:
            check_sampler_inputs(latent_image, denoise_mask, sigmas, flow=levels.kind == "flow")
        calls = [0]
        ran = self.run(self.job(model_wrap, levels, sigmas, extra_args, callback, noise, latent_image, denoise_mask,
                                calls))
        out, frames = ran if isinstance(ran, tuple) else (ran, [])
        kept = out == latent_image
        if not bool(torch.isfinite(out).all()):  # never hand NaN or inf on as a result
            raise NonFiniteOutput(f"{type(self).__name__} produced NaN or infinite values after {calls[0]} "
                                  "model calls: the model's predictions or the inputs overflowed (check the "
                                  "latent's range, cfg and the model); nothing was returned")
        # As KSAMPLER does: a latent left at σ > 0 goes back in ComfyUI's convention (flow: /(1 − σ)).
        latent_out = model_wrap.inner_model.process_latent_out
        return Edited(model_sampling.inverse_noise_scaling(sigmas[-1], out), kept,
                      tuple(latent_out(frame) for frame in frames), tuple(frame == latent_image for frame in frames))

    def job(self, model_wrap, levels, sigmas, extra_args, callback, noise, latent_image, denoise_mask, calls) -> EditRun:
        """The EditRun of one sampling: the model as denoise(x, σ) (each call counted in calls[0]), the
        noise streams of this seed and batch, the progress callback over `total_steps`."""
        seed = self.seed if self.seed is not None else int(extra_args.get("seed") or 0)
        shape, device = latent_image.shape, latent_image.device

        def denoise(x, sigma):
            comfy.model_management.throw_exception_if_processing_interrupted()
            calls[0] += 1
            return model_wrap(x, x.new_full((x.shape[0],), sigma), **extra_args).float()

        total = self.total_steps(len(sigmas) - 1)
        step_callback = None if callback is None else (lambda i, x0, x: callback(i, x0, x, total))

        def stream(n):
            return StepNoise(seed, shape, self.batch_indices, n, device, torch.float32)

        inner = model_wrap.inner_model
        return EditRun(
            denoise=denoise, levels=levels, latent=latent_image, noise=noise,
            sigmas=[float(s) for s in sigmas], mask=denoise_mask,
            step_noise=stream(STEP_STREAM), known_noise=stream(KNOWN_STREAM), callback=step_callback, stream=stream,
            process_latent_in=inner.process_latent_in, sigma_max=float(inner.model_sampling.sigma_max))


class SDESampler(EditSampler):
    """The shared η-sampler: η = 1 the reverse SDE, η = 0 the ODE; order 1 the DDPM/DDIM step,
    order 2 (SDE-)DPM-Solver++(2M). A mask (ComfyUI's denoise_mask, 1 = sample) is honoured by
    re-injecting the known region after every step: inpainting. The known region's noise comes from
    its own stream, so runs that differ only in η re-inject the very same known latents."""

    def __init__(self, eta: float = 1.0, order: int = 1, known_noise: str = "fresh", pure_start=None, **kw):
        """pure_start: whether a masked run starts the repaint region from pure noise (the node: at
        strength 1); None (SamplerCustomAdvanced): when the schedule starts at the model's σ_max."""
        super().__init__(**kw)
        if known_noise not in KNOWN_NOISE:
            raise ValueError(f"known_noise must be one of {KNOWN_NOISE}, got {known_noise!r}")
        self.eta, self.order, self.known_noise, self.pure_start = eta, order, known_noise, pure_start

    def run(self, job: EditRun):
        # With a mask and the whole schedule (strength 1, or denoise 1 in SamplerCustomAdvanced) the
        # repaint region starts from pure noise; below that the input is the guide there too.
        pure = job.sigmas[0] >= job.sigma_max * (1 - 1e-6) if self.pure_start is None else self.pure_start
        if job.mask is not None and pure:
            x = inpainting_start(job.levels, job.latent, job.noise, job.sigmas[0], job.mask)
        else:
            x = job.levels.noised(job.latent, job.noise, job.sigmas[0])
        known = None
        if job.mask is not None:
            z = job.known_noise if self.known_noise == "fresh" else (lambda: job.noise)
            known = KnownRegion(job.levels, job.latent, job.mask, z)
        return sample(job.denoise, job.levels, x, job.sigmas, self.eta, job.step_noise, known, job.callback, self.order)


class SDEditSampler(EditSampler):
    """SDEdit with K repeats; the mask (1 = edit) comes as ComfyUI's denoise_mask."""

    def __init__(self, eta: float = 1.0, repeats: int = 1, **kw):
        super().__init__(**kw)
        self.eta, self.repeats = eta, repeats

    def total_steps(self, steps: int) -> int:
        return steps * self.repeats

    def run(self, job: EditRun):
        return sdedit(job.denoise, job.levels, job.latent, job.noise, job.sigmas, self.eta, job.step_noise,
                      self.repeats, job.mask, job.known_noise, job.callback)


class DragSampler(EditSampler):
    """SDE-Drag (η > 0) or ODE-Drag (η = 0) along `pairs` in latent pixels; the mask (1 = may
    change) comes as ComfyUI's denoise_mask. A run gives back the latent after each sub-step as its
    frames. paste: the windows' radius, β, α and the sub-step length (`sampling.drag.Paste`); cycles: the
    sub-steps that makes (`sampling.drag.drag_substep_count`, counted once by the drag's plan). order 2
    replays with SDE-DPM-Solver++(2M). region: the pasted patch's shape instead of the windows ((B or 1,
    1, H, W) at latent resolution)."""

    def __init__(self, *, pairs, paste: Paste, cycles: int, eta: float = 1.0, order: int = 1, region=None, **kw):
        super().__init__(**kw)
        self.pairs, self.paste, self.cycles, self.region = pairs, paste, cycles, region
        self.eta, self.order = eta, order

    def total_steps(self, steps: int) -> int:
        return steps * self.cycles

    def run(self, job: EditRun):
        return sde_drag(job.denoise, job.levels, job.latent, job.sigmas, self.pairs, paste=self.paste,
                        eta=self.eta, chain_noise=job.step_noise, paste_noise=job.stream(PASTE_STREAM),
                        keep=job.mask, callback=job.callback, order=self.order,
                        region=None if self.region is None else self.region.to(job.latent))


class WarpDragSampler(EditSampler):
    """Warp-and-inpaint drag (`sampling.drag.warp_drag`): the windows of `radius` (or the region, a
    (B or 1, 1, H, W) mask at latent resolution) moved once on the clean latent, then one repair pass
    from the schedule's first σ, over what moved grown by `seam`: Cycle-SDE replay of the input's
    recorded noise (replay, the node's preset) or SDE inpainting with fresh noise. warped: (guide,
    changed) made on the picture (`adapter.drag.image_space_warp`; guide in the LATENT's convention).
    A run's frames: the warped start and the result."""

    def __init__(self, *, pairs, radius: int, seam: int = 1, eta: float = 1.0, order: int = 1, replay: bool = False,
                 region=None, warped=None, **kw):
        super().__init__(**kw)
        self.pairs, self.radius, self.seam, self.eta, self.order = pairs, radius, seam, eta, order
        self.replay, self.region, self.warped = replay, region, warped

    def run(self, job: EditRun):
        warped = None if self.warped is None else (job.process_latent_in(self.warped[0].to(job.latent)),
                                                   self.warped[1].to(job.latent))
        return warp_drag(job.denoise, job.levels, job.latent, job.sigmas, self.pairs, radius=self.radius,
                         eta=self.eta, seam=self.seam, noise=job.noise, step_noise=job.step_noise,
                         known_noise=job.known_noise, keep=job.mask, callback=job.callback, order=self.order,
                         chain_noise=job.step_noise if self.replay else None,
                         region=None if self.region is None else self.region.to(job.latent), warped=warped)
