"""SDEdit, SDE against ODE, on a model with error: the reference scene set blurred by τ (latent units),
whose marginal at every noise level is a known Gaussian mixture. Prints Markdown tables; with --plots
writes docs/sdedit_kl_along_sigma.png and docs/sdedit_realism_vs_faithfulness.png.

    .venv/bin/python -m lab.benchmarks.bench_sdedit [--tau 0.1] [--steps 100] [--schedulers karras normal] [--seeds 4] [--plots]

Inputs: 8 stroke paintings (`scenes.stroke_painting`: flat colours, a square for the ball). Each is
edited with SDEdit at strengths 0.3 to 1 by the pack's sampler (`sampling.sdedit`, the same code the node
runs) with the model's exact denoiser, SDE (η 1) and ODE (η 0), same seeds and schedule (ComfyUI's own,
through the adapter). Per output, with m the nearest reference scene and r = output − m (latent units):
- faithfulness: RMS distance to the stroke (image units, 0..1);
- imprint: how far the output sits from m towards the stroke, ⟨r, d⟩/‖d‖ with d = stroke − m, in units
  of τ (a true sample of the model: |imprint| about 0.8; the stroke itself: ‖d‖/τ);
- noise level: RMS(r)/τ (1 for a true sample: the model's data are references plus τ-noise);
- a KL proxy in two terms (`kl_terms`), for the theorem's KL between the edited process's marginal and
  the model's: imprint²/2 (the stroke's mean shift left in the output) and D/2·f(noise level²),
  f(q) = q − 1 − ln q (a noise level off the model's; with the first-order SDE step this is mostly
  discretisation error, which more steps or the karras schedule shrink).
Along the trajectory (the last table, and --plots) both terms are taken at every step against the
model's marginal at that level, N(a·m_k, (a²τ² + s²)·I): the quantity the paper's theorem says shrinks
for the SDE and stays for the ODE.
"""
import argparse
import math
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import PACK_DIR, import_pack  # noqa: E402

import_pack()
import comfy.latent_formats  # noqa: E402
import torch  # noqa: E402

from sde_edit_pack.adapter.guided import edit_sigmas  # noqa: E402
from lab.reference.oracle_models import make_model  # noqa: E402
from lab.reference import scenes  # noqa: E402
from sde_edit_pack.sampling.noise import StepNoise  # noqa: E402
from sde_edit_pack.sampling.noise_levels import NoiseLevels  # noqa: E402
from lab.reference.oracles import BlurredImages  # noqa: E402
from lab.reference.scene_metrics import kl_terms  # noqa: E402
from sde_edit_pack.sampling.sdedit import sdedit  # noqa: E402

SIZE = 64
STROKES = [(20, 20, "red"), (44, 20, "blue"), (30, 26, "red"), (36, 40, "blue"),
           (16, 44, "red"), (48, 36, "blue"), (24, 32, "blue"), (40, 28, "red")]
STRENGTHS = (0.3, 0.45, 0.6, 0.8, 1.0)
LEVELS = NoiseLevels("ve")


def measure(out, strokes, refs, tau):
    imprint_kl, noise_kl, imprint, noise = kl_terms(out, strokes, refs, 1.0, tau * tau)
    return {
        "faithfulness": ((scenes.to_image(out) - scenes.to_image(strokes)) ** 2).flatten(1).mean(1).sqrt(),
        "imprint": imprint,
        "noise": noise,
        "kl_imprint": imprint_kl,
        "kl_noise": noise_kl,
    }


def run(oracle, strokes, sigmas, eta, seed, tau, refs, trace=False):
    """SDEdit of the batch `strokes` (latents) over `sigmas`; with trace, the two KL terms against the
    model's marginal after every step: [(σ, mean imprint term, mean noise term)]."""
    shape = strokes.shape
    noise = StepNoise(seed, shape, stream=0)()
    step_noise = StepNoise(seed, shape, stream=1)
    path = []

    def record(x, sigma):
        imprint_kl, noise_kl, _, _ = kl_terms(x, strokes, refs, LEVELS.a(sigma), tau * tau + sigma * sigma)
        path.append((sigma, imprint_kl.mean().item(), noise_kl.mean().item()))

    def callback(i, x0, x):
        if trace:
            record(x, sigmas[i + 1])

    def denoise(x, sigma):
        return oracle.posterior_mean(x, LEVELS.a(sigma), LEVELS.s(sigma))

    if trace:  # the start: the stroke noised to σ0
        record(LEVELS.noised(strokes, noise, sigmas[0]), sigmas[0])
    out = sdedit(denoise, LEVELS, strokes, noise, sigmas, eta, step_noise, callback=callback)
    return out, path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tau", type=float, default=0.1)
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 100])
    parser.add_argument("--schedulers", nargs="+", default=["karras", "normal"])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--plots", action="store_true", help="write the two plots under docs/")
    args = parser.parse_args()

    images, _ = scenes.reference_images(SIZE)
    refs = scenes.to_latent(images)
    oracle = BlurredImages(refs, args.tau)
    model = make_model(oracle, "eps", 3, comfy.latent_formats.ChromaRadiance)  # for ComfyUI's schedules
    strokes = scenes.to_latent(torch.stack([scenes.stroke_painting(x, y, c, SIZE) for x, y, c in STROKES]))
    g = torch.Generator().manual_seed(0)
    samples = (refs[torch.randint(len(refs), (256,), generator=g)].double()
               + args.tau * torch.randn(256, *refs.shape[1:], generator=g, dtype=torch.float64))
    truth = measure(samples.float(), strokes[torch.arange(256) % len(strokes)], refs, args.tau)
    print(f"SDEdit on the reference set blurred by τ = {args.tau:g}: {len(STROKES)} strokes × {args.seeds} seeds, "
          f"exact denoiser. True samples of the model: |imprint| {truth['imprint'].abs().mean():.2f} τ, noise level "
          f"{truth['noise'].mean():.3f}, KL terms {truth['kl_imprint'].mean():.2f} + {truth['kl_noise'].mean():.2f}. "
          f"The strokes themselves: imprint {measure(strokes, strokes, refs, args.tau)['imprint'].mean():.0f} τ.")
    results = {}
    for scheduler in args.schedulers:
        for steps in args.steps:
            print(f"\n**{scheduler}, {steps} steps**\n")
            print("| strength | sampler | faithfulness (RMS to stroke) | imprint (τ) | noise level (1 = typical) | "
                  "KL: imprint term | KL: noise term |")
            print("|---:|---|---:|---:|---:|---:|---:|")
            for strength in STRENGTHS:
                sigmas = [float(s) for s in edit_sigmas(model, scheduler, steps, strength)]
                for eta, label in ((1.0, "SDE"), (0.0, "ODE")):
                    rows = [measure(run(oracle, strokes, sigmas, eta, seed, args.tau, refs)[0], strokes, refs, args.tau)
                            for seed in range(args.seeds)]
                    m = {key: torch.cat([r[key] for r in rows]).mean().item() for key in rows[0]}
                    results[(scheduler, steps, strength, label)] = m
                    print(f"| {strength:g} | {label} | {m['faithfulness']:.4f} | {m['imprint']:.1f} | "
                          f"{m['noise']:.3f} | {m['kl_imprint']:.1f} | {m['kl_noise']:.1f} |", flush=True)

    scheduler, steps, strength = args.schedulers[0], max(args.steps), 0.6
    sigmas = [float(s) for s in edit_sigmas(model, scheduler, steps, strength)]
    paths = {label: run(oracle, strokes, sigmas, eta, 0, args.tau, refs, trace=True)[1]
             for eta, label in ((1.0, "SDE"), (0.0, "ODE"))}
    print(f"\n**The theorem's quantity along the trajectory** (KL to the model's marginal, strength {strength}, "
          f"{scheduler}, {steps} steps)\n")
    print("| σ | SDE: imprint term | ODE: imprint term | SDE: noise term | ODE: noise term |")
    print("|---:|---:|---:|---:|---:|")
    marks = sorted({min(range(len(sigmas)), key=lambda j: abs(sigmas[j] - t)) for t in (sigmas[0], 2, 1, 0.5, 0.2, 0.1, 0.05, 0)})
    for j in marks:
        (s_, si, sn), (_, oi, on) = paths["SDE"][j], paths["ODE"][j]
        print(f"| {s_:.3g} | {si:.1f} | {oi:.1f} | {sn:.1f} | {on:.1f} |")

    if args.plots:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        docs = os.path.join(PACK_DIR, "docs")
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, colour in (("SDE", "tab:blue"), ("ODE", "tab:orange")):
            xs = [max(p[0], 1e-3) for p in paths[label]]
            ax.plot(xs, [p[1] + p[2] for p in paths[label]], "-", color=colour, label=f"{label}: KL (both terms)")
            ax.plot(xs, [p[1] for p in paths[label]], ":", color=colour, label=f"{label}: imprint term")
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("σ (sampling runs right to left → towards 0)")
        ax.set_yscale("log")
        ax.set_ylabel("KL proxy to the model's marginal (nats)")
        ax.set_title(f"SDEdit from a stroke (strength {strength}, {scheduler}, {steps} steps)", fontsize=10)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(docs, "sdedit_kl_along_sigma.png"), dpi=110)
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, marker in (("SDE", "o"), ("ODE", "s")):
            pts = [(results[(scheduler, steps, s, label)]["faithfulness"],
                    results[(scheduler, steps, s, label)]["kl_imprint"] + results[(scheduler, steps, s, label)]["kl_noise"])
                   for s in STRENGTHS]
            ax.plot(*zip(*pts), marker=marker, label=label)
            for s, (fx, ky) in zip(STRENGTHS, pts):
                ax.annotate(f"{s:g}", (fx, ky), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("faithfulness: RMS distance to the stroke (lower = more faithful)")
        ax.set_ylabel("KL to the model (lower = more realistic)")
        ax.set_title(f"SDEdit over strength ({scheduler}, {steps} steps)", fontsize=10)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(docs, "sdedit_realism_vs_faithfulness.png"), dpi=110)
        print("\nplots: docs/sdedit_kl_along_sigma.png, docs/sdedit_realism_vs_faithfulness.png")


if __name__ == "__main__":
    main()
