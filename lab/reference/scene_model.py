"""Loading the pack's trained scene model: ComfyUI's own UNet (openaimodel.UNetModel) and CLIP text
transformer (sd1_clip.SDClipModel with ComfyUI's SD1 tokenizer) at small widths, in pixel space
(ComfyUI's pixel_space VAE: 3 channels, one latent pixel per image pixel), v-prediction on SD1's
schedule (ComfyUI's V_PREDICTION, as SD2-768). Imports ComfyUI when it builds them.

`load(path)` reads a weights file and returns ComfyUI's MODEL, CLIP and VAE, refusing a missing,
empty, truncated, foreign, mismatched or non-finite file by name before building anything.
Training it (the trainable modules, writing the file) is lab/commands/train_scene_model.py's.
"""
import os

import torch

WEIGHTS_NAME = "sde_edit_scene_model.safetensors"
FORMAT = "sde-edit-scene-model"
FORMAT_VERSION = "1"
LATENT_FORMAT_VERSION = "2"  # the latent model (lab/reference/latent_scene_model.py): UNet + text encoder, its VAE in a second file
UNET_PREFIX, CLIP_PREFIX = "model.diffusion_model.", "cond_stage_model."
RESOLUTION = 32
PREDICTIONS = ("v", "eps")  # the metadata's "prediction": ComfyUI's V_PREDICTION or EPS

UNET_CONFIG = dict(  # 3.5 M parameters: 32, 64, 128 channels at 32², 16², 8²; cross-attention at 16² and 8²
    image_size=RESOLUTION, in_channels=3, out_channels=3, model_channels=32, channel_mult=[1, 2, 4],
    num_res_blocks=[1, 1, 1], transformer_depth=[0, 1, 1], transformer_depth_output=[1, 1, 1, 1, 0, 0],
    transformer_depth_middle=1, context_dim=32, num_head_channels=32, use_linear_in_transformer=True,
    use_spatial_transformer=True, legacy=False, adm_in_channels=None, use_checkpoint=False)

# CLIP's text transformer (comfy.clip_model.CLIPTextModel) at 32 wide, 2 layers. It is not trained:
# its seeded random weights give every caption a fixed embedding and the UNet's cross-attention
# learns to read it (ComfyUI's CLIP layers add in place, which autograd cannot differentiate).
CLIP_CONFIG = {
    "hidden_size": 32, "intermediate_size": 128, "num_attention_heads": 2, "num_hidden_layers": 2,
    "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5, "projection_dim": 32, "bos_token_id": 49406, "eos_token_id": 49407,
}


class WeightsFileError(ValueError):
    pass


def build_unet(operations=None):
    """The UNet; operations: ComfyUI's layer classes (default: disable_weight_init, as for a checkpoint)."""
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    import comfy.ops
    return UNetModel(**UNET_CONFIG, operations=operations or comfy.ops.disable_weight_init)


def text_encoder_classes():
    """(SceneClip, SceneTokenizer): ComfyUI's SD1 CLIP wrapper around the small transformer, and its tokenizer."""
    import comfy.sd1_clip

    class SceneClipModel(comfy.sd1_clip.SDClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}, **kwargs):
            super().__init__(device=device, dtype=dtype, textmodel_json_config=dict(CLIP_CONFIG),
                             layer="last", return_projected_pooled=False, model_options=model_options)

    class SceneTokenizer(comfy.sd1_clip.SD1Tokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data={}):
            super().__init__(embedding_directory=embedding_directory, tokenizer_data=tokenizer_data,
                             clip_name="l", tokenizer=comfy.sd1_clip.SDTokenizer)

    class SceneClip(comfy.sd1_clip.SD1ClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}, **kwargs):
            super().__init__(device=device, dtype=dtype, model_options=model_options, clip_name="l", clip_model=SceneClipModel)

    return SceneClip, SceneTokenizer


def read_safetensors(path: str, name: str, what: str = "scene model weights"):
    """(state dict, metadata) of a safetensors file; WeightsFileError naming it (as `name`, never the
    server's path) if it is a folder, missing, not a safetensors file (empty, truncated, foreign) or
    holds NaN or infinite weights."""
    import safetensors
    import safetensors.torch
    if os.path.isdir(path):
        raise WeightsFileError(f"{what} {name!r} is a folder, not a weights file")
    if not os.path.isfile(path):
        raise WeightsFileError(f"{what} {name!r} not found")
    try:
        with safetensors.safe_open(path, "pt") as f:
            meta = f.metadata() or {}
        sd = safetensors.torch.load_file(path)
    except Exception as e:  # safetensors raises its own errors for empty / truncated / non-safetensors files
        reason = str(e).replace(os.path.abspath(path), name).replace(path, name)
        raise WeightsFileError(f"{what} {name!r} cannot be read as safetensors "
                               f"(empty, truncated or not a weights file): {reason}") from None
    total = sum(v.numel() for v in sd.values())
    bad = sum(int((~torch.isfinite(v)).sum()) for v in sd.values() if v.is_floating_point() or v.is_complex())
    if bad:
        raise WeightsFileError(f"{name!r}: {bad} of {total} weights are NaN or infinite (a corrupted or badly trained file)")
    return sd, meta


def check_shapes(name: str, part: str, have: dict, want: dict):
    """WeightsFileError naming the file unless `have` has exactly `want`'s keys and shapes."""
    if set(have) != set(want):
        missing, extra = sorted(set(want) - set(have))[:3], sorted(set(have) - set(want))[:3]
        raise WeightsFileError(f"{name!r}: its {part} weights do not match the scene model (missing {missing}, unexpected {extra})")
    wrong = [k for k in sorted(want) if tuple(have[k].shape) != tuple(want[k])]
    if wrong:
        k = wrong[0]
        raise WeightsFileError(f"{name!r}: its {part} weights do not match the scene model ({len(wrong)} of another shape, "
                               f"e.g. {k} is {tuple(have[k].shape)}, expected {tuple(want[k])})")


def read_weights(path: str, name: str = None):
    """The UNet and text-encoder state dicts and the metadata of a scene-model file (the pixel model,
    format version 1, or the latent model, version 2); WeightsFileError naming the file if it is
    missing, not a safetensors file (empty, truncated, foreign), not this model's weights, or holds
    NaN or infinite weights. name: how messages name the file (default: its file name); the server's
    path is never shown."""
    name = name or os.path.basename(path)
    sd, meta = read_safetensors(path, name)
    if meta.get("format") != FORMAT:
        raise WeightsFileError(f"{name!r} is not an SDE-Edit scene model (metadata format "
                               f"{meta.get('format')!r}, expected {FORMAT!r})")
    versions = (FORMAT_VERSION, LATENT_FORMAT_VERSION)
    if meta.get("version") not in versions:
        raise WeightsFileError(f"{name!r} is scene model format version {meta.get('version')!r}; this pack reads "
                               f"{' or '.join(map(repr, versions))}")
    if meta.get("prediction", "eps") not in PREDICTIONS:
        raise WeightsFileError(f"{name!r}: its metadata's prediction is {meta.get('prediction')!r}; this pack reads "
                               f"{' or '.join(map(repr, PREDICTIONS))}")
    unet = {k[len(UNET_PREFIX):]: v.float() for k, v in sd.items() if k.startswith(UNET_PREFIX)}
    clip = {k[len(CLIP_PREFIX):]: v.float() for k, v in sd.items() if k.startswith(CLIP_PREFIX)}
    check_shapes(name, "UNet", unet, build_unet_shapes(latent=meta["version"] == LATENT_FORMAT_VERSION))
    return unet, clip, meta


def build_unet_shapes(latent: bool = False):
    from . import latent_scene_model
    with torch.device("meta"):
        unet = latent_scene_model.build_unet() if latent else build_unet()
        return {k: v.shape for k, v in unet.state_dict().items()}


def read_vae(path: str, name: str):
    """The latent model's VAE state dict; WeightsFileError naming the VAE file for anything else."""
    from . import latent_scene_model as lsm
    sd, meta = read_safetensors(path, name, what="scene model VAE")
    if meta.get("format") != lsm.VAE_FORMAT:
        raise WeightsFileError(f"{name!r} is not the scene model's VAE (metadata format {meta.get('format')!r}, "
                               f"expected {lsm.VAE_FORMAT!r})")
    with torch.device("meta"):
        want = {k: v.shape for k, v in lsm.build_vae().state_dict().items()}
    check_shapes(name, "VAE", sd, want)
    return {k: v.float() for k, v in sd.items()}


def latent_format(meta: dict):
    """ComfyUI's latent format for the latent model: 4 channels, its measured scale (SD1's is
    0.18215) and its fitted latent-to-RGB preview factors, from the file's metadata."""
    import json
    import comfy.latent_formats

    class SceneLatent(comfy.latent_formats.SD15):
        def __init__(self):
            super().__init__(scale_factor=float(meta["latent_scale"]))
            self.latent_rgb_factors = json.loads(meta["latent_rgb_factors"])
            self.latent_rgb_factors_bias = json.loads(meta["latent_rgb_bias"])
            self.taesd_decoder_name = None
    return SceneLatent


def reload(path: str, name: str = None, disable_dynamic=False):
    """load() again, as ModelPatcher.cached_patcher_init calls it (the patchers built are plain ones)."""
    return load(path, name)


def load(path: str, name: str = None):
    """(MODEL, CLIP, VAE) for ComfyUI from a scene-model weights file; name: how errors name it. The
    latent model's VAE is read from the file its metadata names, in the same folder."""
    import comfy.latent_formats
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher
    import comfy.sd
    import comfy.supported_models_base
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    from . import latent_scene_model as lsm

    name = name or os.path.basename(path)
    unet_sd, clip_sd, meta = read_weights(path, name)
    latent = meta["version"] == LATENT_FORMAT_VERSION
    if latent:
        vae_name = meta.get("vae", "")
        if not vae_name or os.path.basename(vae_name) != vae_name:
            raise WeightsFileError(f"{name!r}: its metadata names no VAE file ({vae_name!r})")
        folder_name = os.path.dirname(name)
        vae_sd = read_vae(os.path.join(os.path.dirname(path), vae_name), os.path.join(folder_name, vae_name))
        try:
            fmt = latent_format(meta)
        except (KeyError, ValueError, TypeError) as e:
            raise WeightsFileError(f"{name!r}: its metadata's latent scale or preview factors are missing or wrong ({e})") from None
    model_type = {"v": comfy.model_base.ModelType.V_PREDICTION, "eps": comfy.model_base.ModelType.EPS}[meta.get("prediction", "eps")]
    unet_config = dict(lsm.UNET_CONFIG if latent else UNET_CONFIG)

    class SceneModelConfig(comfy.supported_models_base.BASE):
        unet_extra_config = {}
        # pixel model: 3 channels, pixel space, no scaling; latent model: its VAE's 4 channels
        latent_format = fmt if latent else comfy.latent_formats.ChromaRadiance
        sampling_settings = {}  # SD1's scaled-linear schedule, 1000 steps
        memory_usage_factor = 0.05
        supported_inference_dtypes = [torch.float32]

    SceneModelConfig.unet_config = unet_config
    config = SceneModelConfig(dict(unet_config))
    device = comfy.model_management.get_torch_device()
    model = comfy.model_base.BaseModel(config, model_type=model_type, device=device, unet_model=UNetModel)
    model.diffusion_model.load_state_dict(unet_sd, strict=True)
    model.diffusion_model.to(torch.float32)
    # Frozen weights: a prompt runs under inference mode anyway, but code calling the nodes directly
    # (the benchmark, the tests) would otherwise record autograd graphs across a whole sampling run.
    model.requires_grad_(False)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=comfy.model_management.unet_offload_device())
    # a newer core's multi-GPU deep clone reloads the MODEL from the file through this (older cores ignore it)
    patcher.cached_patcher_init = (reload, (path, name), 0)

    SceneClip, SceneTokenizer = text_encoder_classes()
    target = comfy.supported_models_base.ClipTarget(SceneTokenizer, SceneClip)
    clip = comfy.sd.CLIP(target, model_options={"dtype": torch.float32})
    try:
        missing, unexpected = clip.load_sd({k.removeprefix("clip_l.transformer."): v for k, v in clip_sd.items()})
    except RuntimeError as e:  # torch's load_state_dict: a weight of another shape
        raise WeightsFileError(f"{name!r}: its text encoder weights do not match the scene model "
                               f"({str(e).strip().splitlines()[-1].strip()})") from None
    if missing:
        raise WeightsFileError(f"{name!r}: text encoder weights missing: {sorted(missing)[:3]}")
    if latent:  # ComfyUI's own VAE class around its AutoencoderKL, as its VAE loader builds for SD
        vae = comfy.sd.VAE(sd=vae_sd, config=lsm.VAE_CONFIG, dtype=torch.float32)
    else:
        vae = comfy.sd.VAE(sd={"pixel_space_vae": torch.tensor(1.0)})
    return patcher, clip, vae
