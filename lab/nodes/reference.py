import functools
import random

import comfy.latent_formats
import torch
from comfy_api.v0_0_2 import io

from ..reference import scene_world, scenes
from ..reference.oracle_models import PARAMETERIZATIONS, make_model
from ..reference.oracles import BlurredImages, EmpiricalImages
from .common import CATEGORY, PREFIX, check_choice, check_numbers, choices_valid


@functools.lru_cache(maxsize=4)
def _scene_model(parameterization: str, resolution: int, tau: float = 0.0):
    images, _ = scenes.reference_images(resolution)
    latents = scenes.to_latent(images)
    oracle = EmpiricalImages(latents) if tau == 0 else BlurredImages(latents, tau)
    return make_model(oracle, parameterization, 3, comfy.latent_formats.ChromaRadiance)


class ReferenceSceneModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id=f"{PREFIX}ReferenceSceneModel",
            display_name="Reference Scene Model (exact, no checkpoint)",
            category=CATEGORY,
            description="A diffusion model whose data is exactly the pack's reference scene set (a ball on sky and "
                        "grass, at every position of a grid, in two colours): its denoiser is the closed-form "
                        "posterior mean. Works in pixel space: use VAELoader's `pixel_space` VAE. Runs on a CPU; for "
                        "learning, testing and the shipped CPU workflows.",
            inputs=[
                io.Combo.Input("parameterization", options=list(PARAMETERIZATIONS), default="eps",
                               tooltip="Which model family it behaves as: eps / v_prediction (SD1.5/SD2/SDXL-like) or flow (SD3/Flux-like)."),
                io.Int.Input("resolution", default=64, min=32, max=256, step=8, tooltip="Image size in pixels (square)."),
                io.Float.Input("tau", default=0.0, min=0.0, max=1.0, step=0.01, optional=True,
                               tooltip="0: the exact model of the set. Above 0: the set blurred by Gaussian noise of this "
                                       "standard deviation (latent units, images in [-1, 1]): a model with error, whose "
                                       "outputs can leave the set, where the SDE's advantage over the ODE shows."),
            ],
            outputs=[io.Model.Output(), io.Conditioning.Output(display_name="empty_conditioning")],
        )

    @classmethod
    def validate_inputs(cls, parameterization=None):
        return choices_valid(parameterization=(parameterization, list(PARAMETERIZATIONS)))

    @classmethod
    def execute(cls, parameterization, resolution, tau=0.0) -> io.NodeOutput:
        check_choice("parameterization", parameterization, list(PARAMETERIZATIONS))
        check_numbers(cls, resolution=resolution, tau=tau)
        empty = [[torch.zeros(1, 1, 8), {}]]
        return io.NodeOutput(_scene_model(parameterization, resolution, float(tau)), empty)


KINDS = ["stroke painting", "scene"]


class ReferenceSceneImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id=f"{PREFIX}ReferenceSceneImage",
            display_name="Reference Scene Image",
            category=CATEGORY,
            description="Draws a reference scene (the ball at x, y) or a rough stroke painting of one, as an IMAGE "
                        "for the Reference Scene Model, and a MASK of a box around the ball (for inpainting and drag "
                        "examples).",
            inputs=[
                io.Combo.Input("kind", options=KINDS, default="stroke painting"),
                io.Int.Input("x", default=30, min=0, max=256, tooltip="Ball centre, pixels from the left."),
                io.Int.Input("y", default=26, min=0, max=256, tooltip="Ball centre, pixels from the top."),
                io.Combo.Input("colour", options=list(scenes.COLOURS), default="red"),
                io.Int.Input("resolution", default=64, min=32, max=256, step=8),
            ],
            outputs=[io.Image.Output(), io.Mask.Output(display_name="ball_box")],
        )

    @classmethod
    def validate_inputs(cls, kind=None):
        # one input: ComfyUI marks every input validate_inputs takes with its message (colour is checked
        # by execute, and per input by cores that check V3 combos themselves)
        return choices_valid(kind=(kind, KINDS))

    @classmethod
    def execute(cls, kind, x, y, colour, resolution) -> io.NodeOutput:
        check_choice("kind", kind, KINDS)
        check_choice("colour", colour, list(scenes.COLOURS))
        check_numbers(cls, x=x, y=y, resolution=resolution)
        box = torch.zeros(1, resolution, resolution)
        half = round(12 * resolution / scenes.SIZE)
        box[:, max(y - half, 0): y + half, max(x - half, 0): x + half] = 1.0
        scale = resolution / scenes.SIZE
        if kind == "scene":
            img = scenes.render(scenes.Scene(x, y, colour), resolution, scenes.RADIUS * scale)
        else:
            img = scenes.stroke_painting(x, y, colour, resolution)
        return io.NodeOutput(img.permute(1, 2, 0)[None].contiguous(), box)


WORLD_KINDS = ["scene", "stroke painting"]
WORLD_SIZES = ["32x32", "128x128"]  # the pixel model's pictures; the latent model's (objects 1/10 to 1/3 of them)


class SceneWorldImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id=f"{PREFIX}SceneWorldImage",
            display_name="Scene World Image",
            category=CATEGORY,
            description="A picture of the scene world the pack's scene model was trained on (one to three balls, "
                        "boxes and bars on sky and ground), or a rough stroke painting of it, drawn from a seed; with "
                        "the mask of its nearest object and its caption. 32×32 for the pixel model, 128×128 for the "
                        "latent model.",
            inputs=[
                io.Int.Input("seed", default=0, min=0, max=2 ** 31 - 1, tooltip="Which scene (the same seed draws the same scene)."),
                io.Combo.Input("kind", options=WORLD_KINDS, default="scene"),
                io.Combo.Input("size", options=WORLD_SIZES, default="32x32", optional=True,
                               tooltip="Picture size: 32x32 (the pixel scene model's) or 128x128 (the latent scene model's)."),
            ],
            outputs=[io.Image.Output(), io.Mask.Output(display_name="nearest_object"), io.String.Output(display_name="caption")],
        )

    @classmethod
    def validate_inputs(cls, kind=None):
        return choices_valid(kind=(kind, WORLD_KINDS))

    @classmethod
    def execute(cls, seed, kind, size="32x32") -> io.NodeOutput:
        check_choice("kind", kind, WORLD_KINDS)
        check_choice("size", size, WORLD_SIZES)
        check_numbers(cls, seed=seed)
        w = scene_world.random_world(random.Random(seed), size=int(size.split("x")[0]))
        img = scene_world.render(w) if kind == "scene" else scene_world.stroke_painting(w)
        return io.NodeOutput(img.permute(1, 2, 0)[None].contiguous(), scene_world.object_mask(w)[None], w.caption)
