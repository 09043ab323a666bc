"""lab/harness/tiny_checkpoints.py: each tiny checkpoint loads through ComfyUI's own CheckpointLoaderSimple
as the intended model family and runs prompt -> 2-step KSampler -> VAE decode on the CPU.

The files are cached in build/tiny_checkpoints/ (made on first use, ~5 s each; sdxl ~30 s and 1.9 GB,
so it is marked slow)."""
import logging
import os
import time

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from lab.harness import tiny_checkpoints  # noqa: E402

import comfy.model_sampling  # noqa: E402  (ComfyUI is booted by conftest.py)
import comfy.supported_models  # noqa: E402
import folder_paths  # noqa: E402
import nodes  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

CACHE = tiny_checkpoints.DEFAULT_DIR
PX = 64

# family -> (detected model config class, model_sampling type, latent channels)
EXPECTED = {
    "sd15": (comfy.supported_models.SD15, comfy.model_sampling.EPS, 4),
    "sd15_inpaint": (comfy.supported_models.SD15, comfy.model_sampling.EPS, 4),
    "sd3": (comfy.supported_models.SD3, comfy.model_sampling.CONST, 16),
    "sdxl": (comfy.supported_models.SDXL, comfy.model_sampling.EPS, 4),
}
LOAD_COMPLAINTS = ("unet missing", "unet unexpected", "clip missing", "clip unexpected", "Missing VAE keys",
                   "no CLIP/text encoder weights")
PARAMS = [pytest.param(f, marks=pytest.mark.slow) if f not in tiny_checkpoints.DEFAULT_FAMILIES else f
          for f in tiny_checkpoints.FAMILIES]


def test_every_family_has_expectations():
    assert set(EXPECTED) == set(tiny_checkpoints.FAMILIES)


@pytest.fixture(scope="module")
def checkpoint_dir():
    folder_paths.add_model_folder_path("checkpoints", CACHE)
    return CACHE


def _image():
    """A smooth 64x64 RGB test image (B, H, W, C) in [0, 1]."""
    y, x = torch.meshgrid(torch.linspace(0, 1, PX), torch.linspace(0, 1, PX), indexing="ij")
    return torch.stack([x, y, (x + y) / 2], dim=-1)[None]


@pytest.mark.parametrize("family", PARAMS)
@torch.inference_mode()  # as ComfyUI's executor runs nodes
def test_load_encode_sample_decode(family, checkpoint_dir, caplog):
    config_cls, sampling_cls, channels = EXPECTED[family]
    path = tiny_checkpoints.ensure(family, checkpoint_dir)
    caplog.set_level(logging.DEBUG)

    start = time.perf_counter()
    model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(os.path.basename(path))
    loaded = time.perf_counter()
    # Every diffusion-model, text-encoder and VAE weight came from the file: ComfyUI leaves absent
    # ones as uninitialised memory and warns (CLIP's unused logit_scale/text_projection: debug only).
    complaints = [r.getMessage()[:300] for r in caplog.records if r.getMessage().startswith(LOAD_COMPLAINTS)
                  and (r.levelno >= logging.WARNING or "unexpected" in r.getMessage())]
    assert not complaints

    # Detected as the intended family, with every diffusion-model weight taken from the file.
    assert type(model.model.model_config) is config_cls
    sampling = model.get_model_object("model_sampling")
    assert isinstance(sampling, sampling_cls)
    if sampling_cls is comfy.model_sampling.EPS:
        assert not isinstance(sampling, comfy.model_sampling.CONST)
    with safe_open(path, framework="pt") as f:
        in_file = {k for k in f.keys() if k.startswith("model.diffusion_model.")}
    built = {"model.diffusion_model." + k for k in model.model.diffusion_model.state_dict()}
    assert built == in_file
    if family == "sd15_inpaint":
        assert model.model.model_config.unet_config["in_channels"] == 9
        assert model.model.model_config.inpaint_model()

    # A live text encoder: finite and prompt-dependent.
    (positive,) = nodes.CLIPTextEncode().encode(clip, "a photo of a cozy bedroom")
    (negative,) = nodes.CLIPTextEncode().encode(clip, "blurry, lowres")
    cond_p, cond_n = positive[0][0], negative[0][0]
    assert torch.isfinite(cond_p).all() and torch.isfinite(positive[0][1]["pooled_output"]).all()
    assert not torch.equal(cond_p, cond_n)
    encoded = time.perf_counter()

    (latent,) = nodes.VAEEncode().encode(vae, _image())
    assert latent["samples"].shape == (1, channels, PX // 8, PX // 8)
    if family == "sd15_inpaint":  # its UNet also needs the mask and masked image, as in the workflows
        positive, negative, latent = nodes.InpaintModelConditioning().encode(
            positive, negative, _image(), vae, torch.zeros(1, PX, PX), noise_mask=True)
    (samples,) = nodes.common_ksampler(model, 0, 2, 4.0, "euler", "simple", positive, negative, latent,
                                       denoise=0.75)
    assert samples["samples"].shape == (1, channels, PX // 8, PX // 8)
    assert torch.isfinite(samples["samples"]).all()
    sampled = time.perf_counter()

    (image,) = nodes.VAEDecode().decode(vae, samples)
    done = time.perf_counter()
    assert image.shape == (1, PX, PX, 3)
    assert torch.isfinite(image).all()
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0

    print(f"\n{family}: load {loaded - start:.1f} s, encode {encoded - loaded:.1f} s, "
          f"sample {sampled - encoded:.1f} s, decode {done - sampled:.1f} s, total {done - start:.1f} s")
    assert done - start < 120  # generous: about 5 s here; catches e.g. a full-size T5 sneaking in


def test_ensure_is_deterministic_reuses_and_remakes_stale_files(tmp_path, monkeypatch, checkpoint_dir):
    cached = tiny_checkpoints.ensure("sd3", checkpoint_dir)
    path = tiny_checkpoints.ensure("sd3", str(tmp_path))
    assert path == os.path.join(str(tmp_path), "tiny_sd3.safetensors")
    a, b = load_file(path), load_file(cached)  # seeded: the same tensors wherever and whenever made
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float16 for v in a.values())
    del a, b

    mtime = os.stat(path).st_mtime_ns
    assert tiny_checkpoints.ensure("sd3", str(tmp_path)) == path
    assert os.stat(path).st_mtime_ns == mtime  # reused, not remade

    monkeypatch.setattr(tiny_checkpoints, "VERSION", tiny_checkpoints.VERSION + "-next")
    assert not tiny_checkpoints.is_current(path, "sd3")
    tiny_checkpoints.ensure("sd3", str(tmp_path))
    assert tiny_checkpoints.is_current(path, "sd3")
    assert [p.name for p in tmp_path.iterdir()] == ["tiny_sd3.safetensors"]  # no temporary files left



def test_unknown_family_is_refused(tmp_path):
    with pytest.raises(ValueError, match="flux"):
        tiny_checkpoints.ensure("flux", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_install_links_the_cached_file_under_a_workflow_name(tmp_path, checkpoint_dir):
    link = tiny_checkpoints.install("sd15", str(tmp_path / "checkpoints"), "v1-5-pruned-emaonly.safetensors",
                                    cache=checkpoint_dir)
    assert link == str(tmp_path / "checkpoints" / "v1-5-pruned-emaonly.safetensors")
    assert os.path.realpath(link) == os.path.realpath(tiny_checkpoints.ensure("sd15", checkpoint_dir))
    assert tiny_checkpoints.install("sd15", str(tmp_path / "checkpoints"), "v1-5-pruned-emaonly.safetensors",
                                    cache=checkpoint_dir) == link  # idempotent
