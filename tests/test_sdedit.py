"""SDEdit Noise-and-Denoise node, called as ComfyUI calls it, on the exact reference models."""
import comfy.utils
import pytest
import torch

from fixtures import EMPTY, PARAMETERIZATIONS, assert_latent_unchanged, clone_latent, gmm, gmm_model, scene_model
from sde_edit_pack.adapter.checks import InputError
from sde_edit_pack.adapter.guided import edit_sigmas
from sde_edit_pack.nodes.sdedit import SDEditNoiseDenoise
from lab.reference import scenes


def sdedit(model, latent, seed=0, steps=10, strength=0.5, eta=1.0, cfg=1.0, scheduler="normal", repeats=1, mask=None):
    return SDEditNoiseDenoise.execute(model, EMPTY, EMPTY, latent, seed, steps, strength, eta, cfg, scheduler, repeats, mask).result[0]


def gmm_latent(batch=4, seed=0):
    return {"samples": gmm().sample(batch, torch.Generator().manual_seed(seed)).float()}


def scene_latent(indices=(0, 60, 150)):
    images, _ = scenes.reference_images()
    return {"samples": scenes.to_latent(images[list(indices)])}


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_small_strength_returns_the_input(parameterization):
    """A reference image noised to the lowest level of the schedule denoises back to itself."""
    latent = scene_latent()
    out = sdedit(scene_model(parameterization), latent, strength=0.001, steps=2)["samples"]
    torch.testing.assert_close(out, latent["samples"], rtol=0, atol=1e-4)


def test_output_approaches_input_as_strength_falls():
    """SDEdit's output is a posterior sample given the guide noised to σ(t0): it moves away from
    the guide by about σ(t0) (for σ below the data's spread), so the change falls with strength."""
    latent, model = gmm_latent(64), gmm_model("eps")
    errors, levels = [], []
    for strength in (0.6, 0.3, 0.1, 0.01):
        levels.append(float(edit_sigmas(model, "normal", 10, strength)[0]))
        errors.append((sdedit(model, latent, strength=strength)["samples"] - latent["samples"]).abs().mean().item())
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 1.5 * levels[-1], (errors, levels)


def test_ode_is_deterministic_and_draws_no_step_noise():
    latent = gmm_latent()
    a = sdedit(gmm_model("eps"), latent, eta=0.0, seed=5)["samples"]
    b = sdedit(gmm_model("eps"), latent, eta=0.0, seed=5)["samples"]
    assert torch.equal(a, b)


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_same_seed_same_output_other_seed_other_output(eta):
    latent = gmm_latent()
    a = sdedit(gmm_model("flow"), latent, eta=eta, seed=11, strength=0.8)["samples"]
    b = sdedit(gmm_model("flow"), latent, eta=eta, seed=11, strength=0.8)["samples"]
    c = sdedit(gmm_model("flow"), latent, eta=eta, seed=12, strength=0.8)["samples"]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_batch_element_equals_the_element_alone(eta):
    """Element i of a batch gives what it gives alone with batch_index [i] (LatentFromBatch)."""
    latent = gmm_latent(3)
    batch = sdedit(gmm_model("v_prediction"), latent, eta=eta, seed=3, repeats=2)["samples"]
    alone = sdedit(gmm_model("v_prediction"), {"samples": latent["samples"][1:2].clone(), "batch_index": [1]},
                   eta=eta, seed=3, repeats=2)["samples"]
    torch.testing.assert_close(alone[0], batch[1], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1])


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("resolution", ["latent", "image"])
def test_masked_edit_keeps_the_unmasked_region_exactly(parameterization, resolution):
    latent = gmm_latent(2) if parameterization != "eps" else scene_latent((3, 77))
    h, w = latent["samples"].shape[-2:]
    scale = 1 if resolution == "latent" else 8
    mask = torch.zeros(1, h * scale, w * scale)
    mask[:, : h * scale // 2] = 1.0  # edit the top half only
    model = gmm_model(parameterization) if parameterization != "eps" else scene_model("eps")
    out = sdedit(model, latent, mask=mask, strength=0.9, steps=8, repeats=2)["samples"]
    resized = comfy.utils.reshape_mask(mask, out.shape)
    keep = resized == 0
    assert keep.any() and (~keep).any()
    assert torch.equal(out[keep], latent["samples"][keep])
    assert not torch.allclose(out[~keep], latent["samples"][~keep])


def test_latent_noise_mask_is_used_when_no_mask_is_given():
    latent = scene_latent((5,))
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:40, 20:40] = 1.0
    out = sdedit(scene_model(), {**latent, "noise_mask": mask}, strength=0.8)["samples"]
    assert torch.equal(out[..., :20, :], latent["samples"][..., :20, :])
    assert not torch.equal(out[..., 20:40, 20:40], latent["samples"][..., 20:40, 20:40])


def test_inputs_are_not_modified_in_place():
    latent = {**gmm_latent(2), "batch_index": [4, 9], "noise_mask": torch.ones(2, 1, 2, 2)}
    mask = torch.ones(2, 2, 2) * 0.5
    before, mask_before = clone_latent(latent), mask.clone()
    out = sdedit(gmm_model("eps"), latent, mask=mask, repeats=2)
    assert_latent_unchanged(before, latent)
    assert torch.equal(mask, mask_before)
    assert out is not latent and out["batch_index"] == [4, 9] and "noise_mask" in out  # other keys kept


BAD_INPUTS = [
    ({"strength": 0.0}, "strength"),
    ({"strength": 1.5}, "strength"),
    ({"strength": float("nan")}, "strength"),
    ({"steps": 0}, "steps"),
    ({"eta": 1.2}, "eta"),
    ({"repeats": 0}, "repeats"),
    ({"mask": torch.ones(1, 8, 16)}, "mask"),  # another aspect ratio
    ({"mask": torch.ones(3, 2, 2)}, "mask"),  # batch 3 for a latent batch of 2
    ({"mask": torch.full((1, 2, 2), float("nan"))}, "mask"),
    ({"latent": {"samples": torch.zeros(0, 1, 2, 2)}}, "latent_image"),
    ({"latent": {"samples": torch.full((2, 1, 2, 2), float("nan"))}}, "latent_image"),
    ({"latent": {"samples": torch.zeros(2, 1, 2, 2), "batch_index": [0]}}, "latent_image"),
]


@pytest.mark.parametrize("change,name", BAD_INPUTS, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD_INPUTS)])
def test_bad_input_is_named_before_any_sampling(change, name):
    model = gmm_model("eps")
    calls = model.model.diffusion_model.calls
    kwargs = {"latent": gmm_latent(2), **change}
    latent = kwargs.pop("latent")
    with pytest.raises(InputError, match=name):
        sdedit(model, latent, **kwargs)
    assert model.model.diffusion_model.calls == calls  # the model was never evaluated
