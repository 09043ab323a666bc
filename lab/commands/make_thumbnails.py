"""Thumbnails for ComfyUI's template browser: run every workflows/*.json and lab/workflows/*.json, write
<name>.jpg beside each.

    .venv/bin/python -m lab.commands.make_thumbnails [NAME ...] [--size PX] [--keep DIR] [--out-dir DIR] [--animated DIR]

How ComfyUI 0.3.75 shows a pack's workflows (app/custom_node_manager.py, frontend 1.32):
- GET /api/workflow_templates lists {custom_nodes folder name: [workflow names]} for every
  custom_nodes/*/<folder>/*.json, where <folder> is example_workflows, example, examples, workflow or
  workflows (this pack uses workflows/; ComfyUI logs a debug hint that example_workflows is preferred).
- The folder is served at /api/workflow_templates/<pack folder name>/ (here comfyui-sde-edit/, the
  folder name under custom_nodes/). The browser fetches <name>.json from there, and shows <name>.jpg
  as the card's thumbnail: frontends 1.32.9 and 1.58.1 both build a custom-node template as
  {name, title: name, mediaType: "image", mediaSubtype: "jpg"} from the listed name alone, so the
  card's title is the file name and <name>.jpg is the only picture ever asked for (no .webp, no
  index suffix, no per-pack index.json). A JPEG cannot move, so a drag's thumbnail shows its
  animation's frames side by side; --animated also writes them as an animated WebP for the docs.
- The cards are square (1.58: aspect-square, object-fit contain, at most 256 px high) and show the
  whole picture; 1.58 lays a "Node graph" badge over its top left (8 px from the edges, 24 px high, on
  a card at least 240 px wide), so the top THUMB_TOP_FREE pixels of a thumbnail hold nothing.

Since the scene model trained here exists (docs/scene_model.md), the checkpoint and Flux cards no
longer show random-weight noise: by default their thumbnail is their own graph run on that model
(`shown_on_trained`): the checkpoint loader (or Flux's three loaders) replaced by the pack's
SDESceneModelLoader, which gives MODEL, CLIP and VAE in the same slots, a LoraLoader passed through
(its LoRA is made for SD1.5), the input a 32×32 scene-world picture with the drag points scaled to it,
and the positive prompt that picture's caption; every other node and value is the shipped one. The
caption strip says so. --stand-ins makes the old wiring-test thumbnails on the tiny random checkpoints
(what tests/test_workflows_run.py runs).

Every thumbnail comes from a real run of that workflow through ComfyUI (one `main.py --cpu` server,
lab/harness/comfy_server.py; the UI format is converted and queued by lab/commands/run_workflow.py):
- Reference Scene (CPU) workflows run exactly as shipped, no overrides: the picture is meaningful.
- Checkpoint workflows run as shipped too (every widget value, the checkpoint and LoRA names they ask
  for), on stand-in files installed under those names: the tiny random-weight checkpoint that
  ComfyUI's CheckpointLoaderSimple detects as the family the workflow is for (lab/harness/tiny_checkpoints.py)
  and, for a LoraLoader, a tiny LoRA made here for that checkpoint, with key names ComfyUI maps onto
  it (so it is applied, not skipped with "lora key not loaded"). The only changes are the input
  picture (a generated scene of --size pixels, default 128: the tiny UNet on a 512 px picture would
  take many minutes for the 100-step drags) and the drag points, scaled from the workflow's design size (512 px for SD1.5) to it.
  Their outputs come from random weights and mean nothing; the thumbnail shows input | output with a
  caption strip "tiny random-weight checkpoint: wiring test".
- Flux (UNETLoader + DualCLIPLoader type flux + VAELoader): ComfyUI builds Flux's text encoder as
  CLIP-L plus a T5-XXL of fixed size (comfy/text_encoders/flux.py, t5_config_xxl.json: 4.76B
  parameters, 9.5 GB in fp16, about 2.4 TFLOP for each CLIPTextEncode at its 256-token minimum; one
  of its 24 blocks took about 3 s on this 2-core machine). A stand-in of that size cannot be generated,
  held in memory and run here in reasonable time, so the graph is run with its three loaders replaced by one CheckpointLoaderSimple holding the tiny random SD3
  checkpoint (also a flow-matching, 16-channel-latent model); every other node and value (FluxGuidance,
  no negative, cfg 1, scheduler simple, steps, t0, ...) is the shipped one. Its caption says "tiny
  random-weight SD3 in place of Flux: wiring test".

Each thumbnail is 512 x 512: a free strip at the top, a header (the task and the model the workflow
is for), the input with its mask outline or drag arrow, a drag's sub-steps (from the frames its
SaveAnimatedWEBP saved: warp's moved and filled patch, or up to two of paper's sub-steps), every saved
output (labelled SDE / ODE by the eta of the node that made it), and a caption strip. JPEG quality 85
(20 to 60 KiB each); the runs are seeded, so a re-run on the same machine gives byte-identical files.
All nine take about 1 minute on 2 idle CPU cores (5 minutes when other jobs share them).

Python API (used by tests/test_workflows_run.py): analyse(path, size, sets) -> Plan; stage(server,
plans) installs the stand-in files; build_prompt(plan, server, object_info, workdir) -> API prompt;
execute(plan, server, ...) -> Result; compose(result) -> PIL image; compose_animation(result) -> frames;
frames(data) -> RGB arrays of an (animated) image file; make_tiny_lora(checkpoint, path).
"""
import argparse
import dataclasses
import importlib
import json
import math
import os
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lab.harness import tiny_checkpoints
from lab.harness.comfy_host import import_reference
from lab.harness.comfy_server import ComfyServer
from lab.harness.workflow_to_api import MUTED, BYPASSED

from . import run_workflow as rw

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
WORKFLOWS_DIRS = (os.path.join(ROOT, "workflows"), os.path.join(ROOT, "lab", "workflows"))  # the pack's, the lab's
THUMB = 512          # thumbnail width and height
# Frontend 1.58's template cards lay a badge ("Node graph", 32 px of a card at least 240 px wide) over
# the top left of the thumbnail: this strip holds no text.
THUMB_TOP_FREE = 72
BACKGROUND = (30, 31, 34)
JPEG_QUALITY = 85
DEFAULT_SIZE = 128   # input picture size for checkpoint workflows
# The picture size the example drag points of a workflow are written for, by family.
DESIGN_SIZE = {"sd15": 512, "sd15_inpaint": 512, "sd3": 1024, "sdxl": 1024, "flux": 1024}
FLUX_STANDIN = "sd3"  # the tiny family that stands in for Flux's loaders
STANDIN_NAME = "tiny_sd3_standin_for_flux.safetensors"
LORA_RANK = 4
TASKS = {"SDEDragPointMover": "drag", "SDEInpaint": "inpaint", "SDEditNoiseDenoise": "sdedit",
         "SDESamplerEta": "sampler"}
TASK_TITLES = {"drag": "SDE-Drag Point Mover", "inpaint": "SDE Inpaint", "sdedit": "SDEdit Noise-and-Denoise",
               "sampler": "SDE Sampler in SamplerCustomAdvanced"}
FAMILY_TITLES = {"sd15": "SD1.5", "sd15_inpaint": "SD1.5 inpainting", "sd3": "SD3", "sdxl": "SDXL"}
WIRING = "tiny random-weight checkpoint: wiring test"
AS_SHIPPED = ("reference", "trained")  # workflows that run as shipped: no stand-in files, no generated input
TRAINED_WEIGHTS = "sde_edit_scene_model.safetensors"  # the loader's file, for graphs shown on the trained model
TEXT_ENCODERS = ("DualCLIPLoader", "CLIPLoader", "TripleCLIPLoader")


# ------------------------------------------------------------------------------------------------ plans

@dataclasses.dataclass
class Plan:
    name: str
    path: str
    workflow: dict
    kind: str             # "reference" / "trained" (run as shipped), "checkpoint" (tiny files under its names), "flux"
    task: str             # drag / inpaint / sdedit / sampler
    header: str           # the task
    model: str            # what it runs on
    caption: str
    size: int = None      # input picture size (checkpoint and flux runs)
    family: str = None    # tiny checkpoint family of its CheckpointLoaderSimple (or the Flux stand-in)
    checkpoints: dict = dataclasses.field(default_factory=dict)  # ckpt_name -> family
    loras: list = dataclasses.field(default_factory=list)        # lora names (made for `family`)
    points: dict = None   # scaled drag points, when the input picture is generated
    sets: list = dataclasses.field(default_factory=list)         # extra run_workflow --set overrides
    shown_on_trained: bool = False  # a checkpoint / Flux graph run on the scene model trained here (thumbnails)
    text: str = None      # the positive prompt put in (shown_on_trained)
    sam3: list = dataclasses.field(default_factory=list)  # SAM 3 checkpoint names: run on the tiny stand-in node

    @property
    def overrides(self):
        if self.kind in AS_SHIPPED:
            return rw.Overrides(sets=list(self.sets))
        return rw.Overrides(points=json.dumps(self.points) if self.points else None, sets=list(self.sets),
                            prompt=self.text)


TRAINED_SIZE = 32


def on_trained_model(plan):
    """The plan of a checkpoint / Flux workflow run on the scene model trained here (its thumbnail)."""
    if plan.kind in AS_SHIPPED:
        return plan
    shown = analyse(plan.path, TRAINED_SIZE, plan.sets)
    return dataclasses.replace(shown, shown_on_trained=True, loras=[], checkpoints={},
                               caption="shown: this graph run on the scene model trained here (32 by 32 px)"
                               + ("; tiny random-weight SAM 3" if shown.sam3 else ""))


def _live_nodes(workflow):
    return [n for n in workflow["nodes"] if n.get("mode") not in (MUTED, BYPASSED)]


def family_of_checkpoint(name):
    """The tiny family for a checkpoint name: an inpainting model, SD3, SDXL, else SD1.5."""
    low = name.lower()
    if "inpaint" in low:
        return "sd15_inpaint"
    if "sd3" in low:
        return "sd3"
    if "xl" in low:
        return "sdxl"
    return "sd15"


def analyse(path, size=DEFAULT_SIZE, sets=()):
    """What running a workflow takes: which stand-in files, input picture and overrides."""
    with open(path, encoding="utf-8") as f:
        workflow = json.load(f)
    name = os.path.splitext(os.path.basename(path))[0]
    nodes = _live_nodes(workflow)
    types = {n["type"] for n in nodes}
    tasks = [TASKS[t] for t in TASKS if t in types]
    if not tasks:
        raise ValueError(f"{name}: none of the pack's nodes ({', '.join(TASKS)}) in it")
    task = tasks[0]
    sets = [rw.parse_set(s) if isinstance(s, str) else tuple(s) for s in sets]
    names = {str(n["id"]) for n in nodes} | {n["type"] for n in nodes} | {(n.get("title") or "").lower() for n in nodes}
    sets = [s for s in sets if s[0] in names or s[0].lower() in names]  # those for nodes it has
    if "SDEEditLabReferenceSceneModel" in types:
        return Plan(name, path, workflow, "reference", task, TASK_TITLES[task],
                    "on the Reference Scene Model: runs on a CPU",
                    "a real run of this workflow: no checkpoint needed", sets=sets)
    if "SDEEditLabSceneModelLoader" in types:
        latent = any(n["type"] == "SDEEditLabSceneModelLoader" and "latent" in str(n.get("widgets_values")) for n in nodes)
        return Plan(name, path, workflow, "trained", task, TASK_TITLES[task],
                    f"on the {'latent ' if latent else ''}scene model trained here: runs on a CPU",
                    "a real run of this workflow on the trained latent model (128 by 128 px, 8x VAE)" if latent else
                    "a real run of this workflow on the trained model (32 by 32 px)", sets=sets)
    sam3 = [n["widgets_values"][0] for n in nodes if n["type"] == "CheckpointLoaderSimple" and is_sam3(n["widgets_values"][0])]
    ckpts = {n["widgets_values"][0]: family_of_checkpoint(n["widgets_values"][0])
             for n in nodes if n["type"] == "CheckpointLoaderSimple" and not is_sam3(n["widgets_values"][0])}
    loras = [n["widgets_values"][0] for n in nodes if n["type"] == "LoraLoader"]
    flux = "UNETLoader" in types and any(
        n["type"] in TEXT_ENCODERS and "flux" in [str(v).lower() for v in n.get("widgets_values") or []]
        for n in nodes)
    if flux:
        kind, family = "flux", FLUX_STANDIN
        model = "on your Flux.1 model"
        caption = "tiny random-weight SD3 in place of Flux: wiring test"
    elif ckpts:
        families = set(ckpts.values())
        if len(families) > 1:
            raise ValueError(f"{name}: checkpoints of several families {ckpts}")
        kind, family = "checkpoint", families.pop()
        model = f"on your {FAMILY_TITLES[family]} checkpoint" + (" + a LoRA of the picture" if loras else "")
        caption = ("tiny random-weight checkpoint + LoRA: wiring test" if loras else WIRING)
    else:
        raise ValueError(f"{name}: no Reference Scene Model, CheckpointLoaderSimple or Flux loaders: nothing to run it on")
    if loras and family not in ("sd15", "sd15_inpaint"):
        raise ValueError(f"{name}: tiny LoRAs are made for SD1.5 only, not {family}")
    plan = Plan(name, path, workflow, kind, task, TASK_TITLES[task], model, caption, size=size, family=family,
                checkpoints=ckpts, loras=loras, sets=sets, sam3=sam3)
    if sam3:
        plan.caption += "; tiny random-weight SAM 3"
    if task == "drag":
        plan.points = scaled_points(workflow, size / DESIGN_SIZE["flux" if flux else family])
    return plan


def is_sam3(ckpt_name):
    """A SAM 3 checkpoint (sam3.1_multiplex_fp16.safetensors, which Load Checkpoint loads): it runs on the
    tiny SAM 3 of tests/sam3_standin (no tiny file can go through the real loader: ComfyUI builds SAM 3
    at fixed dimensions)."""
    return "sam3" in ckpt_name.lower()


SAM3_STANDIN = os.path.join(ROOT, "tests", "sam3_standin")  # a test-only custom node


def link_standin_nodes(server):
    """Before the server starts: the test-only TinySAM3Loader into its custom_nodes."""
    link = os.path.join(server.base_dir, "custom_nodes", "sde_edit_test_sam3_standin")
    if not os.path.lexists(link):
        os.symlink(SAM3_STANDIN, link)


def swap_sam3_loaders(prompt):
    """Every SAM 3 Load Checkpoint becomes TinySAM3Loader (MODEL, CLIP, VAE in the same slots). Seed 1: its
    random mask of the click covers part of both generated pictures (64 px scene: 58 %, 32 px scene-world
    picture: 66 %; seeds 0, 3 and 4 give an empty one on one of them, which the drag refuses)."""
    for node_id, entry in list(prompt.items()):
        if entry["class_type"] == "CheckpointLoaderSimple" and is_sam3(entry["inputs"].get("ckpt_name", "")):
            prompt[node_id] = {"class_type": "TinySAM3Loader", "inputs": {"seed": 1},
                               "_meta": {"title": "tiny random-weight SAM 3.1 in place of " + entry["inputs"]["ckpt_name"]}}
    return prompt


def scaled_points(workflow, scale):
    (mover,) = [n for n in _live_nodes(workflow) if n["type"] == "SDEDragPointMover"]
    points = json.loads(mover["widgets_values"][0])
    return {k: [[round(x * scale), round(y * scale)] for x, y in points[k]] for k in ("source", "target")}


# ------------------------------------------------------------------------------------- stand-in files

def make_tiny_lora(checkpoint, path, rank=LORA_RANK, seed=0):
    """A rank-`rank` LoRA (kohya format) for an SD1.5 checkpoint: every attention and feed-forward
    Linear of its UNet (lora_unet_<LDM key>) and every self-attention projection of its CLIP-L
    (lora_te_text_model_encoder_layers_<i>_self_attn_<q|k|v|out>_proj), the key names ComfyUI's
    comfy/lora.py maps onto such a model. Shapes are read from the checkpoint; values seeded. Its
    update is about a tenth of each weight, so the output visibly changes when it is applied."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    unet, clip = "model.diffusion_model.", "cond_stage_model.transformer.text_model.encoder.layers."
    targets = []
    with safe_open(checkpoint, framework="pt") as f:
        for key in sorted(f.keys()):
            shape = f.get_slice(key).get_shape()
            if not key.endswith(".weight") or len(shape) != 2:
                continue
            if key.startswith(unet) and any(p in key for p in (".attn1.", ".attn2.", ".ff.net.")):
                targets.append(("lora_unet_" + key[len(unet):-len(".weight")].replace(".", "_"), shape))
            elif key.startswith(clip) and ".self_attn." in key:
                layer, rest = key[len(clip):-len(".weight")].split(".", 1)
                targets.append((f"lora_te_text_model_encoder_layers_{layer}_{rest.replace('.', '_')}", shape))
    if not targets:
        raise ValueError(f"{checkpoint}: no SD1.5 attention weights to make a LoRA for")
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for key, (out_features, in_features) in targets:
        tensors[f"{key}.lora_down.weight"] = (torch.randn(rank, in_features, generator=generator)
                                             / math.sqrt(in_features)).to(torch.float16)
        tensors[f"{key}.lora_up.weight"] = (torch.randn(out_features, rank, generator=generator)
                                           * (0.1 / math.sqrt(rank))).to(torch.float16)
        tensors[f"{key}.alpha"] = torch.tensor(float(rank), dtype=torch.float16)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    save_file(tensors, tmp, metadata={"ss_network_dim": str(rank), "ss_network_alpha": str(rank),
                                      "tiny_lora.note": "random weights, for tests only"})
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def stage(server, plans):
    """Install every stand-in file the plans need into the server's models folders (links, and a
    LoRA file per name). Fails if two workflows want one name for different families."""
    base = server.base_dir
    wanted = {}
    plans = [p for p in plans if not p.shown_on_trained]  # those run on the trained model need no stand-ins
    for plan in plans:
        items = dict(plan.checkpoints) if plan.kind == "checkpoint" else {}
        if plan.kind == "flux":
            items = {STANDIN_NAME: FLUX_STANDIN}
        for name, family in items.items():
            if wanted.setdefault(name, family) != family:
                raise ValueError(f"checkpoint name {name!r} is wanted as {wanted[name]} and as {family}")
    for name, family in wanted.items():
        tiny_checkpoints.install(family, os.path.join(base, "models", "checkpoints"), name)
    for plan in plans:
        for lora in plan.loras:
            dest = os.path.join(base, "models", "loras", lora)
            if not os.path.exists(dest):
                make_tiny_lora(tiny_checkpoints.ensure(plan.family), dest)


# ------------------------------------------------------------------------------------------ the input

def trained_model_input(plan):
    """(RGB uint8, alpha or None, caption): a scene-world picture for a graph shown on the trained model.
    sdedit: a stroke painting; inpaint: a scene, alpha 0 over its nearest object (grown 1 px); drag: a
    ball of size 5 under the first source point on another object's scene."""
    import random
    import torch
    sw = importlib.import_module(import_reference().__name__ + ".scene_world")
    world = sw.random_world(random.Random({"sdedit": 9, "inpaint": 24, "drag": 16}[plan.task]), size=TRAINED_SIZE)
    if plan.task == "drag":
        x, y = plan.points["source"][0]
        ball = sw.Obj("ball", "red", x, y, 5.0)
        world = dataclasses.replace(world, objects=(ball,), caption=sw.caption([ball], world.ground, world.sky))
    img = sw.stroke_painting(world) if plan.task == "sdedit" else sw.render(world)
    rgb = (img.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    alpha = None
    if plan.task == "inpaint":
        hole = torch.nn.functional.max_pool2d(sw.object_mask(world)[None, None], 3, 1, 1)[0, 0]
        alpha = ((1 - hole) * 255).to(torch.uint8).numpy()
    return rgb, alpha, world.caption


def make_input(plan, directory):
    """The generated input picture for a checkpoint / Flux run (a PNG path), or None.

    sdedit: a stroke painting; inpaint: a clean scene whose alpha is 0 over a box around the ball (the
    region Load Image's MASK marks for repainting, as the MaskEditor would); drag: a clean scene with
    the ball under the first source point. All from the pack's reference scene renderer."""
    if plan.kind in AS_SHIPPED:
        return None
    if plan.shown_on_trained:
        rgb, alpha, _ = trained_model_input(plan)
        picture = Image.fromarray(rgb if alpha is None else np.dstack([rgb, alpha]), "RGB" if alpha is None else "RGBA")
        path = os.path.join(directory, f"{plan.name}_input_trained.png")
        picture.save(path)
        return path
    import torch
    scenes = importlib.import_module(import_reference().__name__ + ".scenes")
    size, scale = plan.size, plan.size / scenes.SIZE
    if plan.task == "drag":
        x, y = plan.points["source"][0]
    else:
        x, y = round(30 * scale), round(26 * scale)
    if plan.task == "sdedit":  # painted at the scene set's size, then enlarged: the strokes keep their shape
        small = scenes.stroke_painting(round(x / scale), round(y / scale), "red", scenes.SIZE)
        img = torch.nn.functional.interpolate(small[None], size=(size, size), mode="nearest")[0]
    else:
        img = scenes.render(scenes.Scene(x, y, "red"), size, scenes.RADIUS * scale)
    rgb = (img.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    if plan.task == "inpaint":
        alpha = np.full((size, size), 255, np.uint8)
        half = round(12 * scale)
        alpha[max(y - half, 0):y + half, max(x - half, 0):x + half] = 0
        picture = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    else:
        picture = Image.fromarray(rgb, "RGB")
    path = os.path.join(directory, f"{plan.name}_input_{size}.png")
    picture.save(path)
    return path


# ------------------------------------------------------------------------------------------- running

THUMB_INPUT, THUMB_MASK = "thumb_input", "thumb_mask"


def _replace_links(prompt, old, new):
    for entry in prompt.values():
        for key, value in entry["inputs"].items():
            if rw.is_link(value, prompt) and value[0] == old[0] and value[1] == old[1]:
                entry["inputs"][key] = list(new)


def swap_flux_loaders(prompt):
    """Replace UNETLoader / the Flux text-encoder loader / VAELoader by one CheckpointLoaderSimple
    (STANDIN_NAME) whose MODEL, CLIP and VAE outputs take over their links. Nothing else changes."""
    new = rw.new_id(prompt, "flux_standin")
    prompt[new] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": STANDIN_NAME},
                   "_meta": {"title": "Stand-in for Flux's loaders: tiny random SD3"}}
    swaps = {"UNETLoader": 0, "VAELoader": 2, **{t: 1 for t in TEXT_ENCODERS}}
    for node_id in [k for k, v in prompt.items() if v["class_type"] in swaps]:
        _replace_links(prompt, (node_id, 0), (new, swaps[prompt[node_id]["class_type"]]))
        del prompt[node_id]
    return prompt


def swap_to_trained_model(prompt):
    """Every CheckpointLoaderSimple becomes the trained scene model's loader (MODEL, CLIP, VAE in the
    same slots); a LoraLoader is passed through (its links go to its own model and clip inputs)."""
    for node_id, entry in list(prompt.items()):
        if entry["class_type"] == "CheckpointLoaderSimple" and not is_sam3(entry["inputs"].get("ckpt_name", "")):
            prompt[node_id] = {"class_type": "SDEEditLabSceneModelLoader", "inputs": {"weights": TRAINED_WEIGHTS},
                               "_meta": {"title": "the scene model trained here, in place of the checkpoint"}}
    for node_id in [k for k, v in prompt.items() if v["class_type"] == "LoraLoader"]:
        inputs = prompt[node_id]["inputs"]
        _replace_links(prompt, (node_id, 0), inputs["model"])
        _replace_links(prompt, (node_id, 1), inputs["clip"])
        del prompt[node_id]
    return prompt


def build_prompt(plan, server, object_info, workdir):
    """The API prompt that runs: the workflow with the plan's overrides (uploaded input picture, scaled
    points, --set values), Flux's loaders swapped, and two previews for the thumbnail added: the
    encoded input picture (thumb_input) and the mask the pack's node gets, if any (thumb_mask)."""
    overrides = plan.overrides
    image = make_input(plan, workdir)
    if image:
        overrides.image = image
    if plan.shown_on_trained:
        overrides.prompt = trained_model_input(plan)[2]
    prompt = rw.prepare(plan.workflow, server, overrides, object_info)
    if plan.kind == "flux":
        swap_flux_loaders(prompt)
    if plan.sam3:
        swap_sam3_loaders(prompt)
    if plan.shown_on_trained:
        swap_to_trained_model(prompt)
    encoders = [v for v in prompt.values() if v["class_type"] == "VAEEncode"]
    if encoders:
        prompt[THUMB_INPUT] = {"class_type": "PreviewImage", "inputs": {"images": encoders[0]["inputs"]["pixels"]},
                               "_meta": {"title": "thumbnail: input"}}
    masks = [v["inputs"]["mask"] for k, v in sorted(prompt.items()) if v["class_type"] in TASKS
             and rw.is_link(v["inputs"].get("mask"), prompt)]
    if masks:
        prompt["thumb_mask_image"] = {"class_type": "MaskToImage", "inputs": {"mask": masks[0]}}
        prompt[THUMB_MASK] = {"class_type": "PreviewImage", "inputs": {"images": ["thumb_mask_image", 0]},
                              "_meta": {"title": "thumbnail: mask"}}
    return prompt


def upstream_value(prompt, node_id, name):
    """The first widget value `name` found walking up the graph from a node (breadth first)."""
    queue, seen = [node_id], set()
    while queue:
        k = queue.pop(0)
        if k in seen or k not in prompt:
            continue
        seen.add(k)
        value = prompt[k]["inputs"].get(name)
        if value is not None and not rw.is_link(value, prompt):
            return value
        queue += [v[0] for v in prompt[k]["inputs"].values() if rw.is_link(v, prompt)]
    return None


def main_outputs(prompt):
    """SaveImage node ids in id order, except those showing a drag's sub-steps (substeps output)."""
    ids = []
    for node_id in sorted(prompt, key=rw.node_order):
        entry = prompt[node_id]
        if entry["class_type"] != "SaveImage":
            continue
        decode = prompt.get(entry["inputs"]["images"][0], {})
        samples = decode.get("inputs", {}).get("samples")
        if (decode.get("class_type") == "VAEDecode" and rw.is_link(samples, prompt)
                and prompt[samples[0]]["class_type"] == "SDEDragPointMover" and samples[1] == 1):
            continue
        ids.append(node_id)
    return ids


@dataclasses.dataclass
class Result:
    plan: Plan
    run: rw.RunResult
    outputs: list     # [(node id, label, RGB array)] of the main outputs (first image of each)
    input: np.ndarray = None
    mask: np.ndarray = None
    animation: list = None  # a drag's SaveAnimatedWEBP frames (RGB arrays): the input, then every sub-step

    @property
    def prompt(self):
        return self.run.prompt


def decode(data):
    import io
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def frames(data):
    """Every frame of an (animated) image file, as RGB arrays."""
    import io
    from PIL import ImageSequence
    with Image.open(io.BytesIO(data)) as img:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(img)]


def animation_of(run):
    """The frames of the drag's animation (the first SaveAnimatedWEBP's file), or None."""
    for img in run.images:
        if img.class_type == "SaveAnimatedWEBP":
            return frames(img.data)
    return None


def execute(plan, server, object_info=None, workdir=None, timeout=1800, prompt=None):
    """Run a plan on a started server whose stand-in files are staged (stage()); a Result.
    `prompt` may be a build_prompt() result that the caller has added nodes to."""
    object_info = object_info or server.get("/object_info")
    with tempfile.TemporaryDirectory(prefix="sde-edit-thumb-") as tmp:
        if prompt is None:
            prompt = build_prompt(plan, server, object_info, workdir or tmp)
        run = rw.execute(prompt, server, None, timeout=timeout, object_info=object_info)
    by_node = run.by_node()
    outputs = []
    ids = main_outputs(run.prompt)
    for node_id in ids:
        if node_id not in by_node:
            raise RuntimeError(f"{plan.name}: SaveImage {node_id} saved nothing")
        eta = upstream_value(run.prompt, node_id, "eta")
        kind = {1.0: "SDE", 0.0: "ODE"}.get(eta, f"eta {eta}") + ("-Drag" if plan.task == "drag" else "")
        label = f"{kind} (eta {eta:g})" if eta in (0.0, 1.0) else kind if eta is not None else "output"
        outputs.append((node_id, label, decode(by_node[node_id][0])))
    first = lambda k: decode(by_node[k][0]) if k in by_node else None  # noqa: E731
    mask = first(THUMB_MASK)
    return Result(plan, run, outputs, first(THUMB_INPUT), None if mask is None else mask[..., 0] > 127,
                  animation_of(run))


# --------------------------------------------------------------------------------------- the picture

def _font(size):
    return ImageFont.load_default(size=size)  # Pillow's bundled font: the same pictures on every machine


def _wrap(draw, text, font, width):
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


def _panel(array, side):
    """An RGB array scaled to side x side (nearest neighbour up: the small pictures stay crisp)."""
    img = Image.fromarray(array)
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.NEAREST if scale >= 1 else Image.LANCZOS)


def _outline(panel, mask):
    """Draw the mask's edge (yellow, 2 px) on a panel."""
    m = np.asarray(Image.fromarray((mask * 255).astype(np.uint8)).resize(panel.size, Image.NEAREST)) > 127
    edge = np.zeros_like(m)
    for shift in (1, 2):
        for axis in (0, 1):
            for d in (shift, -shift):
                edge |= m & ~np.roll(m, d, axis=axis)
    pixels = np.array(panel)
    pixels[edge] = (255, 212, 0)
    return Image.fromarray(pixels)


def _arrows(panel, points, image_size):
    draw = ImageDraw.Draw(panel)
    s = panel.width / image_size
    for (sx, sy), (tx, ty) in zip(points["source"], points["target"]):
        a, b = ((sx + 0.5) * s, (sy + 0.5) * s), ((tx + 0.5) * s, (ty + 0.5) * s)
        angle = math.atan2(b[1] - a[1], b[0] - a[0])
        head = [b, (b[0] - 12 * math.cos(angle - 0.45), b[1] - 12 * math.sin(angle - 0.45)),
                (b[0] - 12 * math.cos(angle + 0.45), b[1] - 12 * math.sin(angle + 0.45))]
        for width, colour in ((7, (0, 0, 0)), (3, (255, 212, 0))):
            draw.line([a, b], fill=colour, width=width)
        draw.polygon(head, fill=(255, 212, 0), outline=(0, 0, 0))
        draw.ellipse([a[0] - 5, a[1] - 5, a[0] + 5, a[1] + 5], fill=(255, 212, 0), outline=(0, 0, 0))
    return panel


def drag_points(result):
    (mover,) = [v for v in result.prompt.values() if v["class_type"] == "SDEDragPointMover"]
    return json.loads(mover["inputs"]["points"])


def substep_panels(result, most=2):
    """(label, RGB array) of a drag's sub-steps before its result, from its animation (whose first
    frame is the input and whose last is the result, shown by the result's own panel): warp's one frame
    (the patch moved and the gap filled), or up to `most` evenly spaced sub-steps of paper / fast."""
    if result.plan.task != "drag" or not result.animation or len(result.animation) < 3:
        return []
    steps = result.animation[1:-1]
    (mover,) = [v for v in result.prompt.values() if v["class_type"] == "SDEDragPointMover"]
    if mover["inputs"].get("method", "warp") == "warp":
        return [("moved + filled", steps[0])]
    keep = sorted({round(k * (len(steps) - 1) / max(1, most - 1)) for k in range(min(most, len(steps)))})
    return [(f"sub-step {k + 1}", steps[k]) for k in keep]


def default_panels(result):
    """The thumbnail's pictures, left to right: the input (mask outline / drag arrows), a drag's
    sub-steps, every main output."""
    panels = []
    if result.input is not None:
        label = "input + drag" if result.plan.task == "drag" else "input + mask" if result.mask is not None else "input"
        panels.append((label, result.input, result.mask))
    panels += [(label, array, None) for label, array in substep_panels(result)]
    panels += [(label, array, None) for _, label, array in result.outputs]
    return panels


def compose(result, panels=None):
    """The 512 x 512 thumbnail: a free strip at the top (THUMB_TOP_FREE: frontend 1.58 lays the card's
    badges there), a header (task, model), the pictures with their labels, and a caption strip."""
    plan = result.plan
    canvas = Image.new("RGB", (THUMB, THUMB), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    margin, gap = 14, 10
    header_font, model_font, label_font, caption_font = _font(26), _font(19), _font(18), _font(19)

    y = THUMB_TOP_FREE
    for text, font, colour, step in ((plan.header, header_font, (240, 240, 240), 31),
                                     (plan.model, model_font, (170, 176, 186), 24)):
        for line in _wrap(draw, text, font, THUMB - 2 * margin):
            draw.text((THUMB / 2, y), line, font=font, fill=colour, anchor="ma")
            y += step
    top = y + 10

    warning = plan.kind not in AS_SHIPPED and not plan.shown_on_trained
    caption = _wrap(draw, plan.caption, caption_font, THUMB - 2 * margin - 8)
    strip = 14 + 24 * len(caption)
    fill, ink = ((242, 201, 76), (20, 20, 20)) if warning else ((46, 110, 64), (240, 240, 240))
    draw.rectangle([0, THUMB - strip, THUMB, THUMB], fill=fill)
    for i, line in enumerate(caption):
        draw.text((THUMB / 2, THUMB - strip + 7 + 24 * i), line, font=caption_font, fill=ink, anchor="ma")
    bottom = THUMB - strip - 8

    panels = default_panels(result) if panels is None else panels
    n = len(panels)
    label_h = 28
    side = int(min((THUMB - 2 * margin - (n - 1) * gap) / n, bottom - top - label_h))
    row_w = n * side + (n - 1) * gap
    x0 = (THUMB - row_w) // 2
    y0 = top + max(0, (bottom - top - label_h - side) // 2)
    for i, (label, array, mask) in enumerate(panels):
        panel = _panel(array, side)
        if mask is not None:
            panel = _outline(panel, mask)
        if i == 0 and plan.task == "drag" and result.input is not None:
            panel = _arrows(panel, drag_points(result), array.shape[1])
        x = x0 + i * (side + gap)
        canvas.paste(panel, (x + (side - panel.width) // 2, y0 + (side - panel.height) // 2))
        draw.text((x + side / 2, y0 + side + 5), label, font=label_font, fill=(210, 210, 210), anchor="ma")
    return canvas


def compose_animation(result):
    """A drag's thumbnail as an animation: the input with its arrows next to the drag's animation
    played frame by frame (the input, every sub-step, the result). [(PIL image, ms)], or None."""
    if result.plan.task != "drag" or not result.animation or result.input is None:
        return None
    (mover,) = [v for v in result.prompt.values() if v["class_type"] == "SDEDragPointMover"]
    warp = mover["inputs"].get("method", "warp") == "warp"
    frames_out = []
    last = len(result.animation) - 1
    for k, frame in enumerate(result.animation):
        label = ("input" if k == 0 else result.outputs[0][1] if k == last
                 else "moved + filled" if warp else f"sub-step {k}")
        panels = [("input + drag", result.input, result.mask), (label, frame, None)]
        frames_out.append((compose(result, panels), 1600 if k == last else 800))
    return frames_out


def save_animation(frames_out, path):
    """An animated WebP (looping) of compose_animation's frames."""
    images = [f for f, _ in frames_out]
    images[0].save(path, "WEBP", save_all=True, append_images=images[1:], duration=[ms for _, ms in frames_out],
                   loop=0, quality=JPEG_QUALITY, method=6)


def save_jpeg(image, path):
    image.save(path, "JPEG", quality=JPEG_QUALITY, optimize=True)


# ---------------------------------------------------------------------------------------------- main

def workflow_paths(names=()):
    paths = sorted((os.path.join(d, f) for d in WORKFLOWS_DIRS for f in os.listdir(d) if f.endswith(".json")),
                   key=os.path.basename)
    if names:
        wanted = {os.path.splitext(os.path.basename(n))[0] for n in names}
        unknown = wanted - {os.path.splitext(os.path.basename(p))[0] for p in paths}
        if unknown:
            raise SystemExit(f"no workflow {', '.join(sorted(unknown))} in {' or '.join(WORKFLOWS_DIRS)}")
        paths = [p for p in paths if os.path.splitext(os.path.basename(p))[0] in wanted]
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="workflow names (default: every workflows/*.json and lab/workflows/*.json)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help=f"input picture size for the checkpoint workflows (default {DEFAULT_SIZE})")
    parser.add_argument("--out-dir", default=None, help="where <name>.jpg goes (default: beside its workflow)")
    parser.add_argument("--keep", metavar="DIR", help="also write each run's images and API prompt here")
    parser.add_argument("--animated", metavar="DIR",
                        help="also write each drag workflow's thumbnail as an animated WebP, DIR/<name>.webp "
                             "(the template browser only shows <name>.jpg; these are for the docs)")
    parser.add_argument("--stand-ins", action="store_true",
                        help="run checkpoint and Flux workflows on the tiny random stand-ins (wiring test) instead of "
                             "on the scene model trained here")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NODE.input=value",
                        help="a widget value for every run (as run_workflow.py --set); for trying things out")
    args = parser.parse_args(argv)
    plans = [analyse(p, args.size, args.sets) for p in workflow_paths(args.names)]
    if not args.stand_ins:
        plans = [on_trained_model(p) for p in plans]
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
    started = time.time()
    log = os.path.join(args.keep, "server.log") if args.keep else None
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    server = ComfyServer(log_path=log)
    link_standin_nodes(server)
    with server:
        print(f"ComfyUI (CPU) up in {time.time() - started:.1f} s", flush=True)
        stage(server, plans)
        object_info = server.get("/object_info")
        for plan in plans:
            t = time.time()
            result = execute(plan, server, object_info)
            path = os.path.join(args.out_dir or os.path.dirname(plan.path), plan.name + ".jpg")
            save_jpeg(compose(result), path)
            animation = compose_animation(result) if args.animated else None
            if animation:
                os.makedirs(args.animated, exist_ok=True)
                save_animation(animation, os.path.join(args.animated, plan.name + ".webp"))
            if args.keep:
                folder = os.path.join(args.keep, plan.name)
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, "workflow_api.json"), "w", encoding="utf-8") as f:
                    json.dump(result.prompt, f, indent=2)
                for img in result.run.images:
                    with open(os.path.join(folder, f"{img.node_id}_{img.index:03d}.png"), "wb") as f:
                        f.write(img.data)
            print(f"{plan.name}: {plan.kind}{' (' + plan.family + ')' if plan.family else ''}, "
                  f"{len(result.outputs)} output(s), {result.run.seconds:.1f} s on the server, "
                  f"{time.time() - t:.1f} s in all -> {os.path.relpath(path)} ({os.path.getsize(path) // 1024} KiB)",
                  flush=True)
    print(f"total {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
