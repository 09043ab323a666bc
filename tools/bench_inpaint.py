"""SDE vs ODE inpainting on the reference scene set, through ComfyUI (in-process, real MODEL,
CFGGuider, the SDE Inpaint node). Prints a Markdown table; writes nothing else unless --sheet.

    .venv/bin/python tools/bench_inpaint.py [--steps 10 25 50 100] [--seeds 4] [--orders 1 2]

For every case (a scene and a hidden region) and seed, each method fills the hidden region; an
output is a consistent completion when it is within RMS 0.02 (over the hidden region) of a
reference image that agrees with the visible part. Same seeds, same known-region noise and the
same number of model evaluations (one per step, cfg 1) for SDE and ODE.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from comfy_host import import_pack  # noqa: E402

import_pack()
import torch  # noqa: E402

from sde_edit_pack.nodes.inpaint import SDEInpaint  # noqa: E402
from sde_edit_pack.nodes.reference import _scene_model  # noqa: E402
from sde_edit_pack.sampling import scenes  # noqa: E402
from sde_edit_pack.sampling.scene_metrics import completion_report  # noqa: E402

EMPTY = [[torch.zeros(1, 1, 8), {}]]
SIZE = 64


def hidden_regions(scene):
    """Three ways to hide part of a scene: the left half, a box over the ball, the lower right quarter."""
    left = torch.zeros(SIZE, SIZE)
    left[:, : SIZE // 2] = 1
    ball = torch.zeros(SIZE, SIZE)
    ball[max(scene.y - 12, 0): scene.y + 12, max(scene.x - 12, 0): scene.x + 12] = 1
    quarter = torch.zeros(SIZE, SIZE)
    quarter[SIZE // 2:, SIZE // 2:] = 1
    return {"left half": left, "box over the ball": ball, "lower right quarter": quarter}


def cases(count=16):
    """A fixed, spread-out set of scenes and their hidden regions."""
    images, all_scenes = scenes.reference_images(SIZE)
    picks = torch.linspace(0, len(all_scenes) - 1, count).round().long().tolist()
    imgs, masks, names = [], [], []
    for i in picks:
        for name, mask in hidden_regions(all_scenes[i]).items():
            imgs.append(images[i])
            masks.append(mask)
            names.append(name)
    return torch.stack(imgs), torch.stack(masks), names


def run(model, images, masks, seed, steps, eta, order):
    latent = {"samples": scenes.to_latent(images)}
    out = SDEInpaint.execute(model, EMPTY, EMPTY, latent, seed, steps, 1.0, eta, 1.0, "normal", order, 0, 0, masks)
    return scenes.to_image(out.result[0]["samples"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--orders", type=int, nargs="+", default=[1])
    parser.add_argument("--parameterization", default="eps")
    args = parser.parse_args()

    model = _scene_model(args.parameterization, SIZE)
    images, masks, names = cases()
    images = scenes.to_image(scenes.to_latent(images))  # the input as the pixel VAE round-trips it
    print(f"{len(images)} cases × {args.seeds} seeds, reference model ({args.parameterization}), scheduler normal, cfg 1\n")
    print("| method | steps | model evals | consistent completions | distance to nearest consistent ref | known-region max error | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = {}
    for order in args.orders:
        for eta, label in ((1.0, "SDE"), (0.0, "ODE")):
            method = f"{label} (η={eta:g}, order {order})"
            for steps in args.steps:
                reports, calls, t0 = [], 0, time.perf_counter()
                for seed in range(args.seeds):
                    before = model.model.diffusion_model.calls
                    out = run(model, images, masks, seed, steps, eta, order)
                    calls += model.model.diffusion_model.calls - before
                    reports.append(completion_report(out, images, masks))
                seconds = time.perf_counter() - t0
                rate = torch.cat([r["consistent"] for r in reports]).float().mean().item()
                dist = torch.cat([r["distance"] for r in reports]).mean().item()
                known = torch.cat([r["known_error"] for r in reports]).max().item()
                rows[(method, steps)] = rate
                print(f"| {method} | {steps} | {calls // args.seeds} | {rate:.1%} | {dist:.4f} | {known:.1e} | {seconds:.1f} |", flush=True)
    for order in args.orders:
        sde, ode = f"SDE (η=1, order {order})", f"ODE (η=0, order {order})"
        if (sde, 25) in rows and (ode, 100) in rows:
            verdict = "holds" if rows[(sde, 25)] >= rows[(ode, 100)] else "does not hold"
            print(f"\nPaper's claim (order {order}), SDE at 25 steps at least as good as ODE at 100: {verdict} "
                  f"({rows[(sde, 25)]:.1%} vs {rows[(ode, 100)]:.1%} consistent)")


if __name__ == "__main__":
    main()
