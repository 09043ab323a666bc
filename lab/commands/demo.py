"""`make demo`: SDEdit on a stroke painting, then SDE-Drag on a scene, through a real ComfyUI server, SDE vs ODE.

Starts ComfyUI (`main.py --cpu`, loopback, a temporary base directory with a link to this pack),
queues API-format prompts that use only the pack's nodes and ComfyUI's stock nodes

    ReferenceSceneModel ─ MODEL, empty_conditioning
    ReferenceSceneImage (stroke painting) ─ VAEEncode (pixel_space VAE) ─ RepeatLatentBatch
        ─ SDEditNoiseDenoise ─ VAEDecode ─ SaveImage

for every strength × sampler (SDE η = 1, ODE η = 0, the same number of steps), fetches the PNGs the
server saved and measures, per strength and sampler:

    realism      = RMS pixel distance ([0, 1] units) of an output to the nearest reference scene
                   (the model's data set: the smaller, the more the output is a real scene)
    faithfulness = RMS pixel distance of an output to the stroke input (the smaller, the closer)

Writes out/demo/ (input, every output, sheet.png, table.md, server.log); with --docs it also copies
the sheets to docs/ (`make docs`). No checkpoint is needed: the model is the pack's exact
reference-scene model.

Then, on the same server, the SDE-Drag part (lab/commands/demo_drag.py): workflows/SDE-Drag (reference model, CPU).json,
through lab/commands/run_workflow.py, drags the ball of a few scenes with SDE-Drag (η = 1) and ODE-Drag (η = 0)
and measures how far the output's ball is from the target and how real the output is. Writes
out/demo/drag/. --skip-drag leaves it out.

Last, the part on the latent scene model trained here (lab/commands/demo_trained.py): the three "(trained
latent model, CPU)" workflows as shipped, their outputs read back by the scene parser. Writes
out/demo/trained/.
"""
import argparse
import importlib
import os
import shutil
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import import_reference
from lab.harness.comfy_server import ComfyServer, PromptError
from lab.harness.find_comfyui import PACK_DIR

from . import demo_drag, demo_trained
from .demo_drag import font, png_to_tensor  # shared with the drag part
from .run_workflow import execute

OUT = os.path.join(PACK_DIR, "out", "demo")
DOCS_SHEET = os.path.join(PACK_DIR, "docs", "demo_sheet.png")
SAMPLERS = (("SDE", 1.0), ("ODE", 0.0))
STROKE = dict(x=30, y=26, colour="red")
RESOLUTION = 64
# The second SDEdit part: the same set blurred by τ (a model with error, where SDE and ODE come apart),
# on the karras schedule (with `normal` the first-order SDE step leaves outputs under-dispersed at 25 steps).
TAU, BLURRED_SCHEDULER = 0.1, "karras"
DOCS_SHEET_BLURRED = os.path.join(PACK_DIR, "docs", "demo_sheet_blurred.png")


def build_prompt(strength, eta, steps, seed, batch, prefix, tau=0.0, scheduler="normal"):
    """API-format prompt: node id -> {class_type, inputs}; links are [node id, output index]."""
    return {
        "model": {"class_type": "SDEEditLabReferenceSceneModel",
                  "inputs": {"parameterization": "eps", "resolution": RESOLUTION, "tau": tau}},
        "stroke": {"class_type": "SDEEditLabReferenceSceneImage",
                   "inputs": {"kind": "stroke painting", **STROKE, "resolution": RESOLUTION}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
        "encode": {"class_type": "VAEEncode", "inputs": {"pixels": ["stroke", 0], "vae": ["vae", 0]}},
        "batch": {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["encode", 0], "amount": batch}},
        "sdedit": {"class_type": "SDEditNoiseDenoise",
                   "inputs": {"model": ["model", 0], "positive": ["model", 1], "negative": ["model", 1],
                              "latent_image": ["batch", 0], "seed": seed, "steps": steps, "strength": strength,
                              "eta": eta, "cfg": 1.0, "scheduler": scheduler, "repeats": 1}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sdedit", 0], "vae": ["vae", 0]}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": prefix}},
        "save_stroke": {"class_type": "SaveImage", "inputs": {"images": ["stroke", 0], "filename_prefix": "stroke"}},
    }


def run_and_save(prompt, server, prefix):
    """Run the prompt; write the images its `save` node saved as out/demo/<prefix>_<i>.png. Returns
    (the run's result, the images as (3, H, W) tensors in [0, 1])."""
    result = execute(prompt, server)
    outs = []
    for i, png in enumerate(result.by_node()["save"]):
        with open(os.path.join(OUT, f"{prefix}_{i}.png"), "wb") as f:
            f.write(png)
        outs.append(png_to_tensor(png))
    return result, outs


def rms(a, b):
    return ((a - b) ** 2).flatten(1).mean(1).sqrt()


def upscale(img, factor):
    arr = (img.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    return Image.fromarray(arr).resize((arr.shape[1] * factor, arr.shape[0] * factor), Image.NEAREST)


def make_sheet(stroke, results, strengths, steps, factor=2, gap=4, caption=None, footer=None):
    """Rows SDE / ODE, columns the stroke input then every strength; each cell the batch as a 2x2 grid.
    caption(result) -> the two lines under a cell; footer: the text at the bottom."""
    label_w, head_h, foot_h = 80, 22, 34
    tile = RESOLUTION * factor
    cell = 2 * tile + gap
    cols = 1 + len(strengths)
    width = label_w + cols * (cell + 3 * gap)
    height = head_h + len(SAMPLERS) * (cell + foot_h + gap) + 36
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    small, big = font(12), font(14)

    def col_x(c):
        return label_w + c * (cell + 3 * gap)

    draw.text((col_x(0), 4), "stroke input", fill="black", font=big)
    for c, strength in enumerate(strengths, 1):
        draw.text((col_x(c), 4), f"strength {strength:g}", fill="black", font=big)
    for r, (name, eta) in enumerate(SAMPLERS):
        y = head_h + r * (cell + foot_h + gap)
        draw.text((6, y + cell // 2 - 16), f"{name}\neta = {eta:g}", fill="black", font=big)
        if r == 0:
            sheet.paste(upscale(stroke, 2 * factor), (col_x(0), y))
        for c, strength in enumerate(strengths, 1):
            res = results[(strength, name)]
            batch = len(res["images"])
            for i, img in enumerate(res["images"][:4]):
                sheet.paste(upscale(img, factor), (col_x(c) + (i % 2) * (tile + gap), y + (i // 2) * (tile + gap)))
            text = (caption(res) if caption else
                    f"realism {res['realism'].mean():.3f}\nfaithful {res['faithfulness'].mean():.3f}")
            draw.text((col_x(c), y + cell + 2), text, fill="black", font=small)
    draw.text((6, height - 34), footer or (
        f"SDEdit through ComfyUI on the reference scene model (eps), {steps} steps in every cell; "
        f"first 4 of {batch} noise draws shown, numbers are means over all {batch}.\n"
        "realism = RMS distance to the nearest reference scene, faithful = RMS distance to the stroke "
        "([0, 1] pixel units, lower = better)."), fill="black", font=small)
    return sheet


def markdown_table(rows):
    lines = ["| strength | sampler | realism (RMS to nearest scene) | faithfulness (RMS to stroke) | colour kept "
             "| ball moved (px) | seconds |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for strength, sampler, real, faith, same, moved, secs in rows:
        lines.append(f"| {strength} | {sampler} | {real:.4f} | {faith:.4f} | {same:.0%} | {moved:.1f} | "
                     f"{'–' if secs is None else f'{secs:.2f}'} |")
    return "\n".join(lines) + "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.3, 0.45, 0.6, 0.8, 1.0])
    parser.add_argument("--steps", type=int, default=25, help="steps run per sampler (equal for SDE and ODE)")
    parser.add_argument("--batch", type=int, default=8, help="noise draws per setting (batch elements)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of both parts")
    parser.add_argument("--skip-drag", action="store_true", help="leave out the SDE-Drag part")
    parser.add_argument("--docs", action="store_true", help="also copy the sheets to docs/ (what `make docs` runs)")
    return parser.parse_args(argv)


class Judge:
    """The reference scenes the SDEdit outputs are measured against (the reference model's data set)."""

    def __init__(self):
        reference = import_reference()
        self.scenes = importlib.import_module(reference.__name__ + ".scenes")
        oracles = importlib.import_module(reference.__name__ + ".oracles")
        self.metrics = importlib.import_module(reference.__name__ + ".scene_metrics")
        self.images, self.ref_scenes = self.scenes.reference_images(RESOLUTION)
        self.references = oracles.EmpiricalImages(self.images)

    def layout(self, batch):
        """Of the nearest reference scene of each image: share with the stroke's colour, and mean
        distance (pixels) of its ball from the stroke's ball."""
        found = [self.ref_scenes[int(i)] for i in self.references.nearest(batch)[2]]
        same = sum(f.colour == STROKE["colour"] for f in found) / len(found)
        moved = sum(((f.x - STROKE["x"]) ** 2 + (f.y - STROKE["y"]) ** 2) ** 0.5 for f in found) / len(found)
        return same, moved


def fresh_out_dir():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)


def warm_up(server, args):
    """One 1-step run that builds the reference model and loads the VAE, so the timed runs measure
    sampling; returns the stroke painting it saved (also written to stroke_input.png)."""
    warmup = execute(build_prompt(args.strengths[0], 1.0, 1, args.seed, 1, "warmup"), server)
    stroke_png = warmup.by_node()["save_stroke"][0]
    with open(os.path.join(OUT, "stroke_input.png"), "wb") as f:
        f.write(stroke_png)
    return png_to_tensor(stroke_png)


def run_exact(server, args, stroke, judge):
    """SDEdit on the exact model, every strength × sampler: (results for the sheet, table rows)."""
    results, rows = {}, []
    for strength in args.strengths:
        for name, eta in SAMPLERS:
            prefix = f"{name.lower()}_s{strength:.2f}"
            result, outs = run_and_save(build_prompt(strength, eta, args.steps, args.seed, args.batch, prefix),
                                        server, prefix)
            secs = result.seconds  # the server's own execution time
            batch = torch.stack(outs)
            realism = judge.references.nearest(batch)[0].float()
            faithfulness = rms(batch, stroke[None])
            results[(strength, name)] = dict(images=outs, realism=realism, faithfulness=faithfulness)
            rows.append((strength, f"{name} (η={eta:g})", realism.mean().item(), faithfulness.mean().item(),
                         *judge.layout(batch), secs))
            print(f"  strength {strength:<4g} {name} (eta={eta:g}): realism {rows[-1][2]:.4f}  "
                  f"faithfulness {rows[-1][3]:.4f}  {secs:.2f} s", flush=True)
    return results, rows


def run_blurred(server, args, stroke, judge):
    """SDEdit on the model with error (the set blurred by TAU): (results for the sheet, table rows).

    Typicality instead of distance to the nearest scene, which would reward over-smooth outputs (a true
    sample of this model is about 0.05 RMS from its nearest scene)."""
    blurred, blurred_rows = {}, []
    scenes = judge.scenes
    ref_latents = scenes.to_latent(judge.images)
    for strength in args.strengths:
        for name, eta in SAMPLERS:
            prefix = f"blurred_{name.lower()}_s{strength:.2f}"
            result, outs = run_and_save(build_prompt(strength, eta, args.steps, args.seed, args.batch, prefix, TAU,
                                                     BLURRED_SCHEDULER), server, prefix)
            batch = torch.stack(outs)
            strokes = scenes.to_latent(stroke[None]).expand(len(batch), -1, -1, -1)
            _, _, imprint, noise = judge.metrics.kl_terms(scenes.to_latent(batch), strokes, ref_latents, 1.0, TAU * TAU)
            faithfulness = rms(batch, stroke[None])
            blurred[(strength, name)] = dict(images=outs, imprint=imprint, noise=noise, faithfulness=faithfulness)
            blurred_rows.append((strength, f"{name} (η={eta:g})", faithfulness.mean().item(), imprint.mean().item(),
                                 noise.mean().item(), result.seconds))
            print(f"  τ {TAU:g}: strength {strength:<4g} {name} (eta={eta:g}): imprint {imprint.mean():.1f} τ  "
                  f"noise level {noise.mean():.2f}  faithfulness {faithfulness.mean():.4f}", flush=True)
    return blurred, blurred_rows


def run_parts(server, args, judge, started):
    """Every part of the demo on one started server; returns what the reports need (a namespace)."""
    print(f"ComfyUI up at {server.url} after {time.time() - started:.0f} s", flush=True)
    done = argparse.Namespace(drags=None)
    sdedit_started = time.time()
    done.stroke = warm_up(server, args)
    done.results, done.rows = run_exact(server, args, done.stroke, judge)
    done.blurred, done.blurred_rows = run_blurred(server, args, done.stroke, judge)
    done.sdedit_secs = time.time() - sdedit_started
    if not args.skip_drag:
        print(f"SDE-Drag: {os.path.relpath(demo_drag.WORKFLOW, PACK_DIR)} on the same server ...", flush=True)
        drag_started = time.time()
        done.drags = demo_drag.run(server, args.seed, out_dir=os.path.join(OUT, "drag"))
        done.drag_secs = time.time() - drag_started
    print("The latent scene model trained here: the three (trained latent model, CPU) workflows ...", flush=True)
    trained_started = time.time()
    done.trained = demo_trained.run(server, out_dir=os.path.join(OUT, "trained"))
    done.trained_secs = time.time() - trained_started
    return done


def blurred_markdown(blurred_rows):
    return ("| strength | sampler | faithfulness (RMS to stroke) | imprint of the stroke (τ) | noise level (1 = typical) "
            "| seconds |\n|---:|---|---:|---:|---:|---:|\n" +
            "".join(f"| {st:g} | {sa} | {fa:.4f} | {im:.1f} | {no:.2f} | {se:.2f} |\n"
                    for st, sa, fa, im, no, se in blurred_rows))


def write_tables(args, command, rows, blurred_table):
    """out/demo/table.md: both SDEdit tables with what they measure."""
    header = (f"SDEdit through ComfyUI on the reference scene model (eps, {RESOLUTION}×{RESOLUTION}), stroke painting "
              f"of a {STROKE['colour']} ball at ({STROKE['x']}, {STROKE['y']}); {args.steps} steps for both samplers, "
              f"scheduler normal, cfg 1, seed {args.seed}, batch of {args.batch} (means over the batch). "
              "Realism: RMS distance ([0, 1] pixel units) of an output to the nearest reference scene; faithfulness: "
              "RMS distance to the stroke input (both lower = better). Colour kept / ball moved: how many outputs' "
              "nearest reference scene has the stroke's ball colour, and how far its ball is from the stroke's. "
              "Seconds: the server's execution time of the prompt (whole batch). "
              f"Command: `{command}`.\n\n")
    blurred_header = (f"\n**The same on a model with error**: the reference set blurred by τ = {TAU:g} (`SDEEditLabReferenceSceneModel` "
                      f"tau {TAU:g}), scheduler {BLURRED_SCHEDULER}, {args.steps} steps. Imprint: how far an output sits "
                      "from its nearest scene towards the stroke, in units of τ (a true sample of the model: about 0.8; "
                      "the stroke: hundreds). Noise level: RMS distance to the nearest scene across that direction over "
                      "τ (1 for a true sample), measured on the saved 8-bit PNGs (clipped to [0, 1]).\n\n")
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(header + markdown_table(rows) + blurred_header + blurred_table)


def write_sheets(args, done):
    """sheet.png and sheet_blurred.png (copied to docs/ with --docs)."""
    sheet = make_sheet(done.stroke, done.results, args.strengths, args.steps)
    sheet_path = os.path.join(OUT, "sheet.png")
    sheet.save(sheet_path)
    if args.docs:
        shutil.copyfile(sheet_path, DOCS_SHEET)
    sheet = make_sheet(done.stroke, done.blurred, args.strengths, args.steps,
                       caption=lambda r: f"imprint {r['imprint'].mean():.1f} tau\nnoise level {r['noise'].mean():.2f}",
                       footer=f"SDEdit through ComfyUI on the reference set blurred by tau = {TAU:g} (a model with error), "
                              f"{BLURRED_SCHEDULER}, {args.steps} steps; means over {args.batch} draws.\nimprint = what is "
                              "left of the stroke, in units of tau (true samples: about 0.8); noise level 1 = as the "
                              "model's own samples.")
    sheet.save(os.path.join(OUT, "sheet_blurred.png"))
    if args.docs:
        shutil.copyfile(os.path.join(OUT, "sheet_blurred.png"), DOCS_SHEET_BLURRED)


def print_sdedit(args, rows, blurred_table, sdedit_secs):
    print()
    print(f"{'strength':>9}  {'sampler':<10} {'realism':>8} {'faithful':>9} {'colour kept':>12} {'ball moved':>11} {'seconds':>8}")
    for strength, sampler, real, faith, same, moved, secs in rows:
        print(f"{strength:>9}  {sampler:<10} {real:8.4f} {faith:9.4f} {same:12.0%} {moved:9.1f}px "
              f"{'-' if secs is None else f'{secs:.2f}':>8}")
    print("realism = RMS distance to the nearest reference scene, faithful = RMS distance to the stroke (both lower = "
          "better; [0, 1] pixel units); colour kept, ball moved: of the nearest reference scene, against the stroke's ball")
    print(f"\nOn the model with error (τ = {TAU:g}, {BLURRED_SCHEDULER}):")
    print(blurred_table)
    print(f"\noutputs: {OUT}/ (stroke_input.png, <sampler>_s<strength>_<i>.png, blurred_*.png, sheet.png, "
          "sheet_blurred.png, table.md, server.log)")
    print(f"{'sheets copied to docs/; ' if args.docs else ''}SDEdit part {sdedit_secs:.0f} s")


def report_drag(args, done, command):
    drag_dir = os.path.join(OUT, "drag")
    drag_table = demo_drag.write_report(done.drags, command, out_dir=drag_dir,
                                        docs_sheet=demo_drag.DOCS_SHEET if args.docs else None)
    print("\nSDE-Drag (workflows/SDE-Drag (reference model, CPU).json), distance of the output's ball to the target and "
          "realism:\n")
    print(drag_table)
    print(f"outputs: {drag_dir}/ (<drag>_input.png, <drag>_sde.png, <drag>_ode.png, <drag>_sde_substeps.png, "
          f"<drag>_ode_substeps.png, sheet.png, table.md)")
    print(f"SDE-Drag part {done.drag_secs:.0f} s")


def report_trained(args, done):
    trained_dir = os.path.join(OUT, "trained")
    print("\nThe latent scene model trained here (docs/latent_scene_model.md), the three workflows as shipped:\n")
    print(demo_trained.write_report(done.trained, out_dir=trained_dir, docs=args.docs))
    print(f"outputs: {trained_dir}/ (every saved picture, sheet.png, table.md); trained-model part {done.trained_secs:.0f} s")


def report(args, argv, done, judge):
    """Every table, sheet and summary line, from what run_parts returned."""
    rows = [("0 (input)", "–", judge.references.nearest(done.stroke[None])[0].item(), 0.0,
             *judge.layout(done.stroke[None]), None)] + done.rows
    extra = argv if argv is not None else sys.argv[1:]
    command = ".venv/bin/python -m lab.commands.demo " + " ".join(extra) if extra else "make demo"
    blurred_table = blurred_markdown(done.blurred_rows)
    write_tables(args, command, rows, blurred_table)
    write_sheets(args, done)
    print_sdedit(args, rows, blurred_table, done.sdedit_secs)
    if done.drags is not None:
        report_drag(args, done, command)
    report_trained(args, done)


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    judge = Judge()
    fresh_out_dir()
    server = ComfyServer(log_path=os.path.join(OUT, "server.log"))
    try:
        print(f"starting ComfyUI from {server.comfyui} (CPU) ...", flush=True)
        server.start()
        done = run_parts(server, args, judge, started)
    except PromptError as e:
        print(f"demo: ComfyUI rejected or failed a prompt: {e}\nserver log: {server.log_path}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    report(args, argv, done, judge)
    print(f"total {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
