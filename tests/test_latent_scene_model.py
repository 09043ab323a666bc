"""The shipped latent scene model (lab/models/sde_edit_latent_scene_model.safetensors and its VAE,
lab/models/sde_edit_scene_vae.safetensors; lab/reference/latent_scene_model.py) through the loader node: it
loads as ComfyUI's MODEL, CLIP and VAE, ComfyUI's VAEEncode turns a 128×128 picture into a 4×16×16
latent and VAEDecode brings it back, a few sampling steps follow the caption through the VAE, the
preview factors show the latent's colours; a missing, truncated, foreign or broken VAE file is refused
naming it. What this model does not do yet (keep a scene through the VAE, draw valid scenes often) is
measured in docs/latent_scene_model.md, not asserted here."""
import json
import os
import random

import pytest
import safetensors
import safetensors.torch
import torch

import comfy.sample
import nodes as comfy_nodes

from sde_edit_pack.adapter.checks import InputError
from lab.nodes.scene_model import MODELS_DIR, SceneModelLoader, load_weights, weight_files
from lab.reference import latent_scene_model as lsm
from lab.reference import scene_parser as sp
from lab.reference import scene_world as sw

MODEL = os.path.join(MODELS_DIR, lsm.WEIGHTS_NAME)
VAE = os.path.join(MODELS_DIR, lsm.VAE_NAME)


@pytest.fixture(scope="module")
def loaded():
    return SceneModelLoader.execute(lsm.WEIGHTS_NAME).args


@pytest.fixture(scope="module")
def pictures():
    worlds = [sw.random_world(random.Random(i), size=128) for i in range(8)]
    return worlds, sw.render_all(worlds)


def test_shipped_files_are_small_and_the_default():
    assert os.path.getsize(MODEL) + os.path.getsize(VAE) <= 25 * 1024 * 1024
    assert lsm.VAE_NAME not in weight_files()  # read with the model, not a model itself
    assert SceneModelLoader.define_schema().inputs[0].default == lsm.WEIGHTS_NAME


def test_vae_encode_gives_a_4x16x16_latent_and_decode_brings_the_picture_back(loaded, pictures):
    """ComfyUI's own VAEEncode / VAEDecode nodes on the loader's VAE: 8× down into 4 channels and back,
    within ROUND_TRIP_RMS of the picture (measured 0.069 on these 8; the untrained VAE gives 0.26).
    Not asserted, because this VAE does not do it yet: that the parser reads the same scene back (0 of
    these 8; docs/latent_scene_model.md, "The VAE's round trip")."""
    _, _, vae = loaded
    worlds, images = pictures
    latent = comfy_nodes.VAEEncode().encode(vae, images.movedim(1, -1))[0]
    assert latent["samples"].shape == (8, 4, 16, 16)
    back = comfy_nodes.VAEDecode().decode(vae, latent)[0].movedim(-1, 1)
    assert back.shape == images.shape
    rms = float(((back - images) ** 2).mean().sqrt())
    kept = sum(sp.parse_at(b).matches(w.caption) for b, w in zip(back, worlds))
    print(f"round trip RMS {rms:.4f}, parse kept {kept} of 8")
    assert rms <= ROUND_TRIP_RMS


ROUND_TRIP_RMS = 0.08


def test_sampling_follows_the_caption_through_the_vae(loaded):
    """16 samples, 15 steps of euler_ancestral at cfg 3, from the loader's MODEL and CLIP, decoded by
    its VAE, for "a red ball on grass" and, from the same noise, "a red ball on snow": the caption
    steers what the VAE decodes (the ground's green against white). Not asserted: valid scenes, which
    this model draws rarely (1 of these 16 parse as one; its rate, docs/latent_scene_model.md)."""
    model, clip, vae = loaded
    neg = comfy_nodes.CLIPTextEncode().encode(clip, "")[0]
    empty = torch.zeros(16, 4, 16, 16)
    grounds = {}
    for ground in ("grass", "snow"):
        pos = comfy_nodes.CLIPTextEncode().encode(clip, f"a red ball on {ground}")[0]
        out = comfy.sample.sample(model, comfy.sample.prepare_noise(empty, 3), 15, 3.0, "euler_ancestral", "normal", pos, neg,
                                  empty, seed=3)
        images = vae.decode(out).movedim(-1, 1)
        assert images.shape == (16, 3, 128, 128) and torch.isfinite(images).all()
        bottom = images[:, :, 96:].mean((2, 3))  # the bottom quarter: ground
        grounds[ground] = bottom[:, 1] - (bottom[:, 0] + bottom[:, 2]) / 2  # green over the rest
    greener = int((grounds["grass"] > grounds["snow"] + 0.05).sum())
    print(f"grass greener than snow in {greener} of 16")
    assert greener >= 10  # 13 of 16 on 0.3.75; the same noise with the caption ignored: none


def test_the_latent_preview_shows_the_pictures_colours(loaded, pictures):
    """ComfyUI's latent preview maps the model's latent through latent_rgb_factors (fitted by the
    training script): on fresh pictures it is closer to their 8× averaged colours than each picture's
    own mean colour is (what a preview that shows nothing but the average would give)."""
    model, _, vae = loaded
    _, images = pictures
    fmt = model.get_model_object("latent_format")
    with torch.no_grad():
        z = fmt.process_in(vae.encode(images.movedim(1, -1)))
    rgb = torch.nn.functional.linear(z.movedim(1, -1), torch.tensor(fmt.latent_rgb_factors).T,
                                     torch.tensor(fmt.latent_rgb_factors_bias)).movedim(-1, 1)
    want = torch.nn.functional.avg_pool2d(images * 2 - 1, 8)
    flat = want.mean((2, 3), keepdim=True).expand_as(want)
    preview, baseline = float(((rgb - want) ** 2).mean().sqrt()), float(((flat - want) ** 2).mean().sqrt())
    print(f"preview RMS {preview:.3f}, flat mean colour {baseline:.3f}")
    assert preview < 0.9 * baseline


def copy_model(folder):
    data = open(MODEL, "rb").read()
    (folder / lsm.WEIGHTS_NAME).write_bytes(data)


def refused(folder, *words):
    with pytest.raises(InputError) as err:
        load_weights(lsm.WEIGHTS_NAME, str(folder))
    message = str(err.value)
    assert message.startswith("weights") and all(w in message for w in words), message
    assert str(folder) not in message, message
    return message


def test_a_missing_truncated_foreign_or_broken_vae_is_refused_naming_it(tmp_path):
    copy_model(tmp_path)
    vae_path = tmp_path / lsm.VAE_NAME
    name = f"'{lsm.VAE_NAME}'"
    refused(tmp_path, f"scene model VAE {name} not found")
    data = open(VAE, "rb").read()
    vae_path.write_bytes(data[: len(data) // 2])
    refused(tmp_path, f"scene model VAE {name} cannot be read as safetensors")
    vae_path.write_bytes(b"")
    refused(tmp_path, f"scene model VAE {name} cannot be read as safetensors")
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(vae_path))
    refused(tmp_path, f"{name} is not the scene model's VAE")
    with safetensors.safe_open(VAE, "pt") as f:
        meta = f.metadata()
    sd = safetensors.torch.load_file(VAE)
    key = next(k for k in sorted(sd) if sd[k].ndim == 4)
    safetensors.torch.save_file({**sd, key: torch.zeros(sd[key].shape[0] + 1, *sd[key].shape[1:], dtype=sd[key].dtype)},
                                str(vae_path), metadata=meta)
    refused(tmp_path, f"{name}: its VAE weights do not match", "of another shape")
    broken = sd[key].clone()
    broken.view(-1)[0] = float("nan")
    safetensors.torch.save_file({**sd, key: broken}, str(vae_path), metadata=meta)
    refused(tmp_path, f"{name}: 1 of", "NaN or infinite")
    safetensors.torch.save_file(sd, str(vae_path), metadata=meta)  # the control: the same tensors load
    model, clip, vae = load_weights(lsm.WEIGHTS_NAME, str(tmp_path))
    assert vae.latent_channels == 4 and vae.downscale_ratio == 8


def test_the_decoder_fine_tune_keeps_the_encoder_so_the_unets_latents_stay_valid(tmp_path):
    """`train_latent_scene_model --stage decoder` (how the shipped VAE's decoder was trained on) changes
    the decoder and leaves every encoder weight bit for bit, so the latents the UNet was trained on, and
    the latent scale in the model's metadata, still hold; the first training's metadata and loss log are
    kept beside the decoder's."""
    from lab.commands import train_latent_scene_model as train
    for suffix in ("", ".log.json"):
        (tmp_path / (lsm.VAE_NAME + suffix)).write_bytes(open(VAE + suffix, "rb").read())
    train.main(["--stage", "decoder", "--models", str(tmp_path), "--state", str(tmp_path / "state"), "--decoder-steps", "2",
                "--vae-pictures", "8", "--decoder-batch", "2", "--threads", str(torch.get_num_threads())])  # leave the suite's threads as they are
    before, after = safetensors.torch.load_file(VAE), safetensors.torch.load_file(str(tmp_path / lsm.VAE_NAME))
    assert before.keys() == after.keys()
    frozen = [k for k in before if k.startswith(("encoder.", "quant_conv."))]
    trained = [k for k in before if k.startswith(("decoder.", "post_quant_conv."))]
    assert frozen and len(frozen) + len(trained) == len(before)
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert sum(not torch.equal(before[k], after[k]) for k in trained) > len(trained) // 2
    with safetensors.safe_open(str(tmp_path / lsm.VAE_NAME), "pt") as f:
        meta = f.metadata()
    with safetensors.safe_open(VAE, "pt") as f:
        first = f.metadata()
    assert meta["decoder_steps"] == "2" and all(meta[k] == first[k] for k in ("steps", "minutes", "format", "ddconfig"))
    log = json.load(open(str(tmp_path / lsm.VAE_NAME) + ".log.json"))
    assert log["loss"] == json.load(open(VAE + ".log.json"))["loss"] and len(log["decoder_loss"]) == 2
