import comfy.samplers
from comfy_api.v0_0_2 import io

from ..adapter.checks import (check_choice, check_conditioning, check_edit_mask, check_latent, check_memory,
                              check_schedule, check_work)
from ..adapter.guided import edit_sigmas, run_sampler
from ..adapter.sampler import SDEditSampler, check_editable_model
from .common import (CATEGORY, LATENTS_HELD, check_numbers, cfg_input, choices_valid, eta_input, scheduler_input,
                     seed_input)


class SDEditNoiseDenoise(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SDEditNoiseDenoise",
            display_name="SDEdit Noise-and-Denoise",
            category=CATEGORY,
            description="SDEdit (Meng et al. 2021): noise the guide latent (a photo, a rough stroke painting) to "
                        "`strength` and solve the reverse SDE back. With a mask only the white region changes; the "
                        "rest is exactly the input.",
            inputs=[
                io.Model.Input("model"),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Latent.Input("latent_image", tooltip="The guide, encoded (VAEEncode)."),
                seed_input(),
                io.Int.Input("steps", default=25, min=1, max=10000, tooltip="Steps actually run, from strength down to 0."),
                io.Float.Input("strength", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="t0 in (0, 1]: how far the guide is noised (KSampler's denoise). Larger = more "
                                       "realistic, less faithful; the paper uses 0.3 to 0.6 for strokes."),
                eta_input(),
                cfg_input(),
                scheduler_input(),
                io.Int.Input("repeats", default=1, min=1, max=10, tooltip="K: run SDEdit K times, each output the next guide."),
                io.Mask.Input("mask", optional=True,
                              tooltip="White = may change. Any resolution of the latent's aspect ratio; batch 1 or the latent's. "
                                      "Without it the LATENT's noise_mask is used, if any."),
            ],
            outputs=[io.Latent.Output()],
        )

    @classmethod
    def validate_inputs(cls, scheduler=None):
        return choices_valid(scheduler=(scheduler, comfy.samplers.SCHEDULER_NAMES))

    @classmethod
    def execute(cls, model, positive, negative, latent_image, seed, steps, strength, eta, cfg, scheduler, repeats,
                mask=None) -> io.NodeOutput:
        check_editable_model("model", model)
        check_conditioning("positive", positive)
        check_conditioning("negative", negative)
        samples = check_latent("latent_image", latent_image)
        check_numbers(cls, low_open=('strength',), steps=steps, strength=strength, eta=eta, cfg=cfg)
        check_choice("scheduler", scheduler, comfy.samplers.SCHEDULER_NAMES)
        check_schedule(steps, strength)
        check_numbers(cls, repeats=repeats)
        check_work("repeats", steps * repeats, f"{steps} steps × {repeats} repeats")
        mask = check_edit_mask(mask, latent_image, "latent_image", samples)
        check_memory("latent_image", samples, LATENTS_HELD, model=model)
        sigmas = edit_sigmas(model, scheduler, steps, strength)
        sampler = SDEditSampler(eta=eta, repeats=repeats, seed=seed, batch_indices=latent_image.get("batch_index"))
        return io.NodeOutput(run_sampler(model, positive, negative, cfg, latent_image, seed, sigmas, sampler, mask))
