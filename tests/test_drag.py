"""SDE-Drag Point Mover on exact models: Cycle-SDE reconstruction, the drag itself, the mask, the
points input, and ComfyUI citizenship (seeds, batches, no in-place writes, interrupt, CFG)."""
import json
import math

import comfy.latent_formats
import comfy.model_management
import pytest
import torch

from fixtures import (EMPTY, PARAMETERIZATIONS, assert_latent_unchanged, clone_latent, gmm_model, interrupting, oracle_calls,
                      progress_updates, scene_model, two_blobs)
from sde_edit_pack.adapter.checks import InputError
from sde_edit_pack.adapter.guided import RisingCFGGuider, schedule_tail
from sde_edit_pack.adapter.points import downscale_factor, to_latent
from lab.reference.oracle_models import make_model
from sde_edit_pack.nodes.drag import SDEDragPointMover
from lab.reference import scenes
from sde_edit_pack.sampling.drag import substeps
from sde_edit_pack.sampling.warp import windows

SHAPE = (4, 16, 16)
DEFAULTS = dict(seed=1234, steps=100, t0=0.6, cfg=3.0, drag_step=2.0, patch_radius=5, beta=0.3, alpha=1.1, eta=1.0,
                scheduler="ddim_uniform", method="paper")
# On the reference scenes the ball sits on a 4-px grid, radius 7: drag in 4-px sub-steps with a
# patch that covers the ball.
SCENE = dict(DEFAULTS, drag_step=4.0, patch_radius=8)


def drag(model, latent, points="", negative=EMPTY, **kw):
    args = dict(DEFAULTS, **kw)
    out, frames = SDEDragPointMover.execute(model, EMPTY, latent, points, negative=negative, **args).args
    return out, frames


def pts(source, target):
    return json.dumps({"source": source, "target": target})


def blob_latent(batch=2, seed=0):
    return {"samples": two_blobs(SHAPE).sample(batch, torch.Generator().manual_seed(seed)).float()}


def scene_latent(x=28, y=28, colour="red"):
    return {"samples": scenes.to_latent(scenes.render(scenes.Scene(x, y, colour))[None])}


def ball_centre(latent):
    """Centroid of the pixels that differ from the empty background (the ball), per image."""
    images = scenes.to_image(latent).clamp(0, 1)
    ball = (images - scenes.background()).abs().amax(1) > 0.25
    ys, xs = torch.meshgrid(torch.arange(images.shape[-2]), torch.arange(images.shape[-1]), indexing="ij")
    n = ball.flatten(1).sum(1)
    return torch.stack([(ball * xs).flatten(1).sum(1) / n, (ball * ys).flatten(1).sum(1) / n], 1)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_no_points_gives_back_the_input_to_float32_precision(parameterization):
    latent = blob_latent()
    out, frames = drag(gmm_model(parameterization, SHAPE), latent)
    assert (out["samples"] - latent["samples"]).abs().max() < 1e-5
    assert frames["samples"].shape == latent["samples"].shape  # one (reconstruction) sub-step


# Axis-aligned drags, so that every sub-step lands on the model's 4-px grid (diagonal drags are in
# the benchmark, lab/benchmarks/bench_drag.py, with their measured distances).
@pytest.mark.parametrize("parameterization, eta, target", [
    ("eps", 1.0, (40, 28)), ("eps", 0.0, (40, 28)), ("flow", 1.0, (40, 28)), ("flow", 0.0, (40, 28)),
    ("v_prediction", 1.0, (28, 44))])
def test_drag_moves_the_ball_to_within_one_pixel_of_the_target(parameterization, eta, target):
    out, frames = drag(scene_model(parameterization), scene_latent(28, 28), pts([[28, 28]], [list(target)]), eta=eta,
                       **{k: v for k, v in SCENE.items() if k != "eta"})
    # The render's centroid of a ball centred at (x, y) is (x - 0.5, y - 0.5): pixel centres.
    assert torch.dist(ball_centre(out["samples"])[0], torch.tensor(target, dtype=torch.float32) - 0.5) <= 1.0
    assert frames["samples"].shape[0] == round(math.dist((28, 28), target) / SCENE["drag_step"])
    assert torch.equal(frames["samples"][-1:], out["samples"])


def test_outside_the_mask_the_output_is_exactly_the_input():
    latent = scene_latent(28, 28)
    mask = torch.zeros(1, 64, 64)
    mask[:, 14:44, 14:56] = 1.0  # the ball's old and new places
    for eta in (1.0, 0.0):
        out, frames = SDEDragPointMover.execute(scene_model(), EMPTY, latent, pts([[28, 28]], [[40, 28]]), mask=mask,
                                                negative=EMPTY, **dict(SCENE, eta=eta)).args
        outside = (1 - mask).bool().expand_as(out["samples"][:, 0])
        for frame in frames["samples"]:
            assert torch.equal(frame[:, outside[0]], latent["samples"][0][:, outside[0]])
        assert torch.dist(ball_centre(out["samples"])[0], torch.tensor([39.5, 27.5])) <= 1.0


def test_a_latent_noise_mask_is_the_mask_when_none_is_connected():
    latent = scene_latent(28, 28)
    latent["noise_mask"] = torch.zeros(1, 1, 64, 64)  # nothing may change
    out, _ = drag(scene_model(), latent, pts([[28, 28]], [[40, 28]]), drag_step=4.0, patch_radius=8)
    assert torch.equal(out["samples"], latent["samples"])


@pytest.mark.parametrize("points, words", [
    ('{"source": [[1, 2]', ["points", "not valid JSON"]),
    ('[[1, 2], [3, 4]]', ["points", "'source' and 'target'"]),
    (pts([[1, 2], [3, 4]], [[5, 6]]), ["points", "2 source", "1 target"]),
    (pts([[1, 2]], [[16, 3]]), ["points", "target point 1", "outside the image", "16x16"]),
    (pts([[-1, 2]], [[3, 3]]), ["points", "source point 1", "outside"]),
    (pts([[1, "a"]], [[3, 3]]), ["points", "source point 1", "two finite numbers"]),
])
def test_bad_points_are_refused_before_any_model_call(points, words):
    model = gmm_model("eps", SHAPE)
    before = oracle_calls(model)
    with pytest.raises(InputError) as err:
        drag(model, blob_latent(), points)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert oracle_calls(model) == before


@pytest.mark.parametrize("name, value", [("t0", 0.0), ("t0", 1.5), ("patch_radius", 0), ("drag_step", 0.0),
                                         ("beta", 1.2), ("eta", -0.1), ("steps", 0)])
def test_out_of_range_inputs_name_the_input(name, value):
    with pytest.raises(InputError, match=name):
        drag(gmm_model("eps", SHAPE), blob_latent(), **{name: value})


def test_a_radius_larger_than_the_latent_is_clipped_to_fit():
    """Documented clip: each side of the window is cut so that both windows stay inside."""
    assert windows((3, 4), (10, 12), 100, 16, 16) == ((slice(0, 8), slice(0, 9)), (slice(8, 16), slice(7, 16)))
    latent, points = blob_latent(1), pts([[3, 4]], [[10, 12]])
    huge, _ = drag(gmm_model("eps", SHAPE), latent, points, patch_radius=256)
    full, _ = drag(gmm_model("eps", SHAPE), latent, points, patch_radius=16)
    assert torch.equal(huge["samples"], full["samples"]) and torch.isfinite(huge["samples"]).all()


def test_same_seed_same_output_and_inputs_untouched():
    latent, mask = blob_latent(), torch.ones(16, 16)
    mask[:2] = 0
    before, mask_before = clone_latent(latent), mask.clone()
    points = pts([[2, 3]], [[9, 8]])
    a, _ = SDEDragPointMover.execute(gmm_model("eps", SHAPE), EMPTY, latent, points, mask=mask, negative=EMPTY, **DEFAULTS).args
    b, _ = SDEDragPointMover.execute(gmm_model("eps", SHAPE), EMPTY, latent, points, mask=mask, negative=EMPTY, **DEFAULTS).args
    c, _ = SDEDragPointMover.execute(gmm_model("eps", SHAPE), EMPTY, latent, points, mask=mask, negative=EMPTY, **dict(DEFAULTS, seed=7)).args
    assert torch.equal(a["samples"], b["samples"])
    assert not torch.equal(a["samples"], c["samples"])
    assert_latent_unchanged(before, latent)
    assert torch.equal(mask, mask_before)


def test_a_batch_element_is_the_same_alone_with_its_batch_index():
    latent = blob_latent(3)
    points = pts([[2, 3]], [[9, 8]])
    batch, _ = drag(gmm_model("v_prediction", SHAPE), latent, points)
    alone, _ = drag(gmm_model("v_prediction", SHAPE), {"samples": latent["samples"][2:], "batch_index": [2]}, points)
    assert torch.allclose(batch["samples"][2:], alone["samples"], atol=1e-6)


def test_interrupt_stops_between_model_calls():
    model, calls = interrupting(gmm_model("eps", SHAPE), after=3)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            drag(model, blob_latent(), pts([[2, 3]], [[9, 8]]))
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert len(calls) == 3


def test_cfg_rises_linearly_from_one_to_cfg_at_t0_and_is_off_without_a_negative():
    scales = []
    model = gmm_model("eps", SHAPE).clone()

    def cfg_function(args):
        scales.append((float(args["sigma"][0]), args["cond_scale"]))
        return args["uncond"] + (args["cond"] - args["uncond"]) * args["cond_scale"]

    model.set_model_sampler_cfg_function(cfg_function)
    drag(model, blob_latent(1), steps=10, t0=0.5, cfg=5.0)
    sigmas = schedule_tail(model, "ddim_uniform", 10, 5)
    assert [s for _, s in scales] == pytest.approx([5.0, 4.2, 3.4, 2.6, 1.8])  # 1 + 4·k/5, k = 5..1
    assert [s for s, _ in scales] == pytest.approx([float(s) for s in sigmas[:-1]], rel=1e-5)
    assert RisingCFGGuider(model, sigmas, 5.0).cfg_at(0.0) == 1.0
    scales.clear()
    drag(model, blob_latent(1), steps=10, t0=0.5, cfg=5.0, negative=None)
    assert all(s == 1.0 for _, s in scales)


def test_points_are_in_image_pixels_scaled_by_the_latent_downscale_factor():
    sd_like = make_model(two_blobs(SHAPE), "eps", 4, comfy.latent_formats.SD15)
    assert downscale_factor(sd_like) == 8
    assert downscale_factor(scene_model()) == 1  # pixel space

    class Vae16:
        downscale_ratio = (lambda a: a, 16, 16)

    assert downscale_factor(sd_like, Vae16()) == 16
    assert substeps(to_latent([((100, 60), (127, 0))], 8), 16, 16, 100.0) == [[((12, 7), (15, 0))]]
    with pytest.raises(InputError, match="128x128"):
        drag(sd_like, blob_latent(), pts([[100, 60]], [[128, 0]]))
    out, _ = drag(sd_like, blob_latent(), pts([[100, 60]], [[127, 0]]))
    assert torch.isfinite(out["samples"]).all()


def test_progress_bar_counts_every_step_of_every_sub_step():
    with progress_updates() as updates:
        _, frames = drag(gmm_model("eps", SHAPE), blob_latent(1), pts([[2, 3]], [[6, 3]]), steps=10, t0=0.5)
    assert frames["samples"].shape[0] == 2  # 4 px in sub-steps of 2
    assert updates == [(i, 10) for i in range(1, 11)]
