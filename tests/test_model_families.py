"""Every image model family of the running ComfyUI (0.3.75 or 0.33) through the three editing nodes.

Each family is built small in this process from ComfyUI's own pieces: its `comfy.supported_models`
config class (latent format, sampling settings, model_base class), the family's real diffusion
architecture from `comfy/ldm/...` with tiny hyperparameters (one or two blocks, 32 to 96 wide; Z-Image
needs 256: its adaLN input is min(dim, 256) while its timestep embedder always gives 256), every weight
a checkpoint would hold filled as `lab/harness/tiny_checkpoints.py` fills them (N(0, 1/fan_in), zero biases,
unit norms), wrapped in a `ModelPatcher`. The conditioning has the shapes the family's text encoders
give (pooled vectors, attention masks, T5 / Llama side inputs), so ComfyUI's `extra_conds` and the
architecture run as they do on a real checkpoint; only the widths are small.

On a latent of the family's own shape (channels from its latent format; height and width = image size
/ the family's downscale factor, which ComfyUI's own empty-latent node for the family confirms; a
(B, C, 1, H, W) latent for the Wan-VAE families, as their VAE encodes an image), each node must:
- return a finite latent of the input's shape;
- leave everything outside a mask given at image resolution bit-exact (the mask is aligned to latent
  pixels, so which latent pixels may change is known without ComfyUI's resize);
- SDE-Drag: take its points in image pixels and map them with the family's factor: the warp method
  changes nothing outside the source and target windows (plus the 1-px seam) around the latent pixels
  that contain the points, and refuses a point one pixel outside the image (W × factor). The drag node
  takes (B, C, H, W) latents: the Wan-VAE families drag the (B, 16, H, W) latent of EmptySD3LatentImage.
The pack's noising x = a·x0 + s·ε is checked against ComfyUI's own noise_scaling for every family.

The nodes run inside torch.inference_mode(), as ComfyUI's executor runs them. Families a core lacks
skip naming the core. The image-to-image model samplings of newer cores (IMG_TO_IMG_FLOW,
IMG_TO_IMG_VELOCITY), whose sampling starts from the unnoised image, are refused by every editing node,
naming `model`, before any model call (on the AuraFlow row, the class installed where the core lacks
it). The table in docs/model_families.md is this file's result. Run:
.venv/bin/python -m pytest tests/test_model_families.py (0.3.75), and
COMFYUI_PATH=$PWD/build/ComfyUI-0.33.0 .venv-0.33.0/bin/python -m pytest tests/test_model_families.py (0.33)
"""
import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.model_sampling
import comfy.ldm.chroma.model
import comfy.ldm.chroma_radiance.model
import comfy.ldm.flux.model
import comfy.ldm.hunyuan_video.model
import comfy.supported_models as sm
import comfyui_version
import pytest
import torch

from sde_edit_pack.adapter.checks import InputError
from sde_edit_pack.adapter.points import downscale_factor
from sde_edit_pack.adapter.sampler import noise_levels_of
from sde_edit_pack.nodes.drag import SDEDragPointMover
from sde_edit_pack.nodes.inpaint import SDEInpaint
from sde_edit_pack.nodes.sdedit import SDEditNoiseDenoise
from sde_edit_pack.sampling.warp import windows

CORE = comfyui_version.__version__
TEXT = 32  # width of every tiny text condition (the real ones are 768 to 4096)
TOKENS = 4


def empty_sd(w, h):
    import nodes
    return nodes.EmptyLatentImage().generate(w, h, 1)[0]["samples"]


def empty_sd3(w, h):
    from comfy_extras.nodes_sd3 import EmptySD3LatentImage
    return EmptySD3LatentImage.execute(w, h, 1).result[0]["samples"]


def empty_flux2(w, h):
    from comfy_extras.nodes_flux import EmptyFlux2LatentImage
    return EmptyFlux2LatentImage.execute(w, h, 1).result[0]["samples"]


def empty_hunyuan_image(w, h):
    from comfy_extras.nodes_hunyuan import EmptyHunyuanImageLatent
    return EmptyHunyuanImageLatent.execute(w, h, 1).result[0]["samples"]


def empty_chroma_radiance(w, h):
    from comfy_extras.nodes_chroma_radiance import EmptyChromaRadianceLatentImage
    return EmptyChromaRadianceLatentImage.execute(width=w, height=h, batch_size=1).result[0]["samples"]


def empty_hidream_o1(w, h):
    from comfy_extras.nodes_hidream_o1 import EmptyHiDreamO1LatentImage
    return EmptyHiDreamO1LatentImage.execute(width=w, height=h, batch_size=1).result[0]["samples"]


def empty_cascade(stage):
    def make(w, h):
        from comfy_extras.nodes_stable_cascade import StableCascade_EmptyLatentImage
        c, b = StableCascade_EmptyLatentImage.execute(w, h, 42, 1).result  # 42: the node's default compression
        return (c if stage == "c" else b)["samples"]
    return make


@dataclass(frozen=True)
class Family:
    id: str
    config: str                       # name of the comfy.supported_models class (newer cores add some)
    unet: dict                        # tiny hyperparameters of the family's own architecture
    factor: int                       # image pixels per latent pixel
    latent: tuple                     # the latent's shape without the batch
    cond: Callable = dict             # extra conditioning keys, as the family's text encoders give them
    empty: Optional[Callable] = None  # ComfyUI's empty-latent node for the family: (width, height) -> latent
    model_type: Optional[object] = None  # comfy.model_base.ModelType, where the file's weights would pick it
    state_dict: dict = field(default_factory=dict)  # keys ComfyUI reads from a checkpoint to pick the type
    text: int = TEXT                  # width of the text condition, where the architecture fixes it

    def config_class(self):
        """The core's config class; skips (naming the core) where this core does not have the family."""
        cls = getattr(sm, self.config, None)
        if cls is None:
            pytest.skip(f"{self.id}: {self.config} is not in ComfyUI {CORE} (a newer core's family)")
        return cls

    def image_size(self):
        return self.latent[-1] * self.factor, self.latent[-2] * self.factor


def declared(params, **values):
    """The values of `values` that the core's params dataclass declares: newer cores made some of
    them required (Flux's txt_ids_dims, ...), which 0.3.75 does not accept."""
    names = {f.name for f in dataclasses.fields(params)}
    return {k: v for k, v in values.items() if k in names}


def pooled(n=TEXT):
    return lambda: {"pooled_output": torch.randn(1, n, generator=torch.Generator().manual_seed(7))}


UNET = dict(image_size=32, use_checkpoint=False, use_spatial_transformer=True, legacy=False, adm_in_channels=None,
            num_res_blocks=[1], channel_mult=[1], transformer_depth=[1], transformer_depth_output=[0, 0],
            transformer_depth_middle=1, context_dim=TEXT, in_channels=4, out_channels=4)
SDXL_UNET = dict(UNET, model_channels=64, use_linear_in_transformer=True, num_classes="sequential",
                 adm_in_channels=2816)
FLUX = dict(context_in_dim=TEXT, hidden_size=64, mlp_ratio=2.0, num_heads=2, depth=1, depth_single_blocks=1,
            axes_dim=[8, 12, 12], theta=10000, patch_size=2, qkv_bias=True,
            **declared(comfy.ldm.flux.model.FluxParams, txt_ids_dims=[]))  # model_detection's values
CHROMA = dict(FLUX, in_channels=64, out_channels=64, in_dim=64, out_dim=64, hidden_dim=32, n_layers=1,
              **declared(comfy.ldm.chroma.model.ChromaParams, vec_in_dim=None))
LUMINA = dict(image_model="lumina2", patch_size=2, in_channels=16, n_layers=1, n_refiner_layers=1, cap_feat_dim=TEXT,
              qk_norm=True, axes_dims=[8, 12, 12])
HYDIT = dict(input_size=(16, 16), patch_size=2, in_channels=4, hidden_size=64, depth=4, num_heads=2,
             text_states_dim=TEXT, text_states_dim_t5=TEXT, text_len=TOKENS, text_len_t5=TOKENS)
PIXART = dict(input_size=16, patch_size=2, in_channels=4, hidden_size=96, depth=1, num_heads=2, caption_channels=TEXT,
              model_max_length=TOKENS, pe_interpolation=1.0)
HUNYUAN = dict(image_model="hunyuan_video", vec_in_dim=None, context_in_dim=TEXT, hidden_size=64, mlp_ratio=2.0,
               num_heads=2, depth=1, depth_single_blocks=1, theta=256, qkv_bias=True, guidance_embed=False, byt5=False,
               meanflow=False, use_cond_type_embedding=False, vision_in_dim=None,
               **declared(comfy.ldm.hunyuan_video.model.HunyuanVideoParams, meanflow_sum=False))
CASCADE = dict(c_r=64, c_cond=32, c_hidden=[32, 32], blocks=[[1, 1], [1, 1]], block_repeat=[[1, 1], [1, 1]],
               c_clip_seq=4)
WAN_VAE_LATENT = (16, 1, 8, 8)  # (C, T, H, W): what the Wan 2.1 VAE encodes one image to


def t5_side():
    return {"attention_mask": torch.ones(1, TOKENS), "conditioning_mt5xl": torch.randn(1, TOKENS, TEXT),
            "attention_mask_mt5xl": torch.ones(1, TOKENS)}


def no_pooled():
    return {"pooled_output": None}


def anima_text():
    """What Anima's text encoder adds to its Qwen3 states: the prompt's T5 token ids and their weights."""
    g = torch.Generator().manual_seed(11)
    return {"t5xxl_ids": torch.randint(0, 32128, (TOKENS,), generator=g, dtype=torch.int),
            "t5xxl_weights": torch.ones(TOKENS)}


def cascade_pooled():
    return {"pooled_output": torch.randn(1, 1, TEXT)}


FAMILIES = [
    Family("SD15", "SD15", dict(UNET, model_channels=32, use_linear_in_transformer=False), 8, (4, 8, 8),
           empty=empty_sd),
    Family("SD20-v", "SD20", dict(UNET, model_channels=64, use_linear_in_transformer=True), 8, (4, 8, 8),
           empty=empty_sd, model_type=comfy.model_base.ModelType.V_PREDICTION),
    Family("SDXL", "SDXL", SDXL_UNET, 8, (4, 8, 8), pooled(1280), empty_sd),
    Family("SDXL-Playground2.5", "SDXL", SDXL_UNET, 8, (4, 8, 8), pooled(1280), empty_sd,
           state_dict={"edm_mean": torch.zeros(1, 4, 1, 1), "edm_std": torch.ones(1, 4, 1, 1)}),
    Family("SD3", "SD3",
           dict(in_channels=16, out_channels=16, patch_size=2, depth=1, adm_in_channels=TEXT, num_patches=256,
                pos_embed_max_size=16, pos_embed_scaling_factor=None,
                context_embedder_config={"target": "torch.nn.Linear",
                                         "params": {"in_features": TEXT, "out_features": 64}}),
           8, (16, 8, 8), pooled(), empty_sd3),
    Family("AuraFlow", "AuraFlow",
           dict(in_channels=4, out_channels=4, patch_size=2, dim=64, n_layers=2, n_double_layers=1, n_heads=2,
                global_conddim=64, cond_seq_dim=TEXT, max_seq=64),
           8, (4, 8, 8), empty=empty_sd),
    # PixArt's position embedding divides by round(mean latent side / 64) · 64: latents under 33 a side fail in ComfyUI
    Family("PixArtAlpha", "PixArtAlpha", dict(PIXART, image_model="pixart_alpha", micro_condition=True),
           8, (4, 40, 40), empty=empty_sd),
    Family("PixArtSigma", "PixArtSigma", dict(PIXART, image_model="pixart_sigma", micro_condition=False),
           8, (4, 40, 40), empty=empty_sd),
    Family("HunyuanDiT", "HunyuanDiT", dict(HYDIT, image_model="hydit"), 8, (4, 8, 8), t5_side, empty_sd),
    Family("HunyuanDiT1", "HunyuanDiT1", dict(HYDIT, image_model="hydit1", size_cond=True, use_style_cond=True),
           8, (4, 8, 8), t5_side, empty_sd),
    Family("Flux", "Flux", dict(FLUX, image_model="flux", in_channels=16, out_channels=16, vec_in_dim=TEXT,
                                 guidance_embed=True),
           8, (16, 8, 8), lambda: dict(pooled()(), guidance=3.5), empty_sd3),
    Family("Flux2", "Flux2",
           dict(FLUX, image_model="flux2", in_channels=128, out_channels=128, vec_in_dim=None, patch_size=1,
                axes_dim=[8, 8, 8, 8], theta=2000, qkv_bias=False, guidance_embed=True, global_modulation=True,
                mlp_silu_act=True, ops_bias=False, default_ref_method="index", ref_index_scale=10.0,
                **declared(comfy.ldm.flux.model.FluxParams, txt_ids_dims=[3])),
           16, (128, 8, 8), lambda: dict(no_pooled(), guidance=4.0), empty_flux2),
    Family("Chroma", "Chroma", dict(CHROMA, image_model="chroma"), 8, (16, 8, 8), no_pooled, empty_sd3),
    Family("ChromaRadiance", "ChromaRadiance",
           dict(CHROMA, image_model="chroma_radiance", in_channels=3, out_channels=3, patch_size=16,
                nerf_hidden_size=16, nerf_mlp_ratio=2, nerf_depth=1, nerf_max_freqs=8, nerf_tile_size=512,
                nerf_final_head_type="conv", nerf_embedder_dtype=torch.float32,
                **declared(comfy.ldm.chroma_radiance.model.ChromaRadianceParams, use_x0=False,
                           use_sequential_txt_ids=False)),
           1, (3, 32, 32), no_pooled, empty_chroma_radiance),
    Family("Lumina2", "Lumina2",
           dict(LUMINA, dim=64, n_heads=2, n_kv_heads=2, axes_lens=[300, 512, 512], rope_theta=10000.0,
                ffn_dim_multiplier=4.0),
           8, (16, 8, 8), empty=empty_sd3),
    Family("ZImage", "ZImage",
           dict(LUMINA, dim=256, n_heads=8, n_kv_heads=8, axes_lens=[1536, 512, 512], rope_theta=256.0,
                ffn_dim_multiplier=8.0 / 3.0, z_image_modulation=True, time_scale=1000.0, pad_tokens_multiple=32),
           8, (16, 8, 8), empty=empty_sd3),
    Family("HiDream", "HiDream",
           dict(image_model="hidream", patch_size=2, in_channels=16, out_channels=16, num_layers=1, num_single_layers=1,
                attention_head_dim=32, num_attention_heads=2, caption_channels=[TEXT, TEXT], text_emb_dim=TEXT,
                num_routed_experts=2, num_activated_experts=1, axes_dims_rope=(16, 8, 8), max_resolution=(16, 16),
                llama_layers=[0, 1]),
           8, (16, 8, 8), lambda: dict(pooled()(), conditioning_llama3=torch.randn(1, 2, TOKENS, TEXT)), empty_sd3),
    Family("Omnigen2", "Omnigen2",
           dict(image_model="omnigen2", patch_size=2, in_channels=16, out_channels=None, hidden_size=64, num_layers=1,
                num_refiner_layers=1, num_attention_heads=2, num_kv_heads=2, multiple_of=32, ffn_dim_multiplier=None,
                norm_eps=1e-5, axes_dim_rope=[8, 12, 12], axes_lens=[1024, 1664, 1664], text_feat_dim=TEXT,
                timestep_scale=1000.0),
           8, (16, 8, 8), lambda: {"attention_mask": torch.ones(1, TOKENS, dtype=torch.long)}, empty_sd3),
    Family("QwenImage", "QwenImage",
           dict(image_model="qwen_image", patch_size=2, in_channels=64, out_channels=16, num_layers=1,
                attention_head_dim=32, num_attention_heads=2, joint_attention_dim=TEXT, axes_dims_rope=(8, 12, 12)),
           8, WAN_VAE_LATENT, empty=empty_sd3),
    Family("HunyuanImage21", "HunyuanImage21",
           dict(HUNYUAN, in_channels=64, out_channels=64, patch_size=[1, 1], axes_dim=[16, 16]),
           32, (64, 8, 8), empty=empty_hunyuan_image),
    Family("CosmosT2IPredict2", "CosmosT2IPredict2",
           dict(image_model="cosmos_predict2", max_img_h=240, max_img_w=240, max_frames=128, in_channels=16,
                out_channels=16, patch_spatial=2, patch_temporal=1, concat_padding_mask=True, model_channels=64,
                num_blocks=1, num_heads=2, crossattn_emb_channels=TEXT, pos_emb_cls="rope3d", pos_emb_learnable=True,
                pos_emb_interpolation="crop", min_fps=1, max_fps=30, use_adaln_lora=True, adaln_lora_dim=16,
                extra_per_block_abs_pos_emb=False, rope_h_extrapolation_ratio=4.0, rope_w_extrapolation_ratio=4.0,
                rope_t_extrapolation_ratio=1.0, extra_h_extrapolation_ratio=1.0, extra_w_extrapolation_ratio=1.0,
                extra_t_extrapolation_ratio=1.0, rope_enable_fps_modulation=False),
           8, WAN_VAE_LATENT, empty=empty_sd3),
    Family("Stable_Cascade_C", "Stable_Cascade_C",
           dict(CASCADE, stable_cascade_stage="c", c_in=16, c_out=16, patch_size=1, nhead=[2, 2],
                level_config=["CTA", "CTA"], c_clip_text=TEXT, c_clip_text_pooled=TEXT, switch_level=[False]),
           42, (16, 8, 8), cascade_pooled, empty_cascade("c")),
    Family("Stable_Cascade_B", "Stable_Cascade_B",
           dict(CASCADE, stable_cascade_stage="b", c_in=4, c_out=4, patch_size=4, nhead=[-1, 2],
                level_config=["CT", "CTA"], c_clip=TEXT),
           4, (4, 84, 84), cascade_pooled, empty_cascade("b")),
    # No empty-latent node: the factor is the x4 upscaler VAE's (comfy/sd.py sets downscale_ratio = 4 for it).
    # Its four levels (disable_self_attentions has four entries) need 16 latent pixels a side: at 8 the
    # last level is 1 × 1 and GroupNorm refuses a batch of one.
    Family("SD_X4Upscaler", "SD_X4Upscaler",
           dict(UNET, in_channels=7, model_channels=32, use_linear_in_transformer=True, use_temporal_attention=False,
                channel_mult=[1, 1, 1, 1], num_res_blocks=[1] * 4, transformer_depth=[0, 0, 0, 1],
                transformer_depth_output=[0] * 8),
           4, (4, 16, 16)),
    # --- families of newer cores (0.33): skipped on 0.3.75, naming the core ---
    Family("ErnieImage", "ErnieImage",
           dict(image_model="ernie", hidden_size=64, num_attention_heads=2, num_layers=1, ffn_hidden_size=128,
                in_channels=128, out_channels=128, patch_size=1, text_in_dim=TEXT, rope_axes_dim=(8, 12, 12)),
           16, (128, 8, 8), empty=empty_flux2),
    Family("Lens", "Lens",
           dict(image_model="lens", in_channels=128, out_channels=32, patch_size=2, num_layers=1,
                attention_head_dim=32, num_attention_heads=2, enc_hidden_dim=TEXT, axes_dims_rope=(8, 12, 12),
                multi_layer_encoder_feature=False, selected_layer_index=(0,)),
           16, (128, 8, 8), lambda: {"attention_mask": torch.ones(1, TOKENS)}, empty_flux2),
    Family("MageFlow", "MageFlow",
           dict(image_model="mage_flow", in_channels=128, out_channels=128, num_layers=1, attention_head_dim=32,
                num_attention_heads=2, joint_attention_dim=TEXT, axes_dims_rope=(8, 12, 12)),
           16, (128, 8, 8), empty=empty_flux2),
    Family("Ideogram4", "Ideogram4",
           dict(image_model="ideogram4", in_channels=128, num_layers=1, num_attention_heads=2, attention_head_dim=32,
                intermediate_size=128, adaln_dim=32, llm_features_dim=TEXT, rope_theta=10000,
                mrope_section=[6, 5, 5], norm_eps=1e-5),
           16, (128, 8, 8), empty=empty_flux2),
    Family("LongCatImage", "LongCatImage",
           dict(FLUX, image_model="flux", in_channels=16, out_channels=16, vec_in_dim=None, guidance_embed=False,
                txt_ids_dims=[1, 2]),
           8, (16, 8, 8), no_pooled, empty_sd3),
    Family("Kandinsky5Image", "Kandinsky5Image",
           dict(image_model="kandinsky5", in_visual_dim=16, out_visual_dim=16, visual_embed_dim=64,
                in_text_dim=TEXT, in_text_dim2=TEXT, time_dim=32, model_dim=64, ff_dim=128, patch_size=(1, 2, 2),
                num_text_blocks=1, num_visual_blocks=1, axes_dims=(8, 12, 12), rope_scale_factor=(1.0, 1.0, 1.0)),
           8, (16, 8, 8), pooled(), empty_sd3),
    Family("Boogu", "Boogu",
           dict(image_model="boogu", patch_size=2, in_channels=16, out_channels=None, hidden_size=64, num_layers=1,
                num_double_stream_layers=1, num_refiner_layers=1, num_attention_heads=2, num_kv_heads=2,
                multiple_of=32, ffn_dim_multiplier=None, norm_eps=1e-5, axes_dim_rope=(8, 12, 12),
                axes_lens=(1024, 1664, 1664), instruction_feat_dim=TEXT, timestep_scale=1000.0),
           8, (16, 8, 8), lambda: {"attention_mask": torch.ones(1, TOKENS, dtype=torch.long)}, empty_sd3),
    # Anima: Cosmos Predict2's DiT behind an LLM adapter with fixed widths (1024, 6 layers, a 32128-token
    # embedding: 135M of the row's weights): the Qwen3 0.6B text encoder's 1024-wide states and the prompt's
    # T5 token ids and weights go through it, and the DiT reads its 1024-wide output
    Family("Anima", "Anima",
           dict(image_model="anima", max_img_h=240, max_img_w=240, max_frames=128, in_channels=16,
                out_channels=16, patch_spatial=2, patch_temporal=1, concat_padding_mask=True, model_channels=64,
                num_blocks=1, num_heads=2, crossattn_emb_channels=1024, pos_emb_cls="rope3d", pos_emb_learnable=True,
                pos_emb_interpolation="crop", min_fps=1, max_fps=30, use_adaln_lora=True, adaln_lora_dim=16,
                extra_per_block_abs_pos_emb=False, rope_h_extrapolation_ratio=4.0, rope_w_extrapolation_ratio=4.0,
                rope_t_extrapolation_ratio=1.0, extra_h_extrapolation_ratio=1.0, extra_w_extrapolation_ratio=1.0,
                extra_t_extrapolation_ratio=1.0, rope_enable_fps_modulation=False),
           8, WAN_VAE_LATENT, anima_text, empty_sd3, text=1024),
    Family("Krea2", "Krea2",
           dict(image_model="krea2", features=64, tdim=32, txtdim=TEXT, heads=2, kvheads=2, multiplier=2, layers=1,
                patch=2, channels=16, txtlayers=1, txtheads=2, txtkvheads=2),
           8, WAN_VAE_LATENT, empty=empty_sd3),
    Family("JoyImage", "JoyImage",
           dict(image_model="joyimage", patch_size=[1, 2, 2], in_channels=16, hidden_size=64, num_attention_heads=2,
                text_dim=TEXT, mlp_width_ratio=2.0, num_layers=1, rope_dim_list=[8, 12, 12], theta=10000),
           8, WAN_VAE_LATENT, empty=empty_sd3),
    Family("ZImagePixelSpace", "ZImagePixelSpace",
           dict(LUMINA, image_model="zimage_pixel", patch_size=16, in_channels=3, dim=256, n_heads=8, n_kv_heads=8,
                axes_lens=[1536, 512, 512], rope_theta=256.0, ffn_dim_multiplier=8.0 / 3.0, z_image_modulation=True,
                time_scale=1000.0, pad_tokens_multiple=32, decoder_in_channels=768, decoder_hidden_size=32,
                decoder_num_res_blocks=1, decoder_max_freqs=8),
           1, (3, 32, 32), empty=empty_chroma_radiance),
    Family("PixelDiTT2I", "PixelDiTT2I",
           dict(image_model="pixeldit_t2i", in_channels=3, num_groups=2, hidden_size=64, pixel_hidden_size=8,
                pixel_attn_hidden_size=32, pixel_num_groups=2, patch_depth=1, pixel_depth=1, patch_size=16,
                txt_embed_dim=TEXT, txt_max_length=TOKENS),
           1, (3, 32, 32), lambda: {"attention_mask": torch.ones(1, TOKENS)}, empty_chroma_radiance),
    # pixel space, 32-px patches; its transformer is a Qwen3-VL language model reading the prompt's token ids;
    # ComfyUI noises it with σ·8ε (sampling_settings noise_scale 8)
    Family("HiDreamO1", "HiDreamO1",
           dict(image_model="hidream_o1",
                text_config_overrides=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                           num_attention_heads=2, num_key_value_heads=2, head_dim=32,
                                           rope_dims=[6, 5, 5]),
                vision_config_overrides=dict(hidden_size=32, num_heads=2, intermediate_size=64, depth=1,
                                             deepstack_visual_indexes=(), num_position_embeddings=64)),
           1, (3, 64, 64), lambda: {"text_input_ids": torch.arange(10, 10 + TOKENS)[None]}, empty_hidream_o1,
           text=1),  # its text encoder passes the ids on, with a (1, N, 1) placeholder the model does not read
]
BY_ID = {f.id: f for f in FAMILIES}
IDS = [f.id for f in FAMILIES]

# Config classes run here under another row's architecture (variants), or that are no image model.
# HunyuanImage21Refiner is an image model that cannot be edited: see its test.
VARIANTS = {  # same architecture class, latent format and kind of model_sampling as the row named
    "SD21UnclipL": "SD20-v", "SD21UnclipH": "SD20-v", "Stable_Zero123": "SD15", "SD15_instructpix2pix": "SD15",
    "SDXL_instructpix2pix": "SDXL", "SDXLRefiner": "SDXL", "SSD1B": "SDXL", "Segmind_Vega": "SDXL",
    "KOALA_700M": "SDXL", "KOALA_1B": "SDXL", "FluxInpaint": "Flux", "FluxSchnell": "Flux",
    # 0.33: PiD is PixelDiT's super-resolution variant (PidNet: PixDiT_T2I plus an optional lq_latent input)
    "PiD": "PixelDiTT2I",
}
NOT_IMAGE = {  # video, audio and 3D models; Lotus predicts depth or normals from an image
    "LotusD", "SVD_img2vid", "SV3D_u", "SV3D_p", "StableAudio", "ACEStep", "GenmoMochi", "LTXV", "HunyuanVideo",
    "HunyuanVideoI2V", "HunyuanVideoSkyreelsI2V", "HunyuanVideo15", "HunyuanVideo15_SR_Distilled", "CosmosT2V",
    "CosmosI2V", "CosmosI2VPredict2", "WAN21_T2V", "WAN21_I2V", "WAN21_FunControl2V", "WAN21_Vace", "WAN21_Camera",
    "WAN22_Camera", "WAN21_HuMo", "WAN22_S2V", "WAN22_Animate", "WAN22_T2V", "Hunyuan3Dv2", "Hunyuan3Dv2_1",
    "Hunyuan3Dv2mini",
    # 0.33: video (CogVideoX, Wan variants, Kandinsky 5 video, SeedVR2 video restoration), audio-video
    # (LTXAV, MiniMax H3), audio (ACE-Step 1.5, MiniMax Music 3, Stable Audio 3), 3D (Trellis 2,
    # TripoSplat), and image analysis (SAM 3 / 3.1 segmentation, RT-DETR v4 detection, Depth Anything 3)
    "CogVideoX_T2V", "CogVideoX_I2V", "CogVideoX_Inpaint", "WAN21_CausalAR_T2V", "WAN21_FlowRVS", "WAN21_SCAIL",
    "WAN21_SCAIL2", "WAN22_WanDancer", "WAN_Animate2", "Kandinsky5", "SeedVR2", "LTXAV", "MiniMaxH3", "ACEStep15",
    "MiniMaxMusic3", "StableAudio3", "Trellis2", "TripoSplat", "SAM3", "SAM31", "RT_DETR_v4", "DepthAnything3",
}
CANNOT_EDIT = {"HunyuanImage21Refiner"}
NEWER_CORE = {  # config classes ComfyUI 0.33 has and 0.3.75 lacks
    "ErnieImage", "Lens", "MageFlow", "Ideogram4", "LongCatImage", "Kandinsky5Image", "Boogu", "Anima", "Krea2",
    "JoyImage", "ZImagePixelSpace", "PixelDiTT2I", "PiD", "HiDreamO1", "CogVideoX_T2V", "CogVideoX_I2V",
    "CogVideoX_Inpaint", "WAN21_CausalAR_T2V", "WAN21_FlowRVS", "WAN21_SCAIL", "WAN21_SCAIL2", "WAN22_WanDancer",
    "WAN_Animate2", "Kandinsky5", "SeedVR2", "LTXAV", "MiniMaxH3", "ACEStep15", "MiniMaxMusic3", "StableAudio3",
    "Trellis2", "TripoSplat", "SAM3", "SAM31", "RT_DETR_v4", "DepthAnything3",
}


def fill_weights(module, seed=0):
    """Every tensor a checkpoint of this module would hold (parameters and persistent buffers), as
    lab/harness/tiny_checkpoints.py fills them: N(0, 1/fan_in) matrices, zero biases, unit norms."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if t.ndim == 0 or (t.ndim == 1 and not name.endswith("bias")):
                t.fill_(1.0)
            elif name.endswith("bias"):
                t.zero_()
            else:
                t.copy_(torch.randn(t.shape, generator=generator) / math.sqrt(math.prod(t.shape[1:])))
    module.requires_grad_(False)  # as ComfyUI loads a checkpoint's weights


@functools.lru_cache(maxsize=None)
def model_of(family_id):
    f = BY_ID[family_id]
    config = f.config_class()(f.unet)
    config.unet_config.update(f.unet)  # the tiny widths, also over the config's fixed unet_extra_config
    config.set_inference_dtype(torch.float32, None)
    if f.model_type is not None:
        base = comfy.model_base.BaseModel(config, model_type=f.model_type)
    else:
        base = config.get_model(f.state_dict)
    fill_weights(base.diffusion_model)
    return comfy.model_patcher.ModelPatcher(base, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def conditioning(family, seed):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, TOKENS, family.text, generator=g), family.cond()]]


def latent_of(family, seed=0):
    return {"samples": torch.randn(1, *family.latent, generator=torch.Generator().manual_seed(seed))}


# Which latent pixels may change: rows and columns [start, stop) of the top-left 8 × 8 latent pixels
# (every latent here is at least that big), given to the nodes as an image-resolution mask.
EDIT_ROWS, EDIT_COLS = (2, 6), (1, 5)


def image_mask(family, rows, cols):
    w, h = family.image_size()
    mask = torch.zeros(1, h, w)
    f = family.factor
    mask[:, rows[0] * f: rows[1] * f, cols[0] * f: cols[1] * f] = 1.0
    return mask


def latent_region(family, rows, cols):
    """Bool (1, C, ..., H, W): the latent pixels in rows × cols."""
    region = torch.zeros((1, *family.latent), dtype=torch.bool)
    region[..., rows[0]: rows[1], cols[0]: cols[1]] = True
    return region


def assert_changed_only_inside(out, x, inside):
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    assert torch.equal(out[~inside], x[~inside]), "a latent pixel outside the region the edit may touch changed"
    assert not torch.equal(out[inside], x[inside]), "nothing changed inside the edit region"


def test_every_model_family_of_the_core_is_accounted_for():
    """Every config class in comfy.supported_models.models is run here, named as a variant of a row
    run here, or listed as no image model (or as an image model that cannot be edited): a newer
    ComfyUI with a new family fails this test until the family is added. Names listed here that the
    core lacks must be the newer core's (NEWER_CORE), so on 0.3.75 exactly those are absent."""
    shipped = {c.__name__ for c in sm.models}
    run = {f.config for f in FAMILIES}
    listed = run | set(VARIANTS) | NOT_IMAGE | CANNOT_EDIT
    assert shipped <= listed, f"not listed: {shipped - listed}"
    assert listed - shipped <= NEWER_CORE, f"listed but neither in ComfyUI {CORE} nor a newer core's: " \
                                           f"{listed - shipped - NEWER_CORE}"
    assert not run & (set(VARIANTS) | NOT_IMAGE | CANNOT_EDIT)
    assert NEWER_CORE <= listed
    for name, row in VARIANTS.items():
        if name not in shipped:
            continue
        variant, family = getattr(sm, name), BY_ID[row].config_class()
        assert issubclass(variant, family) or variant.latent_format == family.latent_format, name


@pytest.mark.parametrize("family_id", IDS)
def test_latent_shape_and_downscale_factor_are_the_familys(family_id):
    """The latent's channels are the latent format's; its size is what ComfyUI's own empty-latent node
    for the family gives for the image (so the factor is the family's); the pack reads that factor
    from the model's latent format (no VAE connected); the pack noises as ComfyUI does for the model."""
    f = BY_ID[family_id]
    model = model_of(family_id)
    fmt = model.get_model_object("latent_format")
    assert isinstance(model.model.model_config, f.config_class())
    assert f.latent[0] == fmt.latent_channels
    assert len(f.latent) - 1 == (3 if fmt.latent_dimensions == 3 else 2)
    if f.empty is not None:
        w, h = f.image_size()
        empty = f.empty(w, h)
        assert tuple(empty.shape[-2:]) == f.latent[-2:]
        assert empty.shape[1] == f.latent[0]
    assert downscale_factor(model) == f.factor
    # the pack's x = a·x0 + s·ε is ComfyUI's own noising for this model (Cosmos' RFLOW: x0 + σ·ε)
    sampling = model.get_model_object("model_sampling")
    x0, eps = torch.randn(2, 1, *f.latent, generator=torch.Generator().manual_seed(5))
    for sigma in (float(sampling.sigma_max), float(sampling.percent_to_sigma(0.5)), float(sampling.sigma_min)):
        comfy_noised = sampling.noise_scaling(torch.tensor([sigma]), eps.clone(), x0.clone())
        torch.testing.assert_close(noise_levels_of(sampling).noised(x0, eps, sigma), comfy_noised, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family_id", IDS)
@torch.inference_mode()  # as ComfyUI's executor runs nodes
def test_sdedit_edits_only_the_masked_latent_pixels(family_id):
    f = BY_ID[family_id]
    latent = latent_of(f)
    # cfg 2 with a negative: ComfyUI batches cond and uncond through the family's extra_conds together
    out = SDEditNoiseDenoise.execute(model_of(family_id), conditioning(f, 1), conditioning(f, 2), latent, 0, 3, 0.5,
                                     1.0, 2.0, "normal", 1, image_mask(f, EDIT_ROWS, EDIT_COLS)).result[0]["samples"]
    assert_changed_only_inside(out, latent["samples"], latent_region(f, EDIT_ROWS, EDIT_COLS))


@pytest.mark.parametrize("family_id", IDS)
@torch.inference_mode()  # as ComfyUI's executor runs nodes
def test_inpaint_repaints_only_the_masked_latent_pixels(family_id):
    f = BY_ID[family_id]
    latent = latent_of(f)
    out = SDEInpaint.execute(model_of(family_id), conditioning(f, 1), conditioning(f, 2), latent, 0, 3, 1.0, 1.0, 1.0,
                             "normal", 1, 0, 0, image_mask(f, EDIT_ROWS, EDIT_COLS)).result[0]["samples"]
    assert_changed_only_inside(out, latent["samples"], latent_region(f, EDIT_ROWS, EDIT_COLS))


# handle_region windows: the square windows are what shows where the points landed in the latent (the
# default also moves the pixels found similar to the handle's, wherever they are in a random latent)
DRAG = dict(seed=3, steps=10, t0=0.4, cfg=2.0, drag_step=64.0, patch_radius=1, beta=0.3, alpha=1.1, eta=1.0,
            scheduler="ddim_uniform", handle_region="windows")
SOURCE, TARGET = (2, 3), (4, 3)  # latent pixels (x, y)
DRAG_MASK_COLS = (0, 5)  # the mask cuts the target window's seam off


def image_point(family, p):
    """The centre pixel of latent pixel p in the image."""
    return [p[0] * family.factor + family.factor // 2, p[1] * family.factor + family.factor // 2]


def drag_input(family):
    """The drag node takes (B, C, H, W) latents: for the Wan-VAE families the (B, 16, H, W) latent that
    EmptySD3LatentImage makes, which ComfyUI's sampling (fix_empty_latent_channels) turns into
    (B, 16, 1, H, W), so the result has that shape, as KSampler's would."""
    x = latent_of(family)["samples"]
    return x[:, :, 0] if x.ndim == 5 else x


def drag(family_id, points, mask=None, latent=None, **kw):
    f = BY_ID[family_id]
    args = dict(DRAG, **kw)
    x = drag_input(f) if latent is None else latent
    # no negative: one model call per latent (cfg is ignored), as for guidance-distilled models
    out, frames = SDEDragPointMover.execute(model_of(family_id), conditioning(f, 1), {"samples": x}, json.dumps(points),
                                            mask=mask, **args).args
    return out["samples"], frames["samples"]


def drag_region(family, mask_cols):
    """Latent pixels the warp drag may change: the source and target windows around the latent pixels
    that contain the points, grown by the 1-px seam, within the mask's columns."""
    src, tgt = windows(SOURCE, TARGET, DRAG["patch_radius"], family.latent[-2], family.latent[-1])
    rows = (min(src[0].start, tgt[0].start) - 1, max(src[0].stop, tgt[0].stop) + 1)
    cols = (max(min(src[1].start, tgt[1].start) - 1, mask_cols[0]),
            min(max(src[1].stop, tgt[1].stop) + 1, mask_cols[1]))
    return latent_region(family, rows, cols)


@pytest.mark.parametrize("family_id", IDS)
@torch.inference_mode()  # as ComfyUI's executor runs nodes
def test_drag_points_in_image_pixels_map_with_the_familys_factor(family_id):
    f = BY_ID[family_id]
    x = latent_of(f)["samples"]
    points = {"source": [image_point(f, SOURCE)], "target": [image_point(f, TARGET)]}
    mask = image_mask(f, (0, f.latent[-2]), DRAG_MASK_COLS)
    out, frames = drag(family_id, points, mask, method="warp")
    assert_changed_only_inside(out, x, drag_region(f, DRAG_MASK_COLS))
    assert frames.shape == (2, *f.latent) and torch.isfinite(frames).all()
    # the image is latent size × factor: its last pixel is accepted, one more is refused by name
    w, h = f.image_size()
    nothing = torch.zeros(1, h, w)  # a mask that lets nothing change: the node returns without a model call
    out, _ = drag(family_id, {"source": [[w - 1, h - 1]], "target": [[0, 0]]}, nothing, method="warp")
    assert torch.equal(out, x)
    with pytest.raises(InputError, match=rf"points.*outside the image of latent \(\d+x\d+ latent pixels x \d+\), which is {w}x{h} pixels"):
        drag(family_id, {"source": [[w, 0]], "target": [[0, 0]]}, method="warp")
    if x.ndim == 5:  # the (B, C, 1, H, W) latent the family's VAE encodes drags the same way
        out5, frames5 = drag(family_id, points, mask, method="warp", latent=x)
        assert out5.shape == x.shape and torch.isfinite(out5).all()
        assert_changed_only_inside(out5, x, drag_region(f, DRAG_MASK_COLS))
        video = x.expand(-1, -1, 2, -1, -1)  # two frames: a video, refused by name
        with pytest.raises(InputError, match=r"latent: SDE-Drag edits images"):
            drag(family_id, points, method="warp", latent=video)


@pytest.mark.parametrize("family_id", ["Flux2", "QwenImage", "HunyuanImage21", "ChromaRadiance"])
@torch.inference_mode()  # as ComfyUI's executor runs nodes
def test_paper_drag_keeps_the_outside_of_the_mask(family_id):
    """The authors' SDE-Drag (one cycle of 4 steps here) on the new latent shapes: 128 channels at
    16x, a (C, 1, H, W) Wan-VAE latent, 64 channels at 32x, pixel space."""
    f = BY_ID[family_id]
    x = latent_of(f)["samples"]
    points = {"source": [image_point(f, SOURCE)], "target": [image_point(f, TARGET)]}
    out, frames = drag(family_id, points, image_mask(f, EDIT_ROWS, EDIT_COLS), method="paper")
    assert_changed_only_inside(out, x, latent_region(f, EDIT_ROWS, EDIT_COLS))
    assert frames.shape == (1, *f.latent)


def test_hunyuan_image_21_refiner_cannot_edit_a_latent():
    """HunyuanImage 2.1's refiner samples from an empty latent with the image given as
    concat_latent_image (HunyuanRefinerLatent). Its latent format's process_in turns the 32-channel
    (B, 32, T, H/16, W/16) latent into 64 channels by stacking frames, so any latent that is not all
    zeros cannot be noised: ComfyUI's own KSampler fails on it (measured below), and so would an edit."""
    import nodes
    unet = dict(image_model="hunyuan_video", in_channels=128, out_channels=64, patch_size=[1, 1, 1], vec_in_dim=None,
                context_in_dim=TEXT, hidden_size=64, mlp_ratio=2.0, num_heads=2, depth=1, depth_single_blocks=1,
                axes_dim=[8, 12, 12], theta=256, qkv_bias=True, guidance_embed=False, byt5=False, meanflow=False,
                use_cond_type_embedding=False, vision_in_dim=None)
    unet.update(declared(comfy.ldm.hunyuan_video.model.HunyuanVideoParams, meanflow_sum=False))
    config = sm.HunyuanImage21Refiner(unet)
    config.set_inference_dtype(torch.float32, None)
    base = config.get_model({})
    fill_weights(base.diffusion_model)
    model = comfy.model_patcher.ModelPatcher(base, comfy.model_management.get_torch_device(),
                                             comfy.model_management.unet_offload_device())
    cond = [[torch.randn(1, TOKENS, TEXT), {}]]
    empty = {"samples": torch.zeros(1, 32, 1, 4, 4)}
    out = nodes.common_ksampler(model, 0, 2, 1.0, "euler", "normal", cond, cond, empty)[0]["samples"]
    assert out.shape == (1, 32, 1, 4, 4) and torch.isfinite(out).all()  # from an empty latent it samples
    with pytest.raises(RuntimeError, match="must match the size") as error:
        nodes.common_ksampler(model, 0, 2, 1.0, "euler", "normal", cond, cond, {"samples": torch.randn(1, 32, 1, 4, 4)},
                              denoise=0.5)
    pytest.skip("HunyuanImage21Refiner: a refiner that samples from an empty latent, the image entering as "
                "concat_latent_image; its latent format turns a 32-channel latent into 64 channels, so ComfyUI's own "
                f"KSampler cannot noise a non-empty latent ({str(error.value)[:90]}): there is no latent to edit")


# --- model samplings the pack refuses: the image-to-image CONSTs of newer cores ----------------------
# Their noise_scaling returns the input image unnoised (sampling starts from the image, not from noise):
# IMG_TO_IMG_FLOW (0.33: WAN21_FlowRVS; ModelSamplingDiscrete's `sampling` img_to_img_flow) and
# IMG_TO_IMG_VELOCITY (after 0.33, ComfyUI PR #16232, Marigold v2; ModelSamplingAuraFlow's optional
# `sampling` img_to_img_velocity). Where the running core lacks one, the test installs it on
# comfy.model_sampling for its duration, as the core that has it defines it (copied below), and builds
# the model as that core's node does.

class IMG_TO_IMG_FLOW(comfy.model_sampling.CONST):
    """comfy.model_sampling.IMG_TO_IMG_FLOW as ComfyUI 0.33 defines it."""
    def calculate_denoised(self, sigma, model_output, model_input):
        return model_output

    def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
        return latent_image

    def inverse_noise_scaling(self, sigma, latent):
        return 1.0 - latent


class IMG_TO_IMG_VELOCITY(comfy.model_sampling.CONST):
    """comfy.model_sampling.IMG_TO_IMG_VELOCITY as the newest public core defines it (Comfy-Org/ComfyUI
    38a99a8, after 0.33)."""
    def calculate_denoised(self, sigma, model_output, model_input):
        return model_input - model_output

    def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
        return latent_image

    def inverse_noise_scaling(self, sigma, latent):
        return latent


NEWER_SAMPLINGS = {"IMG_TO_IMG_FLOW": IMG_TO_IMG_FLOW, "IMG_TO_IMG_VELOCITY": IMG_TO_IMG_VELOCITY}


def node_offers(node_class, option, value):
    """Whether the running core's node lists `value` among its combo input `option`'s choices."""
    inputs = node_class.INPUT_TYPES()
    spec = {**inputs.get("required", {}), **inputs.get("optional", {})}.get(option)
    return spec is not None and isinstance(spec[0], list) and value in spec[0]


def with_image_to_image_sampling(model, name):
    """`model` with the model_sampling `name`, made by the core's own node where it offers it, else
    as the newer core's node makes it (comfy_extras/nodes_model_advanced.py, copied)."""
    from comfy_extras import nodes_model_advanced as advanced
    kind = getattr(comfy.model_sampling, name)
    if name == "IMG_TO_IMG_VELOCITY":  # ModelSamplingAuraFlow(shift 1.73, sampling img_to_img_velocity)
        if node_offers(advanced.ModelSamplingAuraFlow, "sampling", "img_to_img_velocity"):
            return advanced.ModelSamplingAuraFlow().patch_aura(model, 1.73, sampling="img_to_img_velocity")[0]
        m = model.clone()

        class ModelSamplingAdvanced(comfy.model_sampling.ModelSamplingDiscreteFlow, kind):
            pass

        original = m.get_model_object("model_sampling")
        model_sampling = ModelSamplingAdvanced(model.model.model_config)
        model_sampling.set_parameters(shift=1.73, multiplier=1.0)
        if hasattr(original, "noise_scale"):
            model_sampling.set_noise_scale(original.noise_scale)
        m.add_object_patch("model_sampling", model_sampling)
        return m
    if node_offers(advanced.ModelSamplingDiscrete, "sampling", "img_to_img_flow"):  # IMG_TO_IMG_FLOW
        return advanced.ModelSamplingDiscrete().patch(model, "img_to_img_flow", False)[0]
    m = model.clone()

    class ModelSamplingAdvanced(comfy.model_sampling.ModelSamplingDiscrete, kind):
        pass

    m.add_object_patch("model_sampling", ModelSamplingAdvanced(model.model.model_config, zsnr=False))
    return m


@pytest.fixture(params=sorted(NEWER_SAMPLINGS))
def image_to_image(request, monkeypatch):
    """(name, the AuraFlow row's model with that model_sampling, its model calls so far)."""
    name = request.param
    if not hasattr(comfy.model_sampling, name):  # a core older than the one that has it
        monkeypatch.setattr(comfy.model_sampling, name, NEWER_SAMPLINGS[name], raising=False)
    model = with_image_to_image_sampling(model_of("AuraFlow"), name)
    calls = []

    def wrapper(apply, args):
        calls.append(float(args["timestep"][0]))
        return apply(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(wrapper)
    return name, model, calls


def test_the_copied_image_to_image_samplings_are_the_cores(image_to_image):
    """The model has the sampling asked for, and it noises nothing (what makes it uneditable); where the
    running core has the class, the copy above computes what the core's does."""
    name, model, _ = image_to_image
    sampling = model.get_model_object("model_sampling")
    assert isinstance(sampling, getattr(comfy.model_sampling, name))
    x0, eps, out = torch.randn(3, 1, 4, 8, 8, generator=torch.Generator().manual_seed(9))
    sigma = torch.tensor([0.5])
    assert torch.equal(sampling.noise_scaling(sigma, eps, x0), x0)
    core, copy = getattr(comfy.model_sampling, name), NEWER_SAMPLINGS[name]
    if core is not copy:
        for method, args in (("calculate_denoised", (sigma, out, x0)), ("noise_scaling", (sigma, eps, x0)),
                             ("inverse_noise_scaling", (sigma, out))):
            torch.testing.assert_close(getattr(copy, method)(sampling, *args), getattr(core, method)(sampling, *args),
                                       rtol=0, atol=0)


@torch.inference_mode()  # as ComfyUI's executor runs nodes
def test_every_editing_node_refuses_an_image_to_image_model_by_name_before_any_model_call(image_to_image):
    name, model, calls = image_to_image
    f = BY_ID["AuraFlow"]
    x = latent_of(f)
    pos, neg = conditioning(f, 1), conditioning(f, 2)
    mask = image_mask(f, EDIT_ROWS, EDIT_COLS)
    points = json.dumps({"source": [image_point(f, SOURCE)], "target": [image_point(f, TARGET)]})
    runs = {
        "sdedit": lambda: SDEditNoiseDenoise.execute(model, pos, neg, x, 0, 3, 0.5, 1.0, 2.0, "normal", 1, mask),
        "inpaint": lambda: SDEInpaint.execute(model, pos, neg, x, 0, 3, 1.0, 1.0, 1.0, "normal", 1, 0, 0, mask),
        "drag warp": lambda: SDEDragPointMover.execute(model, pos, x, points, method="warp", **DRAG),
        "drag paper": lambda: SDEDragPointMover.execute(model, pos, x, points, method="paper", **DRAG),
    }
    before = x["samples"].clone()
    comfy.model_management.unload_all_models()
    for node, run in runs.items():
        with pytest.raises(InputError, match=rf"^model: its model_sampling is {name}, an image-to-image model"):
            run()
        assert calls == [], f"{node}: the model was called before {name} was refused"
        loaded = [m for m in comfy.model_management.current_loaded_models if m.model is model]
        assert not loaded, f"{node}: the model was loaded before {name} was refused (where the input enters)"
    assert torch.equal(x["samples"], before)
