"""The SDE-Drag Point Mover node: its schema; the work is `adapter.drag.drag`."""
from comfy_api.v0_0_2 import io

from ..adapter.checks import InputError
from ..adapter.drag import HANDLE_REGIONS, WARP_SPACES, drag
from ..adapter.drag_methods import METHODS
from ..adapter.points import read_points
from .common import CATEGORY, LATENTS_HELD, check_numbers, docs_url, eta_input, scheduler_input, seed_input

EMPTY_POINTS = '{"source": [], "target": []}'
DEFAULT_METHOD = "warp"
DEFAULT_HANDLE_REGION = "similar + windows"
DEFAULT_WARP_SPACE = "image"


def method_tooltip() -> str:
    """The method input's tooltip: each method's own sentence (adapter/drag_methods.METHODS)."""
    return " ".join(method.describe() for method in METHODS.values())


class SDEDragPointMover(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SDEDragPointMover",
            display_name="SDE-Drag Point Mover",
            category=CATEGORY,
            description="Moves image content from source points to target points (SDE-Drag, Nie et al. 2023): each "
                        "sub-step of the drag inverts the image with Cycle-SDE, copies the source patch to the target on "
                        "the noisy latent, and denoises with the recorded noise. eta 1 = SDE-Drag; 0 = ODE-Drag (DDIM "
                        "inversion, the paper's baseline). method picks the cost: paper = the authors' algorithm with the "
                        "inputs below (their defaults); fast = the same with fewer steps and cycles; warp = move the "
                        "patches once and repair them with one short Cycle-SDE pass that replays the input's noise "
                        "(the default: 10 model evaluations per image, 20 with CFG: a negative connected and cfg ≠ 1).",
            inputs=[
                io.Model.Input("model", tooltip="Any model: SD1.5/SDXL (eps, v), SD3/Flux (flow). A LoRA trained on the image helps identity."),
                io.Conditioning.Input("positive", tooltip="A prompt describing the image."),
                io.Conditioning.Input("negative", optional=True,
                                      tooltip="The authors use an empty prompt. Not connected: no guidance (cfg is ignored), "
                                              "as for guidance-distilled models such as Flux."),
                io.Latent.Input("latent", tooltip="The image to edit, encoded by the model's VAE."),
                io.String.Input("points", default=EMPTY_POINTS, multiline=True,
                                tooltip='Drag pairs in image pixels: {"source": [[x, y], ...], "target": [[x, y], ...]}; '
                                        "x from the left, y from the top. The point editor writes it; you can type it. "
                                        "No points: the image comes back unchanged (a reconstruction cycle)."),
                io.Mask.Input("mask", optional=True,
                              tooltip="White = may change; outside it the output is exactly the input. Not connected: the "
                                      "LATENT's noise mask if it has one, else everything may change."),
                io.Vae.Input("vae", optional=True,
                             tooltip="Only read for its downscale factor (image pixels per latent pixel); without it the "
                                     "factor comes from the model's latent format (8 for SD, SDXL, SD3, Flux)."),
                seed_input(default=1234),
                io.Int.Input("steps", default=100, min=1, max=10000,
                             tooltip="method paper only: steps of the whole schedule; round(steps * t0) of them run per sub-step."),
                io.Float.Input("t0", default=0.6, min=0.01, max=1.0, step=0.01,
                               tooltip="method paper only: noise level the image is inverted to, as a fraction of the schedule (0.01 to 1)."),
                io.Float.Input("cfg", default=3.0, min=1.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Guidance at t0; it falls linearly to 1 at the end of the schedule."),
                io.Float.Input("drag_step", default=2.0, min=0.1, max=64.0, step=0.1,
                               tooltip="method paper only: sub-step length in latent pixels; a drag costs max(1, round(longest / drag_step)) cycles."),
                io.Int.Input("patch_radius", default=5, min=1, max=256,
                             tooltip="Every method without a region (connected or painted): half-size of the square "
                                     "windows moved around each point, in latent pixels (paper; warp and fast under "
                                     "handle_region windows, similar + windows, and similar where it finds nothing); "
                                     "clipped so that the source and target windows stay inside the latent."),
                io.Float.Input("beta", default=0.3, min=0.0, max=1.0, step=0.01,
                               tooltip="paper and fast: what remains of the source patch, beta·F + sqrt(1 − beta²)·noise."),
                io.Float.Input("alpha", default=1.1, min=0.0, max=3.0, step=0.01,
                               tooltip="paper and fast: the pasted patch is alpha·F (above 1 strengthens it against the noise)."),
                eta_input(),
                scheduler_input("ddim_uniform"),
                # Last, so that workflows saved before it existed keep their widget values in place; optional, so
                # that API prompts written before it existed still run (with the default).
                io.Combo.Input("method", options=list(METHODS), default=DEFAULT_METHOD, optional=True,
                               tooltip=method_tooltip()),
                io.Mask.Input("region", optional=True,
                              tooltip="What moves: white = the object, at image or latent resolution (a segmentation node's "
                                      "mask, a painted mask, Load Image's alpha); a region painted in the point editor is "
                                      "painted over it. One pair moves it; several pairs rotate, scale or bend it (an "
                                      "as-rigid-as-possible moving-least-squares field of the pairs). warp moves it once; fast and paper paste its "
                                      "shape instead of square patches in every cycle. Region pixels sent outside the image "
                                      "or the mask are clipped. Not connected and none painted: a square window of "
                                      "patch_radius around each handle."),
                io.Combo.Input("handle_region", options=list(HANDLE_REGIONS), default=DEFAULT_HANDLE_REGION, optional=True,
                               tooltip="warp and fast, when no region is connected or painted: what moves. similar = the "
                                       "pixels around each source point that look like it (a flood fill by similarity, "
                                       "grown by one latent pixel; where it spreads over more than a quarter of the "
                                       "image, the windows). windows = a square of patch_radius around each point. "
                                       "similar + windows = both (the windows of patch_radius). paper always uses the "
                                       "authors' windows. It finds flat-coloured objects, not objects in photographs "
                                       "(2 of 15 handles on 5 photos, " + docs_url("region_drag.md") + "): there, paint the region or "
                                       "connect a segmenter's mask."),
                io.Combo.Input("warp_space", options=list(WARP_SPACES), default=DEFAULT_WARP_SPACE, optional=True,
                               tooltip="warp with a region (marked or found) and a VAE connected: image = decode, move the "
                                       "region's pixels at full resolution, encode (one VAE decode and encode per drag); "
                                       "latent = move the latent's pixels (8x coarser for SD). Without a VAE: latent."),
            ],
            outputs=[io.Latent.Output(display_name="latent"),
                     io.Latent.Output(display_name="substeps",
                                      tooltip="The latent after each sub-step (batch: sub-step by sub-step), for a GIF of the drag.")],
        )

    @classmethod
    def validate_inputs(cls, points=None):
        """Malformed points (pairs and painted region) are refused when the prompt arrives, not only when
        the node runs; points outside the image can only be checked then. points alone: ComfyUI attaches
        validate_inputs' message to every input it takes, so a bad method would mark points and scheduler
        red too. The combos are checked per input by ComfyUI itself on cores that check V3 combos (after
        0.3.75) and, on any core, by execute before any work, naming the input."""
        try:
            read_points("points", points)  # the run reads the same parse
        except InputError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, model, positive, latent, points, seed, steps, t0, cfg, drag_step, patch_radius, beta, alpha,
                eta, scheduler, method=DEFAULT_METHOD, negative=None, mask=None, vae=None, region=None,
                handle_region=DEFAULT_HANDLE_REGION, warp_space=DEFAULT_WARP_SPACE) -> io.NodeOutput:
        check_numbers(cls, steps=steps, t0=t0, cfg=cfg, drag_step=drag_step, patch_radius=patch_radius, beta=beta,
                      alpha=alpha, eta=eta)
        out, substeps, shown = drag(
            model=model, positive=positive, negative=negative, latent=latent, points=points, mask=mask, vae=vae,
            region=region, seed=seed, steps=steps, t0=t0, cfg=cfg, drag_step=drag_step, patch_radius=patch_radius,
            beta=beta, alpha=alpha, eta=eta, scheduler=scheduler, method=method, handle_region=handle_region,
            warp_space=warp_space, latents_held=LATENTS_HELD)
        return io.NodeOutput(out, substeps, ui={"sde_drag_region": [shown]} if shown else None)
