"""Seconds per drag of each preset on full-size SD1.5 and SDXL UNets (random weights, fp16, CUDA),
driven through ComfyUI in-process exactly as a checkpoint's MODEL is. Prints Markdown tables.

    .venv/bin/python -m lab.benchmarks.bench_drag_gpu [--models sd15 sdxl] [--presets warp fast paper]
    .venv/bin/python -m lab.benchmarks.bench_drag_gpu --device cpu --tiny  # smoke test, no GPU (tests/test_bench_drag_gpu.py)
    .venv/bin/python -m lab.benchmarks.bench_drag_gpu --device cpu --models sd15 --presets warp fast \
        --extrapolate paper --no-warmup --ksampler-steps 0   # full-size SD1.5 on the CPU (docs/fast_drag.md)
    .venv/bin/python -m lab.benchmarks.bench_drag_gpu --device cpu --models sd15 --presets \
        --extrapolate warp fast paper --no-warmup --ksampler-steps 1   # the same from one KSampler step

Everything runs inside torch.inference_mode(), as ComfyUI's executor (execution.py, execute_async)
runs every node: no autograd graph is recorded (outside it the random weights, which require grad,
would make each model call record one: more memory and time than a real run, and on the CPU
sub-quadratic attention fails on its in-place exp).

The model is ComfyUI's own: comfy.supported_models.SD15 / SDXL with the full unet_config ComfyUI
uses for them (comfy/model_detection.py, unet_config_from_diffusers_unet), built by
model_config.get_model with fp16 weights (set_inference_dtype, ComfyUI's manual cast rule), wrapped
in comfy.model_patcher.ModelPatcher; weights random (timing does not depend on them). SD1.5 at
512² (latent 64²), SDXL at 1024² (latent 128²). Conditioning: random CLIP-shaped tensors, a
positive and a negative, CFG 3 (the authors'), so every step evaluates cond and uncond. One drag:
one point pair, 80 image px long at 512² (160 px at 1024²: 10 / 20 latent px), patch_radius 5,
β 0.3, α 1.1, η 1, ddim_uniform, seed 1234, batch 1. A warp drag runs first, untimed (CUDA init,
model load to the GPU; --no-warmup skips it). --extrapolate PRESET: not run; its time is the formula's
latent count × the seconds per latent of the measured rows (presets and KSampler; marked "extrapolated"). --tiny: the same classes with a tiny config (model_channels 32, two levels,
depth 1), latent 16², an 80 px drag on 128², float32 on the CPU: it proves the wiring, not speed.

Columns:
- s per drag: wall time of run_drag (torch.cuda.synchronize before and after);
- × paper: that time over the paper preset's;
- latents through model: counted by a unet function wrapper (sum of the input's batch size);
- formula: DragSetting.model_evaluations(pairs, 1, 1.0, guided=True) (KSampler: 2 × steps);
- unet calls: how many batched calls those latents went through (cond and uncond share a call);
- s in model calls: synchronized time inside the wrapped apply_model, summed;
- outside model calls: 1 − inside / total, the share spent in the sampler, CFG and ComfyUI glue;
- peak GPU GiB: torch.cuda.max_memory_allocated during the drag (weights included), reset before.
Last row: ComfyUI's KSampler (comfy.sample.sample: euler, normal, 20 steps, CFG 3, denoise 1)
on the same model and latent, for reference.
"""
import argparse
import gc
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import import_pack

# comfy/model_detection.py, unet_config_from_diffusers_unet: the configs ComfyUI builds these with.
SD15 = {'use_checkpoint': False, 'image_size': 32, 'out_channels': 4, 'use_spatial_transformer': True, 'legacy': False,
        'adm_in_channels': None, 'in_channels': 4, 'model_channels': 320, 'num_res_blocks': [2, 2, 2, 2],
        'transformer_depth': [1, 1, 1, 1, 1, 1, 0, 0], 'channel_mult': [1, 2, 4, 4], 'transformer_depth_middle': 1,
        'use_linear_in_transformer': False, 'context_dim': 768, 'num_heads': 8,
        'transformer_depth_output': [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        'use_temporal_attention': False, 'use_temporal_resblock': False}
SDXL = {'use_checkpoint': False, 'image_size': 32, 'out_channels': 4, 'use_spatial_transformer': True, 'legacy': False,
        'num_classes': 'sequential', 'adm_in_channels': 2816, 'in_channels': 4, 'model_channels': 320,
        'num_res_blocks': [2, 2, 2], 'transformer_depth': [0, 0, 2, 2, 10, 10], 'channel_mult': [1, 2, 4],
        'transformer_depth_middle': 10, 'use_linear_in_transformer': True, 'context_dim': 2048, 'num_head_channels': 64,
        'transformer_depth_output': [0, 0, 0, 2, 2, 2, 10, 10, 10],
        'use_temporal_attention': False, 'use_temporal_resblock': False}
TINY = dict(model_channels=32, channel_mult=[1, 2], num_res_blocks=[1, 1], transformer_depth_middle=1)
TINY_SD15 = dict(TINY, transformer_depth=[1, 1], transformer_depth_output=[1, 1, 1, 1])
TINY_SDXL = dict(TINY, transformer_depth=[0, 1], transformer_depth_output=[0, 0, 1, 1], num_head_channels=16)
# name: (supported_models class name, config, tiny overrides, image size, context width, pooled width)
MODELS = {"sd15": ("SD15", SD15, TINY_SD15, 512, 768, None), "sdxl": ("SDXL", SDXL, TINY_SDXL, 1024, 2048, 1280)}
RADIUS, BETA, ALPHA, ETA, CFG, SEED, SCHEDULER = 5, 0.3, 1.1, 1.0, 3.0, 1234, "ddim_uniform"


def build(name, tiny, device, dtype):
    """(ModelPatcher, positive, negative, LATENT, image size) with random weights and conds."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models
    import torch
    cls_name, config, tiny_config, size, context, pooled = MODELS[name]
    model_config = getattr(comfy.supported_models, cls_name)(config)
    if tiny:  # after the class's unet_extra_config (SDXL's 64-channel heads are wider than 32 channels)
        model_config.unet_config.update(tiny_config)
        size = 128
    model_config.set_inference_dtype(dtype, mm.unet_manual_cast(dtype, device, model_config.supported_inference_dtypes))
    torch.manual_seed(0)
    model = model_config.get_model({}, "", device=device)  # as load_state_dict_guess_config, straight onto the GPU
    with torch.no_grad():  # comfy.ops leaves weights uninitialised (a checkpoint fills them)
        for key, p in model.diffusion_model.named_parameters():
            if p.ndim > 1:
                p.normal_(0.0, p[0].numel() ** -0.5)
            else:
                p.fill_(1.0 if key.endswith("weight") else 0.0)  # norms' scales 1, biases 0
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=mm.unet_offload_device())

    def cond():
        extra = {} if pooled is None else {"pooled_output": torch.randn(1, pooled), "width": size, "height": size,
                                           "target_width": size, "target_height": size}
        return [[torch.randn(1, 77, context), extra]]
    latent = {"samples": torch.randn(1, 4, size // 8, size // 8)}
    return patcher, cond(), cond(), latent, size


def counted(model, stats, sync):
    """A clone whose unet wrapper counts latents and calls and sums the time inside them."""
    model = model.clone()

    def wrapper(apply_model, args):
        sync()
        start = time.perf_counter()
        out = apply_model(args["input"], args["timestep"], **args["c"])
        sync()
        stats["inside"] += time.perf_counter() - start
        stats["latents"] += args["input"].shape[0]
        stats["calls"] += 1
        stats["graphs"] += int(out.requires_grad)  # an autograd graph recorded: 0 inside inference_mode
        return out

    model.set_model_unet_function_wrapper(wrapper)
    return model


def timed(fn, stats, cuda):
    import torch
    stats.update(latents=0, calls=0, inside=0.0, graphs=0)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.inference_mode():  # as ComfyUI's executor runs every node (execution.py)
        fn()
    if cuda:
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f}" if cuda else "—"
    return total, dict(stats), peak


def bench(name, args, device, dtype, cuda):
    import comfy.model_management as mm
    import comfy.sample
    import torch
    from sde_edit_pack.adapter.drag import PRESETS, run_drag
    from sde_edit_pack.adapter.points import to_latent
    model, positive, negative, latent, size = build(name, args.tiny, device, dtype)
    stats = {}
    model = counted(model, stats, torch.cuda.synchronize if cuda else (lambda: None))
    length = 80 * size // 512 if not args.tiny else 80
    pairs = to_latent([((size // 2 - length // 2, size // 2), (size // 2 + length // 2, size // 2))], 8)

    def drag(setting):
        return lambda: run_drag(model=model, positive=positive, negative=negative, latent=latent, pairs=pairs,
                                setting=setting, seed=SEED, cfg=CFG, radius=RADIUS, beta=BETA, alpha=ALPHA, eta=ETA,
                                scheduler=SCHEDULER)

    params = sum(p.numel() for p in model.model.diffusion_model.parameters())
    print(f"\n**{name}{' (tiny)' if args.tiny else ''}**: {params / 1e6:.1f}M UNet parameters, {dtype}, "
          f"image {size}², latent {size // 8}², drag {length} px = {length / 8:g} latent px, CFG {CFG}\n", flush=True)
    if not args.no_warmup:
        timed(drag(PRESETS["warp"]), stats, cuda)  # warm-up: CUDA init, model load, kernels
    rows = []
    for preset in args.presets:
        setting = PRESETS[preset]
        total, s, peak = timed(drag(setting), stats, cuda)
        rows.append((preset, total, s, setting.model_evaluations(pairs, 1, ETA, guided=True), peak))
        print(f"  {preset}: {total:.2f} s, {s['latents']} latents", file=sys.stderr, flush=True)
    if args.ksampler_steps:
        n = args.ksampler_steps
        samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
        noise = comfy.sample.prepare_noise(samples, SEED)
        total, s, peak = timed(lambda: comfy.sample.sample(model, noise, n, CFG, "euler", "normal", positive, negative,
                                                           samples, denoise=1.0, disable_pbar=True, seed=SEED),
                               stats, cuda)
        rows.append((f"KSampler euler, {n} steps", total, s, 2 * n, peak))
    measured = [r for r in rows if r[2]["latents"]]
    per_latent = sum(r[1] for r in measured) / sum(r[2]["latents"] for r in measured) if measured else None
    for preset in args.extrapolate:
        formula = PRESETS[preset].model_evaluations(pairs, 1, ETA, guided=True)
        rows.append((f"{preset} (extrapolated: formula × {per_latent:.2f} s per latent)", formula * per_latent,
                     None, formula, "—"))
    paper = next((r[1] for r in rows if r[0].startswith("paper")), None)
    print("| run | s per drag | × paper | latents through model | formula | unet calls | s in model calls "
          "| outside model calls | peak GPU GiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, total, s, formula, peak in rows:
        ratio = f"{total / paper:.3f}" if paper else "—"
        if s is None:
            print(f"| {label} | {total:.0f} | {ratio} | — | {formula} | — | — | — | — |", flush=True)
            continue
        print(f"| {label} | {total:.2f} | {ratio} | {s['latents']} | {formula} | {s['calls']} | {s['inside']:.2f} "
              f"| {1 - s['inside'] / total:.1%} | {peak} |", flush=True)
    del model
    mm.unload_all_models()
    gc.collect()
    mm.soft_empty_cache()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    parser.add_argument("--presets", nargs="*", choices=("warp", "fast", "paper"), default=["warp", "fast", "paper"])
    parser.add_argument("--extrapolate", nargs="*", choices=("warp", "fast", "paper"), default=[],
                        help="presets not run: formula × the measured seconds per latent")
    parser.add_argument("--ksampler-steps", type=int, default=20, help="the KSampler reference row (0: none)")
    parser.add_argument("--no-warmup", action="store_true", help="no untimed warp drag first")
    parser.add_argument("--tiny", action="store_true", help="tiny UNets, latent 16², float32: a smoke test")
    args = parser.parse_args(argv)
    cuda = args.device == "cuda"
    import torch
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but no CUDA GPU here (smoke test: --device cpu --tiny)")
    import_pack(cpu=not cuda)
    import comfy.model_management as mm
    import comfy.utils
    comfy.utils.PROGRESS_BAR_ENABLED = False
    device = mm.get_torch_device()
    dtype = torch.float32 if args.tiny or not cuda else torch.float16
    where = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"{where}, torch {torch.__version__}; one drag per preset, batch 1, seed {SEED}, patch_radius {RADIUS}, "
          f"β {BETA}, α {ALPHA}, η {ETA}, {SCHEDULER}")
    return {name: bench(name, args, device, dtype, cuda) for name in args.models}


if __name__ == "__main__":
    main()
