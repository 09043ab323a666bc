"""The shipped scene model (lab/models/sde_edit_scene_model.safetensors) through its loader node: it loads
as ComfyUI's MODEL, CLIP and VAE, samples valid scenes that follow their caption in a few steps, its
text encoder gives what training saw; a missing, truncated or foreign file is refused by name."""
import os

import pytest
import safetensors.torch
import torch

import comfy.sample
import nodes as comfy_nodes

from lab.reference import scene_model
from sde_edit_pack.adapter.checks import InputError
from lab.nodes.scene_model import MODELS_DIR, SceneModelLoader
from lab.reference import scene_parser as sp

WEIGHTS = os.path.join(MODELS_DIR, scene_model.WEIGHTS_NAME)


@pytest.fixture(scope="module")
def loaded():
    return SceneModelLoader.execute(scene_model.WEIGHTS_NAME).args


def test_shipped_weights_are_small():
    assert os.path.getsize(WEIGHTS) <= 20 * 1024 * 1024


def test_loads_and_samples_scenes_that_follow_their_caption(loaded):
    """24 samples of "a red ball on grass", 20 steps of euler_ancestral at cfg 3, through the
    loader's MODEL, CLIP and VAE: some parse as a valid scene (the model's rate at this setting is
    31 % [23, 41], docs/scene_model.md; random weights give none), and the caption steers them: the
    parsed ground is grass and a red object is there in nearly all. What the model does not yet do is
    draw the named kinds reliably (5 % match kind and colour), so that is measured, not asserted.
    24 samples and at least 3 valid: at the measured 31 % a run fails with probability 0.9 % (binomial),
    whatever noise the core's euler_ancestral draws (0.33 draws other noise than 0.3.75 for the same
    seed; with 16 samples and the same threshold that was 8.5 %, and 0.33's draw gave 2 of 16)."""
    model, clip, vae = loaded
    text = "a red ball on grass"
    pos = comfy_nodes.CLIPTextEncode().encode(clip, text)[0]
    neg = comfy_nodes.CLIPTextEncode().encode(clip, "")[0]
    empty = torch.zeros(24, 3, 32, 32)
    noise = comfy.sample.prepare_noise(empty, 3)
    out = comfy.sample.sample(model, noise, 20, 3.0, "euler_ancestral", "normal", pos, neg, empty, seed=3)
    images = vae.decode(out).movedim(-1, 1)  # the pixel_space VAE: (B, H, W, C) in [0, 1]
    assert images.shape == (24, 3, 32, 32) and torch.isfinite(images).all()
    parses = sp.parse_all(images)
    valid = sum(p.valid() for p in parses)
    steered = sum(p.world.ground == "grass" and any(o.colour == "red" for o in p.objects) for p in parses)
    print(f"valid {valid} of 24, grass and red {steered} of 24")
    assert valid >= 3
    assert steered >= 21


def test_text_encoder_in_comfyui_gives_what_training_saw(loaded):
    """CLIPTextEncode's conditioning equals the frozen encoder's forward on the caption's tokens (the
    path lab/commands/train_scene_model.py embeds captions with)."""
    _, clip, _ = loaded
    text = "a purple bar left of a red ball on snow, overcast"
    cond = comfy_nodes.CLIPTextEncode().encode(clip, text)[0][0][0]
    tokens = [t for t, _ in scene_model.text_encoder_classes()[1]().tokenize_with_weights(text)["l"][0]]
    with torch.no_grad():
        direct = clip.cond_stage_model.clip_l([tokens])[0]
    assert cond.shape == (1, 77, scene_model.CLIP_CONFIG["hidden_size"])
    assert torch.allclose(cond, direct, atol=1e-5)


def test_missing_truncated_and_foreign_files_are_refused_by_name(tmp_path):
    with pytest.raises(scene_model.WeightsFileError, match="'absent.safetensors' not found"):
        scene_model.read_weights(str(tmp_path / "absent.safetensors"))
    data = open(WEIGHTS, "rb").read()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(scene_model.WeightsFileError, match="'cut.safetensors' cannot be read as safetensors"):
        scene_model.read_weights(str(tmp_path / "cut.safetensors"))
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(scene_model.WeightsFileError, match="'foreign.safetensors' is not an SDE-Edit scene model"):
        scene_model.read_weights(str(tmp_path / "foreign.safetensors"))
    sd = safetensors.torch.load_file(WEIGHTS)
    sd.pop(next(k for k in sd if k.startswith(scene_model.UNET_PREFIX)))
    safetensors.torch.save_file(sd, str(tmp_path / "partial.safetensors"),
                                metadata={"format": scene_model.FORMAT, "version": scene_model.FORMAT_VERSION})
    with pytest.raises(scene_model.WeightsFileError, match="'partial.safetensors': its UNet weights do not match"):
        scene_model.read_weights(str(tmp_path / "partial.safetensors"))


def test_loader_node_names_its_input():
    with pytest.raises(InputError, match="^weights: .*'nothing.safetensors' not found"):
        SceneModelLoader.execute("nothing.safetensors")
    with pytest.raises(InputError, match="^weights must be a file name"):
        SceneModelLoader.execute("../README.md")


def test_scene_world_image_node_draws_the_seeds_scene_and_names_bad_inputs():
    from lab.nodes.reference import SceneWorldImage
    image, mask, caption = SceneWorldImage.execute(8, "scene").args
    assert image.shape == (1, 32, 32, 3) and mask.shape == (1, 32, 32) and caption == "a blue ball on sand, at dusk"
    p = sp.parse(image[0].movedim(-1, 0))
    assert p.valid() and p.matches(caption)
    (ball,) = p.objects
    assert abs(ball.x - 8.8) < 0.3 and abs(ball.y - 11.6) < 0.3  # what the drag workflow's points assume
    assert 0 < mask.mean() < 0.3
    strokes = SceneWorldImage.execute(8, "stroke painting").args[0]
    assert not torch.equal(strokes, image)
    with pytest.raises(InputError, match="kind"):
        SceneWorldImage.execute(8, "photo")
    with pytest.raises(InputError, match="seed"):
        SceneWorldImage.execute(-1, "scene")
    # 128×128 for the latent model: the same scene (caption), objects 1/10 to 1/3 of the picture
    big, big_mask, big_caption = SceneWorldImage.execute(8, "scene", "128x128").args
    assert big.shape == (1, 128, 128, 3) and big_mask.shape == (1, 128, 128) and big_caption == caption
    p = sp.parse_at(big[0].movedim(-1, 0))
    (ball,) = p.objects
    assert p.valid() and p.matches(caption) and abs(2 * ball.x - 25.8) < 1 and abs(2 * ball.y - 40.7) < 1  # the latent drag workflow's points
    with pytest.raises(InputError, match="size"):
        SceneWorldImage.execute(8, "scene", "64x64")
