"""Every checkpoint workflow in workflows/ runs end to end on a real ComfyUI server, and the template
browser lists every workflow of the pack with its thumbnail.

The checkpoint workflows (all but those on the Reference Scene Model, which test_workflows.py runs)
are converted from the UI format and queued as shipped, with the checkpoint and LoRA names they ask
for. Under those names the server holds tiny random-weight stand-ins (set up
by lab/harness/make_thumbnails.py, the same code that makes the thumbnails): the tiny checkpoint that
ComfyUI's own CheckpointLoaderSimple detects as the workflow's family (lab/harness/tiny_checkpoints.py) and
a tiny LoRA whose keys ComfyUI maps onto it. Random weights prove the wiring, not the quality. To stay
fast, the input picture is a generated 64 x 64 scene (VAEEncode follows the picture's size), the drag
points are scaled to it, and the pack's node runs fewer steps (--set overrides, as run_workflow.py).

SDE-Drag (Flux).json cannot run here: ComfyUI builds Flux's T5-XXL text encoder at a fixed 4.76B parameters
whatever the file holds (measured below on the meta device), so it is skipped with that reason; its
graph, with its three loaders replaced by the tiny SD3 checkpoint (what its thumbnail shows), runs."""
import glob
import io
import json
import os
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load as load_safetensors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from lab.commands import make_thumbnails as mt  # noqa: E402
from lab.paths import LAB_WORKFLOWS, PRODUCT_WORKFLOWS, all_workflows  # noqa: E402
from lab.harness.comfy_server import LAB_LINK_NAME, PACK_LINK_NAME, ComfyServer  # noqa: E402
from fixtures import check_outputs_unchanged, skip_if_train_lora_outputs_moved  # noqa: E402

WORKFLOWS = all_workflows()
CHECKPOINT = [p for p in WORKFLOWS if mt.analyse(p).kind not in mt.AS_SHIPPED]  # test_workflows.py runs the others
SIZE = 64
# Fewer steps than shipped: SDEdit 6 x 0.5 = 3 model calls, inpaint 4, drag 10 x t0 0.6 = 6 per half-cycle.
FAST = ["SDEditNoiseDenoise.steps=6", "SDEInpaint.steps=4", "SDEDragPointMover.steps=10",
        "TrainLoraNode.steps=2"]  # the LoRA workflow trains 2 steps here (100 as shipped)
LATENT_OUTPUT = {"SDEditNoiseDenoise", "SDEInpaint", "SDEDragPointMover"}


def name_of(path):
    return os.path.splitext(os.path.basename(path))[0]


def ids(paths):
    return [os.path.basename(p) for p in paths]


def plan(path):
    return mt.analyse(path, SIZE, FAST)


@pytest.fixture(scope="module")
def server():
    s = ComfyServer()
    mt.link_standin_nodes(s)  # the test-only tiny SAM 3 (tests/sam3_standin), loaded at start-up
    with s:
        mt.stage(s, [plan(p) for p in CHECKPOINT])
        yield s


@pytest.fixture(scope="module")
def object_info(server):
    return server.get("/object_info")


@pytest.fixture(scope="module")
def runs(server, object_info, tmp_path_factory):
    """path -> (make_thumbnails Result, {node id: latent tensor}); each workflow runs once per module.
    A SaveLatent is added after every pack node, so the sampled latent itself can be checked."""
    cache = {}
    workdir = str(tmp_path_factory.mktemp("inputs"))

    def run(path):
        if path not in cache:
            p = plan(path)
            prompt = mt.build_prompt(p, server, object_info, workdir)
            for node_id, entry in list(prompt.items()):
                if entry["class_type"] in LATENT_OUTPUT:
                    prompt[f"{node_id}_latent"] = {"class_type": "SaveLatent", "inputs": {
                        "samples": [node_id, 0], "filename_prefix": f"latents/test_{p.name}_{node_id}"}}
            result = mt.execute(p, server, object_info, prompt=prompt, timeout=300)
            latents = {img.node_id[:-len("_latent")]: load_safetensors(img.data)["latent_tensor"]
                       for img in result.run.images if img.node_id.endswith("_latent")}
            cache[path] = (result, latents)
        return cache[path]

    return run


def images_of(result, node_id):
    return [mt.decode(i.data) for i in result.run.images if i.node_id == node_id]


@pytest.mark.parametrize("path", CHECKPOINT, ids=ids(CHECKPOINT))
def test_checkpoint_workflow_runs_on_its_tiny_checkpoint(path, runs, server):
    p = plan(path)
    if p.kind == "flux":
        import comfy.text_encoders.flux  # ComfyUI is booted in this process by conftest.py
        te = comfy.text_encoders.flux.FluxClipModel(device="meta", dtype=torch.float16)
        t5 = sum(t.numel() for t in te.t5xxl.parameters())
        assert t5 > 4.5e9  # fixed by t5_config_xxl.json, whatever a checkpoint file holds
        pytest.skip(f"{os.path.basename(path)}: ComfyUI builds Flux's text encoder as CLIP-L + T5-XXL, and T5-XXL at "
                    f"a fixed {t5 / 1e9:.2f}B parameters ({t5 * 2 / 2**30:.1f} GiB in fp16, about "
                    f"{2 * t5 * 256 / 1e12:.1f} TFLOP per CLIPTextEncode at its 256-token minimum): no stand-in can be "
                    "made small, and a full-size one cannot be generated and run within this suite. Its graph runs "
                    "on the tiny SD3 checkpoint in test_flux_graph_runs_with_sd3_standing_in; its conversion is "
                    "checked in test_workflows.py")
    skip_if_train_lora_outputs_moved(path, server.get("/object_info"))
    if p.sam3 and "SAM3_Detect" not in server.get("/object_info"):
        pytest.skip(f"{os.path.basename(path)}: this ComfyUI has no SAM 3 nodes (SAM3_Detect, comfy_extras/nodes_sam3.py "
                    "came with a later core); it runs on the newer test host")
    result, latents = runs(path)
    prompt = result.prompt

    # It ran as shipped: the workflow's own checkpoint / LoRA names, loaded by the stock loaders.
    with open(path, encoding="utf-8") as f:
        shipped = [n["widgets_values"][0] for n in json.load(f)["nodes"]
                   if n["type"] in ("CheckpointLoaderSimple", "LoraLoader") and n.get("mode", 0) == 0
                   and not mt.is_sam3(n["widgets_values"][0])]  # SAM 3 runs on the stand-in node
    used = [v["inputs"].get("ckpt_name") or v["inputs"].get("lora_name") for v in prompt.values()
            if v["class_type"] in ("CheckpointLoaderSimple", "LoraLoader")]
    assert shipped and sorted(used) == sorted(shipped)
    for name, family in p.checkpoints.items():
        linked = os.path.join(server.base_dir, "models", "checkpoints", name)
        assert os.path.realpath(linked) == os.path.realpath(mt.tiny_checkpoints.ensure(family))

    # Every SaveImage saved a picture of the input's size with real content.
    saves = [k for k, v in prompt.items() if v["class_type"] == "SaveImage"]
    assert saves and [k for k, _, _ in result.outputs] == saves
    for node_id in saves:
        pictures = images_of(result, node_id)
        assert pictures, f"SaveImage {node_id} saved nothing"
        for img in pictures:
            assert img.shape == (SIZE, SIZE, 3)
            assert img.std() > 5 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # not flat
    # The pack node's latent: finite, the input's latent size, not constant.
    assert latents
    for node_id, latent in latents.items():
        assert latent.shape[-2:] == (SIZE // 8, SIZE // 8)
        assert torch.isfinite(latent).all() and float(latent.std()) > 1e-3, node_id
    # The input is the generated picture (LoadImage), and the output is not it.
    assert result.input.shape == (SIZE, SIZE, 3)
    assert np.abs(result.outputs[0][2].astype(int) - result.input.astype(int)).mean() > 1
    check_outputs_unchanged(os.path.basename(path), {**{f"{k}/latent": v.numpy() for k, v in latents.items()},
                                                     **{f"{k}/{i}": img for k in saves
                                                        for i, img in enumerate(images_of(result, k))}})

    if p.task == "drag":  # the animation of the drag: the input, then one picture per sub-step
        mover = next(v for v in prompt.values() if v["class_type"] == "SDEDragPointMover")
        assert json.loads(mover["inputs"]["points"]) == {"source": [[25, 32]], "target": [[35, 32]]}
        assert mover["inputs"]["method"] == "warp"  # shipped with the node's default
        check_drag_animation(result, prompt, frame_count=3)  # warp: the input, the moved and filled start, the result
    if p.task == "inpaint":  # Load Image's MASK (the picture's transparent box) reached SDE Inpaint
        assert 0.05 < result.mask.mean() < 0.5


def check_drag_animation(result, prompt, frame_count):
    """The drag's SaveAnimatedWEBP (fed by ImageBatch: the input picture, then the decoded sub-steps)
    saved one animated WebP in the output folder with `frame_count` frames: the first is the input
    picture and the last the dragged image (lossless WebP, so to within the VAE's batch rounding)."""
    (anim,) = [k for k, v in prompt.items() if v["class_type"] == "SaveAnimatedWEBP"]
    batch = prompt[prompt[anim]["inputs"]["images"][0]]
    assert batch["class_type"] == "ImageBatch"
    substeps = prompt[batch["inputs"]["image2"][0]]
    assert substeps["class_type"] == "VAEDecode"
    mover = prompt[substeps["inputs"]["samples"][0]]
    assert mover["class_type"] == "SDEDragPointMover" and substeps["inputs"]["samples"][1] == 1  # its substeps
    shown = result.run.entry["outputs"][anim]
    assert shown["animated"] == [True] and len(shown["images"]) == 1, shown
    assert shown["images"][0]["type"] == "output" and shown["images"][0]["filename"].endswith(".webp")
    (saved,) = [i for i in result.run.images if i.node_id == anim]
    with Image.open(io.BytesIO(saved.data)) as img:
        assert img.format == "WEBP" and img.is_animated and img.n_frames == frame_count
        assert img.size == (SIZE, SIZE)
    frames = mt.frames(saved.data)
    assert np.array_equal(frames[0], result.input)  # the picture VAEEncode encodes
    dragged = result.outputs[0][2].astype(int)
    assert np.abs(frames[-1].astype(int) - dragged).max() <= 2
    assert all(np.abs(a.astype(int) - b.astype(int)).mean() > 0.5 for a, b in zip(frames, frames[1:]))  # it moves


def test_lora_is_applied(runs, server):
    """SDE-Drag (SD1.5 + picture LoRA).json is SDE-Drag (SD1.5 checkpoint).json plus a LoraLoader: every key of the tiny LoRA maps onto
    the tiny SD1.5 (ComfyUI warns 'lora key not loaded' for any that does not), and it changes the
    result of the same drag."""
    lora, plain = (os.path.join(ROOT, "workflows", n) for n in ("SDE-Drag (SD1.5 + picture LoRA).json", "SDE-Drag (SD1.5 checkpoint).json"))
    with_lora, without = runs(lora)[0], runs(plain)[0]
    assert "lora key not loaded" not in server.read_log()
    a, b = with_lora.outputs[0][2].astype(int), without.outputs[0][2].astype(int)
    assert np.abs(a - b).mean() > 1


def test_lora_trained_in_the_graph_is_applied_on_its_schedule(runs, server):
    """SDE-Drag (SD1.5, LoRA trained here).json trains a LoRA on the picture with ComfyUI's own Train LoRA (2 steps here, 100 as
    shipped), turns it into HOOKS on SDE-Drag's cosine schedule and attaches them to both prompts; the
    drag node gets the checkpoint's own model. The trained LoRA changes the same drag (SDE-Drag (SD1.5 checkpoint).json:
    same picture, seed and settings, no LoRA). That the strength the UNet sees at each step is the cosine
    is read inside the model calls in tests/test_lora_schedule.py."""
    trained, plain = (os.path.join(ROOT, "workflows", n) for n in ("SDE-Drag (SD1.5, LoRA trained here).json", "SDE-Drag (SD1.5 checkpoint).json"))
    skip_if_train_lora_outputs_moved(trained, server.get("/object_info"))
    (result, latents), (plain_result, plain_latents) = runs(trained), runs(plain)
    prompt = result.prompt
    by_class = {v["class_type"]: (k, v) for k, v in prompt.items()}
    train_id, train = by_class["TrainLoraNode"]
    sched_id, sched = by_class["SDELoraSchedule"]
    props_id, props = by_class["PairConditioningSetProperties"]
    mover_id, mover = by_class["SDEDragPointMover"]
    ckpt_id, _ = by_class["CheckpointLoaderSimple"]
    assert train["inputs"]["steps"] == 2 and sched["inputs"]["lora"] == [train_id, 1]
    assert (sched["inputs"]["strength"], sched["inputs"]["strength_at_t0"]) == (1.0, 0.5)
    assert props["inputs"]["hooks"] == [sched_id, 0]
    assert mover["inputs"]["positive"] == [props_id, 0] and mover["inputs"]["negative"] == [props_id, 1]
    assert mover["inputs"]["model"] == [ckpt_id, 0]
    assert "Training LoRA" in server.read_log()
    a, b = latents[mover_id], plain_latents[mover_id]
    assert a.shape == b.shape and bool(torch.isfinite(a).all())
    assert (a - b).abs().mean() > 1e-3


def test_flux_graph_runs_with_sd3_standing_in(server, object_info, tmp_path):
    """SDE-Drag (Flux).json's graph with UNETLoader, DualCLIPLoader and VAELoader replaced by the tiny SD3
    checkpoint (a flow-matching model with a 16-channel latent, like Flux): FluxGuidance, no negative,
    cfg 1 and the simple scheduler run through the drag node. This is what its thumbnail shows."""
    p = mt.analyse(os.path.join(ROOT, "workflows", "SDE-Drag (Flux).json"), SIZE, FAST)
    assert p.kind == "flux" and p.points == {"source": [[25, 32]], "target": [[35, 32]]}  # 1024 px design
    mt.stage(server, [p])
    prompt = mt.build_prompt(p, server, object_info, str(tmp_path))
    classes = {v["class_type"] for v in prompt.values()}
    assert not classes & {"UNETLoader", "DualCLIPLoader", "VAELoader"} and "FluxGuidance" in classes
    result = mt.execute(p, server, object_info, prompt=prompt, timeout=300)
    ((_, _, out),) = result.outputs
    assert out.shape == (SIZE, SIZE, 3) and out.std() > 5
    check_drag_animation(result, prompt, frame_count=3)


# ----------------------------------------------------------------------------------- template browser

def test_every_workflow_has_a_thumbnail():
    jsons = {name_of(p) for p in WORKFLOWS}
    jpgs = {name_of(p) for p in glob.glob(os.path.join(PRODUCT_WORKFLOWS, "*.jpg")) + glob.glob(os.path.join(LAB_WORKFLOWS, "*.jpg"))}
    assert jsons, "no workflows"
    assert jsons - jpgs == set(), "run python -m lab.commands.make_thumbnails NAME for these"
    assert jpgs - jsons == set(), "thumbnails without a workflow"
    for path in WORKFLOWS:
        name = name_of(path)
        with Image.open(path[:-len(".json")] + ".jpg") as img:
            assert img.format == "JPEG" and img.size == (mt.THUMB, mt.THUMB)
            # Frontend 1.58 lays the card's badges over the top of the thumbnail: nothing there but background.
            top = np.asarray(img.convert("RGB"))[:mt.THUMB_TOP_FREE].astype(int)
            assert np.abs(top - mt.BACKGROUND).max() <= 12, f"{name}.jpg: something drawn in its top strip"


@pytest.mark.parametrize("pack", [PACK_LINK_NAME, LAB_LINK_NAME])
def test_template_browser_lists_and_serves_the_workflows(server, pack):
    """ComfyUI's /api/workflow_templates lists the pack (its custom_nodes folder name) with every
    workflows/*.json, and the lab beside it with lab/workflows/*.json; the frontend then fetches
    <name>.json and the thumbnail <name>.jpg from /api/workflow_templates/<pack>/."""
    listed = server.get("/api/workflow_templates")
    folder = PRODUCT_WORKFLOWS if pack == PACK_LINK_NAME else LAB_WORKFLOWS
    mine = [p for p in WORKFLOWS if os.path.dirname(p) == folder]
    assert mine and sorted(listed.get(pack, [])) == sorted(name_of(p) for p in mine)
    for path in mine:
        base = f"{server.url}/api/workflow_templates/{pack}/{urllib.request.quote(name_of(path))}"
        with urllib.request.urlopen(base + ".json", timeout=30) as r:
            with open(path, encoding="utf-8") as f:
                assert json.loads(r.read()) == json.load(f)
        with urllib.request.urlopen(base + ".jpg", timeout=30) as r:
            assert r.headers["Content-Type"] == "image/jpeg"
            data = r.read()
        with open(path[:-len(".json")] + ".jpg", "rb") as f:
            assert data == f.read()
        Image.open(io.BytesIO(data)).verify()


SAM3_WORKFLOW = os.path.join(ROOT, "workflows", "SDE-Drag, region from SAM 3 (SD1.5 checkpoint).json")


def test_sam3_clicks_are_the_drags_source_points_and_its_mask_is_the_region(runs, server, object_info):
    """SDE-Drag, region from SAM 3: the tiny SAM 3.1 (tests/sam3_standin) stands in for its loader only.
    The drag's own source point reaches SAM3 Detect as its click (read from the drag node downstream,
    the clicks node's points left empty), SAM's mask of the picture reaches the drag's region at the
    picture's size (the region the drag reports to the editor), and re-queued with other drag points
    the clicks follow them (the node is not served from the cache)."""
    if "SAM3_Detect" not in object_info:
        pytest.skip("this ComfyUI has no SAM 3 nodes (SAM3_Detect came with a later core)")
    result, latents = runs(SAM3_WORKFLOW)
    prompt = result.prompt
    by_class = {v["class_type"]: k for k, v in prompt.items()}
    detect, clicks, mover = (prompt[by_class[c]] for c in ("SAM3_Detect", "SDEDragClicks", "SDEDragPointMover"))
    assert prompt[detect["inputs"]["model"][0]]["class_type"] == "TinySAM3Loader"
    assert detect["inputs"]["positive_coords"] == [by_class["SDEDragClicks"], 0] and clicks["inputs"]["points"] == ""
    assert "conditioning" not in detect["inputs"]  # the text prompt path is bypassed as shipped
    assert mover["inputs"]["region"] == [by_class["SAM3_Detect"], 0]
    (shown,) = result.run.entry["outputs"][by_class["SDEDragPointMover"]]["sde_drag_region"]
    assert (shown["width"], shown["height"]) == (SIZE, SIZE) and sum(shown["runs"]) == SIZE * SIZE
    inside = sum(shown["runs"][1::2])
    assert 0 < inside < SIZE * SIZE
    (latent,) = latents.values()
    assert torch.isfinite(latent).all()

    # the clicks, shown by a PreviewAny; then the drag's points changed and the prompt queued again
    # (only the clicks run: the other outputs are left out, the drag node stays in the prompt to be found)
    prompt = {k: v for k, v in json.loads(json.dumps(prompt)).items()
              if v["class_type"] not in ("SaveImage", "SaveLatent", "SaveAnimatedWEBP", "PreviewImage")}
    prompt["clicks_shown"] = {"class_type": "PreviewAny", "inputs": {"source": [by_class["SDEDragClicks"], 0]}}
    shown_clicks = []
    for source in ([25, 32], [30, 20]):
        prompt[by_class["SDEDragPointMover"]]["inputs"]["points"] = json.dumps({"source": [source], "target": [[35, 32]]})
        entry = server.run(prompt, timeout=300)
        shown_clicks.append(json.loads(entry["outputs"]["clicks_shown"]["text"][0]))
    assert shown_clicks == [[{"x": 25, "y": 32}], [{"x": 30, "y": 20}]]
