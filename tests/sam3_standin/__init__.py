"""Test-only custom node (never part of the pack): a tiny SAM 3.1 with seeded random weights, built
from ComfyUI's own classes, that stands in for the SAM 3 checkpoint loader of
workflows/SDE-Drag, region from SAM 3 (SD1.5 checkpoint).json.

A tiny SAM 3 file cannot go through the real loader: ComfyUI builds SAM 3 with the fixed dimensions
of its model config (comfy.supported_models.SAM31.unet_config), not from the tensors' shapes. So the
model is built here as the loader builds it (comfy.model_base.SAM3 from a supported_models.SAM31
config, in a ModelPatcher), with the ViT trunk's and the transformers' width given small in the
config's unet_config, which SAM3Model passes on to its detector, tracker and ViT. Staged into the test
server's custom_nodes by lab/harness/make_thumbnails.py link_standin_nodes."""
import torch

import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models

TINY = {"image_model": "SAM31", "embed_dim": 64, "depth": 2, "num_heads": 2, "global_att_blocks": (1,),
        "window_size": 24, "d_model": 64}


def fill_weights(module, seed):
    """Seeded weights of unit gain (matrices / sqrt(fan-in)); norms 1, biases 0."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=generator) / p[0].numel() ** 0.5)
            else:
                p.fill_(1.0 if name.endswith("weight") else 0.0)


def tiny_sam3(seed):
    config = comfy.supported_models.SAM31(dict(TINY))
    base = comfy.model_base.SAM3(config, device="cpu")
    fill_weights(base, seed)
    return comfy.model_patcher.ModelPatcher(base, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


class TinySAM3Loader:
    """MODEL, CLIP, VAE in the slots of the Load Checkpoint it replaces (SAM 3 has no VAE; the text
    encoder is not built: the workflow's text prompt path is bypassed)."""
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load"
    CATEGORY = "testing"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 1, "min": 0, "max": 2 ** 31})}}

    def load(self, seed):
        return tiny_sam3(seed), None, None


NODE_CLASS_MAPPINGS = {"TinySAM3Loader": TinySAM3Loader}
