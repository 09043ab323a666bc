import comfy.samplers
from comfy_api.v0_0_2 import io

from ..adapter.checks import (check_choice, check_conditioning, check_edit_mask, check_latent, check_memory,
                              check_schedule)
from ..adapter.guided import edit_sigmas, run_sampler
from ..adapter.sampler import KNOWN_NOISE, SDESampler, check_editable_model
from ..sampling.masks import shape_mask
from .common import (CATEGORY, LATENTS_HELD, check_numbers, cfg_input, choices_valid, docs_url, eta_input, order_input,
                     scheduler_input, seed_input)


class SDEInpaint(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SDEInpaint",
            display_name="SDE Inpaint",
            category=CATEGORY,
            description="Inpainting with the stochastic sampler (Nie et al. 2023): the white region of the mask is "
                        "sampled, the rest is re-injected at the current noise level after every step and is exactly "
                        "the input at the end. eta 1 = SDE, 0 = its ODE counterpart (same seed, same known-region noise).",
            inputs=[
                io.Model.Input("model", tooltip="Any model; inpainting models fed by InpaintModelConditioning work too."),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Latent.Input("latent_image", tooltip="The image to inpaint, encoded. A LATENT from SetLatentNoiseMask or "
                                                        "VAEEncodeForInpaint brings its own mask."),
                io.Mask.Input("mask", optional=True,
                              tooltip="White = repaint. Any resolution of the latent's aspect ratio; batch 1 or the latent's. "
                                      "Without it the LATENT's noise_mask is used."),
                seed_input(),
                io.Int.Input("steps", default=25, min=1, max=10000),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="(0, 1]: 1 starts the masked region from pure noise (nothing of what it hides is "
                                       "used), over the whole schedule; below 1 the masked region's content is the guide, "
                                       "noised to that fraction of the schedule (KSampler's denoise)."),
                eta_input(),
                cfg_input(),
                scheduler_input(),
                order_input(),
                io.Int.Input("grow_mask_by", default=0, min=0, max=256, tooltip="Grow the repaint region by this many mask pixels."),
                io.Int.Input("feather", default=0, min=0, max=256,
                             tooltip="Soft seam over this many mask pixels outside the region (the feathered ring is partly repainted)."),
                # Last, so that workflows saved before it existed keep their widget values in place; optional, so
                # that API prompts written before it existed still run (with the default).
                io.Combo.Input("known_noise", options=list(KNOWN_NOISE), default="fresh", optional=True,
                               tooltip="How the kept region is re-noised after every step: fresh noise each step (measured "
                                       "better, " + docs_url("sde_vs_ode.md") + "), or fixed: the one noise tensor that started the "
                                       "sampling, as the authors' pipeline does."),
            ],
            outputs=[io.Latent.Output()],
        )

    @classmethod
    def validate_inputs(cls, scheduler=None):
        # one input: ComfyUI marks every input validate_inputs takes with its message (known_noise is
        # checked by execute, and per input by cores that check V3 combos themselves)
        return choices_valid(scheduler=(scheduler, comfy.samplers.SCHEDULER_NAMES))

    @classmethod
    def execute(cls, model, positive, negative, latent_image, seed, steps, strength, eta, cfg, scheduler, order,
                grow_mask_by, feather, mask=None, known_noise="fresh") -> io.NodeOutput:
        check_editable_model("model", model)
        check_conditioning("positive", positive)
        check_conditioning("negative", negative)
        samples = check_latent("latent_image", latent_image)
        check_numbers(cls, low_open=('strength',), steps=steps, strength=strength, eta=eta, cfg=cfg)
        check_choice("scheduler", scheduler, comfy.samplers.SCHEDULER_NAMES)
        check_choice("known_noise", known_noise, KNOWN_NOISE)
        check_schedule(steps, strength)
        check_numbers(cls, order=order, grow_mask_by=grow_mask_by, feather=feather)
        mask = check_edit_mask(mask, latent_image, "latent_image", samples, required=True)
        mask = shape_mask(mask, grow_mask_by, feather)
        check_memory("latent_image", samples, LATENTS_HELD, model=model)
        sigmas = edit_sigmas(model, scheduler, steps, strength)
        sampler = SDESampler(eta=eta, order=order, known_noise=known_noise, pure_start=strength == 1.0, seed=seed,
                             batch_indices=latent_image.get("batch_index"))
        return io.NodeOutput(run_sampler(model, positive, negative, cfg, latent_image, seed, sigmas, sampler, mask))
