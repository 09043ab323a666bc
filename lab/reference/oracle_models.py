"""Closed-form denoisers (reference.oracles) as real ComfyUI MODELs.

A `comfy.model_base.BaseModel` whose "diffusion model" is `OracleNet`: ComfyUI runs it exactly like
a checkpoint's UNet (model_sampling, calculate_input / calculate_denoised, conds, CFG, wrappers,
ModelPatcher), and OracleNet answers with the output the model type expects (ε for EPS, v for
V_PREDICTION, velocity for flow) computed from the exact posterior mean.
"""
import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.model_sampling
import comfy.supported_models_base
import torch

from ..product import module

InputError = module("adapter.checks").InputError
noise_levels_of = module("adapter.sampler").noise_levels_of

PARAMETERIZATIONS = {
    "eps": comfy.model_base.ModelType.EPS,
    "v_prediction": comfy.model_base.ModelType.V_PREDICTION,
    "flow": comfy.model_base.ModelType.FLOW,
}
FLOW_SHIFT = 3.0  # SD3's shift, so the flow schedule looks like a real flow model's


class OracleNet(torch.nn.Module):
    def __init__(self, oracle=None, channels=None, concat_channels=0, device=None, operations=None, **_unused):
        super().__init__()
        self.oracle, self.channels, self.concat_channels = oracle, channels, concat_channels
        self.model_sampling = None  # set by make_model once BaseModel has built it
        self.register_buffer("dtype_marker", torch.zeros((), dtype=torch.float32, device=device))
        self.calls = 0  # forward calls
        self.latents = 0  # latents through the model (a batched call of n latents counts n)

    @property
    def dtype(self):
        return self.dtype_marker.dtype

    def forward(self, xc, t, context=None, transformer_options={}, **kwargs):
        if self.concat_channels:  # an inpainting model: ComfyUI appended its concat conditioning
            xc = xc[:, :xc.shape[1] - self.concat_channels]
        self.check_shape(xc)
        self.calls += 1
        self.latents += xc.shape[0]
        ms = self.model_sampling
        # The exact σ, not the rounded timestep. ComfyUI batches cond and uncond (and the pack its
        # edited and recorded latents) at one σ; transformer_options["sigmas"] is one row of it.
        sigmas = transformer_options["sigmas"]
        if not torch.all(sigmas == sigmas.flatten()[0]):
            raise ValueError("OracleNet expects one noise level per call")
        sigma = float(sigmas.flatten()[0])
        levels = noise_levels_of(ms)
        x = xc.to(torch.float64)
        if levels.kind == "ve":  # EPS.calculate_input divided x by sqrt(σ² + 1)
            x = x * (sigma ** 2 + 1) ** 0.5
        x0 = self.oracle.posterior_mean(x, levels.a(sigma), levels.s(sigma))
        if isinstance(ms, comfy.model_sampling.V_PREDICTION):
            out = (x / (sigma ** 2 + 1) - x0) * (sigma ** 2 + 1) ** 0.5 / sigma
        else:  # EPS: ε = (x − x0)/σ; CONST: velocity ε − x0 = (x − x0)/σ
            out = (x - x0) / sigma
        return out.to(xc.dtype)

    def check_shape(self, x):
        """The oracle knows one latent shape, its images': say so, naming the latent, before computing
        anything (instead of failing inside with a matrix-shape error). Whatever sampler calls it: the
        pack's nodes, KSampler, SamplerCustomAdvanced."""
        shape = tuple(self.oracle.shape)
        if tuple(x.shape[1:]) != shape:
            raise InputError(f"this reference model's images are {'x'.join(map(str, shape))} (channels x height x "
                             f"width), but the latent given to it (latent_image, or latent on the drag node) is "
                             f"{'x'.join(map(str, x.shape[1:]))}: give it a latent of its resolution")


def make_model(oracle, parameterization: str, channels: int, latent_format=None, concat_channels: int = 0):
    """A MODEL (ModelPatcher) whose denoiser is `oracle.posterior_mean(x, a, s)`. With
    concat_channels it behaves as an inpainting model (ComfyUI concatenates mask and masked image);
    the oracle ignores them."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {list(PARAMETERIZATIONS)}, got {parameterization!r}")
    if latent_format is None:
        # no VAE in front of it: one latent pixel is one image pixel
        latent_format = type(f"Oracle{channels}ch", (comfy.latent_formats.LatentFormat,),
                             {"latent_channels": channels, "spacial_downscale_ratio": 1})

    class OracleConfig(comfy.supported_models_base.BASE):
        unet_config = {"oracle": oracle}
        unet_extra_config = {}
        sampling_settings = {"shift": FLOW_SHIFT} if parameterization == "flow" else {}
        memory_usage_factor = 0.01
        supported_inference_dtypes = [torch.float32]

    OracleConfig.latent_format = latent_format
    config = OracleConfig({"oracle": oracle, "channels": channels, "concat_channels": concat_channels})
    load_device = comfy.model_management.get_torch_device()
    model = comfy.model_base.BaseModel(config, model_type=PARAMETERIZATIONS[parameterization], device=load_device, unet_model=OracleNet)
    model.diffusion_model.model_sampling = model.model_sampling
    if concat_channels:
        model.concat_keys = ("mask", "masked_image")
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=comfy.model_management.unet_offload_device())
    # How a newer core's multi-GPU deep clone (ModelPatcher.deepclone_multigpu) builds a fresh copy: it
    # refuses patchers without this factory. Older cores ignore the attribute.
    patcher.cached_patcher_init = (rebuild_model, (oracle, parameterization, channels, latent_format, concat_channels))
    return patcher


def rebuild_model(oracle, parameterization, channels, latent_format, concat_channels, disable_dynamic=False):
    """make_model again, as ModelPatcher.cached_patcher_init calls it (disable_dynamic: a plain
    ModelPatcher is what make_model builds anyway)."""
    return make_model(oracle, parameterization, channels, latent_format, concat_channels)
