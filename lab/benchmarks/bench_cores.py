"""Speed and memory of the pack on both test hosts (ComfyUI 0.3.75 and 0.33.0), side by side, in one run.
Prints one Markdown table with a column per core and the ratio 0.33 / 0.3.75.

    .venv/bin/python -m lab.benchmarks.bench_cores [--parts inproc workflows big] [--repeats 5]

Each core runs in its own venv as a subprocess of this script (the same file with --worker PART and
COMFYUI_PATH set): the default host build/ComfyUI with .venv, the newer host build/ComfyUI-0.33.0 with
.venv-0.33.0 (override with --host NAME=COMFYUI_DIR:PYTHON). The cores run one after the other, never
at once, so each has the CPU to itself (other processes on the machine aside).

Parts:
- inproc: ComfyUI booted in the worker process (CPU); a tiny SD1.5-class UNet (ComfyUI's own
  comfy.supported_models.SD15 with bench_drag_gpu.py's --tiny config, 1.6M parameters, float32, latent
  16², random weights), CFG 3, everything inside torch.inference_mode() as ComfyUI's executor runs a node.
  (a) the pack's SDE Sampler (η 1, order 1, run_sampler) against KSampler's path (comfy.sample.sample,
  euler_ancestral, normal) on the same sigmas, model and latent: 20 steps, 40 latents each, counted by a
  unet wrapper; seconds per latent evaluation, median of --repeats. (b) the default drag: SDE-Drag with
  the node's defaults (method warp, patch_radius 5, β 0.3, α 1.1, η 1, ddim_uniform, CFG 3), one 10-latent-px
  pair: seconds and latents, median of --repeats. (c) peak RSS of the process (ru_maxrss).
- workflows: a real server (lab/harness/comfy_server.py, `main.py --cpu`, the core's own python) runs every
  workflows/*trained model, CPU*.json as lab/commands/run_workflow.py does (converted against the live
  /object_info), --repeats times each with seeds 1, 2, ...: a new seed reruns the samplers, the loader and
  text encoders stay cached, as when a user changes the seed. Server execution time (execution_start to
  execution_success): the 1st prompt of each workflow, then median and min-max of the others. Peak RSS of
  the server (VmHWM).
- big: a full-width SD1.5 checkpoint with random weights (the real SD15 UNet config, 860M parameters,
  CLIP-L, TAESD; fp16 file, made once into build/bench_checkpoints/) through a real server with
  `--verbose DEBUG`: CheckpointLoaderSimple → KSampler (euler, 4 steps, CFG 3, 256² → latent 32²) → SDE-Drag
  (defaults, warp, a 64-px drag) → VAEDecode → SaveImage; 3 prompts with seeds 1, 2, 3. Seconds of each
  prompt, and from the server log: model loads ("Requested to load"), unload passes ("models unloaded"),
  unloads (DEBUG "Unloading"), "loaded completely/partially" lines: a model reloaded per prompt, node or
  sampler call shows here. Peak RSS of the server.
On the CPU torch has no allocator statistics, so memory is RSS only.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
HOSTS = {"0.3.75": (os.path.join(ROOT, "build", "ComfyUI"), os.path.join(ROOT, ".venv", "bin", "python")),
         "0.33.0": (os.path.join(ROOT, "build", "ComfyUI-0.33.0"), os.path.join(ROOT, ".venv-0.33.0", "bin", "python"))}
PARTS = ("inproc", "workflows", "big", "inproc_full")
MARK = "BENCH_CORES_RESULT "
BIG_CKPT = os.path.join(ROOT, "build", "bench_checkpoints", "sd15_full_random.safetensors")


# --- workers (run inside one core's venv) --------------------------------------------------------------

def peak_rss_mb(pid=None):
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM"))


def cpu_seconds(pid):
    """user + system CPU time of a process (all its threads): less distorted than wall time by other jobs."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_inproc(repeats, full=False):
    from lab.harness.comfy_host import import_pack
    from . import bench_drag_gpu
    import_pack(cpu=True)
    import comfy.model_management as mm
    import comfy.sample
    import comfy.samplers
    import comfy.utils
    import torch
    from sde_edit_pack.adapter.drag import PRESETS, run_drag
    from sde_edit_pack.adapter.guided import run_sampler
    from sde_edit_pack.adapter.points import to_latent
    from sde_edit_pack.adapter.sampler import SDESampler
    comfy.utils.PROGRESS_BAR_ENABLED = False
    bd = bench_drag_gpu
    with torch.inference_mode():
        model, positive, negative, latent, size = bd.build("sd15", not full, mm.get_torch_device(), torch.float32)
        if full:  # full width at 256² (latent 32²): a few steps, one repeat
            size, latent, repeats = 256, {"samples": torch.randn(1, 4, 32, 32)}, 1
        stats = dict(latents=0, calls=0, inside=0.0, graphs=0)
        model = bd.counted(model, stats, lambda: None)
        ms = model.get_model_object("model_sampling")
        steps = 4 if full else 20
        sigmas = comfy.samplers.calculate_sigmas(ms, "normal", steps).cpu()
        samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
        noise = comfy.sample.prepare_noise(samples, bd.SEED)
        pairs = to_latent([((size // 2 - 40, size // 2), (size // 2 + 40, size // 2))], 8)
        runs = {
            "ours": lambda: run_sampler(model, positive, negative, bd.CFG, latent, bd.SEED, sigmas, SDESampler(eta=1.0)),
            "ksampler": lambda: comfy.sample.sample(model, noise, steps, bd.CFG, "euler_ancestral", "normal", positive,
                                                    negative, samples, denoise=1.0, disable_pbar=True, seed=bd.SEED),
            "drag": lambda: run_drag(model=model, positive=positive, negative=negative, latent=latent, pairs=pairs,
                                     setting=PRESETS["warp"], seed=bd.SEED, cfg=bd.CFG, radius=bd.RADIUS, beta=bd.BETA,
                                     alpha=bd.ALPHA, eta=bd.ETA, scheduler=bd.SCHEDULER),
        }
        if full:  # warm-up: model load, first allocations
            comfy.sample.sample(model, noise, 1, bd.CFG, "euler", "normal", positive, negative, samples,
                                disable_pbar=True, seed=bd.SEED)
        else:
            runs["drag"]()
        out = {"threads": torch.get_num_threads(), "torch": torch.__version__}
        for name, fn in runs.items():
            times, cpu = [], []
            for _ in range(repeats):
                stats.update(latents=0, calls=0, inside=0.0, graphs=0)
                start, start_cpu = time.perf_counter(), time.process_time()
                fn()
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            out[name] = {"s": times, "cpu": cpu, "latents": stats["latents"], "calls": stats["calls"],
                         "graphs": stats["graphs"]}
    out["rss_mb"] = peak_rss_mb()
    return out


def _server(log_path, extra_args=()):
    from lab.harness.comfy_server import ComfyServer
    return ComfyServer(python=sys.executable, log_path=log_path, extra_args=extra_args)


def worker_workflows(repeats, log_dir):
    import glob
    from lab.commands import run_workflow
    paths = sorted(glob.glob(os.path.join(ROOT, "lab", "workflows", "*trained model, CPU*.json")))
    out = {"workflows": {}}
    with _server(os.path.join(log_dir, "workflows_server.log")) as server:
        start_rss = peak_rss_mb(server.process.pid)
        info = server.get("/object_info")
        for path in paths:
            name = os.path.basename(path)[:-len(".json")]
            times = []
            for seed in range(1, repeats + 1):
                result = run_workflow.execute(path, server, run_workflow.Overrides(seed=seed), object_info=info,
                                              timeout=900)
                times.append(result.seconds)
            out["workflows"][name] = times
        out["server_rss_mb"] = peak_rss_mb(server.process.pid)
        out["server_rss_start_mb"] = start_rss
        log = server.read_log()
    out["ram_pressure_cache"] = "Using RAM pressure cache" in log
    return out


def make_big_checkpoint():
    """A full-width SD1.5 checkpoint (random weights, fp16): the SD15 UNet config ComfyUI detects."""
    if os.path.isfile(BIG_CKPT):
        return BIG_CKPT
    import torch
    import zlib
    from safetensors.torch import save_file
    from lab.harness import tiny_checkpoints as tc
    from . import bench_drag_gpu
    tc._boot()
    config = {k: v for k, v in bench_drag_gpu.SD15.items() if k not in ("use_temporal_attention", "use_temporal_resblock")}
    parts = {"model.diffusion_model.": tc._unet(**config),
             "cond_stage_model.transformer.text_model.": tc._clip_l(), "first_stage_model.": tc._taesd(4)}
    generator = torch.Generator().manual_seed(zlib.crc32(b"sd15_full"))
    sd = {prefix + name: tc._value(prefix + name, tuple(meta.shape), generator).to(torch.float16)
          for prefix, module in parts.items() for name, meta in module.state_dict().items()}
    os.makedirs(os.path.dirname(BIG_CKPT), exist_ok=True)
    tmp = f"{BIG_CKPT}.{os.getpid()}.tmp"
    save_file(sd, tmp, metadata={"note": "random weights, full-width SD1.5, for lab/benchmarks/bench_cores.py"})
    os.replace(tmp, BIG_CKPT)
    return BIG_CKPT


def big_prompt(info, seed):
    def node(cls, **inputs):
        spec = info[cls]["input"]
        for name, value in spec.get("required", {}).items():
            if name not in inputs and len(value) > 1 and isinstance(value[1], dict) and "default" in value[1]:
                inputs[name] = value[1]["default"]
        return {"class_type": cls, "inputs": inputs}
    return {
        "1": node("CheckpointLoaderSimple", ckpt_name=os.path.basename(BIG_CKPT)),
        "2": node("CLIPTextEncode", text="a photo of a cat", clip=["1", 1]),
        "3": node("CLIPTextEncode", text="", clip=["1", 1]),
        "4": node("EmptyLatentImage", width=256, height=256, batch_size=1),
        "5": node("KSampler", model=["1", 0], seed=seed, steps=4, cfg=3.0, sampler_name="euler", scheduler="normal",
                  positive=["2", 0], negative=["3", 0], latent_image=["4", 0], denoise=1.0),
        "6": node("SDEDragPointMover", model=["1", 0], positive=["2", 0], negative=["3", 0], latent=["5", 0],
                  points=json.dumps({"source": [[96, 128]], "target": [[160, 128]]}), seed=seed),
        "7": node("VAEDecode", samples=["6", 0], vae=["1", 2]),
        "8": node("SaveImage", images=["7", 0], filename_prefix="bench_cores_big"),
    }


LOG_KEYS = {"loads": "Requested to load", "unload passes": "models unloaded", "unloads": "Unloading ",
            "loaded completely": "loaded completely", "loaded partially": "loaded partially",
            "unloaded partially": "Unloaded partially"}


def worker_big(log_dir, prompts=3):
    from lab.commands import run_workflow
    make_big_checkpoint()
    out = {"prompts": []}
    with _server(os.path.join(log_dir, "big_server.log"), ["--verbose", "DEBUG"]) as server:
        os.symlink(BIG_CKPT, os.path.join(server.base_dir, "models", "checkpoints", os.path.basename(BIG_CKPT)))
        info = server.get("/object_info")
        for seed in range(1, prompts + 1):
            before = server.read_log()
            started, cpu = time.time(), cpu_seconds(server.process.pid)
            entry = server.run(big_prompt(info, seed), timeout=1800)
            seconds = run_workflow.server_seconds(entry, time.time() - started)
            cpu = cpu_seconds(server.process.pid) - cpu
            new = server.read_log()[len(before):]
            out["prompts"].append({"s": seconds, "cpu": cpu, **{k: new.count(v) for k, v in LOG_KEYS.items()}})
        out["server_rss_mb"] = peak_rss_mb(server.process.pid)
        log = server.read_log()
    out["dynamic_vram"] = "DynamicVRAM support detected and enabled" in log
    out["ram_pressure_cache"] = "Using RAM pressure cache" in log
    out["load_lines"] = [line for line in log.splitlines() if any(v in line for v in LOG_KEYS.values())][:40]
    return out


def worker(part, repeats, log_dir):
    result = {"inproc": lambda: worker_inproc(repeats), "inproc_full": lambda: worker_inproc(repeats, full=True), "workflows": lambda: worker_workflows(repeats, log_dir),
              "big": lambda: worker_big(log_dir)}[part]()
    print(MARK + json.dumps(result), flush=True)


# --- the orchestrator ----------------------------------------------------------------------------------

def run_part(host, part, repeats, log_dir):
    comfyui, python = HOSTS[host]
    env = dict(os.environ, COMFYUI_PATH=comfyui)
    os.makedirs(log_dir, exist_ok=True)
    cmd = [python, "-m", "lab.benchmarks.bench_cores", "--worker", part, "--repeats", str(repeats), "--log-dir", log_dir]
    print(f"[{host}] {part} ...", file=sys.stderr, flush=True)
    started = time.time()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    with open(os.path.join(log_dir, f"{part}.worker.log"), "w") as f:
        f.write(proc.stdout + proc.stderr)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode or not lines:  # reported, and the other parts and cores still run
        print(f"[{host}] {part} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}", file=sys.stderr)
        return None
    print(f"[{host}] {part}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads(lines[-1][len(MARK):])


def fmt(x, digits=3):
    return "—" if x is None else f"{x:.{digits}f}"


def spread(times):
    return f"{statistics.median(times):.2f} ({min(times):.2f}–{max(times):.2f})" if times else "—"


def table(results, hosts):
    rows = []  # (label, {host: text}, {host: number for the ratio})

    def add(label, get, text=None):
        values = {}
        for h in hosts:
            try:
                values[h] = get(results[h])
            except (KeyError, IndexError, TypeError, statistics.StatisticsError):
                values[h] = None
        rows.append((label, {h: (text(values[h]) if text else fmt(values[h])) if values[h] is not None else "—"
                             for h in hosts}, values))

    med = statistics.median
    for part, what, steps in (("inproc", "tiny UNet, latent 16²", 20), ("inproc_full", "full SD1.5 UNet, latent 32²", 4)):
        if not any(part in r for r in results.values()):
            continue
        for key, label in (("ours", f"SDE Sampler η 1 ({steps} steps, CFG 3)"),
                           ("ksampler", f"KSampler euler_ancestral ({steps} steps, CFG 3)")):
            add(f"{what}: {label}: latents", lambda r, k=key, p=part: r[p][k]["latents"], lambda v: f"{v}")
            add(f"{what}: {label}: ms per latent",
                lambda r, k=key, p=part: 1000 * med(r[p][k]["s"]) / r[p][k]["latents"], lambda v: f"{v:.1f}")
            add(f"{what}: {label}: CPU ms per latent",
                lambda r, k=key, p=part: 1000 * med(r[p][k]["cpu"]) / r[p][k]["latents"], lambda v: f"{v:.1f}")
        add(f"{what}: SDE Sampler / KSampler, time per latent", lambda r, p=part: med(r[p]["ours"]["s"])
            / r[p]["ours"]["latents"] / (med(r[p]["ksampler"]["s"]) / r[p]["ksampler"]["latents"]))
        add(f"{what}: default drag (warp): latents", lambda r, p=part: r[p]["drag"]["latents"], lambda v: f"{v}")
        add(f"{what}: default drag (warp): s", lambda r, p=part: med(r[p]["drag"]["s"]))
        add(f"{what}: default drag (warp): ms per latent",
            lambda r, p=part: 1000 * med(r[p]["drag"]["s"]) / r[p]["drag"]["latents"], lambda v: f"{v:.1f}")
        add(f"{what}: default drag (warp): CPU s", lambda r, p=part: med(r[p]["drag"]["cpu"]))
        add(f"{what}: autograd graphs recorded", lambda r, p=part: sum(r[p][k]["graphs"] for k in ("ours", "ksampler", "drag")),
            lambda v: f"{v}")
        add(f"{what}: peak RSS MB (process)", lambda r, p=part: r[p]["rss_mb"], lambda v: f"{v:.0f}")
    if any("workflows" in r for r in results.values()):
        names = sorted({n for r in results.values() for n in r.get("workflows", {}).get("workflows", {})})
        for n in names:
            short = n.replace(" (trained model, CPU)", "").replace(", CPU)", ")")
            add(f"workflow {short}: 1st prompt s", lambda r, n=n: r["workflows"]["workflows"][n][0])
            add(f"workflow {short}: later prompts s, median (min–max)",
                lambda r, n=n: r["workflows"]["workflows"][n][1:] or None, spread)
            rows[-1][2].update({h: (med(v) if v else None) for h, v in rows[-1][2].items()})
        add("workflows server: peak RSS MB", lambda r: r["workflows"]["server_rss_mb"], lambda v: f"{v:.0f}")
        add("RAM pressure cache in log", lambda r: r["workflows"]["ram_pressure_cache"], lambda v: "yes" if v else "no")
        rows[-1][2].update({h: None for h in hosts})
    if any("big" in r for r in results.values()):
        n = max(len(r.get("big", {}).get("prompts", [])) for r in results.values())
        for i in range(n):
            add(f"full SD1.5 prompt {i + 1}: s", lambda r, i=i: r["big"]["prompts"][i]["s"])
            add(f"full SD1.5 prompt {i + 1}: server CPU s", lambda r, i=i: r["big"]["prompts"][i].get("cpu"))
            add(f"full SD1.5 prompt {i + 1}: " + ", ".join(LOG_KEYS), lambda r, i=i: tuple(
                r["big"]["prompts"][i][k] for k in LOG_KEYS), lambda v: " / ".join(map(str, v)))
            rows[-1][2].update({h: None for h in hosts})
        add("full SD1.5 server: peak RSS MB", lambda r: r["big"]["server_rss_mb"], lambda v: f"{v:.0f}")
        add("full SD1.5 server: DynamicVRAM (comfy-aimdo) enabled", lambda r: r["big"]["dynamic_vram"],
            lambda v: "yes" if v else "no")
        rows[-1][2].update({h: None for h in hosts})
    ratio = len(hosts) == 2
    print("| measure | " + " | ".join(hosts) + (f" | {hosts[1]} / {hosts[0]}" if ratio else "") + " |")
    print("|---|" + "---:|" * (len(hosts) + ratio))
    for label, texts, values in rows:
        line = f"| {label} | " + " | ".join(texts[h] for h in hosts)
        if ratio:
            a, b = values[hosts[0]], values[hosts[1]]
            ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)) and a
            line += f" | {b / a:.2f}" if ok else " | —"
        print(line + " |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS[:3]))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--hosts", nargs="+", default=list(HOSTS), help="names from HOSTS or added with --host")
    p.add_argument("--host", action="append", default=[], metavar="NAME=COMFYUI_DIR:PYTHON")
    p.add_argument("--log-dir", default=os.path.join(ROOT, "out", "bench_cores"))
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--worker", choices=PARTS, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker(a.worker, a.repeats, a.log_dir)
    for spec in a.host:
        name, rest = spec.split("=", 1)
        HOSTS[name] = tuple(rest.split(":", 1))
    load = os.getloadavg()
    results = {h: {} for h in a.hosts}
    for part in a.parts:  # part by part, core after core: both cores see the same machine state
        for h in a.hosts:
            result = run_part(h, part, a.repeats, os.path.join(a.log_dir, h))
            if result is not None:
                results[h][part] = result
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"\nComfyUI cores: {', '.join(f'{h} ({HOSTS[h][0]})' for h in a.hosts)}; CPU, "
          f"{os.cpu_count()} cores; load average at start {load[0]:.2f}, at end {os.getloadavg()[0]:.2f}; "
          f"repeats {a.repeats}\n")
    table(results, a.hosts)


if __name__ == "__main__":
    main()
