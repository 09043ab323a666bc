"""The region drag's defaults, decided on the latent scene model (an 8× VAE and a UNet on its
16×16×4 latents, lab/reference/latent_scene_model.py), paired over the same scenes.

    .venv/bin/python -m lab.benchmarks.bench_region_defaults [fill] [drag] [deform] [--n 48] [--json F]

- fill: what `similar_region` (the default `handle_region`'s flood fill) finds from a handle on the
  nearest object of fresh 128×128 scenes, run on the VAE's latent (what the node does) against run on
  the decoded picture and brought to the latent grid (a latent pixel is the region's when at least
  half its picture is), at thresholds 0.5–2, then grown by 0–2 latent pixels. Scored against the
  object's true mask: IoU on the latent grid (before growth), the share of the object's picture pixels
  the grown region covers (what would move; the rest is left behind) and the share of the picture
  outside the object it takes along.
- drag: the nearest object (small: 1/8 of the picture, large: 1/3.5) dragged 24 px (3 latent pixels)
  right or down, alone or beside a second object, its true mask as the region: warp with the move
  made on the picture (warp_space image) against on the latent; warp's repair pass at 4, 6, 10 (the
  preset) and 16 model evaluations per image; the default with no region (similar + windows) in both
  spaces; paper SDE-Drag against ODE-Drag. Placement error (picture pixels), identity, valid scene,
  parse residual, what was left behind at the source, largest change of the second object, model
  evaluations (a UNet wrapper counts them, CFG included).
- deform: two-pair drags that rotate a bar (half length 10 or 18 px) by 30 degrees or stretch it 1.5
  times (bench_scene_model's deform, at 128×128): warp with the bar's mask as the region or with none,
  paper SDE-Drag against ODE-Drag with the region; orientation and stretch errors, placement,
  identity, valid scene, left behind, the corner object's change, evaluations.
Intervals 95 %; "paired" rows give the per-scene difference of two settings on the same scenes and seed.
"""
import argparse
import json
import math
import os
import random
import time
from dataclasses import replace

from lab.benchmarks import bench_scene_model as bsm  # boots ComfyUI and the pack

import torch  # noqa: E402

from sde_edit_pack.adapter import drag as adrag  # noqa: E402
from lab.reference import scene_world as sw  # noqa: E402
from sde_edit_pack.sampling.masks import grow  # noqa: E402
from sde_edit_pack.sampling.regions import similar_region  # noqa: E402

SIZE, FACTOR = 128, 8
THRESHOLDS = (0.5, 1.0, 1.5, 2.0)
GROWTHS = (0, 1, 2)


def fill(n, out):
    worlds, _ = bsm.fresh_worlds(n, seed=600)
    images = sw.render_all(worlds)
    latent = bsm.latent_of(images)["samples"]
    decoded = bsm.images_of({"samples": latent})
    rows = {}
    for w, img, z, dec in zip(worlds, images, latent, decoded):
        obj = w.objects[-1]  # the nearest: drawn last, wholly in view
        truth_image = sw.object_mask(w).bool()
        truth = torch.nn.functional.avg_pool2d(truth_image.float()[None, None], FACTOR)[0, 0] >= 0.5
        seed = (obj.x / FACTOR - 0.5, obj.y / FACTOR - 0.5)
        for threshold in THRESHOLDS:
            on_latent = similar_region(z[None], [seed], threshold)
            picture = similar_region(dec[None], [(obj.x - 0.5, obj.y - 0.5)], threshold)
            on_picture = None if picture is None else adrag.latent_region(picture[:, 0], z[None], grow_by=0)
            for where, found in (("latent", on_latent), ("decoded picture", on_picture)):
                for g in GROWTHS:
                    key = (where, threshold, g)
                    if found is None:
                        rows.setdefault(key, []).append({"dropped": True, "iou": 0.0, "covered": 0.0, "extra": 0.0})
                        continue
                    region = found[0, 0].bool()
                    grown = grow(region[None].float(), g)[0].bool()
                    at_image = torch.nn.functional.interpolate(grown.float()[None, None], scale_factor=FACTOR, mode="nearest")[0, 0].bool()
                    rows.setdefault(key, []).append({
                        "dropped": False,
                        "iou": float((region & truth).sum() / (region | truth).sum()),
                        "covered": float((at_image & truth_image).sum() / truth_image.sum()),
                        "extra": float((at_image & ~truth_image).float().mean())})
    table = []
    print("\n| flood fill on | threshold | grown | n | IoU with the object (latent grid) | object covered (what moves) | picture taken along | dropped |")
    print("|---|---:|---:|---:|---|---|---|---:|")
    for (where, threshold, g), rs in rows.items():
        r = {"on": where, "threshold": threshold, "grown": g, "n": len(rs), "iou": bsm.mean_ci([x["iou"] for x in rs]),
             "covered": bsm.mean_ci([x["covered"] for x in rs]), "extra": bsm.mean_ci([x["extra"] for x in rs]),
             "dropped": sum(x["dropped"] for x in rs), "per_scene": rs}
        table.append(r)
        print(f"| {where} | {threshold:g} | {g} | {r['n']} | {r['iou']} | {r['covered']} | {r['extra']} | {r['dropped']} |")
    print("\n| threshold | grown | n | latent − decoded picture: IoU | object covered | picture taken along |")
    print("|---:|---:|---:|---|---|---|")
    for threshold in THRESHOLDS:
        for g in GROWTHS:
            a, b = rows[("latent", threshold, g)], rows[("decoded picture", threshold, g)]
            cells = [bsm.paired([x[k] for x in a], [x[k] for x in b]).replace("SDE lower", "latent lower") for k in ("iou", "covered", "extra")]
            print(f"| {threshold:g} | {g} | {len(a)} | " + " | ".join(cells) + " |")
    print("\nThe defaults against their neighbours, on the latent (paired, same scenes):\n")
    print("| first − second | n | IoU | object covered | picture taken along |")
    print("|---|---:|---|---|---|")
    for a, b in ((("latent", 0.5, 1), ("latent", 1.0, 1)), (("latent", 1.5, 1), ("latent", 1.0, 1)),
                 (("latent", 1.0, 0), ("latent", 1.0, 1)), (("latent", 1.0, 2), ("latent", 1.0, 1))):
        ra, rb = rows[a], rows[b]
        cells = [bsm.paired([x[k] for x in ra], [x[k] for x in rb]).replace("SDE lower", "first lower") for k in ("iou", "covered", "extra")]
        print(f"| threshold {a[1]:g} grown {a[2]} − threshold {b[1]:g} grown {b[2]} | {len(ra)} | " + " | ".join(cells) + " |")
    out["fill"] = [{k: v for k, v in r.items() if k != "per_scene"} for r in table]


def drag_worlds(size, direction, rng, n):
    """n scenes whose nearest object sits at (48, 56); every other one with a small second object
    away from the path. Colours, kinds and backgrounds vary."""
    worlds = []
    dx, dy = direction
    for i in range(n):
        colours = rng.sample(list(sw.COLOURS), 2)
        kind = sw.KINDS[i % 3]
        obj = sw.Obj(kind, colours[0], 48.0, 56.0, size, rng.uniform(0, math.pi) if kind == "bar" else 0.0)
        objects = [obj]
        if i % 2:
            nx, ny = (104.0, 104.0) if dx else (104.0, 32.0)
            objects = sorted([sw.Obj(rng.choice(sw.KINDS), colours[1], nx, ny, 8.0, 0.5), obj], key=lambda o: o.y)
        worlds.append(sw.World(tuple(objects), rng.choice(list(sw.SKIES)), rng.choice(list(sw.GROUNDS)),
                               4 * rng.randint(*sw.HORIZON_ROWS), 1.0, rng.uniform(-1, 1), SIZE))
    return [replace(w, caption=sw.caption(w.objects, w.ground, w.sky)) for w in worlds]


def warp_setting(evaluations):
    """warp's preset with its repair pass at `evaluations` model calls per image (replay: two per step)."""
    return replace(adrag.PRESETS["warp"], steps=evaluations, t0=0.5)


ROUND_TRIP = ("no drag: the VAE's round trip", None, "latent", None, 1.0)  # what the VAE alone changes
DRAG_ROWS = (  # label, setting, warp_space, region ("mask" / None = similar + windows), eta
    ROUND_TRIP,
    ("warp, image", adrag.PRESETS["warp"], "image", "mask", 1.0),
    ("warp, latent", adrag.PRESETS["warp"], "latent", "mask", 1.0),
    ("warp 4 evals, image", warp_setting(4), "image", "mask", 1.0),
    ("warp 6 evals, image", warp_setting(6), "image", "mask", 1.0),
    ("warp 16 evals, image", warp_setting(16), "image", "mask", 1.0),
    ("warp, no region, image", adrag.PRESETS["warp"], "image", None, 1.0),
    ("warp, no region, latent", adrag.PRESETS["warp"], "latent", None, 1.0),
    ("paper SDE-Drag + region", adrag.PAPER, "latent", "mask", 1.0),
    ("ODE-Drag + region", adrag.PAPER, "latent", "mask", 0.0),
)
PAIRS = (("warp, image", "warp, latent"), ("warp 4 evals, image", "warp, image"), ("warp 6 evals, image", "warp, image"),
         ("warp 16 evals, image", "warp, image"), ("warp, no region, image", "warp, no region, latent"),
         ("paper SDE-Drag + region", "ODE-Drag + region"))


# The node's method each row's setting is a variant of: its plan (what moves) is that method's.
NODE_METHOD = {"warp": adrag.METHODS["warp"], "cycle": adrag.METHODS["paper"]}


@torch.inference_mode()  # as in a prompt: the conditioning's text encoder would otherwise record gradients
def drag_once(model, cond, worlds, latent, pairs_image, region_image, setting, warp_space, eta):
    if setting is None:  # the reference row: the VAE's round trip alone, no drag
        return bsm.images_of(latent)
    samples = latent["samples"]  # planned as the node plans it (adapter/drag.py), with the node's defaults
    marked = (None, None) if region_image is None else adrag.marked_region(region_image, [], samples, FACTOR)
    plan = adrag.plan_moves(adrag.plan_pairs(setting, pairs_image, FACTOR), NODE_METHOD[setting.algorithm], samples,
                            marked=marked, handle_region="similar + windows", patch_radius=5, warp_space=warp_space,
                            vae=bsm.VAE)
    texts = [w.caption for w in worlds]
    out = adrag.run_plan(plan, model=model, positive=cond(texts), negative=cond([""] * len(texts)), latent=latent,
                         seed=0, cfg=bsm.CFG, radius=5, beta=0.3, alpha=1.1, eta=eta, scheduler="ddim_uniform").latent
    return bsm.images_of(out)


def score(w, img, r, moved, dx, dy):
    p = bsm.M.parse(r)
    f = p.world.size / SIZE  # the parse is at 64: its lengths in picture pixels
    ideal_obj = replace(moved, x=moved.x + dx, y=moved.y + dy)
    ideal = replace(w, objects=tuple(sorted([o if o is not moved else ideal_obj for o in w.objects], key=lambda o: o.y)))
    found = [o for o in p.objects if o.colour == moved.colour]
    o = min(found, key=lambda o: math.hypot(o.x / f - ideal_obj.x, o.y / f - ideal_obj.y)) if found else None
    source = sw.object_mask(replace(w, objects=(moved,))) * (1 - sw.object_mask(replace(w, objects=(ideal_obj,))))
    left = float((((r - sw.render(ideal)) ** 2).mean(0) * source).sum().div(source.sum().clamp_min(1)).sqrt())
    others = [x for x in w.objects if x is not moved]
    nb_change = float(((r - img).abs().amax(0) * sw.object_mask(replace(w, objects=(others[0],)))).amax()) if others else float("nan")
    return {"placement": math.hypot(o.x / f - ideal_obj.x, o.y / f - ideal_obj.y) if o else float("nan"), "lost": o is None,
            "identity": bool(o and o.kind == moved.kind), "valid": p.valid(), "residual": p.residual, "left_behind": left,
            "nb_change": nb_change}


def drag(model, cond, n, out, only=None):
    rng = random.Random(7)
    rows = {}
    for size in (8.0, 18.0):
        for dx, dy in ((24, 0), (0, 24)):
            worlds = drag_worlds(size, (dx, dy), rng, n)
            imgs = sw.render_all(worlds)
            latent = bsm.latent_of(imgs)
            moved = [[o for o in w.objects if (o.x, o.y) == (48.0, 56.0)][0] for w in worlds]
            region_image = torch.stack([sw.object_mask(replace(w, objects=(m,))) for w, m in zip(worlds, moved)])
            pairs_image = [((47.5, 55.5), (47.5 + dx, 55.5 + dy))]  # the node's pixel coordinates: world − ½
            for label, setting, space, region, eta in DRAG_ROWS:
                if only and label not in only:
                    continue
                counted = bsm.Counted(model)
                started = time.time()
                res = drag_once(counted.model, cond, worlds, latent, pairs_image, region_image if region else None, setting, space, eta)
                seconds = time.time() - started
                for w, img, r, m in zip(worlds, imgs, res, moved):
                    rows.setdefault((label, "small" if size < 10 else "large"), []).append(
                        {**score(w, img, r, m, dx, dy), "evals": counted.latents / len(worlds), "seconds": seconds / len(worlds)})
                if (size, dx) == (18.0, 24):
                    out.setdefault("drag_pictures", {})[label] = res[:6]
                    out["drag_pictures"]["input"] = imgs[:6]
            print({k: len(v) for k, v in rows.items()}, flush=True)
    table = []
    print("\n| setting | object | n | placement px | lost | identity | valid scene | parse residual | left behind | second object's largest change | evaluations per drag | s per drag |")
    print("|---|---|---:|---|---:|---|---|---|---|---|---:|---:|")
    for (label, size), rs in rows.items():
        r = {"setting": label, "object": size, "n": len(rs), "placement": bsm.mean_ci([x["placement"] for x in rs]),
             "lost": sum(x["lost"] for x in rs), "identity": bsm.share([x["identity"] for x in rs]),
             "valid": bsm.share([x["valid"] for x in rs]), "residual": bsm.mean_ci([x["residual"] for x in rs]),
             "left_behind": bsm.mean_ci([x["left_behind"] for x in rs]), "nb_change": bsm.mean_ci([x["nb_change"] for x in rs]),
             "evals": sum(x["evals"] for x in rs) / len(rs), "seconds": sum(x["seconds"] for x in rs) / len(rs)}
        table.append(r)
        print(f"| {label} | {size} | {r['n']} | {r['placement']} | {r['lost']} | {r['identity']} | {r['valid']} | {r['residual']} | "
              f"{r['left_behind']} | {r['nb_change']} | {r['evals']:.0f} | {r['seconds']:.1f} |")
    out["drag"] = table
    print("\n| first − second | object | n | placement px | parse residual | left behind |")
    print("|---|---|---:|---|---|---|")
    for a, b in PAIRS:
        for size in ("small", "large"):
            if (a, size) not in rows or (b, size) not in rows:
                continue
            ra, rb = rows[(a, size)], rows[(b, size)]
            cells = [bsm.paired([x[k] for x in ra], [x[k] for x in rb]).replace("SDE lower", "first lower")
                     for k in ("placement", "residual", "left_behind")]
            print(f"| {a} − {b} | {size} | {len(ra)} | " + " | ".join(cells) + " |")
            out.setdefault("drag_paired", []).append({"pair": f"{a} - {b}", "object": size, "n": len(ra),
                                                      **dict(zip(("placement", "residual", "left_behind"), cells))})


DEFORM_ROWS = (  # label, setting, warp_space, region, eta
    ROUND_TRIP,
    ("warp + region, image", adrag.PRESETS["warp"], "image", "mask", 1.0),
    ("warp, no region, image", adrag.PRESETS["warp"], "image", None, 1.0),
    ("paper SDE-Drag + region", adrag.PAPER, "latent", "mask", 1.0),
    ("ODE-Drag + region", adrag.PAPER, "latent", "mask", 0.0),
)
DEFORM_SIZES = (10.0, 18.0)  # bar half lengths: 20 and 36 px long, 2.5 and 4.5 latent pixels


def deform_worlds(size, rng, n):
    """bench_scene_model's deform scenes at 128×128: the bar at (64, 64), the corner object at (16, 16)."""
    return bsm.deform_worlds(size, rng, n, picture=SIZE, corner=(16.0, 8.0))


def deform(model, cond, n, out, only=None):
    """Two-pair drags that rotate a bar by 30 degrees or stretch it 1.5 times on the latent model, as
    bench_scene_model's deform on the pixel model (its pairs and scores): the bar's own mask as the
    region (or none: the default similar + windows), warp against paper SDE-Drag against ODE-Drag."""
    rng = random.Random(9)
    rows = {}
    for size in DEFORM_SIZES:
        worlds = deform_worlds(size, rng, n)
        imgs = sw.render_all(worlds)
        for how in ("rotate", "stretch"):
            for label, setting, space, region, eta in DEFORM_ROWS:
                if only and label not in only:
                    continue
                results = []
                for w, img in zip(worlds, imgs):
                    bar = [o for o in w.objects if o.kind == "bar" and (o.x, o.y) == (64.0, 64.0)][0]
                    pairs, ideal_bar = bsm.deform_pairs(bar, how)
                    region_image = sw.object_mask(replace(w, objects=(bar,)))[None] if region else None
                    counted = bsm.Counted(model)
                    started = time.time()
                    r = drag_once(counted.model, cond, [w], bsm.latent_of(img[None]), pairs, region_image, setting, space, eta)[0]
                    results.append(dict(bsm.score_deform(w, img, bar, ideal_bar, r), evals=counted.latents,
                                        seconds=time.time() - started))
                    if size == DEFORM_SIZES[-1] and len(results) <= 6:
                        out.setdefault("deform_pictures", {}).setdefault(f"{how} {size:g}", {}).setdefault(label, []).append(r)
                rows[(label, how, size)] = results
                print(f"{label} {how} {size:g}: done", flush=True)
            if size == DEFORM_SIZES[-1]:
                out.setdefault("deform_pictures", {}).setdefault(f"{how} {size:g}", {})["input"] = list(imgs[:6])
    out["deform_pictures"] = {k: {label: torch.stack(v) for label, v in d.items()} for k, d in out.get("deform_pictures", {}).items()}
    out["deform"] = bsm.deform_table(rows)
    print("\n| SDE − ODE (paper, region) | drag | bar half length | n | orientation error deg | stretch error (reach) | left behind |")
    print("|---|---|---:|---:|---|---|---|")
    for how in ("rotate", "stretch"):
        for size in DEFORM_SIZES:
            a, b = rows.get(("paper SDE-Drag + region", how, size)), rows.get(("ODE-Drag + region", how, size))
            if a and b:
                cells = [bsm.paired([x[k] for x in a], [x[k] for x in b]) for k in ("orientation", "reach", "left_behind")]
                print(f"| paper SDE − ODE | {how} | {size:g} | {len(a)} | " + " | ".join(cells) + " |")
                out.setdefault("deform_paired", []).append({"drag": how, "size": size, "n": len(a),
                                                            **dict(zip(("orientation", "reach", "left_behind"), cells))})


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.benchmarks.bench_region_defaults", description=__doc__.split("\n\n")[0])
    p.add_argument("parts", nargs="*", default=["fill", "drag", "deform"], choices=("fill", "drag", "deform"))
    p.add_argument("--n", type=int, default=48, help="fill: scenes; drag: scenes per object size and direction (halved)")
    p.add_argument("--rows", nargs="+", help="drag: only these settings")
    p.add_argument("--threads", type=int, default=2, help="torch threads (1 when two benchmarks share the 2 cores)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--pictures", metavar="DIR", help="write the drag's and deform's picture grids here (docs/ for the model card)")
    args = p.parse_args(argv)
    bsm.M = bsm.Space("latent")
    model, cond, vae = bsm.setup(args.threads)
    bsm.VAE = vae
    out = {}
    for part in args.parts:
        started = time.time()
        print(f"\n## {part}\n", flush=True)
        if part == "fill":
            fill(args.n, out)
        elif part == "deform":
            deform(model, cond, max(2, args.n // 4), out, args.rows)
        else:
            drag(model, cond, max(2, args.n // 4), out, args.rows)
        print(f"\n({part}: {time.time() - started:.0f} s)", flush=True)
    if args.pictures:
        os.makedirs(args.pictures, exist_ok=True)
        if "drag_pictures" in out:  # the large object dragged right: input, then each setting
            d = out["drag_pictures"]
            bsm.grid([d["input"]] + [d[label] for label, *_ in DRAG_ROWS if label in d]).save(
                os.path.join(args.pictures, "latent_scene_model_drag.png"))
        for key, d in out.get("deform_pictures", {}).items():  # "rotate 18": input, then each setting
            bsm.grid([d["input"]] + [d[label] for label, *_ in DEFORM_ROWS if label in d]).save(
                os.path.join(args.pictures, f"latent_scene_model_{key.split()[0]}.png"))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        torch.save({k: v for k, v in out.items() if isinstance(v, dict)}, args.json + ".pt")
        with open(args.json, "w") as f:
            json.dump({k: v for k, v in out.items() if isinstance(v, list)}, f, indent=1)


if __name__ == "__main__":
    main()
