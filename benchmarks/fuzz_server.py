"""Fuzz the pack through a real ComfyUI server: the evidence for the hardening of issue 10.

Starts ComfyUI (loopback only, a temporary base directory, harness/comfy_server.py) with the pack,
generates prompts that attack every input of every pack node (boundaries, just outside the range,
NaN / inf as JSON numbers and as strings, wrong types, unknown combo values, missing inputs, odd
latents, masks and sigmas, malformed and oversized drag points, absurd amounts of work), sends
them one at a time through /prompt and classifies each:

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

Prints a Markdown report (counts per class and per node, the share of the pack's errors that name
the input, the bad cases with their messages) and writes it to out/fuzz/; exit status 1 on any NaN
success, crash, hang, non-interruptible prompt, lost prompt or differing re-run.

  .venv/bin/python benchmarks/fuzz_server.py --quick          # about 110 prompts, about a minute
  .venv/bin/python benchmarks/fuzz_server.py                  # the full run: 1600 prompts, 5 to 10 minutes
"""
import argparse
import collections
import json
import math
import os
import random
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "harness"), os.path.join(ROOT, "commands")]  # the runner and the test host
from comfy_server import ComfyServer  # noqa: E402
from find_comfyui import PACK_DIR  # noqa: E402

OUT_DIR = os.path.join(PACK_DIR, "out", "fuzz")
PACK_MARK = "comfyui-sde-edit"  # the pack's folder name under the server's custom_nodes/

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
    "ReferenceSceneModel": dict(MODEL_BASE),
    "ReferenceSceneImage": dict(IMAGE_BASE),
}
# The node whose inputs a case attacks -> the role of that node in the graph.
ROLE = {"SDEditNoiseDenoise": "pack", "SDEInpaint": "pack", "SDEDragPointMover": "pack", "SDESamplerEta": "sampler",
        "ReferenceSceneModel": "model", "ReferenceSceneImage": "image"}
# Pack nodes the fuzzer leaves out, and why (the report lists them).
NOT_FUZZED = {"SDELoraSchedule": "needs a LORA_MODEL from Train LoRA (minutes of training per prompt) or a LoRA file; "
                                 "its bad inputs are refused by name in tests/test_lora_schedule.py",
              "SDESceneModelLoader": "a loader whose one input is a file name (the graphs here run on the reference "
                                     "model); missing, truncated and foreign files and bad names are refused by name in "
                                     "tests/test_scene_model.py",
              "SDEDragClicks": "its one input is drag points text, read with the SDE-Drag node's own points parser "
                               "(fuzzed there) or from the drag node it feeds; empty, missing, ambiguous and "
                               "linked points are refused by name in tests/test_region_input.py",
              "SDESceneWorldImage": "an input picture for the trained model's workflows (the graphs here draw theirs with "
                                    "ReferenceSceneImage); its bad inputs are refused by name in tests/test_scene_model.py"}
DROP = object()  # an input left out of the prompt


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
        self.model = self.add("ReferenceSceneModel", **{**MODEL_BASE, **(model or {})})
        self.image = self.add("ReferenceSceneImage", **{**IMAGE_BASE, **(image or {})})
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
            img = self.add("ReferenceSceneImage", **{**IMAGE_BASE, "resolution": args[0]})
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


def build(case: Case, nonce):
    """The API prompt of a case; every pack node of it gets a fuzz_nonce input (an input the node
    does not declare: ComfyUI ignores it, but its cache does not, so every case really runs)."""
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
        target = g.add(node, **apply(inputs, over.get("pack", {})))
        outputs = 2 if node == "SDEDragPointMover" else 1
    for slot in range(outputs):
        g.add("SaveLatent", samples=[target, slot], filename_prefix=f"fuzz/{nonce}_{slot}")
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
          ("a long drag", pts(*far))]
    bad = [("malformed", "'[' * 50000", "[" * 50000), ("malformed", "'{' * 50000", "{" * 50000),
           ("malformed", "deep nesting in source", '{"source": ' + "[" * 5000 + "]" * 5000 + ', "target": []}'),
           ("oversized", "5000-digit coordinate", '{"source": [[' + "9" * 5000 + ', 1]], "target": [[1, 1]]}'),
           ("oversized", "5000-digit float coordinate", '{"source": [[0.' + "9" * 5000 + ', 1]], "target": [[1, 1]]}'),
           ("oversized", "1e999 coordinate", '{"source": [[1e999, 1]], "target": [[1, 1]]}'),
           ("malformed", "NaN coordinate", '{"source": [[NaN, 1]], "target": [[1, 1]]}'),
           ("malformed", "Infinity coordinate", '{"source": [[Infinity, 1]], "target": [[1, 1]]}'),
           ("oversized", "33 distinct pairs", pts(s33, t33)), ("oversized", "1000 distinct pairs", pts(s1000, t1000)),
           ("oversized", "100001 characters", POINTS + " " * (100_001 - len(POINTS))),
           ("malformed", "not JSON", "drag the ball right"), ("malformed", "python dict", "{'source': [[1, 2]], 'target': [[3, 4]]}"),
           ("malformed", "trailing garbage", POINTS + " xyz"), ("malformed", "BOM prefix", "\ufeff" + POINTS),
           ("malformed", "JSON list", "[[1, 2], [3, 4]]"), ("malformed", "JSON null", "null"), ("malformed", "JSON number", "123"),
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
        other = "image" if node == "ReferenceSceneModel" else "model"
        return {other: {"resolution": value}}, value > 128
    return {}, False


def merge(a, b):
    out = {k: dict(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, {}).update(v)
    return out


def systematic_cases(info, pack_nodes):
    cases = []
    for node in pack_nodes:
        role = ROLE[node]
        spec = info[node]["input"]
        for group in ("required", "optional"):
            for name, (typ, opts) in ((k, (v[0], v[1] if len(v) > 1 else {})) for k, v in spec.get(group, {}).items()):
                base = BASE[node].get(name)
                if typ in ("INT", "FLOAT"):
                    attacks = numeric_attacks(name, typ, opts["min"], opts["max"], base)
                elif typ == "COMBO":
                    attacks = combo_attacks(opts["options"], base)
                elif typ == "STRING" and name == "points":
                    attacks = points_attacks()
                else:
                    attacks = []  # links: below
                for category, label, value, expect in attacks:
                    extra, heavy = cheap_overrides(node, name, value)
                    over = merge(extra, {role: {name: value}})
                    if name == "points" and node == "SDEDragPointMover":
                        over = merge(over, {"pack": {"method": "fast"}})  # fast reads beta, alpha and the cycles
                    cases.append(Case(node, name, category, f"{name} = {label}", over=over, expect=expect, heavy=heavy))
                if typ in ("INT", "FLOAT", "COMBO", "STRING") or node == "SDESamplerEta":
                    missing_expect = "err" if group == "required" else "ok"
                    cases.append(Case(node, name, "missing input", f"{name} left out", over={role: {name: DROP}},
                                      expect=missing_expect))
                    continue
                # a link input of SDEdit, Inpaint or Drag
                names = (name,)
                cases.append(Case(node, name, "missing input", f"{name} left out", over={"pack": {name: DROP}},
                                  expect="err" if group == "required" and not (node == "SDEInpaint" and name == "mask") else "?"))
                wrong = ["3", 0] if typ != "VAE" else ["1", 0]  # a VAE output for the others, a MODEL for vae
                for category, label, value, expect in [
                        ("list / link", f"link to a {'VAE' if typ != 'VAE' else 'MODEL'} output", wrong, "err"),
                        ("list / link", "link to a missing node", ["999", 0], "err"),
                        ("list / link", "link to a missing output slot", ["1", 7], "err"),
                        ("list / link", "[1, 2, 3]", [1, 2, 3], "err"),
                        ("literal for a link", "string 'abc'", "abc", "err"),
                        ("literal for a link", "number 5", 5, "err"),
                        ("literal for a link", "null", None, "?")]:
                    cases.append(Case(node, name, category, f"{name} = {label}", over={"pack": {name: value}},
                                      names=names, expect=expect))
        # odd latents, masks, sigmas
        if node in ("SDEditNoiseDenoise", "SDEInpaint", "SDEDragPointMover", "SDESamplerEta"):
            lname = "latent" if node == "SDEDragPointMover" else "latent_image"
            for label, lspec, expect, heavy in LATENT_ATTACKS:
                cases.append(Case(node, lname, "odd latent", f"{lname}: {label}", latent=lspec, expect=expect, heavy=heavy))
            nm_names = (lname, "noise_mask")
            for label, mspec, expect in MASK_ATTACKS:
                if mspec is None or mspec[0] == "literal":
                    continue
                # no mask input: the node falls back on the LATENT's noise mask
                cases.append(Case(node, "noise_mask", "odd mask", f"{lname} with a noise mask: {label}",
                                  latent=("noise_mask", mspec), mask=None, names=nm_names, expect=expect))
            if node == "SDESamplerEta":
                for label, sspec, expect in SIGMA_ATTACKS:
                    cases.append(Case(node, "sigmas", "odd sigmas", f"sigmas: {label}", sigmas=sspec, expect=expect))
            else:
                for label, mspec, expect in MASK_ATTACKS:
                    if node == "SDEInpaint" and mspec is None:
                        expect = "err"
                    cases.append(Case(node, "mask", "odd mask", f"mask: {label}", mask=mspec, expect=expect))
                # the mask and the latent disagree
                cases.append(Case(node, "mask", "odd mask", "mask batch 2, latent batch 3", latent=("batch", 3),
                                  mask=("batch", 2), expect="err"))
                cases.append(Case(node, "mask", "odd mask", "mask batch 3, latent batch 3", latent=("batch", 3),
                                  mask=("batch", 3), expect="ok"))
                cases.append(Case(node, "mask", "odd mask", "mask 1x1000 and a latent noise mask", latent=("noise_mask", ("box",)),
                                  mask=("solid", 1.0, 1, 1000), expect="err"))
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
    candidates = [c for c in pool if not c.heavy and c.category != "valid variant"]
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
                        mask=c.mask, sigmas=c.sigmas, names=c.names, expect="?" if c.expect == "ok" else c.expect,
                        raw=c.raw))
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
                                                  "points = 1000 distinct pairs", "points = x = width")
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

    # server life
    def start(self):
        self.server = ComfyServer()
        self.server.start()
        info = self.server.get("/object_info")
        self.pack_nodes = [k for k, v in info.items() if PACK_MARK in str(v.get("python_module", "")) and k not in NOT_FUZZED]
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
        self.server = ComfyServer()
        self.server.start()

    def stop(self):
        if self.server:
            self.server.stop()

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
        return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", text) for n in case.names)

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
            owner = "pack" if err.get("node_type") in self.pack_nodes or f"/{PACK_MARK}/" in frames else "ComfyUI"
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


def make_report(summary, results, args_line):
    lines = [f"# Fuzzing the pack through a real ComfyUI server", "",
             "This page answers: what does a real ComfyUI server with the pack do with wrong, extreme and "
             "malformed prompts, input by input? It is the full record behind the summary in "
             "[Limits, bad input and memory](limits.md), for anyone checking how the nodes fail.", "",
             f"`{args_line}`: {summary['cases']} prompts, seed {summary['seed']}, "
             f"{summary['seconds']:.0f} s, ComfyUI {summary['comfyui']}, server restarts {summary['restarts']}.", ""]
    by_cls = collections.Counter(r.cls for r in results)
    by_owner = collections.Counter((r.cls, r.owner) for r in results)
    rows = [(c, by_cls[c], by_owner[(c, "pack")] or "", by_owner[(c, "ComfyUI")] or "") for c in CLASSES]
    lines += ["## Counts per class", "", md_table(["class", "prompts", "pack's error", "ComfyUI's error"], rows), ""]
    lines += [f"Not fuzzed: `{n}` ({why})." for n, why in NOT_FUZZED.items()] + [""]
    nodes = sorted({r.case.node for r in results})
    short = {REJ_NAMED: "rejected, named", REJ_UNNAMED: "rejected, not named", EXE_NAMED: "exec error, named",
             EXE_UNNAMED: "exec error, not named", OK: "success", NAN: "NaN", CRASH: "crash", HANG: "hang",
             STUCK: "not interruptible"}
    rows = []
    for n in nodes:
        cnt = collections.Counter(r.cls for r in results if r.case.node == n)
        inputs = len({r.case.input for r in results if r.case.node == n})
        rows.append([n, sum(cnt.values()), inputs] + [cnt[c] or "" for c in CLASSES])
    lines += ["## Per node (the node whose input is attacked)", "",
              md_table(["node", "prompts", "inputs"] + [short[c] for c in CLASSES], rows), ""]
    cats = sorted({r.case.category for r in results})
    rows = []
    for cat in cats:
        cnt = collections.Counter(r.cls for r in results if r.case.category == cat)
        rows.append([cat, sum(cnt.values())] + [cnt[c] or "" for c in CLASSES])
    lines += ["## Per class of attack", "", md_table(["attack", "prompts"] + [short[c] for c in CLASSES], rows), ""]
    pn, pt = summary["pack_named"], summary["pack_errors"]
    cn, ct = summary["comfy_named"], summary["comfy_errors"]
    lines += ["## Errors that name the input", "",
              f"- the pack's own errors (its validate_inputs at /prompt, its nodes and code at run time): "
              f"**{pn} / {pt} = {summary['pack_share']:.1f} %** name the attacked input (target ≥ 95 %)",
              f"- the same without the attack \"literal for a link\" (a plain value where a MODEL / CONDITIONING / "
              f"LATENT / MASK / VAE link belongs, which ComfyUI passes on unchecked): "
              f"{summary['pack_named_links']} / {summary['pack_errors_links']}",
              f"- ComfyUI's errors (its own input validation, request parsing, stock nodes): {cn} / {ct}"
              + (f" = {100 * cn / ct:.1f} %" if ct else ""), ""]
    if summary.get("uncovered"):
        lines += [f"Inputs not attacked: {', '.join(summary['uncovered'])}", ""]
    else:
        lines += [f"Every input of every pack node ({summary['inputs']} inputs of {len(nodes)} nodes) is attacked.", ""]
    q = summary.get("queue")
    if q:
        lines += ["## 50 prompts queued at once", "",
                  f"{q['sent']} sent: {q['refused']} refused at /prompt, {q['accepted']} accepted, {q['finished']} reached "
                  f"/history, **{q['lost']} lost** ({q['seconds']} s).", ""]
    it = summary.get("interrupt")
    if it:
        lines += ["## Interrupt, then run again", "",
                  f"paper drag, steps {it.get('steps')}, 64 px: interrupted: {it.get('interrupted')} (stopped "
                  f"{it.get('stopped_after_s')} s after /interrupt); re-run {it.get('run2_s')} s, third run "
                  f"{it.get('run3_s')} s; second and third outputs identical: **{it.get('identical')}**"
                  + (f" — {it['error']}" if it.get("error") else ""), ""]
    bad = [r for r in results if r.cls in FATAL]
    lines += ["## Bad classes (NaN success, crash, hang, not interruptible)", ""]
    if bad:
        rows = [[r.case.idx, r.cls, r.case.node, r.case.input, esc(clip(r.case.label, 90)), esc(clip(r.message))]
                for r in bad[:20]]
        lines += [md_table(["#", "class", "node", "input", "case", "message"], rows), ""]
    else:
        lines += ["None.", ""]
    unnamed = [r for r in results if r.owner == "pack" and r.cls in (REJ_UNNAMED, EXE_UNNAMED)]
    lines += [f"## The pack's errors that do not name the input ({len(unnamed)})", ""]
    if unnamed:
        rows = [[r.case.idx, r.case.node, "/".join(r.case.names), esc(clip(r.case.label, 90)), esc(clip(r.message))]
                for r in unnamed[:20]]
        lines += [md_table(["#", "node", "input", "case", "message"], rows), ""]
    else:
        lines += ["None.", ""]
    comfy_unnamed = [r for r in results if r.owner == "ComfyUI" and r.cls in (REJ_UNNAMED, EXE_UNNAMED)]
    lines += [f"## ComfyUI's errors that do not name the input ({len(comfy_unnamed)}; not the pack's code)", ""]
    if comfy_unnamed:
        seen, rows = set(), []
        for r in comfy_unnamed:
            key = (r.case.category, clip(r.message, 60))
            if key in seen:
                continue
            seen.add(key)
            rows.append([r.case.idx, r.case.node, r.case.input, esc(clip(r.case.label, 70)), esc(clip(r.message, 160))])
        lines += [md_table(["#", "node", "input", "case", "message"], rows[:12]), ""]
    else:
        lines += ["None.", ""]
    surprises = [r for r in results if r.case.expect == "err" and r.cls == OK]
    lines += [f"## Accepted although expected to be refused ({len(surprises)})", ""]
    if surprises:
        rows = [[r.case.idx, r.case.node, esc(clip(r.case.label, 90)), esc(r.note)] for r in surprises[:20]]
        lines += [md_table(["#", "node", "case", "note"], rows), ""]
    else:
        lines += ["None.", ""]
    slow = sorted(results, key=lambda r: -r.seconds)[:5]
    lines += ["## Slowest prompts", "", md_table(["#", "seconds", "class", "case"],
                                                   [[r.case.idx, f"{r.seconds:.1f}", r.cls, esc(clip(r.case.label, 90))]
                                                    for r in slow]), ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------

def run(count=1600, seed=0, quick=False, timeout=60.0, report_path=None, queue_n=50, interrupt_steps=None,
        log=print, args_line=None):
    """Run the fuzz; returns the summary dict (with "failed": the reasons for a non-zero exit)."""
    t_start = time.monotonic()
    fz = Fuzzer(timeout=timeout, log=log)
    results = []
    try:
        info = fz.start()
        comfyui = fz.get("/system_stats").get("system", {}).get("comfyui_version", "?")
        cases = generate(info, fz.pack_nodes, count, seed, quick)
        declared = {(n, k) for n in fz.pack_nodes for g in ("required", "optional") for k in info[n]["input"].get(g, {})}
        attacked = {(c.node, c.input) for c in cases}
        uncovered = sorted(f"{n}.{k}" for n, k in declared - attacked)
        log(f"fuzz: {len(cases)} prompts against {fz.server.url} ({len(fz.pack_nodes)} pack nodes, "
            f"{len(declared)} inputs)")
        for c in cases:
            r = fz.run_case(c)
            results.append(r)
            if r.cls in FATAL or (c.idx + 1) % 100 == 0:
                log(f"  [{c.idx + 1}/{len(cases)}] {time.monotonic() - t_start:.0f} s; last: {r.cls}: {clip(c.label, 80)}")
        log("fuzz: 50 prompts at once")
        queue = fz.queue_check(cases, queue_n)
        log(f"  {queue}")
        log("fuzz: interrupt and re-run")
        interrupt = fz.interrupt_check(interrupt_steps or 100)
        log(f"  {interrupt}")
        restarts = fz.restarts
    finally:
        fz.stop()
    pn, pt = share(results, "pack")
    cn, ct = share(results, "ComfyUI")
    ln, lt = share([r for r in results if r.case.category != "literal for a link"], "pack")
    counts = collections.Counter(r.cls for r in results)
    summary = {"cases": len(results), "seed": seed, "quick": quick, "seconds": time.monotonic() - t_start,
               "comfyui": comfyui, "restarts": restarts, "counts": {c: counts[c] for c in CLASSES},
               "pack_named": pn, "pack_errors": pt, "pack_share": 100.0 * pn / pt if pt else 100.0,
               "comfy_named": cn, "comfy_errors": ct, "pack_named_links": ln, "pack_errors_links": lt, "inputs": len(declared), "uncovered": uncovered,
               "queue": queue, "interrupt": interrupt}
    failed = [f"{counts[c]} × {c}" for c in FATAL if counts[c]]
    if queue["lost"] or queue["crashed"]:
        failed.append(f"{queue['lost']} prompts lost in the queue check")
    if not interrupt.get("ok"):
        failed.append(f"interrupt check: {interrupt}")
    summary["failed"] = failed
    summary["results"] = results
    report = make_report(summary, results, args_line or f"benchmarks/fuzz_server.py {'--quick' if quick else f'--count {count}'} --seed {seed}")
    summary["report"] = report
    if report_path:
        os.makedirs(os.path.dirname(report_path), exist_ok=True)
        with open(report_path, "w") as f:
            f.write(report + "\n")
        with open(os.path.splitext(report_path)[0] + ".jsonl", "w") as f:
            for r in results:
                f.write(json.dumps({"idx": r.case.idx, "node": r.case.node, "input": r.case.input,
                                    "category": r.case.category, "case": r.case.label[:300], "class": r.cls,
                                    "owner": r.owner, "message": r.message, "note": r.note,
                                    "seconds": round(r.seconds, 3)}) + "\n")
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1600, help="prompts in the full run: the systematic set (about 1500 prompts), sampled down to it or topped up with random-baseline cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="one case per node and class of attack, every input at least once (about 110 prompts)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a prompt may run before it counts as a hang")
    ap.add_argument("--report", default=None, help="Markdown report path (default out/fuzz/report.md, or report-quick.md)")
    args = ap.parse_args(argv)
    path = args.report or os.path.join(OUT_DIR, "report-quick.md" if args.quick else "report.md")
    line = "benchmarks/fuzz_server.py " + " ".join(argv if argv is not None else sys.argv[1:])
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
