"""Wall time of the pack's sampler against ComfyUI's own samplers at equal model evaluations, in
one run, on the same MODEL, latent, schedule and guider. Prints a Markdown table of ratios.

    .venv/bin/python -m lab.benchmarks.bench_speed [--steps 50] [--batch 4] [--size 64] [--repeats 3]

The model is a closed-form Gaussian mixture over SD-shaped latents (4 × size × size), cheap enough
that the table shows the samplers' own overhead (step maths, noise drawing, ComfyUI's guider).
"""
import argparse
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import import_pack  # noqa: E402

import_pack()
import comfy.samplers  # noqa: E402
import comfy.utils  # noqa: E402
import torch  # noqa: E402

from sde_edit_pack.adapter.guided import run_sampler  # noqa: E402
from lab.reference.oracle_models import make_model  # noqa: E402
from sde_edit_pack.adapter.sampler import SDESampler  # noqa: E402
from lab.reference.oracles import GaussianMixture  # noqa: E402

EMPTY = [[torch.zeros(1, 1, 8), {}]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    shape = (4, a.size, a.size)
    d = 4 * a.size * a.size
    gmm = GaussianMixture([0.5, 0.5], torch.stack([torch.ones(d), -torch.ones(d)]), torch.full((2, d), 0.3), shape)
    model = make_model(gmm, "eps", 4)
    ms = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "normal", a.steps).cpu()
    latent = {"samples": torch.zeros(a.batch, *shape)}
    pairs = [
        ("SDE Sampler η=1, order 1", SDESampler(eta=1.0), "euler_ancestral", comfy.samplers.sampler_object("euler_ancestral")),
        ("SDE Sampler η=0, order 1", SDESampler(eta=0.0), "euler (= DDIM)", comfy.samplers.sampler_object("euler")),
        ("SDE Sampler η=1, order 2", SDESampler(eta=1.0, order=2), "dpmpp_2m_sde", comfy.samplers.sampler_object("dpmpp_2m_sde")),
        ("SDE Sampler η=0, order 2", SDESampler(eta=0.0, order=2), "dpmpp_2m", comfy.samplers.sampler_object("dpmpp_2m")),
    ]
    print(f"{a.steps} steps, batch {a.batch}, latent {shape}, cfg 1 (one model evaluation per step), best of {a.repeats}\n")
    print("| ours | s | model evals | ComfyUI | s | model evals | ratio ours/ComfyUI |")
    print("|---|---:|---:|---|---:|---:|---:|")
    net = model.model.diffusion_model
    comfy.utils.PROGRESS_BAR_ENABLED = False  # tqdm's console output is not what is measured
    run_sampler(model, EMPTY, EMPTY, 1.0, latent, 0, sigmas, SDESampler())  # warm-up: model load, first allocations
    for name, ours, ref_name, ref in pairs:
        times, evals = {}, {}
        for label, sampler in (("ours", ours), ("ref", ref)):
            best = float("inf")
            for _ in range(a.repeats):
                before = net.calls
                t0 = time.perf_counter()
                run_sampler(model, EMPTY, EMPTY, 1.0, latent, 0, sigmas, sampler)
                best = min(best, time.perf_counter() - t0)
                evals[label] = net.calls - before
            times[label] = best
        print(f"| {name} | {times['ours']:.3f} | {evals['ours']} | {ref_name} | {times['ref']:.3f} | {evals['ref']} | {times['ours'] / times['ref']:.2f} |")


if __name__ == "__main__":
    main()
