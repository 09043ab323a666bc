"""Any mask node's output into SDE-Drag's `region` (a segmenter's batch of per-object masks, a mask of
another size, an empty one when nothing was found) either works or is refused naming `region`; the
drag reports the region it used to the point editor; the drag's own source points become a
segmenter's clicks (SDEDragClicks), read from the drag node downstream in the prompt."""
import json

import pytest
import torch

from fixtures import object_model, oracle_calls
from sde_edit_pack.adapter.checks import InputError
from sde_edit_pack.adapter.clicks import clicks_from_points, drag_nodes_reached, points_of_reached_drag
from sde_edit_pack.nodes.clicks import SDEDragClicks
from sde_edit_pack.nodes.drag import SDEDragPointMover
from lab.reference import scenes

ARGS = dict(seed=1234, steps=100, t0=0.6, cfg=3.0, drag_step=2.0, patch_radius=1, beta=0.3, alpha=1.1, eta=1.0,
            scheduler="ddim_uniform", method="warp")
POINTS = json.dumps({"source": [[12, 12]], "target": [[20, 12]]})


def scene(batch=1):
    image = scenes.render_thing(scenes.Thing(12, 12, "ball", "blue"))
    mask = ((image - scenes.background(image.shape[-1])).abs().amax(0) > 0.25).float()
    return {"samples": scenes.to_latent(image[None]).repeat(batch, 1, 1, 1)}, mask


def run(latent, region, model=None):
    result = SDEDragPointMover.execute(model or object_model(), [], latent, POINTS, negative=None, region=region, **ARGS)
    return result.args[0]["samples"], result.ui


def test_a_batch_of_per_object_masks_for_one_image_moves_their_union():
    """SAM3 Detect with individual_masks gives one mask per object found: for one image, every object
    marked moves, exactly as the union of the masks does."""
    latent, mask = scene()
    left, right = mask.clone(), mask.clone()
    left[:, 12:], right[:, :12] = 0, 0  # the object cut in two "objects"
    split, _ = run(latent, torch.stack([left, right]))
    whole, _ = run(latent, mask[None])
    assert torch.equal(split, whole)


def test_a_batch_of_the_latents_size_is_one_mask_per_image():
    latent, mask = scene(batch=2)
    per_image, _ = run(latent, torch.stack([mask, torch.zeros_like(mask)]))
    model = object_model()
    first, _ = run({"samples": latent["samples"][:1]}, mask[None], model)
    assert torch.equal(per_image[:1], first)


def test_a_batch_that_fits_neither_the_objects_nor_the_images_is_refused_naming_region():
    latent, mask = scene(batch=2)
    model = object_model()
    before = oracle_calls(model)
    with pytest.raises(InputError, match=r"^region has a batch of 3 masks for a latent batch of 2"):
        run(latent, mask[None].repeat(3, 1, 1), model)
    assert oracle_calls(model) == before


def test_a_mask_of_another_resolution_is_resized_and_another_aspect_is_refused_with_the_sizes():
    latent, mask = scene()
    image_size = mask.shape[-1]
    larger = torch.nn.functional.interpolate(mask[None, None], scale_factor=3, mode="nearest")[0]
    assert larger.shape[-1] == 3 * image_size
    assert torch.equal(run(latent, larger)[0], run(latent, mask[None])[0])
    wide = torch.zeros(1, image_size, 2 * image_size)
    with pytest.raises(InputError, match=rf"^region is {2 * image_size}x{image_size} .*aspect ratio"):
        run(latent, wide)


@pytest.mark.parametrize("empty, words", [
    (torch.zeros(0, 32, 32), "^region is an empty batch of masks .*found no object"),  # individual_masks, nothing found
    (torch.zeros(1, 32, 32), "^region is empty .*a segmentation that found nothing"),   # a union of nothing
])
def test_an_empty_mask_from_a_segmenter_that_found_nothing_is_refused_naming_region(empty, words):
    """Refused rather than silently falling back to handle_region: the user asked for that object, and
    moving whatever the handles find instead would edit something else without saying so."""
    latent, _ = scene()
    model = object_model()
    before = oracle_calls(model)
    with pytest.raises(InputError, match=words):
        run(latent, empty, model)
    assert oracle_calls(model) == before


def test_the_region_used_is_reported_to_the_point_editor_run_length_coded():
    latent, mask = scene()
    left, right = mask.clone(), mask.clone()
    left[:, 12:], right[:, :12] = 0, 0
    _, ui = run(latent, torch.stack([left, right]))
    (shown,) = ui["sde_drag_region"]
    assert (shown["width"], shown["height"]) == (mask.shape[-1], mask.shape[-2])
    bits, value = [], 0
    for n in shown["runs"]:
        bits += [value] * n
        value = 1 - value
    assert torch.equal(torch.tensor(bits).reshape(mask.shape), mask.long())  # the union, pixel for pixel
    assert run(latent, None)[1] is None  # nothing connected: nothing to show


# ----------------------------------------------------------------------- the drag's points as clicks

def prompt_with(points='{"source": [[10, 20], [30.4, 40]], "target": [[11, 20], [31, 40]]}', drags=1, chain=True):
    """clicks (1) -> SAM3_Detect (2) -> GrowMask (3) -> drag node(s) 4.. region; a second drag fed by
    the first drag's output (its latent) is not where the mask goes."""
    prompt = {"1": {"class_type": "SDEDragClicks", "inputs": {"points": ""}},
              "2": {"class_type": "SAM3_Detect", "inputs": {"positive_coords": ["1", 0], "image": ["9", 0]}},
              "3": {"class_type": "GrowMask", "inputs": {"mask": ["2", 0], "expand": 2}},
              "9": {"class_type": "LoadImage", "inputs": {"image": "a.png"}}}
    for k in range(drags):
        prompt[str(4 + k)] = {"class_type": "SDEDragPointMover", "inputs": {"points": points, "region": ["3", 0]}}
    if chain:
        prompt["8"] = {"class_type": "SDEDragPointMover", "inputs": {"points": "{}", "latent": ["4", 0]}}
    return prompt


def test_clicks_are_the_source_points_of_the_drag_node_the_mask_reaches():
    prompt = prompt_with()
    assert drag_nodes_reached(prompt, "1") == ["4"]
    text = points_of_reached_drag(prompt, "1")
    assert json.loads(clicks_from_points(text)) == [{"x": 10, "y": 20}, {"x": 30, "y": 40}]
    assert json.loads(SDEDragClicks.execute(points=text).args[0]) == [{"x": 10, "y": 20}, {"x": 30, "y": 40}]


@pytest.mark.parametrize("prompt, words", [
    (prompt_with(drags=0, chain=False), "reaches no SDE-Drag Point Mover"),
    (prompt_with(drags=2), "reaches 2 SDE-Drag Point Mover nodes (4, 5)"),
    (prompt_with(points=["9", 0]), "come from a link"),
    (None, "the prompt is not available"),
])
def test_no_drag_node_several_or_linked_points_are_refused_naming_points(prompt, words):
    with pytest.raises(InputError, match="^points") as err:
        points_of_reached_drag(prompt, "1")
    assert words in str(err.value)


def test_no_source_points_is_refused_naming_points():
    with pytest.raises(InputError, match="^points has no source points"):
        clicks_from_points('{"source": [], "target": []}')
    with pytest.raises(InputError, match="^points is not valid JSON"):
        clicks_from_points("[1,")


def test_the_cache_key_changes_with_the_points_and_is_never_equal_when_they_are_read_from_the_prompt():
    """ComfyUI's cache key holds the node's inputs, not the prompt it reads the drag's points from: empty
    points give NaN (never equal to itself: the node always runs); typed (or, in the UI, filled in from
    the drag node when queued) points are the key itself."""
    empty = SDEDragClicks.fingerprint_inputs(points="")
    assert empty != empty
    assert SDEDragClicks.fingerprint_inputs(points="a") != SDEDragClicks.fingerprint_inputs(points="b")
