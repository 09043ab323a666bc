"""lab/commands/run_workflow.py (headless runner) and lab/commands/dragbench.py (DragBench runner) on a real ComfyUI
server (CPU), with the shipped workflows/SDE-Drag (reference model, CPU).json: the overrides reach the prompt the
server runs, and the ball of the reference scene really moves to the target.

The DragBench folders are made here from reference scenes (lab/reference/scenes.py), one in each public
layout: SDE-Drag's (origin_image.png, mask.png, prompt.json) and DragDiffusion's (original_image.png,
meta_data.pkl, in a category folder), the latter at 96x96 so the resize to the model's 64x64 and the
scaling of the points and mask are exercised too."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lab.reference import scenes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from lab.commands import dragbench  # noqa: E402
from lab.commands import run_workflow as rw  # noqa: E402
from lab.paths import lab_workflow  # noqa: E402
from lab.harness.comfy_server import ComfyServer  # noqa: E402

WORKFLOW = lab_workflow("SDE-Drag (reference model, CPU).json")
DRAG_TITLE = "SDE-Drag Point Mover"
FAST = f"{DRAG_TITLE}.steps=30"  # the shipped 50 give the same result on this model; 30 save time


@pytest.fixture(scope="module")
def server():
    with ComfyServer() as s:
        yield s


def cli(module, *args):
    done = subprocess.run([sys.executable, "-m", f"lab.commands.{module}", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ball_centre(path, colour="red"):
    """(x, y) of the ball's centre in pixels (centre of the ball-coloured pixels), and its pixel count."""
    a = np.asarray(Image.open(path).convert("RGB")).astype(float) / 255
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    ball = (r > 0.5) & (g < 0.4) & (b < 0.4) if colour == "red" else (b > 0.5) & (r < 0.35) & (g < 0.5)
    ys, xs = np.nonzero(ball)
    assert len(xs) > 20, f"no {colour} ball in {path}"
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5]), len(xs)


def scene_png(path, x, y, size=64, colour="red"):
    img = scenes.render(scenes.Scene(x, y, colour), size, scenes.RADIUS * size / scenes.SIZE)
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)


def box_mask(size, rows, cols):
    m = np.zeros((size, size), np.uint8)
    m[rows[0]:rows[1], cols[0]:cols[1]] = 255
    return m


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_run_workflow_cli_applies_seed_points_and_set(server, tmp_path):
    """The CLI against a running server: --seed, --points and --set (by node title) reach the prompt, every
    output image is saved, and the ball moves to the new target instead of the workflow's own."""
    out = tmp_path / "out"
    points = {"source": [[28, 28]], "target": [[16, 28]]}
    # method paper: the authors' SDE-Drag, whose sub-step frames walk the ball (warp, the shipped method, has
    # two frames: the moved start and the result)
    text = cli("run_workflow", WORKFLOW, "--comfyui", server.url, "--seed", "7", "--points", json.dumps(points),
               "--set", FAST, "--set", f"{DRAG_TITLE}.method=paper", "--out", str(out))
    assert "'Dragged image' (SaveImage): 1" in text, text
    prompt = json.loads((out / "workflow_api.json").read_text())
    (drag,) = [v for v in prompt.values() if v["class_type"] == "SDEDragPointMover"]
    assert drag["inputs"]["seed"] == 7 and drag["inputs"]["steps"] == 30 and drag["inputs"]["method"] == "paper"
    assert json.loads(drag["inputs"]["points"]) == points
    names = sorted(os.listdir(out))
    assert names == ["animation-of-the-drag_000.webp", "done.json", "dragged-image_000.png", "input-image_000.png",
                     "sub-steps-of-the-drag_000.png", "sub-steps-of-the-drag_001.png", "sub-steps-of-the-drag_002.png",
                     "workflow_api.json"]
    before, _ = ball_centre(out / "input-image_000.png")
    after, count = ball_centre(out / "dragged-image_000.png")
    assert np.abs(before - [28, 28]).max() < 1
    assert np.abs(after - [16, 28]).max() < 1.5, after
    assert 120 < count < 170  # one whole ball, not two half ones
    # the sub-steps walk the ball 4 px at a time: 24, 20, 16
    steps = [ball_centre(out / f"sub-steps-of-the-drag_{i:03d}.png")[0][0] for i in range(3)]
    assert np.allclose(steps, [24, 20, 16], atol=1.5), steps
    # the animation (lossless animated WebP): the input, then the same three sub-steps
    with Image.open(out / "animation-of-the-drag_000.webp") as animation:
        assert animation.format == "WEBP" and animation.n_frames == 4
        frames = []
        for i in range(animation.n_frames):
            animation.seek(i)
            frames.append(np.asarray(animation.convert("RGB")).astype(int))
    assert np.array_equal(frames[0], pixels(out / "input-image_000.png"))
    for i in range(3):
        assert np.array_equal(frames[i + 1], pixels(out / f"sub-steps-of-the-drag_{i:03d}.png"))


def test_run_api_loads_image_and_mask_into_a_workflow_without_loaders(server, tmp_path):
    """run(): --image replaces the Reference Scene Image that VAEEncode encodes (a LoadImage is added), --mask
    adds a LoadImageMask on the drag node's free mask input; outside the mask the output is the input."""
    image, mask = tmp_path / "ball.png", tmp_path / "mask.png"
    scene_png(image, 40, 28)
    m = box_mask(64, (14, 44), (12, 56))
    Image.fromarray(m).save(mask)
    paths = rw.run(WORKFLOW, server, {"image": str(image), "mask": str(mask),
                                      "points": {"source": [[40, 28]], "target": [[28, 28]]},
                                      "sets": [rw.parse_set(FAST)]}, out_dir=str(tmp_path / "out"))
    names = [os.path.basename(p) for p in paths]
    assert "dragged-image_000.png" in names and "input-image_000.png" in names
    prompt = json.loads((tmp_path / "out" / "workflow_api.json").read_text())
    loaders = {k: v for k, v in prompt.items() if v["class_type"] in ("LoadImage", "LoadImageMask")}
    assert sorted(v["class_type"] for v in loaders.values()) == ["LoadImage", "LoadImageMask"]
    (drag,) = [v for v in prompt.values() if v["class_type"] == "SDEDragPointMover"]
    (encode,) = [v for v in prompt.values() if v["class_type"] == "VAEEncode"]
    assert prompt[drag["inputs"]["mask"][0]]["class_type"] == "LoadImageMask"
    assert prompt[encode["inputs"]["pixels"][0]]["class_type"] == "LoadImage"
    result = tmp_path / "out" / "dragged-image_000.png"
    assert np.array_equal(pixels(tmp_path / "out" / "input-image_000.png"), pixels(image))  # the preview sees it too
    after, _ = ball_centre(result)
    assert np.abs(after - [28, 28]).max() < 1.5, after
    outside = m == 0
    assert np.abs(pixels(result) - pixels(image))[outside].max() <= 1


def test_dragbench_sde_drag_layout(server, tmp_path):
    data, out = tmp_path / "DragBench", tmp_path / "results"
    sample = data / "ball_left"
    sample.mkdir(parents=True)
    scene_png(sample / "origin_image.png", 40, 28)
    mask = box_mask(64, (14, 44), (12, 56))
    Image.fromarray(mask).save(sample / "mask.png")
    (sample / "prompt.json").write_text(json.dumps({"source": [[40, 28]], "target": [[28, 28]], "prompt": "a red ball"}))
    text = cli("dragbench", str(data), "--out", str(out), "--workflow", WORKFLOW, "--comfyui", server.url,
               "--set", FAST)
    assert "1 done, 0 failed" in text, text
    done = out / "ball_left"
    for name in ("origin_image.png", "mask.png", "prompt.json", "dragged_image.png", "result.json",
                 "work/input.png", "work/mask.png", "work/points.json", "outputs/workflow_api.json"):
        assert (done / name).is_file(), name
    record = json.loads((done / "result.json").read_text())
    assert record["layout"] == "sde-drag" and record["work_size"] == [64, 64] and record["mask"]
    assert record["work_points"] == {"source": [[40, 28]], "target": [[28, 28]]}
    before, _ = ball_centre(sample / "origin_image.png")
    after, _ = ball_centre(done / "dragged_image.png")
    assert np.abs(before - [40, 28]).max() < 1
    assert np.abs(after - [28, 28]).max() < 1.5, after
    result = pixels(done / "dragged_image.png")
    assert np.abs(result - pixels(sample / "origin_image.png"))[mask == 0].max() <= 1  # the mask reached the node
    summary = json.loads((out / "summary.json").read_text())
    assert [r["sample"] for r in summary] == ["ball_left"]


def test_dragbench_dragdiffusion_layout_resized(server, tmp_path):
    """A 96x96 DragDiffusion sample run at 64x64 (--size 64): points and mask are scaled by 2/3, and the
    result comes back at 96x96 with the ball at the target in the original picture's pixels."""
    data, out = tmp_path / "drag_bench_data", tmp_path / "results"
    sample = data / "animals" / "ball_right"
    sample.mkdir(parents=True)
    scene_png(sample / "original_image.png", 42, 42, size=96)
    mask = box_mask(96, (18, 66), (18, 84))
    with open(sample / "meta_data.pkl", "wb") as f:
        pickle.dump({"prompt": "a red ball", "points": [[42, 42], [60, 42]], "mask": mask}, f)
    text = cli("dragbench", str(data), "--out", str(out), "--workflow", WORKFLOW, "--comfyui", server.url,
               "--size", "64", "--set", FAST)
    assert "1 done, 0 failed" in text, text
    done = out / "animals" / "ball_right"  # DATA's structure: category/sample
    record = json.loads((done / "result.json").read_text())
    assert record["layout"] == "dragdiffusion" and record["original_size"] == [96, 96]
    assert record["work_size"] == [64, 64]
    assert record["work_points"] == {"source": [[28, 28]], "target": [[40, 28]]}
    work_mask = np.asarray(Image.open(done / "work" / "mask.png"))
    assert work_mask.shape == (64, 64) and work_mask[12:44, 12:56].min() == 255 and work_mask.sum() == 255 * 32 * 44
    assert (done / "meta_data.pkl").is_file() and (done / "original_image.png").is_file()
    dragged = done / "dragged_image.png"
    assert Image.open(dragged).size == (96, 96)
    work_result, _ = ball_centre(done / record["result"])
    assert np.abs(work_result - [40, 28]).max() < 1.5, work_result
    after, _ = ball_centre(dragged)
    assert np.abs(after - [60, 42]).max() < 2.0, after


def test_work_size_and_point_scaling():
    """The size rules of dragbench.py: auto keeps multiples of 8 and rounds the rest; points scale with it."""
    assert dragbench.work_size(512, 512) == (512, 512)
    assert dragbench.work_size(515, 381) == (512, 384)
    assert dragbench.work_size(1000, 700, multiple=16) == (1008, 704)
    assert dragbench.work_size(300, 200, size=(512, 512)) == (512, 512)
    assert dragbench.parse_size("512") == (512, 512) and dragbench.parse_size("640x480") == (640, 480)
    pairs = [((100.0, 50.0), (200.0, 150.0))]
    assert dragbench.scale_pairs(pairs, (1024, 768), (512, 384)) == [((50.0, 25.0), (100.0, 75.0))]
    assert json.loads(dragbench.points_json(dragbench.scale_pairs(pairs, (1000, 1000), (512, 512)))) == {
        "source": [[51.2, 25.6]], "target": [[102.4, 76.8]]}


def test_set_parsing_and_errors(server):
    """--set names nodes by id, title or class_type (titles may contain dots); bad names and values are
    refused before anything is queued."""
    assert rw.parse_set("Load Image (v1.5).image=a.png") == ("Load Image (v1.5)", "image", "a.png")
    object_info = server.get("/object_info")
    prompt = rw.prepare(WORKFLOW, server, {"sets": [("6", "eta", "0"), ("VAELoader", "vae_name", "pixel_space"),
                                                    (DRAG_TITLE.lower(), "patch_radius", "6")]}, object_info)
    (drag,) = [v for v in prompt.values() if v["class_type"] == "SDEDragPointMover"]
    assert drag["inputs"]["eta"] == 0.0 and drag["inputs"]["patch_radius"] == 6
    for sets, message in ([("nowhere", "steps", "3")], "no node"), ([(DRAG_TITLE, "stepz", "3")], "no input"), \
                         ([(DRAG_TITLE, "steps", "many")], "not a valid INT"), ([(DRAG_TITLE, "model", "x")], "socket"):
        with pytest.raises(ValueError, match=message):
            rw.prepare(WORKFLOW, server, {"sets": sets}, object_info)
    with pytest.raises(ValueError, match="no CheckpointLoaderSimple"):
        rw.prepare(WORKFLOW, server, {"checkpoint": "x.safetensors"}, object_info)
