"""Tiny random-weight checkpoints that ComfyUI's own CheckpointLoaderSimple detects as real model families.

Example workflows are written for a user's real checkpoint (v1-5-pruned-emaonly.safetensors, an SD3
or SDXL file); no weights can be downloaded here. These files let such a workflow run end to end on
the CPU in a test: ComfyUI's model detection, its model class and sampling type (EPS or CONST), the
text encoder behind CLIPTextEncode and the VAE behind VAEEncode/VAEDecode are the real ones. The
weights are random (seeded), so the files prove the wiring, not image quality.

How small they can be is set by ComfyUI (comfy/model_detection.py, comfy/supported_models.py):
- The diffusion model's config is read from the state dict's keys and shapes, and a family matches
  on a few values only (SD1.5: model_channels 320, context_dim 768, non-linear proj_in, no ADM). So
  the UNet/MMDiT keeps those values and drops every block the detection does not look at.
- The text encoder's architecture is fixed by the family (sd1_clip_config.json for CLIP-L), whatever
  the file holds, and weights left out of the file stay uninitialised memory (torch.empty), which is
  neither deterministic nor guaranteed finite. So each text encoder is stored whole, in fp16 (the
  dtype ComfyUI runs text encoders in on the CPU anyway). CLIP-L is most of every file (~247 MB).
- The VAE is detected from its keys too: "first_stage_model.taesd_decoder.1.weight" makes ComfyUI
  build its TAESD (2.4M parameters, same 8x scale, latent channels read from the weights) in place of
  the 84M-parameter KL autoencoder. VAEEncode/VAEDecode run through ComfyUI's ordinary VAE class.

Families (FAMILIES):
- "sd15":  SD1.5 (comfy.supported_models.SD15, EPS) with CLIP-L.
- "sd15_inpaint": the same with a 9-channel input (an SD1.5 inpainting model, for
  InpaintModelConditioning workflows).
- "sd3":   SD3 (comfy.supported_models.SD3, flow matching: CONST) with CLIP-L only. ComfyUI builds
  whichever of SD3's three text encoders (clip_l, clip_g, t5xxl) the file holds, so this is the
  cheapest flow-model family that loads from one file with a working text encoder. Flux always
  builds CLIP-L *and* T5-XXL (comfy/text_encoders/flux.py, FluxClipModel: 4.7B parameters, fixed
  config, run on every CLIPTextEncode), so it cannot be made small.
- "sdxl":  SDXL (comfy.supported_models.SDXL, EPS). Its text encoder is always CLIP-L + CLIP-G
  (sdxl_clip.SDXLClipModel); CLIP-G alone is 695M parameters, so this file is ~1.9 GB and takes far
  longer to make and load than the others. It is in FAMILIES but not in DEFAULT_FAMILIES.

API: ensure(family, directory) -> path of <directory>/tiny_<family>.safetensors, made once and reused
while its embedded version matches VERSION; install(family, directory, name) links the cached file
into another folder under another name (e.g. "v1-5-pruned-emaonly.safetensors" in a test server's
models/checkpoints). CLI: python -m lab.harness.tiny_checkpoints --out DIR [families...]
"""
import argparse
import math
import os
import sys
import time
import zlib

VERSION = "1"  # bump when any family's shapes or initialisation change: cached files are then remade
FAMILIES = ("sd15", "sd15_inpaint", "sd3", "sdxl")
DEFAULT_FAMILIES = ("sd15", "sd15_inpaint", "sd3")  # sdxl is opt-in: see the module docstring
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
DEFAULT_DIR = os.path.join(ROOT, "build", "tiny_checkpoints")
META_VERSION = "tiny_checkpoints.version"
META_FAMILY = "tiny_checkpoints.family"
OPEN_CLIP_G = "conditioner.embedders.1.model."  # where SDXL files keep CLIP-G (OpenCLIP layout)


def _boot():
    """Import ComfyUI (CPU) unless the host process already did: the architectures are ComfyUI's own."""
    if "comfy.model_management" not in sys.modules:
        from .comfy_host import boot_comfyui
        boot_comfyui()


# --- the parts (built on the meta device: only names and shapes are needed) ---------------------------

def _unet(**config):
    """ComfyUI's LDM UNet (openaimodel.UNetModel) with the keyword arguments every SD/SDXL file shares."""
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    import comfy.ops
    base = dict(image_size=32, in_channels=4, out_channels=4, model_channels=320, legacy=False,
                use_spatial_transformer=True, use_checkpoint=False, device="meta",
                operations=comfy.ops.disable_weight_init)
    return UNetModel(**{**base, **config})


def _clip_l():
    """CLIP-L/14 text transformer, full size (fixed by sd1_clip_config.json, whatever the file holds).
    Only text_model, as in released checkpoints: ComfyUI does not use CLIP-L's text_projection and
    logit_scale for these families (it logs them as missing at debug level only)."""
    import torch
    import comfy.sd1_clip
    return comfy.sd1_clip.SDClipModel(device="meta", dtype=torch.float16).transformer.text_model


def _clip_g():
    """OpenCLIP bigG text encoder, full size (fixed by clip_config_bigg.json)."""
    import torch
    import comfy.sdxl_clip
    return comfy.sdxl_clip.SDXLClipG(device="meta", dtype=torch.float16)


def _taesd(latent_channels):
    """ComfyUI's TAESD: detected by "taesd_decoder.1.weight", latent channels read from that weight."""
    import torch
    import comfy.taesd.taesd
    with torch.device("meta"):
        return comfy.taesd.taesd.TAESD(latent_channels=latent_channels)


# --- the families: {key prefix in the checkpoint: module} ---------------------------------------------

def sd15(in_channels=4):
    unet = _unet(
        in_channels=in_channels,  # 4 = SD1.5; 9 = its inpainting variant (latent + mask + masked latent)
        model_channels=320,       # SD15 matches on model_channels 320 ...
        context_dim=768,          # ... and context_dim 768 (CLIP-L width), read from attn2.to_k
        use_linear_in_transformer=False,  # SD1.x uses 1x1-conv proj_in (SD2.x is linear)
        num_heads=8, num_head_channels=-1,  # SD15.unet_extra_config: what ComfyUI builds it with
        channel_mult=[1],         # one resolution level: channel_mult and level count are free
        num_res_blocks=[1],       # one input ResBlock ...
        transformer_depth=[1],    # ... with one cross-attention block (needed to detect context_dim)
        transformer_depth_output=[0, 0],  # the two output ResBlocks (num_res_blocks + 1) without attention
        transformer_depth_middle=1,  # kept (res-attn-res as in SD1.5): PAG/SAG patch the middle block
    )
    return {"model.diffusion_model.": unet,
            "cond_stage_model.transformer.text_model.": _clip_l(),
            "first_stage_model.": _taesd(4)}


def sd15_inpaint():
    return sd15(in_channels=9)


def sd3():
    from comfy.ldm.modules.diffusionmodules.mmdit import MMDiT
    import comfy.ops
    mmdit = MMDiT(
        in_channels=16, out_channels=16,  # SD3 matches on in_channels 16 (its 16-channel latent)
        patch_size=2,
        depth=2,                  # hidden size is 64 * depth (head size 64): 2 joint blocks, 128 wide
        adm_in_channels=2048,     # pooled CLIP-L (768) + CLIP-G (1280); ComfyUI zero-fills absent CLIP-G
        context_embedder_config={"target": "torch.nn.Linear",  # text tokens are zero-padded to 4096
                                 "params": {"in_features": 4096, "out_features": 128}},
        num_patches=64 * 64,      # pos_embed_max_size 64 patches: latents up to 128 (1024 px) a side
        pos_embed_max_size=64,
        pos_embed_scaling_factor=None,  # SD3 matches on this being None
        device="meta", operations=comfy.ops.disable_weight_init)
    return {"model.diffusion_model.": mmdit,
            # Only clip_l: SD3.clip_target builds clip_l / clip_g / t5xxl for the ones present.
            "text_encoders.clip_l.transformer.text_model.": _clip_l(),
            "first_stage_model.": _taesd(16)}


def sdxl():
    unet = _unet(
        model_channels=320,       # SDXL matches on model_channels 320 ...
        context_dim=2048,         # ... context_dim 2048 (CLIP-L 768 + CLIP-G 1280) ...
        adm_in_channels=2816,     # ... ADM input 2816 (pooled CLIP-G 1280 + 6 size/crop embeddings x 256) ...
        num_classes="sequential",  # the ADM input is a label_emb MLP
        use_linear_in_transformer=True,  # ... linear proj_in ...
        transformer_depth=[0, 0, 2, 2, 10, 10],  # ... and exactly these per-ResBlock depths (3 levels x 2)
        num_res_blocks=[2, 2, 2],
        channel_mult=[1, 1, 1],   # free: all levels 320 wide (SDXL's are 320/640/1280)
        transformer_depth_output=[0] * 9,  # output blocks are free: no attention
        transformer_depth_middle=1,  # kept (res-attn-res), as for sd15: PAG/SAG patch the middle block
        num_heads=-1, num_head_channels=64,  # BASE.unet_extra_config, which SDXL keeps
    )
    return {"model.diffusion_model.": unet,
            "conditioner.embedders.0.transformer.text_model.": _clip_l(),
            OPEN_CLIP_G: _clip_g(),  # rewritten into OpenCLIP's layout by state_dict()
            "first_stage_model.": _taesd(4)}


BUILDERS = {"sd15": sd15, "sd15_inpaint": sd15_inpaint, "sd3": sd3, "sdxl": sdxl}


# --- weights -------------------------------------------------------------------------------------------

SCALARS = {"logit_scale": math.log(100.0), "vae_scale": 1.0, "vae_shift": 0.0}


def _value(name, shape, generator):
    """Finite, activation-preserving random weights: N(0, 1/fan_in) matrices, unit norms, zero biases."""
    import torch
    leaf = name.rsplit(".", 1)[-1]
    if len(shape) == 0:
        return torch.tensor(SCALARS.get(leaf, 1.0))
    if leaf == "bias":
        return torch.zeros(shape)
    if len(shape) == 1:  # LayerNorm / GroupNorm / RMSNorm scales
        return torch.ones(shape)
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=generator) / math.sqrt(fan_in)


def state_dict(family):
    """The checkpoint's tensors: fp16, deterministic for a family (seeded by its name)."""
    import torch
    _boot()
    generator = torch.Generator().manual_seed(zlib.crc32(family.encode()))
    out = {}
    for prefix, module in BUILDERS[family]().items():
        for name, meta in module.state_dict().items():
            key = prefix + name
            out[key] = _value(key, tuple(meta.shape), generator).to(torch.float16)
    if any(k.startswith(OPEN_CLIP_G) for k in out):
        out = _open_clip_layout(out)
    return out


def _open_clip_layout(sd):
    """SDXL files hold CLIP-G in OpenCLIP's layout (fused in_proj_weight, resblocks, ...), which
    SDXL.process_clip_state_dict converts back on load. Convert with the function ComfyUI itself
    uses when it saves an SDXL checkpoint (SDXL.process_clip_state_dict_for_saving)."""
    import comfy.diffusers_convert
    g = {"clip_g." + k[len(OPEN_CLIP_G):]: sd.pop(k) for k in [k for k in sd if k.startswith(OPEN_CLIP_G)]}
    for k, v in comfy.diffusers_convert.convert_text_enc_state_dict_v20(g, "clip_g.").items():
        sd[OPEN_CLIP_G + k[len("clip_g."):]] = v
    return sd


def path_for(family, directory):
    return os.path.join(directory, f"tiny_{family}.safetensors")


def is_current(path, family):
    """True if `path` is a finished file of this family made with this VERSION."""
    if not os.path.isfile(path):
        return False
    from safetensors import safe_open
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:
        return False
    return meta.get(META_VERSION) == VERSION and meta.get(META_FAMILY) == family


def generate(family, directory):
    """Write the file (atomically: several test processes may ask at once) and return its path."""
    from safetensors.torch import save_file
    if family not in BUILDERS:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    os.makedirs(directory, exist_ok=True)
    path = path_for(family, directory)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        save_file(state_dict(family), tmp, metadata={META_VERSION: VERSION, META_FAMILY: family,
                                                     "tiny_checkpoints.note": "random weights, for tests only"})
        os.chmod(tmp, 0o644)  # safetensors writes 0600; a test server may run as another user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def ensure(family: str, directory: str = DEFAULT_DIR) -> str:
    """Path of <directory>/tiny_<family>.safetensors, generated once and reused while current."""
    if family not in BUILDERS:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    path = path_for(family, directory)
    if not is_current(path, family):
        generate(family, directory)
    return path


def install(family: str, directory: str, name: str = None, cache: str = DEFAULT_DIR) -> str:
    """Make the cached file appear in `directory` (e.g. a test server's models/checkpoints) under
    `name`, such as the checkpoint name an example workflow asks for. A symlink, so nothing is copied."""
    source = ensure(family, cache)
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, name or os.path.basename(source))
    if os.path.lexists(target):
        if os.path.realpath(target) == os.path.realpath(source):
            return target
        os.remove(target)
    os.symlink(os.path.abspath(source), target)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_DIR, help=f"directory (default {DEFAULT_DIR})")
    parser.add_argument("--force", action="store_true", help="regenerate even if a current file exists")
    parser.add_argument("families", nargs="*",
                        help=f"any of {', '.join(FAMILIES)} (default: {' '.join(DEFAULT_FAMILIES)})")
    args = parser.parse_args(argv)
    unknown = [f for f in args.families if f not in BUILDERS]
    if unknown:
        parser.error(f"unknown family {unknown[0]!r}; choose from {', '.join(FAMILIES)}")
    for family in args.families or DEFAULT_FAMILIES:
        start = time.perf_counter()
        path = generate(family, args.out) if args.force else ensure(family, args.out)
        print(f"{family}: {path} ({os.path.getsize(path) / 2**20:.1f} MiB, {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
