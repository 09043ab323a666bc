"""What the drag's region-from-handles rule finds on real photographs, against object masks drawn by
hand (tests/data/photo_objects.json on scikit-image's sample photographs: chelsea the cat, coffee,
astronaut, rocket, motorcycle).

When a user marks nothing, `warp` and `fast` move the region `sampling.regions.similar_region` finds
from each handle: a flood fill over latent pixels within `threshold` (in units of the latent's own
per-channel spread) of the handle's, dropped when it covers more than a quarter of the picture. This
runs the same rule on each photo at its own resolution and on an 8× grid (the picture averaged over
8×8 cells, cropped to a multiple of 8 as VAEEncode crops: where an SD latent pixel sits), from three
handles per object, and scores each region against the hand mask: IoU, the share of the object found
(recall), the share of the region on the object (precision), and how often it was dropped.

    .venv/bin/python -m lab.benchmarks.bench_region_photos [--thresholds 0.5 1 1.5 2 3] [--json F]

Needs scikit-image (requirements-dev.txt), whose wheel ships the photographs.
"""
import argparse
import json
import os

import torch

from sampling.masks import grow
from sampling.regions import similar_region

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
OBJECTS = os.path.join(ROOT, "tests", "data", "photo_objects.json")
DEFAULT = {"threshold": 1.0, "max_fraction": 0.25, "grow": 1}  # sampling.regions / adapter.drag's defaults


def photo(name: str):
    """(1, 3, H, W) in [0, 1] of a scikit-image sample photograph."""
    import skimage.data
    image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    return torch.from_numpy(image[..., :3].copy()).float().div(255).movedim(-1, 0)[None]


def hand_mask(entry: dict):
    """(H, W) bool: the hand-drawn polygon, filled."""
    from PIL import Image, ImageDraw
    width, height = entry["size"]
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in entry["polygon"]], fill=255)
    return torch.from_numpy(__import__("numpy").array(mask) > 127)


def on_grid(image, mask, factor: int):
    """The picture averaged over factor×factor cells and the mask on that grid (a cell is the
    object's when at least half its area is), both cropped to a multiple of `factor`."""
    h, w = image.shape[-2] // factor * factor, image.shape[-1] // factor * factor
    image, mask = image[..., :h, :w], mask[:h, :w].float()
    if factor == 1:
        return image, mask.bool()
    return (torch.nn.functional.avg_pool2d(image, factor),
            torch.nn.functional.avg_pool2d(mask[None, None], factor)[0, 0] >= 0.5)


def score(found, mask):
    """IoU, recall (share of the object found), precision (share of the region on the object)."""
    both = float((found & mask).sum())
    return {"iou": both / max(float((found | mask).sum()), 1.0), "recall": both / max(float(mask.sum()), 1.0),
            "precision": both / max(float(found.sum()), 1.0), "area": float(found.float().mean())}


def measure(name, entry, factor: int, threshold: float, max_fraction: float = 0.25, grow_by: int = 0):
    """One row per handle: what the rule finds from it on `name` at `factor`."""
    image, mask = on_grid(photo(name), hand_mask(entry), factor)
    rows = []
    for hx, hy in entry["handles"]:
        found = similar_region(image, [((hx + 0.5) / factor - 0.5, (hy + 0.5) / factor - 0.5)], threshold, max_fraction)
        if found is None:
            rows.append({"photo": name, "handle": [hx, hy], "dropped": True, "iou": 0.0, "recall": 0.0,
                         "precision": 0.0, "area": None})
            continue
        region = found[0, 0].bool()
        if grow_by:
            region = grow(region[None].float(), grow_by)[0].bool()
        rows.append({"photo": name, "handle": [hx, hy], "dropped": False, **score(region, mask)})
    return rows


def summary(rows):
    n = len(rows)
    return {"n": n, "iou": sum(r["iou"] for r in rows) / n, "recall": sum(r["recall"] for r in rows) / n,
            "precision": sum(r["precision"] for r in rows if not r["dropped"]) / max(1, sum(not r["dropped"] for r in rows)),
            "dropped": sum(r["dropped"] for r in rows), "useful": sum(r["iou"] >= 0.5 for r in rows)}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.benchmarks.bench_region_photos", description=__doc__.split("\n\n")[0])
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 3.0])
    p.add_argument("--json", help="write every row here")
    args = p.parse_args(argv)
    photos = json.load(open(OBJECTS))["photos"]
    out = {}
    print("| grid | threshold | max area | IoU (mean) | object found | region on object | dropped | IoU ≥ 0.5 |")
    print("|---|---|---|---|---|---|---|---|")
    for factor, grow_by in ((1, 0), (8, DEFAULT["grow"])):
        for threshold in args.thresholds:
            for max_fraction in (DEFAULT["max_fraction"], 1.0):
                rows = [r for name, entry in photos.items() for r in measure(name, entry, factor, threshold, max_fraction, grow_by)]
                s = summary(rows)
                key = f"{factor}x threshold {threshold} max {max_fraction}"
                out[key] = {"summary": s, "rows": rows}
                print(f"| {'picture' if factor == 1 else '8× (+1 grown)'} | {threshold:g} | {max_fraction:.0%} | {s['iou']:.2f} | "
                      f"{s['recall']:.0%} | {s['precision']:.0%} | {s['dropped']}/{s['n']} | {s['useful']}/{s['n']} |", flush=True)
    default_rows = out[f"8x threshold {DEFAULT['threshold']} max {DEFAULT['max_fraction']}"]["rows"]
    print("\nThe default (8× grid, threshold 1, max area 25 %, grown 1), per photo and handle:")
    for r in default_rows:
        print(f"  {r['photo']:10s} handle {tuple(r['handle'])}: " + ("dropped (over a quarter of the picture)" if r["dropped"] else
              f"IoU {r['iou']:.2f}, found {r['recall']:.0%} of the object, {r['area']:.1%} of the picture"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
