import functools
import os

from comfy_api.v0_0_2 import io

from ..adapter import scene_model
from ..adapter.checks import InputError
from .common import CATEGORY

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


def weight_files():
    names = sorted(f for f in os.listdir(MODELS_DIR) if f.endswith(".safetensors")) if os.path.isdir(MODELS_DIR) else []
    return names or [scene_model.WEIGHTS_NAME]


@functools.lru_cache(maxsize=2)
def _load(path, mtime):
    return scene_model.load(path)


class SceneModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SDESceneModelLoader",
            display_name="Load Scene Model (trained here)",
            category=f"{CATEGORY}/testing",
            description="The pack's small diffusion model trained on its scene world (32×32 pictures of balls, boxes "
                        "and bars on sky and ground, with captions such as 'a red ball left of a blue bar on grass'). "
                        "ComfyUI's own UNet and CLIP text encoder at small widths, in pixel space: MODEL, CLIP and "
                        "VAE as a checkpoint loader gives them. Runs on a CPU in seconds. See docs/scene_model.md.",
            inputs=[io.Combo.Input("weights", options=weight_files(), default=scene_model.WEIGHTS_NAME,
                                   tooltip="A weights file in the pack's models/ folder (made by commands/train_scene_model.py).")],
            outputs=[io.Model.Output(), io.Clip.Output(), io.Vae.Output()],
        )

    @classmethod
    def execute(cls, weights) -> io.NodeOutput:
        if not isinstance(weights, str) or os.path.basename(weights) != weights:
            raise InputError(f"weights must be a file name in {MODELS_DIR}, got {weights!r}")
        path = os.path.join(MODELS_DIR, weights)
        try:
            mtime = os.path.getmtime(path)
        except OSError:
            mtime = None
        try:
            model, clip, vae = _load(path, mtime)
        except scene_model.WeightsFileError as e:
            raise InputError(f"weights: {e}") from None
        return io.NodeOutput(model, clip, vae)
