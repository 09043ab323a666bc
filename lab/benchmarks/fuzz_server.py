"""Fuzz the pack through a real ComfyUI server: the evidence for the hardening of issue 10.

Starts ComfyUI (loopback only, a temporary base directory, lab/harness/comfy_server.py) with the pack,
generates prompts that attack every input of every pack node (boundaries, just outside the range,
NaN / inf as JSON numbers and as strings, wrong types, unknown combo values, missing inputs, odd
latents, masks of any shape and value, sigmas, malformed and oversized drag points and painted
region strokes, broken weights files and path-like names for the scene model loader, absurd
amounts of work), sends them one at a time through /prompt and classifies each.

The inputs come from /object_info: every input of every pack node gets the attacks of its type
(numbers, combos, points text, links, masks); a pack node or input with no attack is reported and
fails the run, unless the node is in NOT_FUZZED (with the reason). The server's copy of the pack is
a folder of links to this one, except models/: its own folder, with the real scene model linked and
the broken files of LOADER_FILES beside it; custom_nodes/ also holds the fuzzer's FuzzMask node (a
MASK of any shape and values: empty batches, NaN, values outside [0, 1]).

  rejected at /prompt, input named       HTTP 400 whose node error names the attacked input
  rejected at /prompt, input not named   HTTP 400/500 that does not
  execution error naming the input       history status error whose exception message names it
  execution error not naming the input   one that does not
  success, finite output                 every LATENT the prompt saved (SaveLatent, read back from
                                         the server's output folder) is finite
  NaN output                             success, but a saved LATENT holds NaN or inf
  crash                                  the server process died
  hang                                   no /history entry within --timeout s; then /interrupt
  not interruptible                      ... and still none 5 s after the interrupt

Each case carries the node and the input it attacks (for a missing input, the one expected to be
named); an error belongs to the pack when the pack's validate_inputs refused the prompt or the
exception came from a pack node or from pack code (a traceback frame in the pack), else to ComfyUI.
Besides the cases: 50 prompts queued at once (none may be lost), and a running drag interrupted,
then run again twice (the two outputs must be identical).

Prints a Markdown report (counts per class, per input and per node, the share of the pack's errors
that name the input, the bad cases with their messages) and writes it to out/fuzz/; exit status 1
on any NaN success, crash, hang, non-interruptible prompt, lost prompt, differing re-run, input with
no attack, error of the pack's that does not name its input, or a server that stopped serving.

  .venv/bin/python -m lab.benchmarks.fuzz_server --quick    # about 150 prompts, one or two minutes
  .venv/bin/python -m lab.benchmarks.fuzz_server            # the full run: the systematic set (see docs/fuzz_report.md)
"""
import argparse
import collections
import json
import math
import os
import random
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

from lab.harness.comfy_server import ComfyServer
from lab.harness.find_comfyui import PACK_DIR

OUT_DIR = os.path.join(PACK_DIR, "out", "fuzz")
PACK_MARK = "comfyui-sde-edit"  # the pack's folder name under the server's custom_nodes/
LAB_MARK = "sde-edit-lab"  # the lab's, installed beside it (its nodes are fuzzed too)

REJ_NAMED = "rejected at /prompt, input named"
REJ_UNNAMED = "rejected at /prompt, input not named"
EXE_NAMED = "execution error naming the input"
EXE_UNNAMED = "execution error not naming the input"
OK = "success, finite output"
NAN = "NaN output (success with non-finite latent)"
CRASH = "crash"
HANG = "hang (interrupted)"
STUCK = "not interruptible"
CLASSES = [REJ_NAMED, REJ_UNNAMED, EXE_NAMED, EXE_UNNAMED, OK, NAN, CRASH, HANG, STUCK]
FATAL = (NAN, CRASH, HANG, STUCK)

# A cheap, valid scene: the reference model and image at 32 px, the ball at (14, 12).
RES = 32
MODEL_BASE = {"parameterization": "eps", "resolution": RES}
IMAGE_BASE = {"kind": "stroke painting", "x": 14, "y": 12, "colour": "red", "resolution": RES}
POINTS = json.dumps({"source": [[14, 12]], "target": [[20, 16]]})
BASE = {
    "SDEditNoiseDenoise": {"seed": 0, "steps": 6, "strength": 0.6, "eta": 1.0, "cfg": 1.0, "scheduler": "normal",
                           "repeats": 1},
    "SDEInpaint": {"seed": 0, "steps": 6, "strength": 1.0, "eta": 1.0, "cfg": 1.0, "scheduler": "normal", "order": 1,
                   "grow_mask_by": 0, "feather": 0},
    "SDEDragPointMover": {"points": POINTS, "seed": 1, "steps": 10, "t0": 0.6, "cfg": 1.0, "drag_step": 2.0,
                          "patch_radius": 3, "beta": 0.3, "alpha": 1.1, "eta": 1.0, "scheduler": "ddim_uniform",
                          "method": "warp"},
    "SDESamplerEta": {"eta": 1.0, "order": 1},
    "SDEEditLabReferenceSceneModel": dict(MODEL_BASE),
    "SDEEditLabReferenceSceneImage": dict(IMAGE_BASE),
}
BASE.update({"SDEEditLabSceneModelLoader": {"weights": "sde_edit_scene_model.safetensors"},
             "SDEDragClicks": {"points": POINTS}, "SDEEditLabSceneWorldImage": {"seed": 0, "kind": "scene"}})
# The node whose inputs a case attacks -> the role of that node in the graph. A pack node in neither
# ROLE nor NOT_FUZZED gets no attack: its inputs are reported as not attacked and the run fails.
ROLE = {"SDEditNoiseDenoise": "pack", "SDEInpaint": "pack", "SDEDragPointMover": "pack", "SDESamplerEta": "sampler",
        "SDEEditLabReferenceSceneModel": "model", "SDEEditLabReferenceSceneImage": "image", "SDEEditLabSceneModelLoader": "loader",
        "SDEDragClicks": "clicks", "SDEEditLabSceneWorldImage": "world"}
# Pack nodes the fuzzer leaves out, and why (the report lists them and their inputs).
NOT_FUZZED = {"SDELoraSchedule": "needs a LORA_MODEL from Train LoRA (minutes of training per prompt) or a LoRA file; "
                                 "its bad inputs are refused by name in tests/test_lora_schedule.py"}
DROP = object()  # an input left out of the prompt


@dataclass(frozen=True)
class MaskRef:
    """A MASK input's value in Case.over: the mask graph of Graph.mask's spec, built with the prompt."""
    spec: tuple


@dataclass
class Case:
    node: str  # the pack node attacked
    input: str  # the input attacked (the one an error should name)
    category: str  # class of attack
    label: str  # what exactly
    over: dict = field(default_factory=dict)  # role -> {input: value or DROP}
    latent: tuple = ("scene",)
    mask: object = "default"
    sigmas: tuple = ()
    names: tuple = ()  # names an error may use for the input; default (input,)
    names_all: tuple = ()  # ... and words it must use besides (the loader's file name)
    expect: str = "?"  # "ok" / "err" / "?": only to list surprises
    heavy: bool = False  # legitimately slow (seconds to tens of seconds): full run only, longer timeout
    raw: Optional[tuple] = None  # (placeholder, text) substituted into the JSON body
    idx: int = 0
    prompt: dict = None


# ----------------------------------------------------------------------------------------------
# Prompt graphs: only the pack's reference nodes and stock ComfyUI nodes.

class Graph:
    def __init__(self, model=None, image=None):
        self.nodes, self.n = {}, 0
        self.model = self.add("SDEEditLabReferenceSceneModel", **{**MODEL_BASE, **(model or {})})
        self.image = self.add("SDEEditLabReferenceSceneImage", **{**IMAGE_BASE, **(image or {})})
        self.vae = self.add("VAELoader", vae_name="pixel_space")

    def add(self, class_type, **inputs):
        self.n += 1
        nid = str(self.n)
        self.nodes[nid] = {"class_type": class_type, "inputs": inputs}
        return nid

    def encode(self, image_link):
        return [self.add("VAEEncode", pixels=image_link, vae=[self.vae, 0]), 0]

    def latent(self, spec):
        kind, args = spec[0], spec[1:]
        scene = lambda: self.encode([self.image, 0])  # noqa: E731
        if kind == "scene":
            return scene()
        if kind == "image_res":  # the reference image at another resolution than the model's
            img = self.add("SDEEditLabReferenceSceneImage", **{**IMAGE_BASE, "resolution": args[0]})
            return self.encode([img, 0])
        if kind == "empty":
            w, h, b = args
            return [self.add("EmptyLatentImage", width=w, height=h, batch_size=b), 0]
        if kind == "video":
            w, h, length = args
            return [self.add("EmptyHunyuanLatentVideo", width=w, height=h, length=length, batch_size=1), 0]
        if kind == "batch":
            return [self.add("RepeatLatentBatch", samples=scene(), amount=args[0]), 0]
        if kind == "from_batch":
            batch = [self.add("RepeatLatentBatch", samples=scene(), amount=3), 0]
            return [self.add("LatentFromBatch", samples=batch, batch_index=args[0], length=args[1]), 0]
        if kind == "mult":
            link = scene()
            for m in args[0]:
                link = [self.add("LatentMultiply", samples=link, multiplier=m), 0]
            return link
        if kind == "crop":
            w, h = args
            img = self.add("ImageCrop", image=[self.image, 0], width=w, height=h, x=0, y=0)
            return self.encode([img, 0])
        if kind == "noise_mask":
            samples = self.latent(args[1]) if len(args) > 1 else scene()
            return [self.add("SetLatentNoiseMask", samples=samples, mask=self.mask(args[0])), 0]
        if kind == "literal":
            return args[0]
        raise ValueError(spec)

    def mask(self, spec):
        if spec is None or spec is DROP:
            return DROP
        kind, args = spec[0], spec[1:]
        if kind == "box":
            return [self.image, 1]
        if kind == "solid":
            value, w, h = args
            return [self.add("SolidMask", value=value, width=w, height=h), 0]
        if kind == "overshoot":  # bicubic upscaling of the 0/1 box: values a little outside [0, 1]
            img = self.add("MaskToImage", mask=[self.image, 1])
            big = self.add("ImageScale", image=[img, 0], upscale_method="bicubic", width=args[0], height=args[0],
                           crop="disabled")
            return [self.add("ImageToMask", image=[big, 0], channel="red"), 0]
        if kind == "batch":
            img = self.add("MaskToImage", mask=[self.image, 1])
            rep = self.add("RepeatImageBatch", image=[img, 0], amount=args[0])
            return [self.add("ImageToMask", image=[rep, 0], channel="red"), 0]
        if kind == "fuzz":  # FuzzMask (the fuzzer's helper node): any shape, any values
            shape, fill = args[0], args[1]
            box = args[2] if len(args) > 2 else None
            spec_text = json.dumps({"shape": list(shape), "fill": str(fill), "box": box,
                                    "box_value": str(args[3]) if len(args) > 3 else "1"})
            return [self.add("FuzzMask", spec=spec_text), 0]
        if kind == "literal":
            return args[0]
        raise ValueError(spec)

    def sigmas(self, spec, model_link, steps=6, denoise=0.6):
        link = [self.add("BasicScheduler", model=model_link, scheduler="normal", steps=steps, denoise=denoise), 0]
        if not spec:
            return link
        kind, args = spec[0], spec[1:]
        if kind == "first":
            return [self.add("SetFirstSigma", sigmas=link, sigma=args[0]), 0]
        if kind == "flip":
            return [self.add("FlipSigmas", sigmas=link), 0]
        if kind == "split":
            return [self.add("SplitSigmas", sigmas=link, step=args[0]), args[1]]
        if kind == "literal":
            return args[0]
        raise ValueError(spec)


def apply(inputs, over):
    for k, v in over.items():
        if v is DROP:
            inputs.pop(k, None)
        else:
            inputs[k] = v
    return inputs


def resolve_masks(g, inputs):
    """MaskRef values -> the links of their mask graphs."""
    for k, v in list(inputs.items()):
        if isinstance(v, MaskRef):
            link = g.mask(v.spec)
            if link is DROP:
                inputs.pop(k)
            else:
                inputs[k] = link
    return inputs


def save_outputs(g, target, outputs, nonce):
    for slot in range(outputs):
        g.add("SaveLatent", samples=[target, slot], filename_prefix=f"fuzz/{nonce}_{slot}")


def build_loader(case, nonce):
    """The scene model loader's MODEL, CLIP and VAE through SDEdit (2 steps) on a 32 px picture."""
    g = Graph()
    loader = g.add("SDEEditLabSceneModelLoader", **apply(dict(BASE["SDEEditLabSceneModelLoader"]), case.over.get("loader", {})))
    g.nodes[loader]["inputs"]["fuzz_nonce"] = nonce
    text = g.add("CLIPTextEncode", text="a red ball on grass", clip=[loader, 1])
    lat = [g.add("VAEEncode", pixels=[g.image, 0], vae=[loader, 2]), 0]
    target = g.add("SDEditNoiseDenoise", **{**BASE["SDEditNoiseDenoise"], "steps": 2, "model": [loader, 0],
                                           "positive": [text, 0], "negative": [text, 0], "latent_image": lat,
                                           "fuzz_nonce": nonce})
    save_outputs(g, target, 1, nonce)
    return g.nodes


def build_clicks(case, nonce):
    """The clicks node's text shown by PreviewAny (its only consumer: no drag node is reached)."""
    g = Graph()
    clicks = g.add("SDEDragClicks", **apply(dict(BASE["SDEDragClicks"]), case.over.get("clicks", {})))
    g.nodes[clicks]["inputs"]["fuzz_nonce"] = nonce
    g.add("PreviewAny", source=[clicks, 0])
    return g.nodes


def build_world(case, nonce):
    """The scene world picture, encoded (pixel space) and saved, and its mask previewed."""
    g = Graph()
    world = g.add("SDEEditLabSceneWorldImage", **apply(dict(BASE["SDEEditLabSceneWorldImage"]), case.over.get("world", {})))
    g.nodes[world]["inputs"]["fuzz_nonce"] = nonce
    save_outputs(g, g.add("VAEEncode", pixels=[world, 0], vae=[g.vae, 0]), 1, nonce)
    g.add("PreviewImage", images=[g.add("MaskToImage", mask=[world, 1]), 0])
    return g.nodes


SIDE_GRAPHS = {"loader": build_loader, "clicks": build_clicks, "world": build_world}


def build(case: Case, nonce):
    """The API prompt of a case; every pack node of it gets a fuzz_nonce input (an input the node
    does not declare: ComfyUI ignores it, but its cache does not, so every case really runs)."""
    if ROLE.get(case.node) in SIDE_GRAPHS:
        return SIDE_GRAPHS[ROLE[case.node]](case, nonce)
    over = case.over
    g = Graph(model=over.get("model"), image=over.get("image"))
    apply(g.nodes[g.model]["inputs"], {k: v for k, v in over.get("model", {}).items() if v is DROP})
    apply(g.nodes[g.image]["inputs"], {k: v for k, v in over.get("image", {}).items() if v is DROP})
    links = {"model": [g.model, 0], "positive": [g.model, 1], "negative": [g.model, 1]}
    node = case.node if case.node in ("SDEInpaint", "SDEDragPointMover", "SDESamplerEta") else "SDEditNoiseDenoise"
    lat = g.latent(case.latent)
    outputs = 1
    if node == "SDESamplerEta":
        sampler = g.add("SDESamplerEta", **apply(dict(BASE["SDESamplerEta"]), over.get("sampler", {})))
        g.nodes[sampler]["inputs"]["fuzz_nonce"] = nonce
        noise = g.add("RandomNoise", noise_seed=0)
        guider = g.add("CFGGuider", model=links["model"], positive=links["positive"], negative=links["negative"], cfg=1.0)
        sigmas = g.sigmas(case.sigmas, links["model"])
        adv_inputs = {"noise": [noise, 0], "guider": [guider, 0], "sampler": [sampler, 0], "sigmas": sigmas,
                      "latent_image": lat, "fuzz_nonce": nonce}
        target = g.add("SamplerCustomAdvanced", **apply(adv_inputs, over.get("adv", {})))
        outputs = 2
    else:
        inputs = {**links, **BASE[node]}
        if node == "SDEDragPointMover":
            inputs["latent"] = lat
        else:
            inputs["latent_image"] = lat
        mask = case.mask
        if mask == "default":
            mask = ("box",) if node == "SDEInpaint" else None
        m = g.mask(mask)
        if m is not DROP:
            inputs["mask"] = m
        inputs["fuzz_nonce"] = nonce
        target = g.add(node, **resolve_masks(g, apply(inputs, over.get("pack", {}))))
        outputs = 2 if node == "SDEDragPointMover" else 1
    save_outputs(g, target, outputs, nonce)
    dec = g.add("VAEDecode", samples=[target, 0], vae=[g.vae, 0])
    g.add("PreviewImage", images=[dec, 0])
    return g.nodes


# ----------------------------------------------------------------------------------------------
# Case generation

def numeric_attacks(name, typ, lo, hi, base):
    """(category, label, value, expect) for an INT or FLOAT input of range [lo, hi]."""
    out = [("boundary", "min", lo, "ok"), ("boundary", "max", hi, "ok")]
    if typ == "INT":
        out += [("outside range", "min - 1", lo - 1, "err"), ("outside range", "max + 1", hi + 1, "err"),
                ("wrong type", "float 2.7 for INT", 2.7, "?"), ("wrong type", "'1e3' for INT", "1e3", "err"),
                ("wrong type", "numeric string", str(base), "ok"), ("huge number", "10**4000", 10 ** 4000, "err"),
                ("huge number", "-(2**63)", -2 ** 63, "err"), ("huge number", "2**64", 2 ** 64, "err")]
    else:
        span = hi - lo
        out += [("outside range", "min - 1e-7", lo - 1e-7, "err"), ("outside range", "max + 1e-7", hi + 1e-7, "err"),
                ("outside range", "min - span/100", lo - span / 100, "err"),
                ("outside range", "max + span/100", hi + span / 100, "err"),
                ("wrong type", "numeric string", str(base), "ok"), ("boundary", "-0.0", -0.0, "?"),
                ("boundary", "1e-310 (subnormal)", 1e-310, "?"), ("boundary", "5e-324", 5e-324, "?"),
                ("huge number", "1e308", 1e308, "err"), ("huge number", "-1e308", -1e308, "err")]
    out += [("NaN number", "NaN", math.nan, "err"), ("inf number", "Infinity", math.inf, "err"),
            ("inf number", "-Infinity", -math.inf, "err"), ("NaN/inf string", "'nan'", "nan", "err"),
            ("NaN/inf string", "'NaN'", "NaN", "err"), ("NaN/inf string", "'inf'", "inf", "err"),
            ("NaN/inf string", "'-inf'", "-inf", "err"), ("NaN/inf string", "'Infinity'", "Infinity", "err"),
            ("wrong type", "'abc'", "abc", "err"), ("wrong type", "''", "", "err"),
            ("wrong type", "true", True, "?"), ("wrong type", "{'a': 1}", {"a": 1}, "err"),
            ("wrong type", "{'__value__': valid}", {"__value__": base}, "ok"),
            ("wrong type", "{'__value__': [1, 2, 3]}", {"__value__": [1, 2, 3]}, "err"),
            ("null", "null", None, "err"), ("list / link", "[1, 2, 3]", [1, 2, 3], "err"),
            ("list / link", "[1, 2] (read as a link)", [1, 2], "err"),
            ("list / link", "link to a MODEL output", ["1", 0], "err"),
            ("list / link", "link to a missing node", ["999", 0], "err")]
    return out


def combo_attacks(options, base):
    first = options[0]
    out = [("boundary", f"option {o!r}", o, "ok") for o in options]
    out += [("unknown combo", "'foo'", "foo", "err"), ("unknown combo", "'x'", "x", "err"),
            ("unknown combo", "''", "", "err"), ("unknown combo", "upper case", first.upper(), "err"),
            ("unknown combo", "leading space", " " + first, "err"), ("unknown combo", "trailing NUL", first + "\x00", "err"),
            ("unknown combo", "'NORMAL'", "NORMAL", "err"),
            ("wrong type", "number 5", 5, "err"), ("wrong type", "number 1.5", 1.5, "err"),
            ("NaN number", "NaN", math.nan, "err"), ("null", "null", None, "err"),
            ("list / link", "[1, 2, 3]", [1, 2, 3], "err"), ("list / link", "link to a MODEL output", ["1", 0], "err"),
            ("wrong type", "{'__value__': valid}", {"__value__": base}, "ok"),
            ("wrong type", "{'__value__': 'foo'}", {"__value__": "foo"}, "err"),
            ("wrong type", "{'__value__': ['a', 'b', 'c']}", {"__value__": ["a", "b", "c"]}, "err")]
    return out


def pts(source, target, **extra):
    return json.dumps({"source": source, "target": target, **extra})


def points_attacks():
    far = [[2, 2]], [[29, 29]]
    distinct = lambda n: ([[i % 30, (i // 30) % 30] for i in range(n)], [[(i + 1) % 30, (i // 30) % 30] for i in range(n)])  # noqa: E731
    s33, t33 = distinct(33)
    s32, t32 = distinct(32)
    s1000, t1000 = distinct(1000)
    ok = [("''", ""), ("whitespace", "  \n\t "), ("no points", '{"source": [], "target": []}'),
          ("one pair", POINTS), ("source = target", pts([[14, 12]], [[14, 12]])),
          ("corners (0,0)->(31,31)", pts([[0, 0]], [[31, 31]])), ("float coordinates", pts([[14.5, 12.25]], [[20.75, 16.5]])),
          ("32 distinct pairs", pts(s32, t32)), ("extra keys", pts([[14, 12]], [[20, 16]], note="hi")),
          ("x = width - 0.001", pts([[14, 12]], [[31.999, 16]])),
          ("pretty-printed", json.dumps({"source": [[14, 12]], "target": [[20, 16]]}, indent=4)),
          ("a long drag", pts(*far)), ("100001 characters", POINTS + " " * (100_001 - len(POINTS))),
          ("JSON null (no points)", "null")]
    bad = [("malformed", "'[' * 50000", "[" * 50000), ("malformed", "'{' * 50000", "{" * 50000),
           ("malformed", "deep nesting in source", '{"source": ' + "[" * 5000 + "]" * 5000 + ', "target": []}'),
           ("oversized", "5000-digit coordinate", '{"source": [[' + "9" * 5000 + ', 1]], "target": [[1, 1]]}'),
           ("oversized", "5000-digit float coordinate", '{"source": [[0.' + "9" * 5000 + ', 1]], "target": [[1, 1]]}'),
           ("oversized", "1e999 coordinate", '{"source": [[1e999, 1]], "target": [[1, 1]]}'),
           ("malformed", "NaN coordinate", '{"source": [[NaN, 1]], "target": [[1, 1]]}'),
           ("malformed", "Infinity coordinate", '{"source": [[Infinity, 1]], "target": [[1, 1]]}'),
           ("oversized", "33 distinct pairs", pts(s33, t33)), ("oversized", "1000 distinct pairs", pts(s1000, t1000)),
           ("oversized", "500001 characters (adapter/points.py MAX_TEXT 500000)", POINTS + " " * (500_001 - len(POINTS))),
           ("malformed", "not JSON", "drag the ball right"), ("malformed", "python dict", "{'source': [[1, 2]], 'target': [[3, 4]]}"),
           ("malformed", "trailing garbage", POINTS + " xyz"), ("malformed", "BOM prefix", "\ufeff" + POINTS),
           ("malformed", "JSON list", "[[1, 2], [3, 4]]"), ("malformed", "JSON number", "123"),
           ("malformed", "JSON string", '"points"'), ("malformed", "{}", "{}"), ("malformed", "no target", '{"source": [[1, 2]]}'),
           ("malformed", "source not a list", '{"source": 5, "target": []}'),
           ("malformed", "mismatched lengths", pts([[1, 2], [3, 4]], [[5, 6]])),
           ("malformed", "3 coordinates", pts([[1, 2, 3]], [[4, 5]])), ("malformed", "1 coordinate", pts([[1]], [[4, 5]])),
           ("malformed", "string coordinates", pts([["1", "2"]], [[4, 5]])),
           ("malformed", "boolean coordinates", pts([[True, False]], [[4, 5]])),
           ("malformed", "nested point", pts([[[1, 2]]], [[4, 5]])), ("malformed", "object point", pts([{"x": 1, "y": 2}], [[4, 5]])),
           ("malformed", "null point", pts([None], [[4, 5]])),
           ("points outside", "x = width", pts([[14, 12]], [[32, 16]])), ("points outside", "y = height", pts([[14, 12]], [[14, 32]])),
           ("points outside", "negative x", pts([[-1, 12]], [[20, 16]])), ("points outside", "huge coordinate", pts([[1e308, 12]], [[20, 16]])),
           ("points outside", "far outside", pts([[14, 12]], [[5000, -5000]])),
           ("points outside", "x = 31.9999999 rounds inside", pts([[14, 12]], [[31.9999999, 16]]))]
    out = [("boundary", "points: " + label, value, "ok") for label, value in ok]
    out += [("points " + cat if not cat.startswith("points") else cat, label, value, "err") for cat, label, value in bad]
    # 31.9999999 < 32: inside; a float of 5000 digits is read (as 1.0): only integers have a digit limit
    out = [o[:3] + ("ok",) if o[1] in ("x = 31.9999999 rounds inside", "5000-digit float coordinate") else o for o in out]
    out += [("wrong type", "number 5", 5, "err"), ("null", "null", None, "err"), ("list / link", "[1, 2, 3]", [1, 2, 3], "err"),
            ("list / link", "1000 pairs as a JSON list", [[1, 2]] * 1000, "err"),
            ("list / link", "link to a MODEL output", ["1", 0], "err")]
    return out


LATENT_ATTACKS = [  # (label, spec, expect, heavy)
    ("image at 64 px, model at 32 px", ("image_res", 64), "err", False),
    ("image at 40 px, model at 32 px", ("image_res", 40), "err", False),
    ("EmptyLatentImage 32x32 (4 channels, 4x4)", ("empty", 32, 32, 1), "err", False),
    ("EmptyLatentImage 16x24", ("empty", 16, 24, 1), "err", False),
    ("EmptyLatentImage 256x256 batch 4", ("empty", 256, 256, 4), "err", False),
    ("5-D video latent", ("video", 32, 32, 5), "err", False),
    ("image cropped to 1x1", ("crop", 1, 1), "err", False),
    ("image cropped to 32x31", ("crop", 32, 31), "err", False),
    ("batch of 3", ("batch", 3), "ok", False),
    ("batch of 2 with batch_index", ("from_batch", 1, 2), "ok", False),
    ("all zero", ("mult", [0.0]), "ok", False),
    ("values up to 9000 (x10^4)", ("mult", [10.0] * 4), "?", False),
    ("values down to -9000 (x-10^4)", ("mult", [-10.0] * 4), "?", False),
    ("values up to 90000 (x10^5)", ("mult", [10.0] * 5), "err", False),
    ("infinite (x10^40)", ("mult", [10.0] * 40), "err", False),
    ("NaN (multiplier NaN)", ("mult", [math.nan]), "err", False),
    ("NaN (x10^40 then x0)", ("mult", [10.0] * 40 + [0.0]), "err", False),
    ("a string for the LATENT", ("literal", "abc"), "err", False),
    ("a number for the LATENT", ("literal", 5), "err", False),
    ("null for the LATENT", ("literal", None), "err", False),
    ("dict without tensor", ("literal", {"samples": [[1.0]]}), "err", False),
    ("link to a missing node", ("literal", ["999", 0]), "err", False),
    ("link to an IMAGE output", ("literal", ["2", 0]), "err", False),
]

MASK_ATTACKS = [  # (label, spec, expect)
    ("no mask", None, "?"),
    ("ball box", ("box",), "ok"),
    ("SolidMask 0 everywhere", ("solid", 0.0, 32, 32), "ok"),
    ("SolidMask 1 everywhere", ("solid", 1.0, 32, 32), "ok"),
    ("SolidMask 0.5", ("solid", 0.5, 32, 32), "ok"),
    ("SolidMask 1 at 64x64 (image res x2)", ("solid", 1.0, 64, 64), "ok"),
    ("SolidMask 1x1", ("solid", 1.0, 1, 1), "?"),
    ("SolidMask 64x32 (wrong aspect)", ("solid", 1.0, 64, 32), "err"),
    ("SolidMask 1x1000 (wrong aspect)", ("solid", 1.0, 1, 1000), "err"),
    ("SolidMask 1024x1024", ("solid", 1.0, 1024, 1024), "ok"),
    ("SolidMask NaN", ("solid", math.nan, 32, 32), "err"),
    ("SolidMask 'nan'", ("solid", "nan", 32, 32), "err"),
    ("bicubic overshoot (values outside [0, 1])", ("overshoot", 64), "err"),
    ("mask batch 2", ("batch", 2), "?"),
    ("a string for the MASK", ("literal", "abc"), "err"),
    ("a number for the MASK", ("literal", 0.5), "err"),
    ("link to a LATENT output", ("literal", ["4", 0]), "err"),
]

SIGMA_ATTACKS = [  # (label, spec, expect)
    ("first sigma NaN", ("first", math.nan), "err"),
    ("first sigma 0", ("first", 0.0), "?"),
    ("first sigma 20000", ("first", 20000.0), "?"),
    ("flipped schedule", ("flip",), "?"),
    ("one sigma (no step)", ("split", 0, 0), "?"),
    ("the tail from the last step", ("split", 6, 1), "?"),
    ("a string for the SIGMAS", ("literal", "abc"), "err"),
]


BOX = [8, 17, 10, 19]  # rows 8-16, columns 10-18: around the ball at (14, 12), in image (= latent) pixels
# (label, FuzzMask spec, expect for a mask (may change), expect for a region (what moves))
FUZZ_MASK_ATTACKS = [
    ("ball box (FuzzMask)", ("fuzz", (1, 32, 32), 0, BOX), "ok", "ok"),
    ("all zero", ("fuzz", (1, 32, 32), 0), "ok", "err"),
    ("all one", ("fuzz", (1, 32, 32), 1), "ok", "err"),
    ("NaN everywhere", ("fuzz", (1, 32, 32), "nan"), "err", "err"),
    ("NaN inside the box", ("fuzz", (1, 32, 32), 0, BOX, "nan"), "err", "err"),
    ("inf inside the box", ("fuzz", (1, 32, 32), 0, BOX, "inf"), "err", "err"),
    ("-inf everywhere", ("fuzz", (1, 32, 32), "-inf"), "err", "err"),
    ("box of 2 (above 1)", ("fuzz", (1, 32, 32), 0, BOX, 2), "err", "err"),
    ("box of 1.001", ("fuzz", (1, 32, 32), 0, BOX, 1.001), "err", "err"),
    ("-1 outside the box", ("fuzz", (1, 32, 32), -1, BOX, 1), "err", "err"),
    ("box of 1e30", ("fuzz", (1, 32, 32), 0, BOX, 1e30), "err", "err"),
    ("empty batch 0x32x32", ("fuzz", (0, 32, 32), 0), "err", "err"),
    ("zero width 1x32x0", ("fuzz", (1, 32, 0), 0), "err", "err"),
    ("2-D 32x32", ("fuzz", (32, 32), 0, BOX), "ok", "ok"),
    ("4-D 1x1x32x32", ("fuzz", (1, 1, 32, 32), 0, BOX), "?", "?"),
    ("4-D 1x3x32x32", ("fuzz", (1, 3, 32, 32), 0, BOX), "err", "err"),
    ("5-D 1x1x1x32x32", ("fuzz", (1, 1, 1, 32, 32), 0, BOX), "err", "err"),
    ("1-D 32", ("fuzz", (32,), 1), "err", "err"),
    ("wrong aspect 1x32x64", ("fuzz", (1, 32, 64), 0, BOX), "err", "err"),
    ("wrong aspect 1x1x1000", ("fuzz", (1, 1, 1000), 1), "err", "err"),
    ("1x1", ("fuzz", (1, 1, 1), 1), "?", "?"),
    ("4x4 (an 8x smaller latent's size)", ("fuzz", (1, 4, 4), 0, [1, 3, 1, 3]), "?", "?"),
    ("1000x1000 (fits the aspect)", ("fuzz", (1, 1000, 1000), 0, [250, 530, 310, 590]), "ok", "ok"),
]

STROKE = {"radius": 3, "path": [[14, 12]]}


def region_pts(region, **extra):
    return json.dumps({"source": [[14, 12]], "target": [[20, 16]], "region": region, **extra})


def stroke(**kw):
    return [{**STROKE, **kw}]


def region_stroke_cases():
    """The region painted in the point editor: the points' "region" list of brush strokes."""
    dots = lambda n: [[10 + i % 8, 8 + (i // 8) % 8] for i in range(n)]  # noqa: E731
    ok = [("one stroke on the ball", [STROKE]), ("region []", []), ("region null", None),
          ("a stroke and an erase", [{"radius": 4, "path": [[14, 12]]}, {"radius": 1, "path": [[14, 12]], "erase": True}]),
          ("radius 0.5", stroke(radius=0.5)), ("a path of 3 points", stroke(path=[[12, 10], [14, 12], [16, 14]])),
          ("float coordinates", stroke(path=[[14.25, 12.5]])), ("extra keys in a stroke", stroke(colour="red")),
          ("500 strokes of 1 point", [{"radius": 1, "path": [p]} for p in dots(500)]),
          ("20000 brush points in one stroke", stroke(radius=1, path=dots(20000)))]
    bad = [("region 5", 5), ("region 'abc'", "abc"), ("region a stroke, not a list", STROKE), ("region true", True),
           ("stroke 5", [5]), ("stroke null", [None]), ("stroke a point", [[14, 12]]), ("stroke without path", [{"radius": 3}]),
           ("empty path", stroke(path=[])), ("path a string", stroke(path="14,12")), ("path an object", stroke(path={"x": 1})),
           ("no radius", [{"path": [[14, 12]]}]), ("radius 0", stroke(radius=0)), ("radius 0.49", stroke(radius=0.49)),
           ("radius -5", stroke(radius=-5)), ("radius 1025", stroke(radius=1025)), ("radius 1e308", stroke(radius=1e308)),
           ("radius NaN", stroke(radius=math.nan)), ("radius Infinity", stroke(radius=math.inf)),
           ("radius -Infinity", stroke(radius=-math.inf)), ("radius '3'", stroke(radius="3")),
           ("radius true", stroke(radius=True)), ("radius null", stroke(radius=None)), ("radius [3]", stroke(radius=[3])),
           ("erase 'yes'", stroke(erase="yes")), ("erase 1", stroke(erase=1)), ("erase null", stroke(erase=None)),
           ("point [1]", stroke(path=[[1]])), ("point [1, 2, 3]", stroke(path=[[1, 2, 3]])),
           ("point ['a', 'b']", stroke(path=[["a", "b"]])), ("point [NaN, 1]", stroke(path=[[math.nan, 1]])),
           ("point [Infinity, 1]", stroke(path=[[math.inf, 1]])), ("point null", stroke(path=[None])),
           ("point {x, y}", stroke(path=[{"x": 14, "y": 12}])), ("point [true, false]", stroke(path=[[True, False]])),
           ("501 strokes", [{"radius": 1, "path": [p]} for p in dots(501)]),
           ("20001 brush points in one stroke", stroke(radius=1, path=dots(20001))),
           ("20001 brush points over two strokes", stroke(radius=1, path=dots(10000)) + stroke(radius=1, path=dots(10001))),
           ("region text over 500000 characters", stroke(radius=1, path=[[14.123456789012, 12.123456789012]] * 19000))]
    empty = [("a stroke outside the image", stroke(path=[[500, 500]])), ("only an erase", stroke(erase=True)),
             ("radius 1024 (covers the image)", stroke(radius=1024)), ("negative coordinates", stroke(path=[[-50, -50]]))]
    out = [Case("SDEDragPointMover", "points", "points region", f"points region: {label}",
                over={"pack": {"points": region_pts(r)}}, expect="ok") for label, r in ok]
    out += [Case("SDEDragPointMover", "points", "points region", f"points region: {label}",
                 over={"pack": {"points": region_pts(r)}}, expect="err") for label, r in bad]
    out += [Case("SDEDragPointMover", "points", "points region", f"points region: {label}",
                 over={"pack": {"points": region_pts(r)}}, names=("points", "region"), expect="err") for label, r in empty]
    # painted over a connected region, and with the drag's other methods
    out += [Case("SDEDragPointMover", "points", "points region", "points region: a stroke over a connected region",
                 over={"pack": {"points": region_pts([STROKE]), "region": MaskRef(("box",))}}, expect="ok")]
    out += [Case("SDEDragPointMover", "points", "points region", f"points region: one stroke, method {m}",
                 over={"pack": {"points": region_pts([STROKE]), "method": m, "steps": 10}}, expect="ok")
            for m in ("fast", "paper")]
    return out


SCENE_WEIGHTS = "sde_edit_scene_model.safetensors"
# file name in the server's copy of the lab's models/ -> what it holds (written by write_loader_files)
LOADER_FILES = {
    "fuzz_empty.safetensors": "an empty file",
    "fuzz_text.safetensors": "a text file",
    "fuzz_truncated.safetensors": "the scene model cut in half",
    "fuzz_header_only.safetensors": "the scene model's header without its data",
    "fuzz_bad_header.safetensors": "the scene model with its header's bytes corrupted",
    "fuzz_random_data.safetensors": "the scene model with 4 KB of its data replaced by random bytes",
    "fuzz_ff_data.safetensors": "the scene model with 4 KB of its data set to 0xFF (NaN floats)",
    "fuzz_foreign.safetensors": "a foreign safetensors file (other keys, no metadata)",
    "fuzz_foreign_meta.safetensors": "a foreign safetensors file with the scene model's metadata",
    "fuzz_nan.safetensors": "a well-formed scene model whose weights are all NaN",
    "fuzz_one_nan.safetensors": "a well-formed scene model with one NaN weight",
    "fuzz_inf.safetensors": "a well-formed scene model with one infinite weight",
    "fuzz_folder.safetensors": "a folder named *.safetensors",
}


def write_loader_files(models_dir, source):
    """The broken weights files LOADER_FILES describes, made from the real scene model `source`."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    data = open(source, "rb").read()
    header = 8 + int.from_bytes(data[:8], "little")
    with safe_open(source, "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    rng = random.Random(0)

    def write(name, blob):
        with open(os.path.join(models_dir, name), "wb") as out:
            out.write(blob)

    def patched(start, blob):
        return data[:start] + blob + data[start + len(blob):]

    write("fuzz_empty.safetensors", b"")
    write("fuzz_text.safetensors", b"these are not weights\n")
    write("fuzz_truncated.safetensors", data[: len(data) // 2])
    write("fuzz_header_only.safetensors", data[:header])
    write("fuzz_bad_header.safetensors", patched(8 + 40, bytes(rng.randrange(256) for _ in range(64))))
    middle = header + (len(data) - header) // 2
    write("fuzz_random_data.safetensors", patched(middle, bytes(rng.randrange(256) for _ in range(4096))))
    write("fuzz_ff_data.safetensors", patched(middle, b"\xff" * 4096))
    save_file({"foo.weight": torch.ones(4, 4)}, os.path.join(models_dir, "fuzz_foreign.safetensors"))
    save_file({"foo.weight": torch.ones(4, 4)}, os.path.join(models_dir, "fuzz_foreign_meta.safetensors"), metadata=meta)
    floats = [k for k, t in tensors.items() if t.is_floating_point()]
    save_file({k: (torch.full_like(t, math.nan) if k in floats else t) for k, t in tensors.items()},
              os.path.join(models_dir, "fuzz_nan.safetensors"), metadata=meta)
    for name, value in (("fuzz_one_nan.safetensors", math.nan), ("fuzz_inf.safetensors", math.inf)):
        some = dict(tensors)
        t = some[floats[len(floats) // 2]].clone()
        t.view(-1)[0] = value
        some[floats[len(floats) // 2]] = t
        save_file(some, os.path.join(models_dir, name), metadata=meta)
    os.makedirs(os.path.join(models_dir, "fuzz_folder.safetensors"), exist_ok=True)


def loader_cases():
    """The scene model loader's file: broken files in its folder, and names that are not a file there."""
    node = "SDEEditLabSceneModelLoader"
    out = [Case(node, "weights", "loader file", f"weights = {desc}", over={"loader": {"weights": name}},
                names=("weights",), names_all=(name,), expect="err") for name, desc in LOADER_FILES.items()]
    out.append(Case(node, "weights", "loader file", "weights = the scene model", over={"loader": {"weights": SCENE_WEIGHTS}},
                    expect="ok"))
    for label, name in [("a missing file", "missing.safetensors"), ("../x.safetensors", "../x.safetensors"),
                        ("/etc/passwd", "/etc/passwd"), ("../../../../../../etc/passwd", "../../../../../../etc/passwd"),
                        ("the absolute path of the scene model", os.path.join(PACK_DIR, "lab", "models", SCENE_WEIGHTS)),
                        ("models/<scene model>", "models/" + SCENE_WEIGHTS), ("./<scene model>", "./" + SCENE_WEIGHTS),
                        ("<scene model>/", SCENE_WEIGHTS + "/"), ("<scene model> + NUL + .txt", SCENE_WEIGHTS + "\x00.txt"),
                        ("'..'", ".."), ("'.'", "."), ("the log next to the weights", SCENE_WEIGHTS + ".log.json"),
                        ("'~/x.safetensors'", "~/x.safetensors"), ("a 5000-character name", "x" * 4985 + ".safetensors")]:
        out.append(Case(node, "weights", "loader name", f"weights = {label}", over={"loader": {"weights": name}},
                        expect="err"))
    return out


HELPER_NODE = '''"""The fuzzer's helper node (lab/benchmarks/fuzz_server.py): a MASK of any shape and values."""
import json

import torch


class FuzzMask:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"spec": ("STRING", {"default": "{}"})}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "make"
    CATEGORY = "fuzz"

    def make(self, spec):
        s = json.loads(spec)
        mask = torch.full(s["shape"], float(s.get("fill", "0")), dtype=torch.float32)
        if s.get("box"):
            y0, y1, x0, x1 = s["box"]
            mask[..., y0:y1, x0:x1] = float(s.get("box_value", "1"))
        return (mask,)


NODE_CLASS_MAPPINGS = {"FuzzMask": FuzzMask}
'''


def prepare_base_dir(base):
    """The server's base directory: custom_nodes/ holds the pack as a folder of links to the pack's files,
    the lab beside it as a folder of links to the lab's files except models/, a folder of its own (the real
    weights linked, the broken files of LOADER_FILES), and the fuzzer's FuzzMask node."""
    pack = os.path.join(base, "custom_nodes", PACK_MARK)
    os.makedirs(pack, exist_ok=True)
    for entry in os.listdir(PACK_DIR):
        if entry.startswith(".") or entry in ("lab", "build", "out"):
            continue
        os.symlink(os.path.join(PACK_DIR, entry), os.path.join(pack, entry))
    lab_dir = os.path.join(PACK_DIR, "lab")
    lab = os.path.join(base, "custom_nodes", LAB_MARK)
    os.makedirs(os.path.join(lab, "models"), exist_ok=True)
    for entry in os.listdir(lab_dir):
        if entry in ("models", "__pycache__"):
            continue
        os.symlink(os.path.join(lab_dir, entry), os.path.join(lab, entry))
    real = os.path.join(lab_dir, "models")
    for entry in os.listdir(real):
        os.symlink(os.path.join(real, entry), os.path.join(lab, "models", entry))
    write_loader_files(os.path.join(lab, "models"), os.path.join(real, SCENE_WEIGHTS))
    with open(os.path.join(base, "custom_nodes", "sde_fuzz_helpers.py"), "w") as f:
        f.write(HELPER_NODE)


def cheap_overrides(node, name, value):
    """Other inputs a boundary value needs to stay valid (and cheap enough), and whether it is heavy."""
    valid_int = isinstance(value, int) and not isinstance(value, bool)
    if node in ("SDEditNoiseDenoise", "SDEInpaint") and name == "steps" and valid_int and value > 10:
        return {"pack": {"strength": 1.0}}, value > 1000  # steps / strength <= 10000
    if node == "SDEDragPointMover" and name == "steps":  # only paper reads steps
        return {"pack": {"method": "paper", "t0": 0.01 if valid_int and value > 10 else 0.6}}, False
    if node == "SDEDragPointMover" and name in ("t0", "drag_step", "beta", "alpha"):
        return {"pack": {"method": "paper", "steps": 10}}, False  # only paper (and fast: beta, alpha) reads them
    if name == "resolution" and valid_int and 32 <= value <= 256:
        other = "image" if node == "SDEEditLabReferenceSceneModel" else "model"
        return {other: {"resolution": value}}, value > 128
    return {}, False


def merge(a, b):
    out = {k: dict(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, {}).update(v)
    return out


def link_attacks(node, name, typ, group):
    """A link input of SDEdit, Inpaint or Drag: left out, wrong links, literals."""
    out = [Case(node, name, "missing input", f"{name} left out", over={"pack": {name: DROP}},
                expect="err" if group == "required" and not (node == "SDEInpaint" and name == "mask") else "?")]
    wrong = ["3", 0] if typ != "VAE" else ["1", 0]  # a VAE output for the others, a MODEL for vae
    for category, label, value, expect in [
            ("list / link", f"link to a {'VAE' if typ != 'VAE' else 'MODEL'} output", wrong, "err"),
            ("list / link", "link to a missing node", ["999", 0], "err"),
            ("list / link", "link to a missing output slot", ["1", 7], "err"),
            ("list / link", "[1, 2, 3]", [1, 2, 3], "err"),
            ("literal for a link", "string 'abc'", "abc", "err"),
            ("literal for a link", "number 5", 5, "err"),
            ("literal for a link", "null", None, "?")]:
        out.append(Case(node, name, category, f"{name} = {label}", over={"pack": {name: value}}, expect=expect))
    return out


def value_attacks(node, name, typ, opts):
    """(category, label, value, expect) for a widget input, from its type and declared range or options."""
    base = BASE[node].get(name)
    if typ in ("INT", "FLOAT"):
        return numeric_attacks(name, typ, opts["min"], opts["max"], base)
    if typ == "COMBO" and node == "SDEEditLabSceneModelLoader":  # the files: loader_attacks
        return [a for a in combo_attacks(opts["options"], base) if a[0] != "boundary"]
    if typ == "COMBO":
        return combo_attacks(opts["options"], base)
    if typ == "STRING" and name == "points":
        attacks = points_attacks()
        if node == "SDEDragClicks":  # no image size: points outside it are the segmenter's business
            attacks = [(c, lab, v, e if c == "points malformed" or c == "wrong type" else "?") for c, lab, v, e in attacks]
        return attacks
    return None  # no attack for this type: reported as not attacked


def widget_cases(node, name, typ, opts, group):
    role = ROLE[node]
    attacks = value_attacks(node, name, typ, opts)
    if attacks is None:
        return []
    cases = []
    for category, label, value, expect in attacks:
        extra, heavy = cheap_overrides(node, name, value)
        over = merge(extra, {role: {name: value}})
        if name == "points" and node == "SDEDragPointMover":
            over = merge(over, {"pack": {"method": "fast"}})  # fast reads beta, alpha and the cycles
        cases.append(Case(node, name, category, f"{name} = {label}", over=over, expect=expect, heavy=heavy))
    cases.append(Case(node, name, "missing input", f"{name} left out", over={role: {name: DROP}},
                      expect="err" if group == "required" else "ok"))
    return cases


def mask_cases(node, name):
    """The content of a MASK input: stock masks (MASK_ATTACKS) and any shape or value (FUZZ_MASK_ATTACKS)."""
    cases = []
    for label, mspec, expect in MASK_ATTACKS:
        if name == "mask" and node == "SDEInpaint" and mspec is None:
            expect = "err"
        if name == "region" and mspec is not None and mspec[0] == "solid":
            expect = "err"  # nothing, or everything, to move
        if name == "mask":
            cases.append(Case(node, name, "odd mask", f"{name}: {label}", mask=mspec, expect=expect))
        else:
            cases.append(Case(node, name, "odd mask", f"{name}: {label}", over={"pack": {name: MaskRef(mspec)}},
                              expect=expect))
    for label, mspec, expect_mask, expect_region in FUZZ_MASK_ATTACKS:
        expect = expect_region if name == "region" else expect_mask
        where = {"mask": mspec} if name == "mask" else {"over": {"pack": {name: MaskRef(mspec)}}}
        cases.append(Case(node, name, "odd mask", f"{name}: {label}", expect=expect, **where))
    for label, latent, mspec, expect in [("batch 2, latent batch 3", ("batch", 3), ("batch", 2), "err"),
                                         ("batch 3, latent batch 3", ("batch", 3), ("batch", 3), "ok"),
                                         ("batch 2 (FuzzMask), latent batch 1", ("scene",), ("fuzz", (2, 32, 32), 0, BOX),
                                          "err" if name == "mask" else "ok")]:
        where = {"mask": mspec} if name == "mask" else {"over": {"pack": {name: MaskRef(mspec)}}}
        cases.append(Case(node, name, "odd mask", f"{name} {label}", latent=latent, expect=expect, **where))
    if name == "mask":
        cases.append(Case(node, "mask", "odd mask", "mask 1x1000 and a latent noise mask", latent=("noise_mask", ("box",)),
                          mask=("solid", 1.0, 1, 1000), expect="err"))
    return cases


def sampling_cases(node):
    """Odd latents, the LATENT's noise mask, and (the sampler) odd sigmas."""
    lname = "latent" if node == "SDEDragPointMover" else "latent_image"
    cases = [Case(node, lname, "odd latent", f"{lname}: {label}", latent=lspec, expect=expect, heavy=heavy)
             for label, lspec, expect, heavy in LATENT_ATTACKS]
    for label, mspec, expect in MASK_ATTACKS:
        if mspec is None or mspec[0] == "literal":
            continue
        # no mask input: the node falls back on the LATENT's noise mask
        cases.append(Case(node, "noise_mask", "odd mask", f"{lname} with a noise mask: {label}",
                          latent=("noise_mask", mspec), mask=None, names=(lname, "noise_mask"), expect=expect))
    if node == "SDESamplerEta":
        cases += [Case(node, "sigmas", "odd sigmas", f"sigmas: {label}", sigmas=sspec, expect=expect)
                  for label, sspec, expect in SIGMA_ATTACKS]
    return cases


def declared_inputs(info, node):
    """(group, name, type, options) of every input /object_info declares for a node."""
    spec = info[node]["input"]
    return [(group, name, v[0], v[1] if len(v) > 1 else {})
            for group in ("required", "optional") for name, v in spec.get(group, {}).items()]


def systematic_cases(info, pack_nodes):
    """Every input /object_info declares for a pack node with a ROLE, attacked by its type; inputs
    whose type has no attack get none (and are reported as not attacked)."""
    cases = []
    for node in pack_nodes:
        if node not in ROLE:
            continue
        for group, name, typ, opts in declared_inputs(info, node):
            if typ in ("INT", "FLOAT", "COMBO", "STRING") or ROLE[node] != "pack":
                cases += widget_cases(node, name, typ, opts, group)
            else:
                cases += link_attacks(node, name, typ, group)
            if typ == "MASK" and ROLE[node] == "pack":
                cases += mask_cases(node, name)
        if node in ("SDEditNoiseDenoise", "SDEInpaint", "SDEDragPointMover", "SDESamplerEta"):
            cases += sampling_cases(node)
        if node == "SDEDragPointMover":
            cases += region_stroke_cases()
        if node == "SDEEditLabSceneModelLoader":
            cases += loader_cases()
    cases += special_cases()
    return cases


def special_cases():
    sd, ip, dr = "SDEditNoiseDenoise", "SDEInpaint", "SDEDragPointMover"
    out = []
    for node in (sd, ip):
        for s in (1e-6, 1e-9, 1e-310, 5e-324):
            out.append(Case(node, "strength", "tiny strength", f"strength {s:g}, steps 6", over={"pack": {"strength": s}}, expect="err"))
        out.append(Case(node, "strength", "tiny strength", "strength 1e-4, steps 1 (a schedule of 10000)",
                        over={"pack": {"strength": 1e-4, "steps": 1}}, expect="ok"))
        out.append(Case(node, "strength", "tiny strength", "strength 1e-4, steps 2 (a schedule of 20000)",
                        over={"pack": {"strength": 1e-4, "steps": 2}}, names=("strength", "steps"), expect="err"))
        out.append(Case(node, "steps", "huge work", "steps 10000 at strength 0.6",
                        over={"pack": {"steps": 10000, "strength": 0.6}},
                        names=("steps", "strength"), expect="err"))
        for param in ("eps", "v_prediction", "flow"):
            out.append(Case(node, "strength", "valid variant", f"strength 1, {param}",
                            over={"pack": {"strength": 1.0}, "model": {"parameterization": param}}, expect="ok"))
            out.append(Case(node, "cfg", "valid variant", f"cfg 100, eta 0, {param}",
                            over={"pack": {"cfg": 100.0, "eta": 0.0}, "model": {"parameterization": param}}, expect="ok"))
    out.append(Case(sd, "repeats", "huge work", "repeats 10, steps 10", over={"pack": {"repeats": 10, "steps": 10}}, expect="ok"))
    paper = {"method": "paper"}
    far = pts([[2, 2]], [[29, 29]])
    for steps, t0, step, expect in ((10000, 1.0, 0.1, "err"), (10000, 0.6, 0.1, "err"), (5000, 1.0, 1.0, "err"),
                                    (10000, 1.0, 64.0, "ok")):
        heavy = expect == "ok"
        out.append(Case(dr, "drag_step", "huge work", f"paper, steps {steps}, t0 {t0}, drag_step {step}, a 38 px drag",
                        over={"pack": {**paper, "steps": steps, "t0": t0, "drag_step": step, "points": far}},
                        names=("drag_step", "steps", "t0"), expect=expect, heavy=heavy))
    out.append(Case(dr, "alpha", "points oversized", "100 identical pairs, alpha 3",
                    over={"pack": {"method": "fast", "alpha": 3.0, "points": pts([[14, 12]] * 100, [[20, 16]] * 100)}},
                    names=("points", "alpha"), expect="ok"))
    out.append(Case(dr, "alpha", "points oversized", "100 identical pairs, alpha 3, paper, drag_step 0.5",
                    over={"pack": {"method": "paper", "steps": 10, "drag_step": 0.5, "alpha": 3.0,
                                   "points": pts([[14, 12]] * 100, [[20, 16]] * 100)}},
                    names=("points", "alpha"), expect="ok"))
    out.append(Case(dr, "alpha", "valid variant", "32 overlapping pairs, alpha 3, paper",
                    over={"pack": {"method": "paper", "steps": 10, "alpha": 3.0, "patch_radius": 8,
                                   "points": pts([[14 + i % 4, 12 + i // 8] for i in range(32)],
                                                 [[18 + i % 4, 16 + i // 8] for i in range(32)])}},
                    names=("points", "alpha"), expect="ok"))
    for method in ("warp", "fast", "paper"):
        for param in ("eps", "v_prediction", "flow"):
            for eta in (0.0, 1.0):
                out.append(Case(dr, "method", "valid variant", f"{method}, {param}, eta {eta:g}, cfg 3",
                                over={"pack": {"method": method, "eta": eta, "cfg": 3.0, "steps": 10},
                                      "model": {"parameterization": param}}, expect="ok"))
    out.append(Case(dr, "vae", "valid variant", "vae connected (pixel_space)", over={"pack": {"vae": ["3", 0]}}, expect="ok"))
    out.append(Case(dr, "negative", "valid variant", "no negative, cfg 5", over={"pack": {"negative": DROP, "cfg": 5.0}}, expect="ok"))
    out.append(Case(ip, "order", "valid variant", "order 2, eta 0.5, grow 4, feather 4",
                    over={"pack": {"order": 2, "eta": 0.5, "grow_mask_by": 4, "feather": 4}}, expect="ok"))
    out.append(Case(ip, "mask", "odd mask", "no mask, latent noise mask (SetLatentNoiseMask)", mask=None,
                    latent=("noise_mask", ("box",)), expect="ok"))
    for param in ("eps", "v_prediction", "flow"):
        for order in (1, 2):
            out.append(Case("SDESamplerEta", "order", "valid variant", f"order {order}, eta 0.5, {param}",
                            over={"sampler": {"order": order, "eta": 0.5}, "model": {"parameterization": param}}, expect="ok"))
    return out


VALID_BASELINES = {
    # input -> values a random valid baseline draws from
    "SDEditNoiseDenoise": {"steps": [1, 2, 4, 6, 10], "strength": [0.2, 0.5, 0.8, 1.0], "eta": [0.0, 0.5, 1.0],
                           "cfg": [0.0, 1.0, 3.0], "repeats": [1, 2], "seed": [0, 7, 2 ** 63]},
    "SDEInpaint": {"steps": [1, 3, 6, 10], "strength": [0.5, 1.0], "eta": [0.0, 1.0], "order": [1, 2], "cfg": [1.0, 4.0],
                   "grow_mask_by": [0, 2], "feather": [0, 3]},
    "SDEDragPointMover": {"method": ["warp", "warp", "fast", "fast", "paper"], "steps": [4, 6, 10], "t0": [0.3, 0.6, 1.0],
                          "eta": [0.0, 1.0], "cfg": [1.0, 3.0], "patch_radius": [1, 3, 6], "beta": [0.0, 0.3, 1.0],
                          "alpha": [0.5, 1.1, 2.0], "drag_step": [1.0, 2.0, 8.0]},
    "SDESamplerEta": {"eta": [0.0, 0.3, 1.0], "order": [1, 2]},
}
SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic",
              "kl_optimal"]


def random_cases(pool, n, rng):
    """n cases: one attack from the systematic pool (not heavy) on a random valid baseline."""
    out = []
    candidates = [c for c in pool if not c.heavy and c.category != "valid variant" and ROLE[c.node] not in SIDE_GRAPHS]
    for _ in range(n):
        c = rng.choice(candidates)
        base = {}
        node = c.node if c.node in VALID_BASELINES else "SDEditNoiseDenoise"
        role = "sampler" if node == "SDESamplerEta" else "pack"
        for k, values in VALID_BASELINES[node].items():
            base[k] = rng.choice(values)
        if node != "SDESamplerEta":
            base["scheduler"] = rng.choice(SCHEDULERS)
        over = {role: base, "model": {"parameterization": rng.choice(["eps", "v_prediction", "flow"])},
                "image": {"kind": rng.choice(["stroke painting", "scene"]), "colour": rng.choice(["red", "blue"])}}
        over = merge(over, c.over)
        out.append(Case(c.node, c.input, c.category, "random baseline; " + c.label, over=over, latent=c.latent,
                        mask=c.mask, sigmas=c.sigmas, names=c.names, names_all=c.names_all,
                        expect="?" if c.expect == "ok" else c.expect, raw=c.raw))
    return out


def raw_cases():
    """A JSON number of 5000 digits: Python cannot even read it (int max digits); sent as raw text."""
    return [Case("SDEditNoiseDenoise", "seed", "huge number", "seed = a 5000-digit JSON number",
                 over={"pack": {"seed": "__RAW5000__"}}, raw=('"__RAW5000__"', "9" * 5000), expect="err"),
            Case("SDEDragPointMover", "patch_radius", "huge number", "patch_radius = a 5000-digit JSON number",
                 over={"pack": {"patch_radius": "__RAW5000__"}}, raw=('"__RAW5000__"', "9" * 5000), expect="err")]


def generate(info, pack_nodes, count, seed, quick):
    rng = random.Random(seed)
    system = systematic_cases(info, pack_nodes) + raw_cases()
    if count is None:  # the full run: the systematic set
        count = len(system)
    if quick:
        # one case per node and class of attack, on the input of that node attacked least so far;
        # then one case for each input still not attacked
        groups = collections.defaultdict(list)
        for c in system:
            if not c.heavy:
                groups[(c.node, c.category)].append(c)
        used, cases = collections.Counter(), []
        for group in groups.values():
            i = min(range(len(group)), key=lambda j: (used[(group[j].node, group[j].input)], j))
            cases.append(group[i])
            used[(group[i].node, group[i].input)] += 1
        for c in system:
            if not c.heavy and not used[(c.node, c.input)]:
                cases.append(c)
                used[(c.node, c.input)] += 1
        # every class of attack on the drag's points, and a NaN mask / latent on every sampling node
        extra = [c for c in system if c.label in ("points = '[' * 50000", "points = 5000-digit coordinate",
                                                  "points = 1000 distinct pairs", "points = x = width",
                                                  "region: NaN everywhere", "region: empty batch 0x32x32",
                                                  "region: all zero", "region: ball box (FuzzMask)",
                                                  "points region: region null", "points region: radius NaN",
                                                  "points region: 501 strokes", "points region: one stroke on the ball",
                                                  "weights = a well-formed scene model whose weights are all NaN",
                                                  "weights = the scene model cut in half", "weights = ../x.safetensors",
                                                  "weights = a folder named *.safetensors")
                 or (c.category == "odd latent" and c.label.endswith("NaN (x10^40 then x0)"))
                 or (c.category == "odd mask" and c.label.endswith("SolidMask NaN"))]
        cases += [c for c in extra if c not in cases]
    else:
        cases = list(system)
        if count > len(cases):
            cases += random_cases(system, count - len(cases), rng)
        elif count < len(cases):
            keep = sorted(rng.sample(range(len(cases)), count))
            cases = [cases[i] for i in keep]
    for i, c in enumerate(cases):
        c.idx = i
        c.names = c.names or (c.input,)
        c.prompt = build(c, f"c{i}")
    return cases


# ----------------------------------------------------------------------------------------------
# Talking to the server

@dataclass
class Result:
    case: Case
    cls: str
    owner: str = ""  # "pack" / "ComfyUI" for errors
    message: str = ""
    seconds: float = 0.0
    note: str = ""


class Fuzzer:
    def __init__(self, timeout=60.0, log=print):
        self.timeout, self.log = timeout, log
        self.server = None
        self.restarts = 0
        self.crash_logs = []
        self._base = None

    # server life
    def start(self):
        self._base = tempfile.TemporaryDirectory(prefix="sde-edit-fuzz-")
        prepare_base_dir(self._base.name)
        self.server = ComfyServer(base_dir=self._base.name)
        self.server.start()
        info = self.server.get("/object_info")
        # every pack node (an error of any of them is the pack's); the fuzzed ones: all but NOT_FUZZED
        self.pack_nodes = [k for k, v in info.items() if PACK_MARK in str(v.get("python_module", "")) or LAB_MARK in str(v.get("python_module", ""))]
        self.fuzzed = [k for k in self.pack_nodes if k not in NOT_FUZZED]
        return info

    def alive(self):
        return self.server.process is not None and self.server.process.poll() is None

    def restart(self, why):
        os.makedirs(OUT_DIR, exist_ok=True)
        path = os.path.join(OUT_DIR, f"server-{self.restarts}-{why}.log")
        try:
            with open(path, "w") as f:
                f.write(self.server.read_log())
            self.crash_logs.append(path)
        except OSError:
            pass
        self.server.stop()
        self.restarts += 1
        if self.restarts > 10:
            raise RuntimeError("the server had to be restarted more than 10 times; stopping")
        self.server = ComfyServer(base_dir=self._base.name)
        self.server.start()

    def stop(self):
        if self.server:
            self.server.stop()
        if self._base:
            self._base.cleanup()

    def serving(self):
        """The server still answers and runs a valid prompt (after all the cases)."""
        case = Case("SDEditNoiseDenoise", "steps", "still serving", "a valid SDEdit")
        try:
            status, answer = self.queue(build(case, "still-serving"))
            entry = self.wait(answer["prompt_id"], 60) if status == 200 else None
            return isinstance(entry, dict) and entry.get("status", {}).get("status_str") == "success"
        except (OSError, ValueError, KeyError, TypeError):
            return False

    # HTTP
    def post_raw(self, path, body: bytes, timeout):
        req = urllib.request.Request(self.server.url + path, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path):
        return self.server.get(path)

    def queue(self, prompt, raw=None, timeout=60):
        """(status, answer) of POST /prompt."""
        body = json.dumps({"prompt": prompt, "client_id": self.server.client_id})
        if raw:
            body = body.replace(*raw)
        status, data = self.post_raw("/prompt", body.encode(), timeout)
        try:
            answer = json.loads(data)
        except ValueError:
            answer = data.decode(errors="replace")
        return status, answer

    def interrupt(self):
        try:
            self.post_raw("/interrupt", b"{}", 10)
        except OSError:
            pass

    def wait(self, prompt_id, timeout):
        """The history entry, or "crash", or None after timeout s."""
        deadline, delay = time.monotonic() + timeout, 0.01
        while time.monotonic() < deadline:
            if not self.alive():
                return "crash"
            try:
                history = self.get(f"/history/{prompt_id}")
            except (OSError, ValueError):
                history = {}
            if prompt_id in history:
                return history[prompt_id]
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)
        return None

    # outputs
    def latents(self, entry):
        """[(file, finite, largest)] of the LATENTs a finished prompt saved."""
        from safetensors.torch import load_file
        import torch
        found = []
        for out in entry.get("outputs", {}).values():
            for item in out.get("latents", []):
                path = os.path.join(self.server.base_dir, item.get("type", "output"), item["subfolder"], item["filename"])
                t = load_file(path)["latent_tensor"].float()
                finite = bool(torch.isfinite(t).all())
                largest = float(t[torch.isfinite(t)].abs().max()) if t.numel() and finite else math.inf
                found.append((path, finite, largest))
        return found

    def flat_previews(self, entry):
        import numpy as np
        from PIL import Image
        flat = 0
        for out in entry.get("outputs", {}).values():
            for item in out.get("images", []):
                path = os.path.join(self.server.base_dir, item.get("type", "temp"), item["subfolder"], item["filename"])
                with Image.open(path) as img:
                    flat += int(np.asarray(img).std() == 0)
        return flat

    # one case
    def run_case(self, case: Case) -> Result:
        t0 = time.monotonic()
        timeout = self.timeout * (4 if case.heavy else 1)
        try:
            status, answer = self.queue(case.prompt, case.raw, timeout=timeout)
        except (TimeoutError, OSError) as e:  # no answer from /prompt at all
            if not self.alive():
                self.restart("crash")
                return Result(case, CRASH, message=f"server died on /prompt: {e}", seconds=time.monotonic() - t0)
            self.restart("hang")
            return Result(case, STUCK, message=f"/prompt did not answer within {timeout:g} s: {e}",
                          seconds=time.monotonic() - t0)
        if status != 200 or (isinstance(answer, dict) and answer.get("node_errors")):
            res = self.judge_rejection(case, status, answer)
            res.seconds = time.monotonic() - t0
            if status == 200:  # partly valid: the rest runs; wait for it so it does not overlap the next case
                self.wait(answer.get("prompt_id", ""), timeout)
                res.note = "partly queued"
            return res
        prompt_id = answer["prompt_id"]
        entry = self.wait(prompt_id, timeout)
        if entry == "crash":
            self.restart("crash")
            return Result(case, CRASH, message="server process died while running it", seconds=time.monotonic() - t0)
        if entry is None:
            self.interrupt()
            entry = self.wait(prompt_id, 5.0)
            if entry is None or entry == "crash":
                self.restart("stuck")
                return Result(case, STUCK, message=f"no result {timeout:g} s after queueing nor 5 s after /interrupt",
                              seconds=time.monotonic() - t0)
            return Result(case, HANG, message=f"no result within {timeout:g} s; stopped by /interrupt",
                          seconds=time.monotonic() - t0)
        res = self.judge_entry(case, entry)
        res.seconds = time.monotonic() - t0
        return res

    def named(self, case, text):
        """The message names the input (one of case.names, as a word) and every word of case.names_all;
        a loader's message names its file relative to models/, not by an absolute path."""
        word = lambda n: re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", text)  # noqa: E731
        value = str(case.over.get("loader", {}).get("weights", ""))
        if case.node == "SDEEditLabSceneModelLoader" and re.search(r"/[^\s'\"]*/models/", text.replace(value, "")):
            return False
        return any(word(n) for n in case.names) and all(n in text for n in case.names_all)

    def judge_rejection(self, case, status, answer):
        errors = []
        if isinstance(answer, dict):
            for node_id, ne in (answer.get("node_errors") or {}).items():
                for e in ne.get("errors", []):
                    errors.append((node_id, ne.get("class_type"), e))
            top = answer.get("error") or {}
        else:
            top = {"message": f"HTTP {status}", "details": str(answer)[:300]}
        judged = []
        for node_id, class_type, e in errors:
            details, message = str(e.get("details", "")), str(e.get("message", ""))
            if e.get("type") == "custom_validation_failed":
                # ComfyUI prefixes the message with every input of the validate function: strip it
                text = details.split(" - ", 1)[1] if " - " in details else details
                owner = "pack" if class_type in self.pack_nodes else "ComfyUI"
            else:
                text, owner = f"{message}: {details}", "ComfyUI"
            judged.append((self.named(case, text), owner, f"[{class_type} #{node_id}] {text}"))
        if not judged:
            text = f"HTTP {status}: {top.get('message', '')}: {top.get('details', '')}"
            judged.append((self.named(case, text), "ComfyUI", text))
        pack = [j for j in judged if j[1] == "pack"]
        pick = pack or judged
        best = next((j for j in pick if j[0]), pick[0])
        return Result(case, REJ_NAMED if best[0] else REJ_UNNAMED, owner=best[1], message=best[2][:600])

    def judge_entry(self, case, entry):
        status = entry.get("status", {})
        messages = status.get("messages", [])
        if status.get("status_str") == "error":
            err = next((m[1] for m in messages if m[0] == "execution_error"), None)
            if err is None:
                kind = next((m[0] for m in messages if m[0] != "execution_start"), "unknown")
                return Result(case, EXE_UNNAMED, owner="ComfyUI", message=f"status error without execution_error ({kind})")
            text = str(err.get("exception_message", "")).strip()
            frames = "".join(err.get("traceback", []))
            owner = "pack" if err.get("node_type") in self.pack_nodes or f"/{PACK_MARK}/" in frames or f"/{LAB_MARK}/" in frames else "ComfyUI"
            where = f"[{err.get('node_type')} #{err.get('node_id')}] {str(err.get('exception_type', '')).rsplit('.', 1)[-1]}: "
            return Result(case, EXE_NAMED if self.named(case, text) else EXE_UNNAMED, owner=owner,
                          message=(where + text)[:600])
        found = self.latents(entry)
        if not found:
            return Result(case, OK, note="no LATENT saved")
        bad = [f for f in found if not f[1]]
        flat = self.flat_previews(entry)
        note = f"largest |latent| {max(f[2] for f in found):.3g}" + (f"; {flat} flat preview(s)" if flat else "")
        if bad:
            return Result(case, NAN, message=f"non-finite values in {os.path.basename(bad[0][0])}", note=note)
        return Result(case, OK, note=note)

    # the queue and interrupt checks
    def queue_check(self, cases, n=50):
        """n prompts queued at once, mixed valid and invalid: each is refused at /prompt or reaches /history."""
        valid = [c for c in cases if c.expect == "ok" and not c.heavy][: n // 2]
        invalid = [c for c in cases if c.expect == "err" and not c.heavy and not c.raw][: n - len(valid)]
        mixed = [x for pair in zip(valid, invalid) for x in pair] + valid[len(invalid):] + invalid[len(valid):]
        accepted, refused = [], 0
        t0 = time.monotonic()
        for i, c in enumerate(mixed[:n]):
            prompt = build(c, f"q{i}")
            status, answer = self.queue(prompt, c.raw)
            if status == 200 and isinstance(answer, dict) and "prompt_id" in answer:
                accepted.append(answer["prompt_id"])
            else:
                refused += 1
        finished = set()
        deadline = time.monotonic() + max(120.0, 4 * self.timeout)
        while time.monotonic() < deadline and len(finished) < len(accepted) and self.alive():
            history = self.get("/history?max_items=200")
            finished |= {p for p in accepted if p in history}
            if len(finished) < len(accepted):
                queue = self.get("/queue")
                if not queue.get("queue_running") and not queue.get("queue_pending"):
                    history = self.get("/history?max_items=200")
                    finished |= {p for p in accepted if p in history}
                    break
                time.sleep(0.2)
        lost = len(accepted) - len(finished)
        return {"sent": len(mixed[:n]), "accepted": len(accepted), "refused": refused, "finished": len(finished),
                "lost": lost, "seconds": round(time.monotonic() - t0, 1), "crashed": not self.alive()}

    def interrupt_check(self, steps=100):
        """A running paper drag on the 64 px scene is interrupted, then the same prompt runs to the end,
        then once more: the last two outputs must be identical. (A drag that finished before the
        interrupt arrived is tried again with three times the steps, twice at most.)"""
        from safetensors.torch import load_file
        import torch
        warm = Case("SDEditNoiseDenoise", "steps", "warm-up", "64 px model", over={"model": {"resolution": 64},
                                                                                   "image": {"resolution": 64}})
        report = {}
        status, answer = self.queue(build(warm, "warm64"))
        entry = self.wait(answer["prompt_id"], 300) if status == 200 else answer  # builds the 64 px model
        report["warm_up"] = entry.get("status", {}).get("status_str") if isinstance(entry, dict) else str(entry)[:300]
        for attempt in range(3):
            case = Case("SDEDragPointMover", "method", "interrupt", "paper drag, 64 px",
                        over={"model": {"resolution": 64}, "image": {"resolution": 64, "x": 28, "y": 24},
                              "pack": {"method": "paper", "steps": steps, "t0": 0.6, "drag_step": 2.0, "cfg": 1.0,
                                       "patch_radius": 5, "points": pts([[28, 24]], [[34, 28]])}})
            report["steps"] = steps
            nonce = f"interrupt-{attempt}"
            t0 = time.monotonic()
            status, answer = self.queue(build(case, nonce))
            if status != 200:
                return {**report, "ok": False, "error": f"refused: {str(answer)[:300]}"}
            pid = answer["prompt_id"]
            while time.monotonic() - t0 < 60:
                q = self.get("/queue")
                if any(item[1] == pid for item in q.get("queue_running", [])):
                    break
                time.sleep(0.02)
            time.sleep(1.0)  # inside the drag's sampling loop (the model is built, the rest is cached)
            t_int = time.monotonic()
            self.interrupt()
            entry = self.wait(pid, 5.0)
            if not isinstance(entry, dict):
                return {**report, "ok": False, "error": "the interrupted drag did not stop within 5 s"}
            report["stopped_after_s"] = round(time.monotonic() - t_int, 2)
            report["interrupted"] = any(m[0] == "execution_interrupted" for m in entry.get("status", {}).get("messages", []))
            if report["interrupted"]:
                break
            steps *= 3
        if not report["interrupted"]:
            return {**report, "ok": False, "error": "the drag always finished before the interrupt"}
        tensors = []
        for run, nonce in ((2, nonce), (3, nonce + "-again")):  # the same prompt; then a new cache key
            t = time.monotonic()
            entry = self.wait(self.queue(build(case, nonce))[1]["prompt_id"], 600)
            report[f"run{run}_s"] = round(time.monotonic() - t, 2)
            if not isinstance(entry, dict) or entry.get("status", {}).get("status_str") != "success":
                report["ok"] = False
                report["error"] = f"run {run} did not succeed: {str(entry)[:300]}"
                return report
            files = sorted(p for p, _, _ in self.latents(entry))
            tensors.append([load_file(p)["latent_tensor"] for p in files])
        same = len(tensors[0]) == len(tensors[1]) and all(torch.equal(a, b) for a, b in zip(*tensors))
        report["identical"] = same
        report["ok"] = bool(report["interrupted"] and same)
        return report


# ----------------------------------------------------------------------------------------------
# Report

def share(results, owner):
    errs = [r for r in results if r.owner == owner and r.cls in (REJ_NAMED, REJ_UNNAMED, EXE_NAMED, EXE_UNNAMED)]
    named = [r for r in errs if r.cls in (REJ_NAMED, EXE_NAMED)]
    return len(named), len(errs)


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def clip(text, n=240):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def esc(text):
    return str(text).replace("|", "\\|")


SHORT = {REJ_NAMED: "rejected, named", REJ_UNNAMED: "rejected, not named", EXE_NAMED: "exec error, named",
         EXE_UNNAMED: "exec error, not named", OK: "success", NAN: "NaN", CRASH: "crash", HANG: "hang",
         STUCK: "not interruptible"}
ERRORS = (REJ_NAMED, REJ_UNNAMED, EXE_NAMED, EXE_UNNAMED)


def section(title, body):
    return [f"## {title}", "", *body, ""]


def table_or_none(header, rows):
    return [md_table(header, rows)] if rows else ["None."]


def report_head(summary, args_line):
    return ["# Fuzzing the pack through a real ComfyUI server", "",
            "This page answers: what does a real ComfyUI server with the pack do with wrong, extreme and "
            "malformed prompts, input by input? It is the full record behind the summary in "
            "[Limits, bad input and memory](limits.md), for anyone checking how the nodes fail.", "",
            f"`{args_line}`: {summary['cases']} prompts, seed {summary['seed']}, "
            f"{summary['seconds']:.0f} s, ComfyUI {summary['comfyui']}, server restarts {summary['restarts']}; "
            f"verdict: **{'FAILED: ' + '; '.join(summary['failed']) if summary['failed'] else 'passed'}**.", ""]


def report_classes(results):
    by_cls = collections.Counter(r.cls for r in results)
    by_owner = collections.Counter((r.cls, r.owner) for r in results)
    rows = [(c, by_cls[c], by_owner[(c, "pack")] or "", by_owner[(c, "ComfyUI")] or "") for c in CLASSES]
    return section("Counts per class", [md_table(["class", "prompts", "pack's error", "ComfyUI's error"], rows)])


def class_row(results):
    cnt = collections.Counter(r.cls for r in results)
    return [sum(cnt.values())] + [cnt[c] or "" for c in CLASSES]


def report_nodes(results):
    rows = []
    for n in sorted({r.case.node for r in results}):
        mine = [r for r in results if r.case.node == n]
        rows.append([n, len({r.case.input for r in mine})] + class_row(mine))
    return section("Per node (the node whose input is attacked)",
                   [md_table(["node", "inputs", "prompts"] + [SHORT[c] for c in CLASSES], rows)])


def input_key(case):
    """The row of the per-input table: the points' painted region strokes get a row of their own."""
    return (case.node, "points (region strokes)" if case.category == "points region" else case.input)


def report_inputs(summary, results):
    """Every declared input of every pack node (and the LATENT's noise mask, the sampler's sigmas):
    prompts, errors naming it, errors not naming it, successes, bad classes."""
    by_key = collections.defaultdict(list)
    for r in results:
        by_key[input_key(r.case)].append(r)
    keys = [(n, k) for n, k, _ in summary["declared"]]
    keys += [k for k in sorted(by_key) if k not in keys]
    types = {(n, k): t for n, k, t in summary["declared"]}
    rows = []
    for key in keys:
        mine = by_key.get(key, [])
        cnt = collections.Counter(r.cls for r in mine)
        if not mine:
            attacks = "**not fuzzed**" if key[0] in NOT_FUZZED else "**no attack**"
        else:
            attacks = len({r.case.label for r in mine})
        rows.append([key[0], key[1], types.get(key, "(derived)"), attacks, len(mine),
                     cnt[REJ_NAMED] + cnt[EXE_NAMED] or "", cnt[REJ_UNNAMED] + cnt[EXE_UNNAMED] or "", cnt[OK] or "",
                     sum(cnt[c] for c in FATAL) or ""])
    return section("Per input", ["Every input /object_info declares for a pack node, attacked by its type "
                                 "(derived rows: the LATENT's noise mask, the sampler's sigmas, the points' painted "
                                 "region strokes). errors named: refused or failed naming the input.", "",
                                 md_table(["node", "input", "type", "attacks", "prompts", "errors named",
                                           "errors not named", "success", "NaN / crash / hang"], rows)])


def report_attacks(results):
    rows = [[cat] + class_row([r for r in results if r.case.category == cat])
            for cat in sorted({r.case.category for r in results})]
    return section("Per class of attack", [md_table(["attack", "prompts"] + [SHORT[c] for c in CLASSES], rows)])


def report_naming(summary):
    pn, pt = summary["pack_named"], summary["pack_errors"]
    cn, ct = summary["comfy_named"], summary["comfy_errors"]
    return section("Errors that name the input", [
        f"- the pack's own errors (its validate_inputs at /prompt, its nodes and code at run time): "
        f"**{pn} / {pt} = {summary['pack_share']:.1f} %** name the attacked input (the loader's: the file, "
        f"relative to models/)",
        f"- the same without the attack \"literal for a link\" (a plain value where a MODEL / CONDITIONING / "
        f"LATENT / MASK / VAE link belongs, which ComfyUI passes on unchecked): "
        f"{summary['pack_named_links']} / {summary['pack_errors_links']}",
        f"- ComfyUI's errors (its own input validation, request parsing, stock nodes): {cn} / {ct}"
        + (f" = {100 * cn / ct:.1f} %" if ct else "")])


def report_coverage(summary):
    body = [f"Not fuzzed: `{n}` ({why})." for n, why in NOT_FUZZED.items()]
    if summary["uncovered"]:
        body.append(f"**Inputs with no attack (the run fails): {', '.join(summary['uncovered'])}**")
    else:
        body.append(f"Every input of every other pack node ({summary['inputs']} inputs of {summary['nodes']} nodes, "
                    f"read from /object_info) is attacked.")
    body.append(f"The scene model loader's choices on this server: {', '.join(summary['loader_options']) or '?'}.")
    return section("Coverage", body)


def report_queue_interrupt(summary):
    out = []
    q = summary.get("queue")
    if q:
        out += section("50 prompts queued at once", [
            f"{q['sent']} sent: {q['refused']} refused at /prompt, {q['accepted']} accepted, {q['finished']} reached "
            f"/history, **{q['lost']} lost** ({q['seconds']} s)."])
    it = summary.get("interrupt")
    if it:
        out += section("Interrupt, then run again", [
            f"paper drag, steps {it.get('steps')}, 64 px: interrupted: {it.get('interrupted')} (stopped "
            f"{it.get('stopped_after_s')} s after /interrupt); re-run {it.get('run2_s')} s, third run "
            f"{it.get('run3_s')} s; second and third outputs identical: **{it.get('identical')}**"
            + (f" — {it['error']}" if it.get("error") else "")])
    out += section("Still serving", [f"After every case, a valid SDEdit prompt succeeds: **{summary.get('serving')}**."])
    return out


def report_bad(results):
    bad = [r for r in results if r.cls in FATAL]
    rows = [[r.case.idx, r.cls, r.case.node, r.case.input, esc(clip(r.case.label, 90)), esc(clip(r.message))]
            for r in bad[:20]]
    return section("Bad classes (NaN success, crash, hang, not interruptible)",
                   table_or_none(["#", "class", "node", "input", "case", "message"], rows))


def report_unnamed(results):
    unnamed = [r for r in results if r.owner == "pack" and r.cls in (REJ_UNNAMED, EXE_UNNAMED)]
    rows = [[r.case.idx, r.case.node, "/".join(r.case.names + r.case.names_all), esc(clip(r.case.label, 90)),
             esc(clip(r.message))] for r in unnamed[:30]]
    out = section(f"The pack's errors that do not name the input ({len(unnamed)})",
                  table_or_none(["#", "node", "input", "case", "message"], rows))
    comfy = [r for r in results if r.owner == "ComfyUI" and r.cls in (REJ_UNNAMED, EXE_UNNAMED)]
    seen, rows = set(), []
    for r in comfy:
        key = (r.case.category, clip(r.message, 60))
        if key not in seen:
            seen.add(key)
            rows.append([r.case.idx, r.case.node, r.case.input, esc(clip(r.case.label, 70)), esc(clip(r.message, 160))])
    out += section(f"ComfyUI's errors that do not name the input ({len(comfy)}; not the pack's code)",
                   table_or_none(["#", "node", "input", "case", "message"], rows[:12]))
    return out


def report_surprises(results):
    surprises = [r for r in results if r.case.expect == "err" and r.cls == OK]
    rows = [[r.case.idx, r.case.node, esc(clip(r.case.label, 90)), esc(r.note)] for r in surprises[:30]]
    return section(f"Accepted although expected to be refused ({len(surprises)})",
                   table_or_none(["#", "node", "case", "note"], rows))


def report_slowest(results):
    slow = sorted(results, key=lambda r: -r.seconds)[:5]
    return section("Slowest prompts", [md_table(["#", "seconds", "class", "case"],
                                                [[r.case.idx, f"{r.seconds:.1f}", r.cls, esc(clip(r.case.label, 90))]
                                                 for r in slow])])


def make_report(summary, results, args_line):
    lines = report_head(summary, args_line)
    for part in (report_classes(results), report_coverage(summary), report_inputs(summary, results),
                 report_nodes(results), report_attacks(results), report_naming(summary),
                 report_queue_interrupt(summary), report_bad(results), report_unnamed(results),
                 report_surprises(results), report_slowest(results)):
        lines += part
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------

def run_cases(fz, cases, t_start, log):
    results = []
    for c in cases:
        r = fz.run_case(c)
        results.append(r)
        if r.cls in FATAL or (c.idx + 1) % 100 == 0:
            log(f"  [{c.idx + 1}/{len(cases)}] {time.monotonic() - t_start:.0f} s; last: {r.cls}: {clip(c.label, 80)}")
    return results


def coverage(info, fz, cases):
    """(declared, uncovered): (node, input, type) of every input of every pack node; "node.input" of those of
    the fuzzed nodes that no case attacks."""
    declared = [(n, k, t) for n in fz.pack_nodes for _, k, t, _ in declared_inputs(info, n)]
    attacked = {(c.node, c.input) for c in cases}
    uncovered = [f"{n}.{k}" for n, k, _ in declared if n in fz.fuzzed and (n, k) not in attacked]
    return declared, uncovered


def summarize(results, seed, quick, t_start, context):
    pn, pt = share(results, "pack")
    cn, ct = share(results, "ComfyUI")
    ln, lt = share([r for r in results if r.case.category != "literal for a link"], "pack")
    counts = collections.Counter(r.cls for r in results)
    return {"cases": len(results), "seed": seed, "quick": quick, "seconds": time.monotonic() - t_start,
            "counts": {c: counts[c] for c in CLASSES}, "pack_named": pn, "pack_errors": pt,
            "pack_share": 100.0 * pn / pt if pt else 100.0, "comfy_named": cn, "comfy_errors": ct,
            "pack_named_links": ln, "pack_errors_links": lt, "results": results, **context}


def verdict(summary):
    """The reasons for a non-zero exit."""
    counts, queue, interrupt = summary["counts"], summary["queue"], summary["interrupt"]
    failed = [f"{counts[c]} × {c}" for c in FATAL if counts[c]]
    if summary["uncovered"]:
        failed.append(f"inputs with no attack: {', '.join(summary['uncovered'])}")
    if summary["pack_named"] < summary["pack_errors"]:
        failed.append(f"{summary['pack_errors'] - summary['pack_named']} of the pack's errors do not name the input")
    if queue["lost"] or queue["crashed"]:
        failed.append(f"{queue['lost']} prompts lost in the queue check")
    if not interrupt.get("ok"):
        failed.append(f"interrupt check: {interrupt}")
    if not summary["serving"]:
        failed.append("the server no longer runs a valid prompt")
    return failed


def write_report(path, report, results):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(report + "\n")
    with open(os.path.splitext(path)[0] + ".jsonl", "w") as f:
        for r in results:
            f.write(json.dumps({"idx": r.case.idx, "node": r.case.node, "input": r.case.input,
                                "category": r.case.category, "case": r.case.label[:300], "class": r.cls,
                                "owner": r.owner, "message": r.message, "note": r.note,
                                "seconds": round(r.seconds, 3)}) + "\n")


def run(count=None, seed=0, quick=False, timeout=60.0, report_path=None, queue_n=50, interrupt_steps=None,
        log=print, args_line=None):
    """Run the fuzz; returns the summary dict (with "failed": the reasons for a non-zero exit)."""
    t_start = time.monotonic()
    fz = Fuzzer(timeout=timeout, log=log)
    try:
        info = fz.start()
        cases = generate(info, fz.fuzzed, count, seed, quick)
        declared, uncovered = coverage(info, fz, cases)
        loader = info.get("SDEEditLabSceneModelLoader", {}).get("input", {}).get("required", {}).get("weights", [[]])
        context = {"comfyui": fz.get("/system_stats").get("system", {}).get("comfyui_version", "?"),
                   "declared": declared, "uncovered": uncovered, "inputs": len(declared) - sum(
                       n in NOT_FUZZED for n, _, _ in declared), "nodes": len(fz.fuzzed),
                   "loader_options": [str(o) for o in (loader[1].get("options", []) if len(loader) > 1 and
                                                       isinstance(loader[1], dict) else loader[0])]}
        log(f"fuzz: {len(cases)} prompts against {fz.server.url} ({len(fz.fuzzed)} pack nodes fuzzed, "
            f"{len(declared)} inputs)" + (f"; NO ATTACK for {', '.join(uncovered)}" if uncovered else ""))
        results = run_cases(fz, cases, t_start, log)
        log("fuzz: 50 prompts at once")
        context["queue"] = fz.queue_check(cases, queue_n)
        log(f"  {context['queue']}")
        log("fuzz: interrupt and re-run")
        context["interrupt"] = fz.interrupt_check(interrupt_steps or 100)
        log(f"  {context['interrupt']}")
        context["serving"] = fz.alive() and fz.serving()
        context["restarts"] = fz.restarts
    finally:
        fz.stop()
    summary = summarize(results, seed, quick, t_start, context)
    summary["failed"] = verdict(summary)
    line = args_line or "python -m lab.benchmarks.fuzz_server" + (" --quick" if quick else "") + f" --seed {seed}"
    summary["report"] = make_report(summary, results, line)
    if report_path:
        write_report(report_path, summary["report"], results)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=None, help="prompts in the full run (default: the systematic set); "
                    "fewer: sampled from it (inputs may go unattacked: the run fails), more: topped up with "
                    "random-baseline cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="one case per node and class of attack, every input at least once (about 150 prompts)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a prompt may run before it counts as a hang")
    ap.add_argument("--report", default=None, help="Markdown report path (default out/fuzz/report.md, or report-quick.md)")
    args = ap.parse_args(argv)
    path = args.report or os.path.join(OUT_DIR, "report-quick.md" if args.quick else "report.md")
    line = "python -m lab.benchmarks.fuzz_server " + " ".join(argv if argv is not None else sys.argv[1:])
    summary = run(count=args.count, seed=args.seed, quick=args.quick, timeout=args.timeout, report_path=path,
                  args_line=line.strip())
    print(summary["report"])
    print(f"\nreport: {path}")
    if summary["failed"]:
        print("FAILED: " + "; ".join(summary["failed"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
