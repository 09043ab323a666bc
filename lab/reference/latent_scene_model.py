"""The latent scene model: shaped like Stable Diffusion. ComfyUI's own AutoencoderKL (the class its
VAE loader builds for SD1/SDXL VAEs) at a small width, 8× downscale into 4 channels, and ComfyUI's
UNetModel on its 16×16×4 latents of 128×128 scene-world pictures, conditioned on captions through
the same small CLIP text transformer as the pixel model (lab/reference/scene_model.py).

Two files, as a user's checkpoint and VAE: the denoiser (UNet + text encoder, FORMAT version 2,
metadata naming its VAE file and the latent scale) and the VAE (VAE_FORMAT). Loading and refusing
bad files is lab/reference/scene_model.load's; this module holds the architectures. Imports ComfyUI
when it builds them.
"""
import torch

WEIGHTS_NAME = "sde_edit_latent_scene_model.safetensors"
VAE_NAME = "sde_edit_scene_vae.safetensors"
VAE_FORMAT = "sde-edit-scene-vae"
VAE_FORMAT_VERSION = "1"
RESOLUTION = 128  # pictures; latents are RESOLUTION // 8
LATENT_CHANNELS = 4

# ComfyUI's AutoencoderKL at a quarter of SD's width: 32, 32, 64, 64 channels at 128², 64², 32², 16²,
# one residual block per level (SD: 128..512 and two); same layout of keys as an SD VAE.
VAE_DDCONFIG = {"double_z": True, "z_channels": LATENT_CHANNELS, "resolution": RESOLUTION, "in_channels": 3,
                "out_ch": 3, "ch": 32, "ch_mult": [1, 1, 2, 2], "num_res_blocks": 1, "attn_resolutions": [],
                "dropout": 0.0}
VAE_CONFIG = {"params": {"ddconfig": VAE_DDCONFIG, "embed_dim": LATENT_CHANNELS}}

# ComfyUI's UNetModel on 16×16×4 latents: 32, 64, 128 channels at 16², 8², 4², cross-attention to the
# caption at 8² and 4² (the pixel model's layout one level down).
UNET_CONFIG = dict(
    image_size=RESOLUTION // 8, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, model_channels=32,
    channel_mult=[1, 2, 4], num_res_blocks=[1, 1, 1], transformer_depth=[0, 1, 1],
    transformer_depth_output=[0, 0, 1, 1, 1, 1], transformer_depth_middle=1, context_dim=32, num_head_channels=32,
    use_linear_in_transformer=True, use_spatial_transformer=True, legacy=False, adm_in_channels=None,
    use_checkpoint=False)


def build_vae():
    """ComfyUI's AutoencoderKL with VAE_CONFIG (its layers skip initialisation, as for a checkpoint)."""
    from comfy.ldm.models.autoencoder import AutoencoderKL
    return AutoencoderKL(**VAE_CONFIG["params"])


def build_unet(operations=None):
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    import comfy.ops
    return UNetModel(**UNET_CONFIG, operations=operations or comfy.ops.disable_weight_init)


def encode_mean(vae, images):
    """Latent means of (N, 3, S, S) pictures in [0, 1], as ComfyUI's VAEEncode gives them (before the
    model's latent scale)."""
    h = vae.quant_conv(vae.encoder(images * 2 - 1))
    return h.chunk(2, 1)[0]
