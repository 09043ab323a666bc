"""SDE-Drag vs ODE-Drag on the reference scene set, through ComfyUI (in-process, real MODEL,
CFGGuider, the SDE-Drag Point Mover node). Prints Markdown tables; writes nothing else.

    .venv/bin/python tools/bench_drag.py [--seeds 4] [--steps 100] [--tau 0 0.1]

The scenes' truth is known: a ball of radius 7 px at a grid position (every 4 px) on sky and grass.
Each case drags the ball's centre by 4 to 24 px in one of five directions, without and with a mask
(a box around the old and new places). Per method (same seeds, same schedule, cfg 1):
- distance: from the centre of the output's ball to the target, in pixels (the ball's pixels are
  those that differ from the known background); "lost" counts outputs with no ball at all;
- realism: RMS distance (image units, 0..1) of the output to the nearest reference image;
- outside: the largest change outside the mask (0 means the unmasked region is exactly the input);
- model evaluations (latents through the model, per drag and seed) and seconds per drag.
--tau: 0 is the exact model of the reference set; τ > 0 is the exact model of the reference set
blurred by Gaussian noise of standard deviation τ (latent units, images in [-1, 1]): a known
distribution whose denoiser is not a lookup, so outputs can leave the set of reference images.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from comfy_host import import_pack  # noqa: E402

import_pack()
import comfy.latent_formats  # noqa: E402
import torch  # noqa: E402

from sde_edit_pack.adapter.reference_models import make_model  # noqa: E402
from sde_edit_pack.nodes.drag import SDEDragPointMover  # noqa: E402
from sde_edit_pack.nodes.reference import _scene_model  # noqa: E402
from sde_edit_pack.sampling import scenes  # noqa: E402
from sde_edit_pack.sampling.oracles import BlurredImages, EmpiricalImages  # noqa: E402

EMPTY = [[torch.zeros(1, 1, 8), {}]]
SIZE = 64
DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1), "diagonal": (1, 1)}
LENGTHS = (4, 8, 16, 24)


def cases():
    """(name, colour, source, target, masked): drags centred on (32, 32), on the 4-px grid."""
    out = []
    for length in LENGTHS:
        for i, (name, (dx, dy)) in enumerate(DIRECTIONS.items()):
            sx, sy = 32 - dx * (length // 8) * 4, 32 - dy * (length // 8) * 4
            source, target = (sx, sy), (sx + dx * length, sy + dy * length)
            colour = "red" if i % 2 == 0 else "blue"
            for masked in (False, True):
                out.append((f"{length} px {name}", colour, source, target, masked))
    return out


def box_mask(source, target, margin=12):
    mask = torch.zeros(1, SIZE, SIZE)
    x0, x1 = sorted((source[0], target[0]))
    y0, y1 = sorted((source[1], target[1]))
    mask[:, max(y0 - margin, 0): y1 + margin, max(x0 - margin, 0): x1 + margin] = 1
    return mask


def ball_centres(images):
    """(B, 2) centroid (x, y) of the pixels that differ from the background, in pixel-centre
    coordinates (+0.5, so a ball drawn at (x, y) gives (x, y)); NaN where there is no ball."""
    ball = (images - scenes.background(SIZE)).abs().amax(1) > 0.25
    ys, xs = torch.meshgrid(torch.arange(SIZE) + 0.5, torch.arange(SIZE) + 0.5, indexing="ij")
    n = ball.flatten(1).sum(1).float()
    return torch.stack([(ball * xs).flatten(1).sum(1) / n, (ball * ys).flatten(1).sum(1) / n], 1)


def model_for(tau, parameterization):
    if tau == 0:
        return _scene_model(parameterization, SIZE)
    images, _ = scenes.reference_images(SIZE)
    return make_model(BlurredImages(scenes.to_latent(images), tau), parameterization, 3, comfy.latent_formats.ChromaRadiance)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="seeds per case, run as one batch (batch_index 0..n-1)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--t0", type=float, default=0.6)
    parser.add_argument("--tau", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--parameterization", default="eps")
    parser.add_argument("--drag-step", type=float, default=4.0, help="latent (= image) pixels; the model's grid is 4 px")
    parser.add_argument("--patch-radius", type=int, default=8)
    args = parser.parse_args()

    refs, _ = scenes.reference_images(SIZE)
    nearest = EmpiricalImages(refs).nearest
    all_cases = cases()
    print(f"{len(all_cases)} drags × {args.seeds} seeds, reference scenes ({args.parameterization}), {args.steps} steps, "
          f"t0 {args.t0}, drag_step {args.drag_step:g}, patch_radius {args.patch_radius}, beta 0.3, alpha 1.1, cfg 1")
    for tau in args.tau:
        model = model_for(tau, args.parameterization)
        print(f"\n**{'exact model of the reference set' if tau == 0 else f'reference set blurred by τ = {tau:g}'}**\n")
        print("| method | mean distance to target (px) | within 2 px | lost | realism (RMS to nearest ref) | outside-mask max change | model evals per drag | s per drag |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for eta, label in ((1.0, "SDE-Drag (η=1)"), (0.0, "ODE-Drag (η=0)")):
            dist, real, outside, evals, seconds = [], [], [0.0], 0, 0.0
            for name, colour, source, target, masked in all_cases:
                image = scenes.render(scenes.Scene(*source, colour), SIZE)
                latent = {"samples": scenes.to_latent(image[None]).expand(args.seeds, -1, -1, -1).contiguous(),
                          "batch_index": list(range(args.seeds))}
                mask = box_mask(source, target) if masked else None
                points = f'{{"source": [[{source[0]}, {source[1]}]], "target": [[{target[0]}, {target[1]}]]}}'
                before, start = model.model.diffusion_model.calls, time.perf_counter()
                out, _ = SDEDragPointMover.execute(model, EMPTY, latent, points, 1234, args.steps, args.t0, 1.0, args.drag_step,
                                                   args.patch_radius, 0.3, 1.1, eta, "ddim_uniform", mask=mask).args
                seconds += time.perf_counter() - start
                # one oracle call evaluates the whole batch: 2 latents per seed (edited + recorded) for SDE
                calls = model.model.diffusion_model.calls - before
                evals += calls * (2 if eta > 0 else 1)
                images = scenes.to_image(out["samples"]).clamp(0, 1)
                dist.append((ball_centres(images) - torch.tensor(target, dtype=torch.float32)).norm(dim=1))
                real.append(nearest(images)[0])
                if masked:
                    keep = (1 - mask).bool()[0]
                    outside.append((out["samples"] - latent["samples"])[:, :, keep].abs().max().item())
            d, r = torch.cat(dist), torch.cat(real)
            lost = torch.isnan(d)
            print(f"| {label} | {d[~lost].mean():.2f} | {(d[~lost] <= 2).float().sum() / len(d):.1%} | {int(lost.sum())} | "
                  f"{r.mean():.4f} | {max(outside):.1e} | {evals / len(all_cases):.0f} | {seconds / len(all_cases):.2f} |", flush=True)


if __name__ == "__main__":
    main()
