"""Drag benchmark with continuous placement: the paper's SDE-Drag, its ODE baseline and the cheaper
settings (the cost study), through ComfyUI in-process (real MODEL, RisingCFGGuider, the adapter's
samplers). Prints Markdown tables; writes nothing else.

    .venv/bin/python -m lab.benchmarks.bench_drag [--seeds 4] [--tau 0 0.1] [--study | --presets | --region] [--only NAME ...]

The model's data is the object set of `reference.scenes` (32×32 pixel space, so one latent pixel is
one image pixel): a shaded ball or a striped box, red or blue, centred at every pixel of a 20×20
square, on sky over grass. τ = 0 is the exact model of that set; τ > 0 the same set blurred by
Gaussian noise of standard deviation τ (latent units, images in [-1, 1]), a model with error whose
outputs can leave the set (where the paper's SDE-vs-ODE claim applies).

Cases: drags of 3, 6, 12 and 18 px (about a tenth to a half of the image) in four directions
(right, up, down-left, down-right), each without and with a mask (a box around the old and new
place, 4 px margin); the object's kind and colour cycle through the four. Every case runs `--seeds`
seeds as one batch (batch_index 0..n-1). Per drag:
- placement: distance from the output object's centre (centroid of the pixels that differ from the
  empty background) to the target, in image pixels; "lost": no object at all;
- identity: the nearest reference scene shows the source object's kind and colour;
- realism: RMS distance (image units, 0..1) to the nearest reference scene;
- outside: largest latent change outside the mask (must be 0);
- model evaluations: latents through the model per drag and seed, counted by the model itself,
  next to the formula `adapter.drag.DragSetting.model_evaluations` states;
- seconds per drag (the batch of seeds together; 2 CPU cores shared with whatever else runs).
Each figure is the mean over cases and seeds ± its seed-to-seed standard error: the standard
deviation of the per-seed means (over all cases) divided by sqrt(seeds).
No CFG (the reference model ignores the prompt; with a negative every figure of evaluations doubles).

--region: the objects made wider than the window (patch_radius 2: a 4×4 window on a 9 px object, as a
person or a car against the default window on a photo; --region-radius 5: the default window, which
covers them) and each preset moving the square windows, the region found from the handle
(handle_region "similar"), or the object's own mask as the region.
"""
import argparse
import math
import os
import time
from dataclasses import replace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import import_pack  # noqa: E402

import_pack()
import comfy.latent_formats  # noqa: E402
import torch  # noqa: E402

from sde_edit_pack.adapter.drag import (PAPER, PRESETS, DragSetting, latent_region, region_from_handles,  # noqa: E402
                                        run_drag)
from sde_edit_pack.adapter.points import to_latent  # noqa: E402
from lab.reference.oracle_models import make_model  # noqa: E402
from lab.reference import scenes  # noqa: E402
from lab.reference.oracles import BlurredImages, EmpiricalImages  # noqa: E402

SIZE = scenes.OBJECT_SIZE
EMPTY = [[torch.zeros(1, 1, 8), {}]]
LENGTHS = (3, 6, 12, 18)
DIRECTIONS = {"right": (1, 0), "up": (0, -1), "down-left": (-1, 1), "down-right": (1, 1)}
OBJECTS = [(k, c) for k in scenes.OBJECT_KINDS for c in scenes.COLOURS]
RADIUS, BETA, ALPHA = 5, 0.3, 1.1  # the authors' patch radius, β, α

WARP_FRESH = DragSetting("warp", steps=20, t0=0.5, seam=1)  # the warp pass with fresh noise (SDE inpainting)
# (label, setting, η): the paper's setting and its ODE baseline, then the cost study.
STUDY = [
    ("paper: SDE-Drag", PAPER, 1.0),
    ("paper: ODE-Drag", PAPER, 0.0),
    ("fewer steps: 50", replace(PAPER, steps=50), 1.0),
    ("fewer steps: 20", replace(PAPER, steps=20), 1.0),
    ("fewer steps: 20, order 2", replace(PAPER, steps=20, order=2), 1.0),
    ("fewer steps: 10, order 2", replace(PAPER, steps=10, order=2), 1.0),
    ("fewer cycles: drag_step 8", replace(PAPER, drag_step=8.0), 1.0),
    ("fewer cycles: one cycle", replace(PAPER, drag_step=math.inf), 1.0),
    ("fast: 20 steps, order 2, drag_step 8", PRESETS["fast"], 1.0),
    ("20 steps, order 2, one cycle", replace(PRESETS["fast"], drag_step=math.inf), 1.0),
    ("warp, fresh noise: 20 steps, t0 0.5", WARP_FRESH, 1.0),
    ("warp, fresh noise: ODE (η 0)", WARP_FRESH, 0.0),
    ("warp, fresh noise: 10 steps, t0 0.5", replace(WARP_FRESH, steps=10), 1.0),
    ("warp, fresh noise: 20 steps, t0 0.3", replace(WARP_FRESH, t0=0.3), 1.0),
    ("warp, fresh noise: 20 steps, t0 0.7", replace(WARP_FRESH, t0=0.7), 1.0),
    ("warp, fresh noise: 20 steps, t0 0.5, order 2", replace(WARP_FRESH, order=2), 1.0),
    ("warp, fresh noise: 20 steps, t0 0.5, seam 0", replace(WARP_FRESH, seam=0), 1.0),
    ("warp, fresh noise: 20 steps, t0 0.5, seam 3", replace(WARP_FRESH, seam=3), 1.0),
    ("warp replay: 20 steps, t0 0.5", replace(WARP_FRESH, replay=True), 1.0),
    ("warp replay: 20 steps, t0 0.3", replace(WARP_FRESH, t0=0.3, replay=True), 1.0),
    ("warp replay: 10 steps, t0 0.5 (= warp preset)", PRESETS["warp"], 1.0),
    ("warp replay: 20 steps, t0 0.5, order 2", replace(WARP_FRESH, order=2, replay=True), 1.0),
]
# (label, setting, η, region): region None = windows, "similar" = found from the handle, "mask" = the
# object's own mask; all with patch_radius SMALL_RADIUS, a window smaller than the object
SMALL_RADIUS = 2
REGION_ROWS = [(f"{name} + {kind}", setting, 1.0, None if kind == "windows" else kind)
               for name, setting in PRESETS.items() for kind in ("windows", "similar", "similar + windows", "mask")
               if not (name == "paper" and "similar" in kind)]
PRESET_ROWS = [(f"{name} (preset)", setting, 1.0) for name, setting in PRESETS.items()] + [("paper: ODE-Drag", PAPER, 0.0)]


def cases():
    """(label, thing at the source, target, masked); drags centred on the image's middle."""
    out, i = [], 0
    for length in LENGTHS:
        for name, (dx, dy) in DIRECTIONS.items():
            diagonal = dx != 0 and dy != 0
            step = round(length / math.sqrt(2)) if diagonal else length
            sx, sy = 16 - dx * step // 2, 16 - dy * step // 2
            for masked in (False, True):
                kind, colour = OBJECTS[i % len(OBJECTS)]
                i += 1
                out.append((f"{length} px {name}", scenes.Thing(sx, sy, kind, colour), (sx + dx * step, sy + dy * step), masked))
    return out


def box_mask(source, target, margin=4 + RADIUS):
    mask = torch.zeros(1, SIZE, SIZE)
    (x0, x1), (y0, y1) = sorted((source[0], target[0])), sorted((source[1], target[1]))
    mask[:, max(y0 - margin, 0): y1 + margin, max(x0 - margin, 0): x1 + margin] = 1
    return mask


def model_for(tau):
    images, _ = scenes.object_images(SIZE)
    latents = scenes.to_latent(images)
    oracle = EmpiricalImages(latents) if tau == 0 else BlurredImages(latents, tau)
    return make_model(oracle, "eps", 3, comfy.latent_formats.ChromaRadiance)


def run_row(model, setting, eta, seeds, references, things, region_kind=None, radius=RADIUS):
    net = model.model.diffusion_model
    per_seed = {k: [] for k in ("placement", "within", "lost", "identity", "realism")}
    outside, counted, formula, seconds = 0.0, 0, 0, 0.0
    nearest = EmpiricalImages(references).nearest
    for _, thing, target, masked in cases():
        image = scenes.render_thing(thing, SIZE)
        latent = {"samples": scenes.to_latent(image[None]).expand(seeds, -1, -1, -1).contiguous(),
                  "batch_index": list(range(seeds))}
        mask = box_mask((thing.x, thing.y), target) if masked else None
        pairs = to_latent([((thing.x, thing.y), target)], 1)
        before, start = net.latents, time.perf_counter()
        region = None
        if region_kind in ("similar", "similar + windows"):
            region = region_from_handles(region_kind, latent["samples"], pairs, radius)
        elif region_kind == "mask":  # as the node makes it of a MASK: grown by one latent pixel
            region = latent_region(((image - scenes.background(SIZE)).abs().amax(0) > 0.25).float()[None], latent["samples"])
        out, _, _ = run_drag(model=model, positive=EMPTY, negative=None, latent=latent, pairs=pairs, setting=setting,
                             seed=1234, cfg=1.0, radius=radius, beta=BETA, alpha=ALPHA, eta=eta,
                             scheduler="ddim_uniform", mask=mask, region=region)
        seconds += time.perf_counter() - start
        counted += (net.latents - before) // seeds
        formula += setting.model_evaluations(pairs, 1, eta, guided=False)
        images = scenes.to_image(out["samples"])
        d = (scenes.object_centres(images, SIZE) - torch.tensor(target, dtype=torch.float32)).norm(dim=1)
        dist, _, idx = nearest(images)
        kept = torch.tensor([things[i].kind == thing.kind and things[i].colour == thing.colour for i in idx.tolist()])
        per_seed["placement"].append(d)
        per_seed["within"].append((d <= 1.0).float())
        per_seed["lost"].append(torch.isnan(d).float())
        per_seed["identity"].append(kept.float())
        per_seed["realism"].append(dist.float())
        if masked:
            keep = (1 - mask).bool()[0]
            outside = max(outside, (out["samples"] - latent["samples"])[:, :, keep].abs().max().item())
    n = len(cases())
    stats = {}
    for key, rows in per_seed.items():
        values = torch.stack(rows)  # (cases, seeds)
        means = values.nanmean(0) if key == "placement" else values.mean(0)
        stats[key] = (float(means.mean()), float(means.std() / math.sqrt(seeds)) if seeds > 1 else float("nan"))
    return stats, outside, counted / n, formula / n, seconds / n


def fmt(stat, digits):
    mean, se = stat
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="seeds per case, run as one batch")
    parser.add_argument("--tau", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--presets", action="store_true", help="only the node's presets and the ODE baseline")
    parser.add_argument("--region", action="store_true", help="objects wider than the window: windows, found, marked")
    parser.add_argument("--region-radius", type=int, default=SMALL_RADIUS,
                        help=f"--region: the window's patch_radius (default {SMALL_RADIUS}, smaller than the objects; "
                             f"{RADIUS}: the default window, which covers them)")
    parser.add_argument("--only", nargs="+", default=None, help="rows whose label starts with one of these")
    args = parser.parse_args()

    rows = REGION_ROWS if args.region else [(*r, None) for r in (PRESET_ROWS if args.presets else STUDY)]
    if args.only:
        rows = [r for r in rows if any(r[0].startswith(o) for o in args.only)]
    references, things = scenes.object_images(SIZE)
    print(f"{len(cases())} drags × {args.seeds} seeds; object set {SIZE}×{SIZE} px, {len(things)} scenes "
          f"(2 kinds × 2 colours × every pixel of {len(scenes.OBJECT_POSITIONS)}²); patch_radius "
          f"{args.region_radius if args.region else RADIUS}, "
          f"β {BETA}, α {ALPHA}, ddim_uniform, no CFG. Figures: mean ± seed-to-seed standard error.")
    for tau in args.tau:
        model = model_for(tau)
        print(f"\n**{'exact model of the object set' if tau == 0 else f'object set blurred by τ = {tau:g}'}**\n")
        print("| setting | model evals per drag (counted) | formula | placement error (px) | within 1 px | lost | "
              "identity kept | realism (RMS to nearest scene) | outside-mask max change | s per drag |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, setting, eta, region_kind in rows:
            stats, outside, counted, formula, seconds = run_row(model, setting, eta, args.seeds, references, things,
                                                                region_kind, args.region_radius if args.region else RADIUS)
            print(f"| {label} | {counted:.1f} | {formula:.1f} | {fmt(stats['placement'], 2)} | "
                  f"{stats['within'][0]:.0%} ± {stats['within'][1]:.0%} | {stats['lost'][0]:.0%} | "
                  f"{stats['identity'][0]:.0%} ± {stats['identity'][1]:.0%} | {fmt(stats['realism'], 4)} | "
                  f"{outside:.1e} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
