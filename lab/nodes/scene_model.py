import functools
import os

from comfy_api.v0_0_2 import io

from ..reference import latent_scene_model, scene_model
from ..paths import LAB_MODELS
from .common import CATEGORY, PREFIX, InputError

MODELS_DIR = LAB_MODELS
DOCS = "https://github.com/sde-edit/comfyui-sde-edit/blob/main/docs"


def weight_files(folder=MODELS_DIR):
    """The *.safetensors files of `folder` (regular files only: a folder of that name is not one), but
    the latent model's VAE, which its model file names and the loader reads with it."""
    names = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors") and f != latent_scene_model.VAE_NAME
                   and os.path.isfile(os.path.join(folder, f))) if os.path.isdir(folder) else []
    return names or [latent_scene_model.WEIGHTS_NAME]


@functools.lru_cache(maxsize=2)
def _load(path, name, mtime):
    return scene_model.load(path, name)


def load_weights(weights, folder=MODELS_DIR):
    """(MODEL, CLIP, VAE) from the file `weights` of `folder`; an InputError naming the input and the
    file, relative to the folder (never the server's path), for anything else."""
    if not isinstance(weights, str) or not weights or os.path.basename(weights) != weights or "\0" in weights:
        raise InputError(f"weights must be a file name in the lab's models/ folder (lab/models), got {weights!r}")
    path = os.path.join(folder, weights)
    try:
        mtime = os.path.getmtime(path)
    except OSError:
        mtime = None
    try:
        return _load(path, weights, mtime)
    except scene_model.WeightsFileError as e:
        raise InputError(f"weights: {e}") from None


class SceneModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id=f"{PREFIX}SceneModelLoader",
            display_name="Load Scene Model (trained here)",
            category=CATEGORY,
            description="The pack's small diffusion models trained on its scene world (pictures of balls, boxes and bars "
                        "on sky and ground, with captions such as 'a red ball left of a blue bar on grass'), built from "
                        "ComfyUI's own classes at small widths: MODEL, CLIP and VAE as a checkpoint loader gives them. "
                        f"{latent_scene_model.WEIGHTS_NAME} (the default) is shaped like Stable Diffusion: 128×128 "
                        "pictures through an 8× AutoencoderKL into 4 latent channels, a UNet on its 16×16 latents "
                        f"({DOCS}/latent_scene_model.md). {scene_model.WEIGHTS_NAME} is the first, 32×32 in pixel space "
                        f"({DOCS}/scene_model.md). Both run on a CPU in seconds.",
            inputs=[io.Combo.Input("weights", options=weight_files(), default=latent_scene_model.WEIGHTS_NAME,
                                   tooltip="A model file in the lab's models/ folder (lab/models) (made by lab/commands/train_latent_scene_model.py "
                                           "or lab/commands/train_scene_model.py); the latent model's VAE file is read with it.")],
            outputs=[io.Model.Output(), io.Clip.Output(), io.Vae.Output()],
        )

    @classmethod
    def execute(cls, weights) -> io.NodeOutput:
        model, clip, vae = load_weights(weights)
        return io.NodeOutput(model, clip, vae)
