"""The scene models trained here: its own sample quality and the three tasks on it, SDE against ODE,
judged by the scene parser. `--model latent` (the default): the latent model shaped like Stable
Diffusion (lab/models/sde_edit_latent_scene_model.safetensors and its VAE, 128×128 pictures, parsed at
64×64: scene_parser.parse_at); `--model pixel`: the 32×32 pixel model (lab/models/sde_edit_scene_model.safetensors). Through ComfyUI in-process (the
loader's MODEL / CLIP / VAE, the pack's nodes' own execute). Prints Markdown tables; --json writes the
figures.

    .venv/bin/python -m lab.benchmarks.bench_scene_model [quality sdedit inpaint drag] [--model latent|pixel] [--n 24] [--json out/scene_model.json]

drag, deform and space are measured here on the pixel model only (their scenes are drawn at 32×32);
on the latent model the drag's translations, rotations and stretches are lab/benchmarks/bench_region_defaults.

- vae (latent model): the VAE's round trip on n fresh pictures: PSNR, and the share whose parse is
  unchanged (the true scene read back from the round trip).
- quality: n samples (ComfyUI's euler_ancestral, 30 steps, normal schedule) for the captions of fresh
  scenes and of never-seen combinations, at cfg 1, 3 and 5: share that parse as a valid scene
  (residual ≤ scene_parser.VALID_RESIDUAL, one to three objects), share whose objects match their
  caption (kind and colour), coverage of positions (4×4 cells) and sizes, copying (nearest training
  image distance, against the held-out split's).
- sdedit: stroke paintings of fresh scenes, SDE (η 1) against ODE (η 0), strength 0.3–0.9, 30 steps:
  valid share, caption match, realism (parse residual), faithfulness (RMS to the strokes).
- inpaint: the nearest object's mask (grown 1 px) repainted with the caption as prompt, SDE against
  ODE at 10, 25, 50 steps: valid share, caption match (the object came back), residual in the hole,
  largest change outside it.
- deform (not in the default parts): two-pair drags that rotate a bar by 30 degrees or stretch it 1.5
  times, bars shorter and longer than the default window; windows, the bar's own mask as the region,
  paper (see `deform`). --drag-methods picks rows of drag and deform.
- space (not in the default parts): warp with a region moved on the latent or on the picture, through a
  lossless VAE of downscale 4 (`CoarseWarp`), on the deform drags and an 8-px translation.
- drag: the nearest object dragged 8 px right or down, objects smaller (size 3.5) and larger (7) than
  the default patch (radius 5), alone or with a second object that must stay put; warp, fast, paper
  and ODE-Drag (paper at η 0): placement error, size error, identity, realism, RMS to the ideal
  result (the world rendered with the object moved) where the object was, neighbour's move and
  change, model evaluations counted by a UNet wrapper.
Intervals: 95 % (Wilson for shares, ±1.96 standard errors for means), over scenes.
"""
import argparse
import json
import math
import os
import random
import time
from dataclasses import replace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import import_pack  # noqa: E402

import_pack()
import comfy.sample  # noqa: E402
import nodes as comfy_nodes  # noqa: E402
import torch  # noqa: E402

from lab.reference import scene_model  # noqa: E402
from sde_edit_pack.nodes.drag import SDEDragPointMover  # noqa: E402
from sde_edit_pack.nodes.inpaint import SDEInpaint  # noqa: E402
from sde_edit_pack.nodes.sdedit import SDEditNoiseDenoise  # noqa: E402
from lab.reference import scene_parser as sp  # noqa: E402
from lab.reference import scene_world as sw  # noqa: E402
from sde_edit_pack.sampling import masks as sdmasks  # noqa: E402
from sde_edit_pack.sampling.drag import warp_drag  # noqa: E402
from sde_edit_pack.sampling.warp import warp_image  # noqa: E402
from sde_edit_pack.adapter.drag import PRESETS  # noqa: E402
from sde_edit_pack.adapter.guided import RisingCFGGuider, run_sampler, schedule_tail  # noqa: E402
from sde_edit_pack.adapter.sampler import WarpDragSampler  # noqa: E402

from lab.reference import latent_scene_model  # noqa: E402

CFG = 3.0
VAE = None  # the loader's VAE (pixel model: pixel_space, 1 latent pixel = 1 image pixel)


QUALITY_CFGS = [1.0, 3.0, 5.0]  # --quality-cfgs
SDEDIT_STRENGTHS = [0.3, 0.5, 0.7, 0.9]  # --sdedit-strengths
INPAINT_STEPS = [10, 25, 50]  # --inpaint-steps
SKIP_UNSEEN = False  # --skip-unseen


class Space:
    """What differs between the two trained models: the picture size, the latent, how a latent becomes
    a picture and back (the loader's VAE), and the resolution the parser judges at."""

    def __init__(self, which: str):
        self.latent = which == "latent"
        self.name = "latent scene model" if self.latent else "scene model"
        self.weights = os.path.join(ROOT, "lab", "models", latent_scene_model.WEIGHTS_NAME if self.latent else scene_model.WEIGHTS_NAME)
        self.size = latent_scene_model.RESOLUTION if self.latent else 32
        self.latent_shape = (latent_scene_model.LATENT_CHANNELS, self.size // 8, self.size // 8) if self.latent else (3, 32, 32)
        self.parse_size = 64 if self.latent else 32
        self.train_size = 5000 if self.latent else 20000  # the denoiser's train split (lab/commands/train_*)
        self.prefix = "latent_scene_model" if self.latent else "scene_model"

    def parse(self, image):
        return sp.parse_at(image, self.parse_size)

    def parse_all(self, images):
        return [self.parse(i) for i in images]

    def judged(self, images):
        """Pictures at the parser's resolution (for distances)."""
        return torch.nn.functional.adaptive_avg_pool2d(images, self.parse_size) if images.shape[-1] > self.parse_size else images


M = Space("pixel")


def wilson(k, n, z=1.96):
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return p, max(0.0, c - h), min(1.0, c + h)


def share(flags):
    p, lo, hi = wilson(sum(flags), len(flags))
    return f"{100 * p:.0f} % [{100 * lo:.0f}, {100 * hi:.0f}]"


def mean_ci(xs):
    xs = [x for x in xs if x == x]
    if not xs:
        return "–"
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return f"{m:.3g}"
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    return f"{m:.3g} ± {1.96 * sd / math.sqrt(len(xs)):.2g}"


def paired(a, b):
    """SDE minus ODE on the same scenes (and the same starting noise): mean ± 95 % interval of the
    per-scene difference, and in how many scenes the first is lower. Pairing removes the scene-to-scene
    spread that the unpaired intervals carry."""
    d = [x - y for x, y in zip(a, b) if x == x and y == y]
    if len(d) < 2:
        return "–"
    m = sum(d) / len(d)
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1))
    return f"{m:+.3g} ± {1.96 * sd / math.sqrt(len(d)):.2g} (SDE lower in {sum(x < 0 for x in d)}/{len(d)})"


class Counted:
    """The loader's MODEL with a UNet wrapper that counts latents through the model."""

    def __init__(self, model):
        self.latents = 0
        self.model = model.clone()

        def wrapper(apply, args):
            self.latents += args["input"].shape[0]
            return apply(args["input"], args["timestep"], **args["c"])
        self.model.set_model_unet_function_wrapper(wrapper)


def setup(threads: int = 2):
    torch.set_num_threads(threads)
    model, clip, vae = scene_model.load(M.weights)
    encode = comfy_nodes.CLIPTextEncode()
    cache = {}

    def cond(texts):
        for t in set(texts) - set(cache):
            cache[t] = encode.encode(clip, t)[0][0][0]
        return [[torch.cat([cache[t] for t in texts]), {}]]
    return model, cond, vae


def images_of(latent):
    if M.latent:
        return VAE.decode(latent["samples"]).movedim(-1, 1).clamp(0, 1)
    return ((latent["samples"] + 1) / 2).clamp(0, 1)


def latent_of(images):
    if M.latent:
        return {"samples": VAE.encode(images.movedim(1, -1))}
    return {"samples": images * 2 - 1}


def fresh_worlds(n, seed=100):
    """Fresh draws without a held-out combination (the train split's distribution, unseen scenes)."""
    _, held = sw.split(0, 2 * n, seed=seed, size=M.size)
    return [w for w in held if not sw.is_held_out(w)][:n], [w for w in held if sw.is_held_out(w)][:n]


def quality(model, cond, n, out):
    fresh, unseen = fresh_worlds(n)
    train, _ = sw.split(M.train_size, 0, seed=0, size=M.size)
    train_imgs = torch.cat([M.judged(sw.render_all(train[i:i + 500])) for i in range(0, len(train), 500)])
    held_imgs = sw.render_all(fresh)
    held_near = sp.nearest_distance(M.judged(held_imgs), train_imgs)
    real_parse = M.parse_all(held_imgs)
    rows = []
    for label, worlds in (("fresh captions", fresh), ("never-seen combinations", unseen))[:1 if SKIP_UNSEEN else 2]:
        for cfg in QUALITY_CFGS:
            if label != "fresh captions" and cfg != CFG:
                continue
            texts = [w.caption for w in worlds]
            noise = comfy.sample.prepare_noise(torch.zeros(len(texts), *M.latent_shape), 7)
            samples = comfy.sample.sample(model, noise, 30, cfg, "euler_ancestral", "normal", cond(texts), cond([""] * len(texts)),
                                          torch.zeros(len(texts), *M.latent_shape), seed=7)
            imgs = images_of({"samples": samples})
            parses = M.parse_all(imgs)
            valid = [p.valid() for p in parses]
            match = [p.valid() and p.matches(t) for p, t in zip(parses, texts)]
            near = sp.nearest_distance(M.judged(imgs), train_imgs)
            row = {"set": label, "cfg": cfg, "n": len(texts), "valid": share(valid), "match": share(match),
                   "residual": mean_ci([p.residual for p in parses]),
                   "nearest_train": f"{float(near.median()):.3f}", "held_out_nearest_train": f"{float(held_near.median()):.3f}",
                   "copies": sum(float(d) < 0.01 for d in near)}
            if label == "fresh captions" and cfg == CFG:
                row.update(coverage(parses, real_parse))
                out["quality_samples"] = imgs[:32]
            rows.append(row)
            print(row, flush=True)
    out["quality"] = rows
    print("\n| captions | cfg | n | valid scene | matches caption | parse residual | nearest training image (median) | held-out's (median) | copies (< 0.01) |")
    print("|---|---:|---:|---|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['set']} | {r['cfg']:g} | {r['n']} | {r['valid']} | {r['match']} | {r['residual']} | {r['nearest_train']} | {r['held_out_nearest_train']} | {r['copies']} |")
    r = [r for r in rows if "cells" in r][0]
    print(f"\nCoverage at cfg {CFG:g}: {r['cells']}; object sizes {r['sizes']}")


def same_scene(parse, world, tolerance_px=2.0):
    """The parse reads `world` back: the same sky and ground, the same objects (kind and colour), each
    centre within `tolerance_px` picture pixels and size within 10 %."""
    f = parse.world.size / world.size
    if (parse.world.sky, parse.world.ground) != (world.sky, world.ground) or len(parse.objects) != len(world.objects):
        return False
    for o in world.objects:
        match = [q for q in parse.objects if (q.kind, q.colour) == (o.kind, o.colour)]
        if not any(math.hypot(q.x / f - o.x, q.y / f - o.y) <= tolerance_px and abs(q.size / f - o.size) <= 0.1 * o.size
                   for q in match):
            return False
    return True


def vae_round_trip(model, cond, n, out):
    """The VAE's round trip (ComfyUI's VAE encode then decode) on n fresh pictures: PSNR, and the share
    whose parse is unchanged: the parser reads the true scene back from the round trip (`same_scene`)."""
    if not M.latent:
        raise SystemExit("vae: the pixel model has no VAE to measure (its latent is the picture)")
    worlds, _ = fresh_worlds(n, seed=400)
    images = sw.render_all(worlds)
    with torch.inference_mode():
        back = torch.cat([images_of(latent_of(images[i:i + 16])) for i in range(0, n, 16)])
    mse = ((back - images) ** 2).flatten(1).mean(1)
    psnr = [float(10 * torch.log10(1 / m.clamp_min(1e-10))) for m in mse]
    parses = M.parse_all(back)
    kept = [same_scene(p, w) for p, w in zip(parses, worlds)]
    caption = [p.matches(w.caption) for p, w in zip(parses, worlds)]
    row = {"n": n, "psnr": mean_ci(psnr), "rms": mean_ci([float(m.sqrt()) for m in mse]),
           "parse_unchanged": share(kept), "caption_kept": share(caption), "valid": share([p.valid() for p in parses])}
    out["vae"] = [row]
    out["vae_pictures"] = torch.stack([images[:8], back[:8]])
    print("\n| n | PSNR dB | RMS | parse unchanged (scene read back: objects, centres ±2 px, sizes ±10 %) | kinds and colours kept | valid scene |")
    print("|---:|---|---|---|---|---|")
    print(f"| {n} | {row['psnr']} | {row['rms']} | {row['parse_unchanged']} | {row['caption_kept']} | {row['valid']} |")


def coverage(parses, real):
    def cells(ps):  # a 4×4 grid of cells over the picture
        return {(int(o.x // (p.world.size / 4)), int(o.y // (p.world.size / 4))) for p in ps for o in p.objects}

    def sizes(ps):
        return [o.size for p in ps for o in p.objects]
    got, want = cells([p for p in parses if p.valid()]), cells(real)
    s, r = sizes([p for p in parses if p.valid()]), sizes(real)
    return {"cells": f"{len(got & want)} of the {len(want)} cells of a 4×4 grid the held-out scenes use",
            "sizes": f"samples {mean_ci(s)} (min {min(s, default=0):.1f}, max {max(s, default=0):.1f}), held-out {mean_ci(r)} "
                     f"(min {min(r):.1f}, max {max(r):.1f})"}


def sdedit(model, cond, n, out):
    worlds, _ = fresh_worlds(n, seed=200)
    strokes = torch.stack([sw.stroke_painting(w) for w in worlds])
    texts = [w.caption for w in worlds]
    rows = []
    for strength in SDEDIT_STRENGTHS:
        for eta in (1.0, 0.0):
            with torch.inference_mode():  # as in a prompt (else the conditioning carries autograd into attention)
                (lat,) = SDEditNoiseDenoise.execute(model, cond(texts), cond([""] * n), latent_of(strokes), 0, 30, strength,
                                                    eta, CFG, "normal", 1).args
                imgs = images_of(lat)
            parses = M.parse_all(imgs)
            residual = [p.residual for p in parses]
            faith = [float(((a - b) ** 2).mean().sqrt()) for a, b in zip(imgs, strokes)]
            rows.append({"strength": strength, "method": "SDE" if eta else "ODE", "n": n,
                         "valid": share([p.valid() for p in parses]),
                         "match": share([p.valid() and p.matches(t) for p, t in zip(parses, texts)]),
                         "residual": mean_ci(residual), "to_strokes": mean_ci(faith),
                         "per_scene": {"residual": residual, "to_strokes": faith}})
            if not eta:  # the SDE row came first, on the same scenes and seed
                sde = rows[-2]["per_scene"]
                rows[-1]["paired_residual"] = paired(sde["residual"], residual)
                rows[-1]["paired_to_strokes"] = paired(sde["to_strokes"], faith)
            print({k: v for k, v in rows[-1].items() if k != "per_scene"}, flush=True)
            if strength == 0.5:
                out[f"sdedit_{'sde' if eta else 'ode'}"] = imgs[:8]
    out["sdedit_strokes"] = strokes[:8]
    out["sdedit"] = rows
    print("\n| strength | method | n | valid scene | matches caption | realism: parse residual (lower is better) | faithfulness: RMS to the strokes |")
    print("|---:|---|---:|---|---|---|---|")
    for r in rows:
        print(f"| {r['strength']:g} | {r['method']} | {r['n']} | {r['valid']} | {r['match']} | {r['residual']} | {r['to_strokes']} |")
    print("\n| strength | n | SDE − ODE, realism (parse residual; below 0: SDE more realistic) | SDE − ODE, RMS to the strokes (below 0: SDE more faithful) |")
    print("|---:|---:|---|---|")
    for r in rows:
        if "paired_residual" in r:
            print(f"| {r['strength']:g} | {r['n']} | {r['paired_residual']} | {r['paired_to_strokes']} |")


def grow(mask, px=1):
    return torch.nn.functional.max_pool2d(mask[:, None], 2 * px + 1, 1, px)[:, 0]


def inpaint(model, cond, n, out):
    worlds, _ = fresh_worlds(n, seed=300)
    imgs = sw.render_all(worlds)
    mask = grow(torch.stack([sw.object_mask(w) for w in worlds]), round(sw.unit(M.size)))
    texts = [w.caption for w in worlds]
    rows = []
    for steps in INPAINT_STEPS:
        for eta in (1.0, 0.0):
            with torch.inference_mode():  # as in a prompt
                (lat,) = SDEInpaint.execute(model, cond(texts), cond([""] * n), latent_of(imgs), 0, steps, 1.0, eta, CFG,
                                            "normal", 1, 0, 0, mask=mask).args
                res = images_of(lat)
            parses = M.parse_all(res)
            hole = [float((((M.judged(r[None])[0] - sw.render(p.world)) ** 2).mean(0) * m).sum().div(m.sum()).sqrt())
                    for r, p, m in zip(res, parses, M.judged(mask[:, None])[:, 0])]
            outside = float(((res - imgs).abs() * (1 - mask[:, None])).amax())
            rows.append({"steps": steps, "method": "SDE" if eta else "ODE", "n": n,
                         "valid": share([p.valid() for p in parses]),
                         "match": share([p.valid() and p.matches(t) for p, t in zip(parses, texts)]),
                         "hole_residual": mean_ci(hole), "outside": outside, "per_scene": {"hole_residual": hole}})
            if not eta:  # the SDE row came first, on the same scenes and seed
                rows[-1]["paired_hole_residual"] = paired(rows[-2]["per_scene"]["hole_residual"], hole)
            print({k: v for k, v in rows[-1].items() if k != "per_scene"}, flush=True)
            if steps == 25:
                out[f"inpaint_{'sde' if eta else 'ode'}"] = res[:8]
    out["inpaint_input"] = (imgs * (1 - mask[:, None]))[:8]
    out["inpaint"] = rows
    print("\n| steps | method | n | valid scene | matches caption (object back) | residual in the hole | largest change outside |")
    print("|---:|---|---:|---|---|---|---:|")
    for r in rows:
        print(f"| {r['steps']} | {r['method']} | {r['n']} | {r['valid']} | {r['match']} | {r['hole_residual']} | {r['outside']:.2g} |")
    print("\n| steps | n | SDE − ODE, residual in the hole (below 0: SDE more realistic) |")
    print("|---:|---:|---|")
    for r in rows:
        if "paired_hole_residual" in r:
            print(f"| {r['steps']} | {r['n']} | {r['paired_hole_residual']} |")


DRAG_METHODS = (("warp", "warp", 1.0), ("warp + similar", "warp", 1.0), ("warp + similar + windows", "warp", 1.0),
                ("warp + region", "warp", 1.0), ("fast", "fast", 1.0), ("fast + similar", "fast", 1.0),
                ("fast + similar + windows", "fast", 1.0), ("fast + region", "fast", 1.0), ("paper SDE-Drag", "paper", 1.0),
                ("paper + region", "paper", 1.0), ("ODE-Drag", "paper", 0.0))
# "+ region": the dragged object's own mask as the node's region; "+ similar" / "+ similar + windows": no
# region, handle_region "similar" (found from the handle) / "similar + windows" (that and the windows);
# the others: handle_region "windows" (the square patches)


def handle_region_of(label):
    return "similar + windows" if "similar + windows" in label else "similar" if "similar" in label else "windows"


def drag_worlds(size, direction, rng):
    """Six scenes whose dragged object (the nearest) sits at (12, 14): three kinds, alone or with a
    second object away from the path. Colours and backgrounds vary; the drag is 8 px."""
    worlds = []
    dx, dy = direction
    for kind in sw.KINDS:
        for neighbour in (False, True):
            colours = rng.sample(list(sw.COLOURS), 2)
            obj = sw.Obj(kind, colours[0], 12.0, 14.0, size, rng.uniform(0, math.pi) if kind == "bar" else 0.0)
            objects = [obj]
            if neighbour:  # opposite the drag's direction from the path, clear of both windows
                nx, ny = (26.0, 26.0) if dx else (26.0, 8.0)
                objects = [sw.Obj(rng.choice(sw.KINDS), colours[1], nx, ny, 3.0, 0.5)] + objects
                objects.sort(key=lambda o: o.y)
            worlds.append(sw.World(tuple(objects), rng.choice(list(sw.SKIES)), rng.choice(list(sw.GROUNDS)),
                                   rng.randint(*sw.HORIZON_ROWS), 1.0, rng.uniform(-1, 1), 32))
    return [replace(w, caption=sw.caption(w.objects, w.ground, w.sky)) for w in worlds]


def drag(model, cond, n_unused, out, methods=None, repeats=1):
    rng = random.Random(5)
    cases = [(size, d) for size in (3.5, 7.0) for d in ((8, 0), (0, 8))] * repeats  # repeats: fresh scenes each time
    rows = {}
    pictures = {}
    for size, (dx, dy) in cases:
        worlds = drag_worlds(size, (dx, dy), rng)
        imgs = sw.render_all(worlds)
        texts = [w.caption for w in worlds]
        points = json.dumps({"source": [[12, 14]], "target": [[12 + dx, 14 + dy]]})
        regions = torch.stack([sw.object_mask(replace(w, objects=tuple(o for o in w.objects if (o.x, o.y) == (12.0, 14.0))))
                               for w in worlds])
        for label, method, eta in DRAG_METHODS:
            if methods and label not in methods:
                continue
            counted = Counted(model)
            started = time.time()
            lat, _ = SDEDragPointMover.execute(counted.model, cond(texts), latent_of(imgs), points, 0, 100, 0.6, CFG, 2.0, 5,
                                               0.3, 1.1, eta, "ddim_uniform", method, negative=cond([""] * len(texts)),
                                               vae=VAE, region=regions if "region" in label else None,
                                               handle_region=handle_region_of(label), warp_space="latent").args
            seconds = time.time() - started
            res = images_of(lat)
            for w, img, r in zip(worlds, imgs, res):
                p = sp.parse(r)
                moved = [o for o in w.objects if (o.x, o.y) == (12.0, 14.0)][0]
                ideal_obj = replace(moved, x=moved.x + dx, y=moved.y + dy)
                ideal = replace(w, objects=tuple(sorted([o if o is not moved else ideal_obj for o in w.objects], key=lambda o: o.y)))
                found = [o for o in p.objects if o.colour == moved.colour]
                o = min(found, key=lambda o: math.hypot(o.x - ideal_obj.x, o.y - ideal_obj.y)) if found else None
                source = sw.object_mask(replace(w, objects=(moved,))) * (1 - sw.object_mask(replace(w, objects=(ideal_obj,))))
                left = float((((r - sw.render(ideal)) ** 2).mean(0) * source).sum().div(source.sum().clamp_min(1)).sqrt())
                others = [x for x in w.objects if x is not moved]
                nb_move = nb_change = float("nan")
                if others:
                    nb = others[0]
                    nbm = sw.object_mask(replace(w, objects=(nb,)))
                    nb_change = float(((r - img).abs().amax(0) * nbm).amax())
                    cand = [q for q in p.objects if q.colour == nb.colour]
                    nb_move = min((math.hypot(q.x - nb.x, q.y - nb.y) for q in cand), default=float("inf"))
                key = (label, "small" if size < 5 else "large")
                rows.setdefault(key, []).append({
                    "placement": math.hypot(o.x - ideal_obj.x, o.y - ideal_obj.y) if o else float("nan"),
                    "lost": o is None, "size_error": abs(o.size - moved.size) / moved.size if o else float("nan"),
                    "identity": bool(o and o.kind == moved.kind), "valid": p.valid(), "residual": p.residual,
                    "left_behind": left, "nb_move": nb_move, "nb_change": nb_change,
                    "evals": counted.latents / len(worlds), "seconds": seconds / len(worlds)})
            if (size, dx) == (7.0, 8):
                pictures[label] = res
                pictures["input"] = imgs
        print({k: len(v) for k, v in rows.items()}, flush=True)
    out["drag_pictures"] = pictures
    table = []
    print("\n| method | object | n | placement px | lost | size error | identity | valid scene | parse residual | left behind (RMS to ideal at the source) | neighbour moved px | neighbour's largest change | evaluations per drag | s per drag |")
    print("|---|---|---:|---|---:|---|---|---|---|---|---|---|---:|---:|")
    for (label, size), rs in rows.items():
        r = {"method": label, "object": size, "n": len(rs),
             "placement": mean_ci([x["placement"] for x in rs]), "lost": sum(x["lost"] for x in rs),
             "size_error": mean_ci([x["size_error"] for x in rs]), "identity": share([x["identity"] for x in rs]),
             "valid": share([x["valid"] for x in rs]), "residual": mean_ci([x["residual"] for x in rs]),
             "left_behind": mean_ci([x["left_behind"] for x in rs]), "nb_move": mean_ci([x["nb_move"] for x in rs]),
             "nb_change": mean_ci([x["nb_change"] for x in rs]), "evals": sum(x["evals"] for x in rs) / len(rs),
             "seconds": sum(x["seconds"] for x in rs) / len(rs)}
        table.append(r)
        print(f"| {label} | {size} | {r['n']} | {r['placement']} | {r['lost']} | {r['size_error']} | {r['identity']} | {r['valid']} | "
              f"{r['residual']} | {r['left_behind']} | {r['nb_move']} | {r['nb_change']} | {r['evals']:.0f} | {r['seconds']:.1f} |")
    out["drag"] = table
    pairs = [(a, b) for a, b in (("paper SDE-Drag", "ODE-Drag"),) if (a, "small") in rows and (b, "small") in rows]
    if pairs:  # the same scenes and seed through both: the per-scene difference
        print("\n| SDE − ODE | object | n | placement px | parse residual | left behind |")
        print("|---|---|---:|---|---|---|")
        for a, b in pairs:
            for size in ("small", "large"):
                ra, rb = rows[(a, size)], rows[(b, size)]
                cells = [paired([x[k] for x in ra], [x[k] for x in rb]) for k in ("placement", "residual", "left_behind")]
                print(f"| {a} − {b} | {size} | {len(ra)} | " + " | ".join(cells) + " |")
                out.setdefault("drag_paired", []).append({"pair": f"{a} - {b}", "object": size, "n": len(ra),
                                                          **dict(zip(("placement", "residual", "left_behind"), cells))})


DEFORM_METHODS = ("warp", "warp + similar", "warp + similar + windows", "warp + region", "fast + region", "paper SDE-Drag",
                  "paper + region")


def deform_worlds(size, rng, n=12, picture=32, corner=(5.0, 3.0)):
    """n scenes of `picture` pixels with a bar of half length `size` at the centre at a random angle,
    every other one with a small second object (centred at corner[0] in both coordinates, size
    corner[1]) in a corner, clear of the bar even when it is stretched 1.5 times."""
    worlds = []
    c = picture / 2
    for i in range(n):
        colours = rng.sample(list(sw.COLOURS), 2)
        objects = [sw.Obj("bar", colours[0], c, c, size, rng.uniform(0, math.pi))]
        if i % 2:
            objects = [sw.Obj(rng.choice(sw.KINDS), colours[1], corner[0], corner[0], corner[1], 0.5)] + objects
        worlds.append(sw.World(tuple(objects), rng.choice(list(sw.SKIES)), rng.choice(list(sw.GROUNDS)),
                               rng.randint(*sw.HORIZON_ROWS) * picture // 32, 1.0, rng.uniform(-1, 1), picture))
    return [replace(w, caption=sw.caption(w.objects, w.ground, w.sky)) for w in worlds]


def deform_pairs(bar, how):
    """Two pairs on the bar's axis at 0.8 of its half length from the centre: "rotate" turns both by
    30 degrees about the centre, "stretch" moves them 1.5 times as far out. Returns (pairs in the node's
    pixel coordinates (world − 0.5: the world puts pixel i's centre at i + 0.5), the ideal bar)."""
    h, (c, s) = 0.8 * bar.size, (math.cos(bar.angle), math.sin(bar.angle))
    if how == "rotate":
        ideal = replace(bar, angle=(bar.angle + math.pi / 6) % math.pi)
        c2, s2 = math.cos(ideal.angle), math.sin(ideal.angle)
        ends = [((bar.x + k * h * c, bar.y + k * h * s), (bar.x + k * h * c2, bar.y + k * h * s2)) for k in (-1, 1)]
    else:
        ideal = replace(bar, size=1.5 * bar.size)
        ends = [((bar.x + k * h * c, bar.y + k * h * s), (bar.x + 1.5 * k * h * c, bar.y + 1.5 * k * h * s)) for k in (-1, 1)]
    return [((sx - 0.5, sy - 0.5), (tx - 0.5, ty - 0.5)) for (sx, sy), (tx, ty) in ends], ideal


def score_deform(w, img, bar, ideal_bar, r):
    """The deform figures of one result r (3, S, S) of world w whose `bar` should have become
    `ideal_bar`; lengths in picture pixels (the parse, at M.parse_size, scaled back)."""
    p = M.parse(r)
    f = p.world.size / w.size
    ideal = replace(w, objects=tuple(ideal_bar if o is bar else o for o in w.objects))
    found = [o for o in p.objects if o.colour == bar.colour]
    o = min(found, key=lambda o: math.hypot(o.x / f - ideal_bar.x, o.y / f - ideal_bar.y)) if found else None
    turn = abs(o.angle - ideal_bar.angle) % math.pi if o and o.kind == "bar" else float("nan")
    source = sw.object_mask(replace(w, objects=(bar,))) * (1 - sw.object_mask(replace(w, objects=(ideal_bar,))))
    left = float((((r - sw.render(ideal)) ** 2).mean(0) * source).sum().div(source.sum().clamp_min(1)).sqrt())
    others = [x for x in w.objects if x is not bar]
    nb_change = (float(((r - img).abs().amax(0) * sw.object_mask(replace(w, objects=(others[0],)))).amax())
                 if others else float("nan"))
    # the stretch's figure: how far along the bar's axis the result differs from the scene without the bar
    # (the parser's bars widen as they lengthen, so its half length reads a bar stretched alone short)
    bare = sw.render(replace(w, objects=tuple(others)))
    ys, xs = torch.meshgrid(torch.arange(w.size) + 0.5, torch.arange(w.size) + 0.5, indexing="ij")
    c, s_ = math.cos(bar.angle), math.sin(bar.angle)
    u, v = (xs - bar.x) * c + (ys - bar.y) * s_, -(xs - bar.x) * s_ + (ys - bar.y) * c
    strip = ((r - bare).abs().amax(0) > 0.25) & (v.abs() <= sw.bar_half_width(bar.size, w.size) + sw.unit(w.size))
    reach = float(u.abs()[strip].max() + 0.5) if bool(strip.any()) else 0.0
    return {"orientation": math.degrees(min(turn, math.pi - turn)), "reach": abs(reach / (1.5 * bar.size) - 1),
            "length": abs(o.size / f / ideal_bar.size - 1) if o and o.kind == "bar" else float("nan"),
            "placement": math.hypot(o.x / f - ideal_bar.x, o.y / f - ideal_bar.y) if o else float("nan"),
            "identity": bool(o and o.kind == "bar"), "valid": p.valid(), "left_behind": left, "nb_change": nb_change}


def deform_table(rows):
    """rows {(label, how, size): [score dicts]} -> the printed Markdown table, as a list of row dicts."""
    table = []
    print("\n| method | drag | bar half length | n | orientation error deg | stretch error (reach) | length error (parser) | centre placement px | identity (a bar) | "
          "valid scene | left behind | corner object's largest change | evaluations per drag | s per drag |")
    print("|---|---|---:|---:|---|---|---|---|---|---|---|---|---:|---:|")
    for (label, how, size), rs in rows.items():
        r = {"method": label, "drag": how, "size": size, "n": len(rs),
             "orientation": mean_ci([x["orientation"] for x in rs]) if how == "rotate" else "–",
             "length": mean_ci([x["length"] for x in rs]), "placement": mean_ci([x["placement"] for x in rs]),
             "reach": mean_ci([x["reach"] for x in rs]) if how == "stretch" else "–",
             "identity": share([x["identity"] for x in rs]), "valid": share([x["valid"] for x in rs]),
             "left_behind": mean_ci([x["left_behind"] for x in rs]), "nb_change": mean_ci([x["nb_change"] for x in rs]),
             "evals": sum(x["evals"] for x in rs) / len(rs), "seconds": sum(x["seconds"] for x in rs) / len(rs)}
        table.append(r)
        print(f"| {label} | {how} | {size:g} | {r['n']} | {r['orientation']} | {r['reach']} | {r['length']} | {r['placement']} | {r['identity']} | "
              f"{r['valid']} | {r['left_behind']} | {r['nb_change']} | {r['evals']:.0f} | {r['seconds']:.1f} |")
    return table


DEFORM_SIZES = (3.5, 7.0)


def deform(model, cond, n, out, methods=None, sizes=DEFORM_SIZES):
    """Two-pair drags that rotate a bar by 30 degrees or stretch it 1.5 times, bars shorter (half length
    3.5) and longer (7: 14 px, wider than the default window of 10) than the default patch; windows
    against the bar's own mask as the region, against paper. Orientation error (degrees, mod 180), length
    error (parsed half length / ideal − 1), centre placement, identity (still a bar), valid scene,
    left behind (RMS to the ideal where the bar was and is not), the corner object's largest change."""
    rng = random.Random(7)
    rows, pictures = {}, {}
    for size in DEFORM_SIZES:
        worlds = deform_worlds(size, rng, n)  # every size's scenes drawn, so that each size's are always the same
        imgs = sw.render_all(worlds)
        if size not in sizes:
            continue
        for how in ("rotate", "stretch"):
            for label in DEFORM_METHODS:
                if methods and label not in methods:
                    continue
                method = label.split()[0]
                results = []
                for w, img in zip(worlds, imgs):
                    bar = [o for o in w.objects if o.kind == "bar" and (o.x, o.y) == (16.0, 16.0)][0]
                    pairs, ideal_bar = deform_pairs(bar, how)
                    points = json.dumps({"source": [list(s) for s, _ in pairs], "target": [list(t) for _, t in pairs]})
                    region = sw.object_mask(replace(w, objects=(bar,)))[None] if "region" in label else None
                    counted = Counted(model)
                    started = time.time()
                    lat, _ = SDEDragPointMover.execute(counted.model, cond([w.caption]), latent_of(img[None]), points, 0, 100,
                                                       0.6, CFG, 2.0, 5, 0.3, 1.1, 1.0, "ddim_uniform", method,
                                                       negative=cond([""]), vae=VAE, region=region,
                                                       handle_region=handle_region_of(label), warp_space="latent").args
                    r = images_of(lat)[0]
                    results.append(dict(score_deform(w, img, bar, ideal_bar, r), evals=counted.latents,
                                        seconds=time.time() - started))
                    pictures.setdefault((how, size), {}).setdefault(label, []).append(r)
                    pictures[(how, size)].setdefault("input", [])
                rows[(label, how, size)] = results
                print(f"{label} {how} {size}: done", flush=True)
            pictures[(how, size)]["input"] = list(imgs)
    out["deform_pictures"] = {f"{how} {size}": {k: torch.stack(v) for k, v in d.items()} for (how, size), d in pictures.items()}
    table = deform_table(rows)
    out["deform"] = table


SPACE_FACTOR = 4


class CoarseWarp(WarpDragSampler):
    """warp (the node's preset) on the trained model seen through a lossless 'VAE' of downscale 4
    (space to depth: the 3×32×32 picture is a 48×8×8 latent; the model runs on the picture): the move
    made on that coarse latent ("latent") or on the picture and encoded back ("image"). So the two
    differ only in where the move is resampled, as an SD latent (8× coarser) differs from its picture."""

    def __init__(self, space, image_pairs, region_image, **kw):
        f = SPACE_FACTOR
        pairs = [(((sx + 0.5) / f - 0.5, (sy + 0.5) / f - 0.5), ((tx + 0.5) / f - 0.5, (ty + 0.5) / f - 0.5))
                 for (sx, sy), (tx, ty) in image_pairs]
        super().__init__(pairs=pairs, radius=5, seam=PRESETS["warp"].seam, eta=1.0, order=1, replay=True, **kw)
        self.space, self.image_pairs, self.region_image = space, image_pairs, region_image

    def run(self, job):
        f = SPACE_FACTOR
        decode = lambda z: torch.nn.functional.pixel_shuffle(z, f)  # noqa: E731
        encode = lambda x: torch.nn.functional.pixel_unshuffle(x, f)  # noqa: E731
        z0 = encode(job.latent)

        def denoise(x, sigma):
            return encode(job.denoise(decode(x), sigma))

        class Coarse:  # the node's noise streams, drawn for the picture and seen through the same VAE
            def __init__(self, inner):
                self.inner = inner

            def __call__(self):
                return encode(self.inner())
        grown = sdmasks.grow(self.region_image[:, 0], f)[:, None]
        if self.space == "image":
            kwargs = {"warped": warp_image(decode, encode, z0, grown, self.image_pairs, f)}
        else:
            at_latent = torch.nn.functional.interpolate(self.region_image, scale_factor=1 / f, mode="area")
            kwargs = {"region": sdmasks.grow((at_latent >= 0.5).float()[:, 0], 1)[:, None]}
        out, _ = warp_drag(denoise, job.levels, z0, job.sigmas, self.pairs, radius=self.radius, eta=self.eta,
                           seam=self.seam, noise=encode(job.noise), step_noise=Coarse(job.step_noise),
                           known_noise=Coarse(job.known_noise), keep=None, callback=None, order=1,
                           chain_noise=Coarse(job.step_noise), **kwargs)
        return decode(out)


def space(model, cond, n, out, methods=None):
    """warp with the bar's mask as region, through a lossless VAE of downscale 4 (`CoarseWarp`): the
    move made on the latent against on the picture, on the deform drags (rotate 30 degrees, stretch 1.5)
    and an 8-px translation."""
    rng = random.Random(7)
    rows = {}
    setting = PRESETS["warp"]
    for size in (3.5, 7.0):
        worlds = deform_worlds(size, rng, n)
        imgs = sw.render_all(worlds)
        for how in ("rotate", "stretch", "translate"):
            for space_ in ("latent", "image"):
                label = f"warp + region on the {space_}"
                results = []
                for w, img in zip(worlds, imgs):
                    bar = [o for o in w.objects if o.kind == "bar" and (o.x, o.y) == (16.0, 16.0)][0]
                    if how == "translate":
                        ideal_bar = replace(bar, x=bar.x + 8)
                        pairs = [((bar.x - 0.5, bar.y - 0.5), (bar.x + 7.5, bar.y - 0.5))]
                    else:
                        pairs, ideal_bar = deform_pairs(bar, how)
                    region = sw.object_mask(replace(w, objects=(bar,)))[None, None]
                    counted = Counted(model)
                    started = time.time()
                    sigmas = schedule_tail(counted.model, "ddim_uniform", setting.steps, setting.run_steps())
                    sampler = CoarseWarp(space_, pairs, region, seed=0)
                    lat = run_sampler(counted.model, cond([w.caption]), cond([""]), CFG, latent_of(img[None]), 0, sigmas,
                                      sampler, None, guider=RisingCFGGuider(counted.model, sigmas, CFG))
                    r = images_of(lat)[0]
                    results.append(dict(score_deform(w, img, bar, ideal_bar, r), evals=counted.latents,
                                        seconds=time.time() - started))
                rows[(label, how, size)] = results
                print(f"{label} {how} {size}: done", flush=True)
    out["space"] = deform_table(rows)


def grid(rows, scale=None, gap=2):
    """rows: list of (B, 3, S, S) tensors -> one PIL image, a row each (32×32 pictures shown 4× larger)."""
    from PIL import Image
    width = max(r.shape[0] for r in rows)
    n = rows[0].shape[-1]
    scale = scale or (4 if n <= 32 else 1)
    canvas = torch.ones(3, len(rows) * (n + gap) + gap, width * (n + gap) + gap)
    for i, r in enumerate(rows):
        for j, img in enumerate(r):
            canvas[:, gap + i * (n + gap): gap + i * (n + gap) + n, gap + j * (n + gap): gap + j * (n + gap) + n] = img
    arr = (canvas.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
    img = Image.fromarray(arr)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def pictures(out, directory):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(directory, exist_ok=True)
    curves = [(M.weights, "min-SNR-5-weighted v loss", "UNet, batch 64")]
    if M.latent:  # the VAE's curve first: it was trained first
        curves.insert(0, (os.path.join(os.path.dirname(M.weights), latent_scene_model.VAE_NAME), "L1 in [-1, 1]",
                          "VAE (64×64 crops, then whole pictures)"))
    if M.latent:  # its decoder fine-tune (lab/commands/train_latent_scene_model --stage decoder), when it had one
        with open(os.path.join(os.path.dirname(M.weights), latent_scene_model.VAE_NAME) + ".log.json") as f:
            if "decoder_loss" in json.load(f):
                curves.insert(1, (curves[0][0], "object-weighted L1", "VAE decoder fine-tune, batch 4", "decoder_loss"))
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 3.2), squeeze=False)
    for ax, (path, ylabel, what, *key) in zip(axes[0], curves):
        with open(path + ".log.json") as f:
            log = json.load(f)[key[0] if key else "loss"]
        steps, losses = [e[0] for e in log], [e[1] for e in log]
        smooth = [sum(losses[max(0, i - 49):i + 1]) / len(losses[max(0, i - 49):i + 1]) for i in range(len(losses))]
        ax.plot(steps, losses, color="0.8", lw=0.5, label="batch loss")
        ax.plot(steps, smooth, color="C0", label="mean of 50")
        ax.set_yscale("log")
        ax.set_xlabel(f"step ({what})")
        ax.set_ylabel(ylabel)
        ax.legend()
    axes[0][0].set_title(f"{M.name.capitalize()} training (lab/commands/train_{M.prefix}.py)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(directory, f"{M.prefix}_loss.png"), dpi=110)
    if "vae_pictures" in out:
        grid(list(out["vae_pictures"])).save(os.path.join(directory, f"{M.prefix}_vae.png"))
    if "quality_samples" in out:
        s = out["quality_samples"]
        grid([s[i:i + 8] for i in range(0, len(s), 8)]).save(os.path.join(directory, f"{M.prefix}_samples.png"))
    if "sdedit_sde" in out:
        grid([out["sdedit_strokes"], out["sdedit_sde"], out["sdedit_ode"]]).save(os.path.join(directory, f"{M.prefix}_sdedit.png"))
    if "inpaint_sde" in out:
        grid([out["inpaint_input"], out["inpaint_sde"], out["inpaint_ode"]]).save(os.path.join(directory, f"{M.prefix}_inpaint.png"))
    if "drag_pictures" in out:
        d = out["drag_pictures"]
        grid([d["input"]] + [d[label] for label, _, _ in DRAG_METHODS if label in d]).save(os.path.join(directory, f"{M.prefix}_drag.png"))
    for key, d in out.get("deform_pictures", {}).items():  # "rotate 7.0": rows input, then each method
        if key.endswith("7.0"):
            grid([d["input"][:8]] + [d[label][:8] for label in DEFORM_METHODS if label in d]).save(
                os.path.join(directory, f"region_drag_{key.split()[0]}.png"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("parts", nargs="*", help="default: quality sdedit inpaint, and drag on the pixel model")
    p.add_argument("--model", choices=("latent", "pixel"), default="latent",
                   help="the latent model shaped like SD (default) or the 32×32 pixel model")
    p.add_argument("--n", type=int, default=24, help="scenes per setting of sdedit and inpaint")
    p.add_argument("--n-quality", type=int, default=100, help="samples per setting of quality")
    p.add_argument("--quality-cfgs", type=float, nargs="+", default=QUALITY_CFGS,
                   help="quality: the cfg values of the fresh captions' rows (the never-seen combinations: cfg 3)")
    p.add_argument("--skip-unseen", action="store_true", help="quality: leave out the never-seen combinations' row")
    p.add_argument("--sdedit-strengths", type=float, nargs="+", default=SDEDIT_STRENGTHS)
    p.add_argument("--inpaint-steps", type=int, nargs="+", default=INPAINT_STEPS)
    p.add_argument("--threads", type=int, default=2, help="torch threads (1 when two benchmarks share the 2 cores)")
    p.add_argument("--json", help="write the figures (and tensors, to <json>.pt) here")
    p.add_argument("--drag-methods", nargs="+", metavar="LABEL", help="drag: only these rows (e.g. warp 'warp + region')")
    p.add_argument("--drag-repeats", type=int, default=1, help="drag: run its 24 scenes this many times, fresh "
                   "scenes each time (n = 12 per object size and method per repeat)")
    p.add_argument("--deform-sizes", nargs="+", type=float, default=list(DEFORM_SIZES), help="deform: only these bar sizes")
    p.add_argument("--pictures", metavar="DIR", help="write the loss curve and picture grids here (docs/ for the model card)")
    args = p.parse_args()
    global VAE, M
    M = Space(args.model)
    QUALITY_CFGS[:] = args.quality_cfgs
    global SKIP_UNSEEN
    SKIP_UNSEEN = args.skip_unseen
    SDEDIT_STRENGTHS[:] = args.sdedit_strengths
    INPAINT_STEPS[:] = args.inpaint_steps
    args.parts = args.parts or ["quality", "sdedit", "inpaint"] + ([] if M.latent else ["drag"])
    pixel_only = sorted(set(args.parts) & {"drag", "deform", "space"})
    if M.latent and pixel_only:
        p.error(f"{', '.join(pixel_only)} measure the pixel model only (scenes drawn at 32×32); add --model pixel")
    model, cond, vae = setup(args.threads)
    VAE = vae
    out = {}
    for part in args.parts:
        started = time.time()
        print(f"\n## {part}\n", flush=True)
        n = args.n_quality if part in ("quality", "vae") else args.n
        if part == "deform":
            deform(model, cond, 12, out, args.drag_methods, args.deform_sizes)
        elif part == "drag":
            drag(model, cond, 12, out, args.drag_methods, args.drag_repeats)
        elif part == "space":
            space(model, cond, 12, out, args.drag_methods)
        else:
            {"quality": quality, "sdedit": sdedit, "inpaint": inpaint, "vae": vae_round_trip}[part](model, cond, n, out)
        print(f"\n({part}: {time.time() - started:.0f} s)", flush=True)
    if args.pictures:
        pictures(out, args.pictures)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        torch.save({k: v for k, v in out.items() if isinstance(v, (torch.Tensor, dict))}, args.json + ".pt")
        with open(args.json, "w") as f:
            json.dump({k: v for k, v in out.items() if isinstance(v, list)}, f, indent=1)


if __name__ == "__main__":
    main()
