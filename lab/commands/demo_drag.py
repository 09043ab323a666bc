"""The SDE-Drag part of `make demo`: drags of the ball on the reference scene model, SDE against ODE.

Runs workflows/SDE-Drag (reference model, CPU).json as shipped, through lab/commands/run_workflow.py's `execute`, on a
ComfyUI server that is already started (lab/commands/demo.py passes its own), with these overrides:

    ReferenceSceneImage x, y, colour   the input scene (the ball at the drag's source)
    points                             {"source": [[x, y]], "target": [[x, y]]}
    SDEDragPointMover eta              1 (SDE-Drag) or 0 (ODE-Drag); seed 1234 for both
    SDEDragPointMover cfg              1 (see CFG below)

CFG: the reference model ignores its conditioning, so the positive and negative predictions are equal
and cfg 3 (the workflow's value) returns bit-identical images to cfg 1; cfg 1 lets ComfyUI skip the
negative pass and makes every drag about 4 times faster. --cfg 3 runs the workflow's value.

It fetches the dragged image and the sub-steps (one picture per sub-step) and measures per output:

    distance = from the centre of the output's ball to the target, in pixels (the ball's pixels are
               those that differ from the known background by more than 0.25, as lab/benchmarks/bench_drag.py)
    realism  = RMS pixel distance ([0, 1] units) to the nearest reference scene (lower = more real)

Writes OUT (out/demo/drag/: the input, both outputs and both sub-step strips of every drag, sheet.png,
table.md); `make docs` copies the sheet to docs/demo_drag_sheet.png. Standalone (starts its own server):

    .venv/bin/python -m lab.commands.demo_drag [--seed 1234] [--cfg 1]
"""
import argparse
import importlib
import io
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import import_reference
from lab.harness.comfy_server import ComfyServer, PromptError
from lab.harness.find_comfyui import PACK_DIR

from .run_workflow import Overrides, execute

WORKFLOW = os.path.join(PACK_DIR, "lab", "workflows", "SDE-Drag (reference model, CPU).json")
OUT = os.path.join(PACK_DIR, "out", "demo", "drag")
DOCS_SHEET = os.path.join(PACK_DIR, "docs", "demo_drag_sheet.png")
SIZE = 64  # the workflow's resolution
# (name, colour, source, target): every point on the model's 4-px grid
DRAGS = (
    ("red right", "red", (28, 28), (40, 28)),
    ("red down", "red", (28, 28), (28, 44)),
    ("red left", "red", (28, 28), (16, 28)),
    ("blue up", "blue", (40, 40), (40, 24)),
    # 12 px right and down in 4 sub-steps of 3 px: the sub-steps fall between the model's grid positions
    ("blue diagonal", "blue", (44, 24), (32, 36)),
)
SAMPLERS = (("SDE-Drag", 1.0), ("ODE-Drag", 0.0))
DEFAULT_CFG = 1.0  # the images of the workflow's cfg 3, faster (see CFG above)
SETTINGS = ("steps", "t0", "drag_step", "patch_radius", "beta", "alpha", "scheduler", "seed", "cfg")  # as they ran
# titles of the workflow's image nodes
INPUT, DRAGGED, SUBSTEPS = "Input image", "Dragged image", "Sub-steps of the drag"


def png_to_tensor(data):
    """PNG bytes -> (3, H, W) float tensor in [0, 1]."""
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def ball_centre(image, background):
    """(x, y) centroid of the pixels that differ from the background by more than 0.25, in
    pixel-centre coordinates (a ball drawn at (x, y) gives (x, y)); None when there is no ball."""
    ball = (image - background).abs().amax(0) > 0.25
    if not ball.any():
        return None
    ys, xs = torch.nonzero(ball, as_tuple=True)
    return xs.float().mean().item() + 0.5, ys.float().mean().item() + 0.5


def strip(pngs, gap=2):
    """PNG bytes side by side on white, `gap` pixels apart."""
    imgs = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    out = Image.new("RGB", (sum(i.width for i in imgs) + gap * (len(imgs) - 1), imgs[0].height), "white")
    x = 0
    for img in imgs:
        out.paste(img, (x, 0))
        x += img.width + gap
    return out


def overrides(colour, source, target, eta, seed, cfg):
    return Overrides(seed=seed, points={"source": [list(source)], "target": [list(target)]},
                     sets=[("SDEEditLabReferenceSceneImage", "x", source[0]), ("SDEEditLabReferenceSceneImage", "y", source[1]),
                           ("SDEEditLabReferenceSceneImage", "colour", colour),
                           ("SDEDragPointMover", "method", "paper"),  # the SDE-vs-ODE comparison is the paper's algorithm
                           ("SDEDragPointMover", "eta", eta), ("SDEDragPointMover", "cfg", cfg)])


def run(server, seed=1234, cfg=DEFAULT_CFG, out_dir=OUT, log=print):
    """Run every drag with both samplers on a started server; write the pictures to out_dir.
    Returns the results: one dict per drag (name, colour, source, target, input PNG, and per sampler
    the output PNG, the sub-step PNGs, the ball centre, distance, realism, nearest scene, seconds)."""
    reference = import_reference()
    scenes = importlib.import_module(reference.__name__ + ".scenes")
    oracles = importlib.import_module(reference.__name__ + ".oracles")
    ref_images, ref_scenes = scenes.reference_images(SIZE)
    references = oracles.EmpiricalImages(ref_images)
    background = scenes.background(SIZE)
    with open(WORKFLOW, encoding="utf-8") as f:
        workflow = json.load(f)
    object_info = server.get("/object_info")  # once, not once per prompt

    os.makedirs(out_dir, exist_ok=True)
    results = []
    for name, colour, source, target in DRAGS:
        drag = dict(name=name, colour=colour, source=source, target=target)
        stem = name.replace(" ", "_")
        for sampler, eta in SAMPLERS:
            result = execute(workflow, server, overrides(colour, source, target, eta, seed, cfg),
                             object_info=object_info)
            by_title = {}
            for img in result.images:
                by_title.setdefault(img.title, []).append(img.data)
            output, substeps = by_title[DRAGGED][0], by_title[SUBSTEPS]
            drag["input"] = by_title[INPUT][0]
            mover = next(v["inputs"] for v in result.prompt.values() if v["class_type"] == "SDEDragPointMover")
            drag["settings"] = {k: mover[k] for k in SETTINGS}
            image = png_to_tensor(output)
            centre = ball_centre(image, background)
            distance = float("nan") if centre is None else float(np.hypot(centre[0] - target[0], centre[1] - target[1]))
            realism, _, index = references.nearest(image[None])
            nearest = ref_scenes[int(index[0])]
            drag[sampler] = dict(output=output, substeps=substeps, centre=centre, distance=distance,
                                 realism=realism.item(), nearest=nearest, seconds=result.seconds)
            tag = "sde" if eta > 0 else "ode"
            with open(os.path.join(out_dir, f"{stem}_{tag}.png"), "wb") as f:
                f.write(output)
            strip(substeps).save(os.path.join(out_dir, f"{stem}_{tag}_substeps.png"))
            log(f"  {name:<14} {source} -> {target} {sampler} (eta={eta:g}): {len(substeps)} sub-steps, ball "
                f"{'lost' if centre is None else f'{distance:.1f} px'} from target, realism {realism.item():.4f}, "
                f"{result.seconds:.2f} s", flush=True)
        with open(os.path.join(out_dir, f"{stem}_input.png"), "wb") as f:
            f.write(drag["input"])
        results.append(drag)
    return results


def point(p):
    return f"({p[0]}, {p[1]})"


def markdown_table(results):
    lines = ["| drag | sub-steps | sampler | ball centre | distance to target (px) | realism (RMS to nearest scene) "
             "| nearest scene | seconds |",
             "|---|---:|---|---|---:|---:|---|---:|"]
    for d in results:
        for sampler, eta in SAMPLERS:
            r = d[sampler]
            centre = "none" if r["centre"] is None else f"({r['centre'][0]:.1f}, {r['centre'][1]:.1f})"
            distance = "lost" if r["centre"] is None else f"{r['distance']:.1f}"
            n = r["nearest"]
            lines.append(f"| {d['colour']} {point(d['source'])} → {point(d['target'])} | {len(r['substeps'])} | "
                         f"{sampler} (η={eta:g}) | {centre} | {distance} | {r['realism']:.4f} | "
                         f"{n.colour} {point((n.x, n.y))} | {r['seconds']:.2f} |")
    return "\n".join(lines) + "\n"


def settings_text(results):
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in results[0]["settings"].items())


def table_header(results, command):
    return (f"SDE-Drag through ComfyUI on the reference scene model (eps, {SIZE}×{SIZE}): "
            "`workflows/SDE-Drag (reference model, CPU).json` as shipped, with the input scene, the points, eta, the seed and "
            f"cfg set per run; it ran with {settings_text(results)}. (The model ignores its conditioning, so cfg 1 "
            "and the workflow's cfg 3 give identical images; cfg 1 skips the negative pass.) Ball centre: centroid "
            "of the pixels that differ from the background by more than 0.25; distance: from it to the target. "
            "Realism: RMS distance ([0, 1] pixel units) of the output to the nearest reference scene (0.0022 is the "
            "8-bit rounding floor); nearest scene: that scene's ball. Seconds: the server's execution time of the "
            f"prompt. Command: `{command}`.\n\n")


def arrow(draw, start, end, width=3, head=10):
    """A yellow arrow with a black outline from start to end (canvas pixels)."""
    (x0, y0), (x1, y1) = start, end
    length = max(float(np.hypot(x1 - x0, y1 - y0)), 1e-6)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    bx, by = x1 - ux * head, y1 - uy * head  # base of the head
    tip = [(x1, y1), (bx - uy * head * 0.6, by + ux * head * 0.6), (bx + uy * head * 0.6, by - ux * head * 0.6)]
    for colour, extra in (("black", 2), ("yellow", 0)):
        draw.line([(x0, y0), (bx, by)], fill=colour, width=width + extra)
        draw.polygon(tip, fill="yellow", outline="black" if extra else None)


def make_sheet(results, factor=2, gap=6):
    """Rows: drags. Columns: the input with the drag's arrow, SDE-Drag, ODE-Drag, the SDE sub-steps."""
    tile = SIZE * factor
    label_w, head_h, foot_h, text_h = 110, 24, 40, 34
    most = max(len(d["SDE-Drag"]["substeps"]) for d in results)
    col_x = [label_w + c * (tile + 3 * gap) for c in range(4)]
    width = col_x[3] + most * (tile + gap) + gap
    height = head_h + len(results) * (tile + text_h + gap) + foot_h
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    small, big = font(12), font(14)

    def big_tile(png):
        img = Image.open(io.BytesIO(png)).convert("RGB")
        return img.resize((img.width * factor, img.height * factor), Image.NEAREST)

    # the default font has no η and no arrow glyph
    for c, text in enumerate(("input and drag", "SDE-Drag (eta = 1)", "ODE-Drag (eta = 0)", "SDE-Drag sub-steps")):
        draw.text((col_x[c], 4), text, fill="black", font=big)
    for r, d in enumerate(results):
        y = head_h + r * (tile + text_h + gap)
        draw.text((6, y + tile // 2 - 16), f"{d['name']}\n{point(d['source'])} ->\n{point(d['target'])}",
                  fill="black", font=small)
        sheet.paste(big_tile(d["input"]), (col_x[0], y))
        arrow(draw, *[(col_x[0] + p[0] * factor, y + p[1] * factor) for p in (d["source"], d["target"])])
        for c, (sampler, _) in enumerate(SAMPLERS, 1):
            res = d[sampler]
            sheet.paste(big_tile(res["output"]), (col_x[c], y))
            off = "ball lost" if res["centre"] is None else f"{res['distance']:.1f} px from target"
            draw.text((col_x[c], y + tile + 2), f"{off}\nrealism {res['realism']:.4f}", fill="black", font=small)
        for i, png in enumerate(d["SDE-Drag"]["substeps"]):
            sheet.paste(big_tile(png), (col_x[3] + i * (tile + gap), y))
            draw.text((col_x[3] + i * (tile + gap), y + tile + 2), f"sub-step {i + 1}", fill="black", font=small)
    draw.text((6, height - foot_h + 4),
              "workflows/SDE-Drag (reference model, CPU).json through ComfyUI on the reference scene model: "
              f"{settings_text(results)}.\nDistance: from the output's ball centre to the arrow's head; realism: "
              "RMS distance to the nearest reference scene ([0, 1] pixel units, lower = better).",
              fill="black", font=small)
    return sheet


def write_report(results, command, out_dir=OUT, docs_sheet=None):
    """table.md and sheet.png in out_dir (and the sheet copied to docs_sheet, if given); returns the
    Markdown table."""
    table = markdown_table(results)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(table_header(results, command) + table)
    sheet_path = os.path.join(out_dir, "sheet.png")
    make_sheet(results).save(sheet_path)
    if docs_sheet:
        os.makedirs(os.path.dirname(docs_sheet), exist_ok=True)
        shutil.copyfile(sheet_path, docs_sheet)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--cfg", type=float, default=DEFAULT_CFG,
                        help="1 (default) gives the same images as the workflow's 3, about 4 times faster")
    args = parser.parse_args(argv)
    started = time.time()
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    server = ComfyServer(log_path=os.path.join(OUT, "server.log"))
    try:
        print(f"starting ComfyUI from {server.comfyui} (CPU) ...", flush=True)
        server.start()
        results = run(server, args.seed, args.cfg)
    except PromptError as e:
        print(f"demo_drag: ComfyUI rejected or failed a prompt: {e}\nserver log: {server.log_path}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    extra = argv if argv is not None else sys.argv[1:]
    table = write_report(results, " ".join([".venv/bin/python -m lab.commands.demo_drag", *extra]))
    print("\n" + table)
    print(f"outputs: {OUT}/; total {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
