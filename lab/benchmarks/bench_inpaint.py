"""SDE vs ODE inpainting on the reference scene set, through ComfyUI (in-process, real MODEL,
CFGGuider, the SDE Inpaint node at strength 1, which starts the hidden region from pure noise).
Prints Markdown tables; writes nothing else.

    .venv/bin/python -m lab.benchmarks.bench_inpaint [--tau 0 0.1] [--steps 10 25 50 100] [--seeds 12]
                                            [--orders 1 2] [--known-noise fresh fixed] [--schedulers normal karras]

Cases: 16 scenes spread over the set, each with three hidden regions (the left half, a 24-px box over
the ball, the lower right quarter): 48 cases, every seed run as one batch. SDE and ODE get the same
seeds, the same known-region noise and the same number of model evaluations (one per step, cfg 1).
Per output, its completion is the reference scene nearest to it (whole image). Figures:
- consistent: the completion agrees with the input's visible part, with its 95 % interval
  (normal approximation, n = cases × seeds);
- TV: total variation between the completions' distribution over reference scenes (per case, over the
  seeds) and the exact conditional p(scene | visible part), averaged over cases; next to it the
  sampling floor, the TV that n exact draws from the conditional itself score (a perfect sampler);
- own: how often the completion is the input's own scene (the hidden content reproduced), against
  its exact probability under the conditional; a start that leaks the hidden content shows up here;
- known: the largest change of the known region (must be 0).
--tau 0 is the exact model of the set; τ > 0 the set blurred by τ (latent units), a model with error.
"""
import argparse
import math
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import import_pack  # noqa: E402

import_pack()
import comfy.latent_formats  # noqa: E402
import torch  # noqa: E402

from lab.reference.oracle_models import make_model  # noqa: E402
from sde_edit_pack.nodes.inpaint import SDEInpaint  # noqa: E402
from lab.reference import scenes  # noqa: E402
from lab.reference.oracles import BlurredImages, EmpiricalImages  # noqa: E402
from lab.reference.scene_metrics import exact_conditional, sampling_floor, total_variation  # noqa: E402

EMPTY = [[torch.zeros(1, 1, 8), {}]]
SIZE = 64
MASKS = ("left half", "box over the ball", "lower right quarter")


def hidden_regions(scene):
    """Three ways to hide part of a scene: the left half, a box over the ball, the lower right quarter."""
    left = torch.zeros(SIZE, SIZE)
    left[:, : SIZE // 2] = 1
    ball = torch.zeros(SIZE, SIZE)
    ball[max(scene.y - 12, 0): scene.y + 12, max(scene.x - 12, 0): scene.x + 12] = 1
    quarter = torch.zeros(SIZE, SIZE)
    quarter[SIZE // 2:, SIZE // 2:] = 1
    return dict(zip(MASKS, (left, ball, quarter)))


def cases(count=16):
    """A fixed, spread-out set of scenes and their hidden regions: (images, masks, mask names, scene index)."""
    images, all_scenes = scenes.reference_images(SIZE)
    picks = torch.linspace(0, len(all_scenes) - 1, count).round().long().tolist()
    imgs, masks, names, own = [], [], [], []
    for i in picks:
        for name, mask in hidden_regions(all_scenes[i]).items():
            imgs.append(images[i])
            masks.append(mask)
            names.append(name)
            own.append(i)
    return torch.stack(imgs), torch.stack(masks), names, torch.tensor(own)


def model_for(tau):
    images, _ = scenes.reference_images(SIZE)
    latents = scenes.to_latent(images)
    oracle = EmpiricalImages(latents) if tau == 0 else BlurredImages(latents, tau)
    return make_model(oracle, "eps", 3, comfy.latent_formats.ChromaRadiance)


def run(model, images, masks, seed, steps, eta, order, scheduler, known_noise):
    latent = {"samples": scenes.to_latent(images)}
    out = SDEInpaint.execute(model, EMPTY, EMPTY, latent, seed, steps, 1.0, eta, 1.0, scheduler, order, 0, 0, masks,
                             known_noise)
    return out.result[0]["samples"]


def interval(p, n):
    return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / n)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tau", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--orders", type=int, nargs="+", default=[1])
    parser.add_argument("--known-noise", nargs="+", default=["fresh"], choices=["fresh", "fixed"])
    parser.add_argument("--schedulers", nargs="+", default=["normal"])
    parser.add_argument("--plot", action="store_true", help="write docs/inpaint_quality_vs_steps.png (first model)")
    args = parser.parse_args()
    curves = {}

    images, masks, names, own = cases()
    references, _ = scenes.reference_images(SIZE)
    refs_latent = scenes.to_latent(references)
    nearest = EmpiricalImages(refs_latent).nearest
    n = len(images) * args.seeds
    print(f"{len(images)} cases × {args.seeds} seeds (n = {n} per row), eps reference model, strength 1 (the hidden "
          f"region starts from pure noise), cfg 1; consistent ± its 95 % interval.")
    for tau in args.tau:
        model = model_for(tau)
        exact = exact_conditional(references, images, masks, tau)  # (cases, N)
        floor = sampling_floor(exact, args.seeds, generator=torch.Generator().manual_seed(0)).mean().item()
        own_exact = exact[torch.arange(len(images)), own].mean().item()
        consistent_exact = exact_conditional(references, images, masks, 0.0) > 0
        print(f"\n**{'exact model of the reference set' if tau == 0 else f'reference set blurred by τ = {tau:g}'}**: "
              f"the exact conditional gives the input's own scene {own_exact:.1%} of the time; TV sampling floor "
              f"with {args.seeds} samples per case {floor:.3f}\n")
        print("| sampler | order | known noise | scheduler | steps | evals | consistent | " +
              " | ".join(f"consistent: {m}" for m in MASKS) + " | TV to exact (floor) | own scene (exact) | known | s |")
        print("|---|---:|---|---|---:|---:|---:|" + "---:|" * len(MASKS) + "---:|---:|---:|---:|")
        for scheduler in args.schedulers:
            for known_noise in args.known_noise:
                for order in args.orders:
                    for steps in args.steps:
                        for eta, label in ((1.0, "SDE"), (0.0, "ODE")):
                            picked, known, calls, start = [], 0.0, 0, time.perf_counter()
                            for seed in range(args.seeds):
                                before = model.model.diffusion_model.latents
                                out = run(model, images, masks, seed, steps, eta, order, scheduler, known_noise)
                                calls += (model.model.diffusion_model.latents - before) // len(images)
                                picked.append(nearest(out)[2])
                                keep = (1 - masks).bool()[:, None].expand_as(out)
                                known = max(known, (out - scenes.to_latent(images))[keep].abs().max().item())
                            picked = torch.stack(picked, 1)  # (cases, seeds)
                            ok = consistent_exact.gather(1, picked).float()
                            rate = ok.mean().item()
                            per_mask = [ok[[i for i, m in enumerate(names) if m == name]].mean().item() for name in MASKS]
                            counts = torch.zeros_like(exact).scatter_add_(1, picked, torch.ones_like(picked, dtype=exact.dtype))
                            tv = total_variation(counts / args.seeds, exact).mean().item()
                            own_rate = (picked == own[:, None]).float().mean().item()
                            curves.setdefault((tau, label), []).append((steps, rate, interval(rate, n), tv))
                            print(f"| {label} | {order} | {known_noise} | {scheduler} | {steps} | {calls // args.seeds} | "
                                  f"{rate:.1%} ± {interval(rate, n):.1%} | " + " | ".join(f"{r:.1%}" for r in per_mask) +
                                  f" | {tv:.3f} ({floor:.3f}) | {own_rate:.1%} ({own_exact:.1%}) | {known:.1e} | "
                                  f"{time.perf_counter() - start:.1f} |", flush=True)

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        tau = args.tau[0]
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
        for label, marker in (("SDE", "o"), ("ODE", "s")):
            pts = curves[(tau, label)]
            left.errorbar([p[0] for p in pts], [100 * p[1] for p in pts], yerr=[100 * p[2] for p in pts], marker=marker,
                          capsize=3, label=label)
            right.plot([p[0] for p in pts], [p[3] for p in pts], marker=marker, label=label)
        right.axhline(floor, color="grey", linestyle=":", label="sampling floor")
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_xlabel("steps (= model evaluations)")
            ax.legend()
        left.set_ylabel("consistent completions (%, 95 % interval)")
        right.set_ylabel("TV to the exact conditional")
        fig.suptitle(f"SDE Inpaint at strength 1, {'exact model' if tau == 0 else f'τ = {tau:g}'}, n = {n} per point",
                     fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                                 "inpaint_quality_vs_steps.png"), dpi=110)
        print("\nplot: docs/inpaint_quality_vs_steps.png")


if __name__ == "__main__":
    main()

