"""Run a DragBench folder through the pack inside ComfyUI, headless: one drag per sample.

    .venv/bin/python -m lab.commands.dragbench DATA --out OUT --checkpoint NAME_OR_PATH
        [--workflow WORKFLOW.json] [--comfyui URL ...] [--per-server N] [--models DIR] [--size auto|N|WxH]
        [--multiple 8] [--seed N] [--set NODE.input=value ...] [--only TEXT] [--limit N] [--resume] [--ignore-mask]

DATA is searched recursively for samples in either public layout:

  SDE-Drag's DragBench (Nie et al.)   origin_image.png, mask.png (255 = may change) and
                                      prompt.json = {"source": [[x, y], ...], "target": [[x, y], ...], "prompt": "..."}
  DragDiffusion's DragBench (Shi et al.)  original_image.png and meta_data.pkl with "prompt", "points" (handle,
                                      target, handle, target, ... as (x, y)) and "mask" (an HxW array, > 0 = may
                                      change); user_drag.png is copied along if present.

Each sample runs through lab/commands/run_workflow.py: the workflow (default workflows/SDE-Drag (SD1.5 checkpoint).json,
with the checkpoint given by --checkpoint; any other with --workflow) gets the sample's picture
(--image), its mask (--mask; white = may change), its points (--points, every SDE-Drag Point Mover)
and its prompt (--prompt, the positive text encoder). Seeds and every other setting stay as the
workflow has them (method warp, the node's default; the authors' seed 1234 and cfg 3); --seed and --set
change them for every sample (the paper's algorithm: --set "SDE-Drag Point Mover.method=paper"; the
SDE-Drag authors' own DragBench script then uses 200 steps: --set "SDE-Drag Point Mover.steps=200"; it
also fine-tunes a LoRA per picture, which this tool does not do).

Image sizes. SD's latent is the picture / 8, and ComfyUI's VAEEncode crops whatever is not a multiple
of 8 from the edges, which would shift every point. So each picture is resized first, to a working
size, and its points and mask go with it:
  --size auto (default)  keep the size when width and height are multiples of --multiple (8; use 16 for
                         Flux), else resize to the nearest multiples. SDE-Drag's DragBench pictures are
                         512x512 and run as they are, as in the authors' script.
  --size N / WxH         resize every picture to N x N / W x H (e.g. 512, as SDE-Drag's script assumes).
The picture is resized with a bicubic filter, the mask with nearest neighbour (then made 0 / 255), and
every point is scaled by the same factors: x' = x * W'/W, y' = y * H'/H (as DragDiffusion's script
maps points to its working resolution). The result is resized back (bicubic) to the original size for
dragged_image.png, as DragDiffusion's script does, so it can be compared with the original pixel for
pixel; the working-size result stays in outputs/.

OUT mirrors DATA's folder structure, one folder per sample, holding:
  copies of the sample's files (origin_image.png, mask.png, prompt.json / original_image.png,
  meta_data.pkl, user_drag.png)
  work/input.png, work/mask.png, work/points.json   what was sent to ComfyUI (working size)
  outputs/                                           every image the workflow produced + workflow_api.json
  dragged_image.png                                  the drag result at the original size (the file name
                                                     DragDiffusion's evaluation scripts read)
  result.json                                        sizes, points, prompt, seconds, which node made the result
and OUT/summary.json, OUT/summary.md for the whole run (with the server that ran each sample).

Several servers: give --comfyui once per ComfyUI (or separate the URLs by commas), each on its own GPU
or machine; the samples are spread over them, at most --per-server N (default 2) in flight on each, and
a sample whose server went away is run again on another (lab/commands/batch.py; run_workflow.py --help).
A sample's result depends only on the sample and the settings, not on the server. result.json is
written last and holds a key of the sample's files, the workflow and every setting: --resume
(--skip-existing) skips the samples finished with the same key, so an interrupted run goes on where it
stopped, and a changed setting runs a sample again. Metrics (DragBench's mean distance by DIFT
feature matching, 1 - LPIPS) need their own models and are not computed here: run the benchmarks'
evaluation scripts on OUT.

meta_data.pkl is a Python pickle: only run this on data you trust. Needs numpy and Pillow (run it with
the ComfyUI venv, .venv/bin/python).
"""
import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import shutil
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_server import PromptError
from lab.harness.find_comfyui import PACK_DIR

from . import batch
from . import run_workflow as rw

DEFAULT_WORKFLOW = os.path.join(PACK_DIR, "workflows", "SDE-Drag (SD1.5 checkpoint).json")
SDE_DRAG, DRAGDIFFUSION = "sde-drag", "dragdiffusion"
LAYOUT_FILES = {SDE_DRAG: ("origin_image.png", "prompt.json"), DRAGDIFFUSION: ("original_image.png", "meta_data.pkl")}
RESULT_NAME = "dragged_image.png"
MAX_SIZE = 16384  # pixels a side of the working picture (ComfyUI's own MAX_RESOLUTION)


@dataclasses.dataclass
class Sample:
    name: str          # path relative to DATA ("." when DATA is the sample itself)
    folder: str
    layout: str
    image: Image.Image  # RGB
    prompt: str
    pairs: list        # [((sx, sy), (tx, ty))] in the picture's pixels
    mask: np.ndarray   # bool (H, W), True = may change; None = everything may change


def layout_of(folder):
    for layout, files in LAYOUT_FILES.items():
        if all(os.path.isfile(os.path.join(folder, f)) for f in files):
            return layout
    return None


def find_samples(root):
    """[(folder, layout)] of every sample folder under root (root itself included), sorted by path."""
    found = []
    for folder, dirs, _ in os.walk(root):
        dirs.sort()
        layout = layout_of(folder)
        if layout:
            found.append((folder, layout))
    return found


def _pairs(source, target, where):
    if len(source) != len(target) or not source:
        raise ValueError(f"{where}: {len(source)} source and {len(target)} target points")
    return [((float(s[0]), float(s[1])), (float(t[0]), float(t[1]))) for s, t in zip(source, target)]


def sample_name(folder, root):
    """A sample's name: its path under DATA (its folder's name when DATA is the sample itself)."""
    name = os.path.relpath(folder, root)
    return os.path.basename(os.path.abspath(folder)) if name == "." else name


def load_sample(folder, layout, root):
    name = sample_name(folder, root)
    if layout == SDE_DRAG:
        image = Image.open(os.path.join(folder, "origin_image.png")).convert("RGB")
        with open(os.path.join(folder, "prompt.json"), encoding="utf-8") as f:
            meta = json.load(f)
        pairs = _pairs(meta["source"], meta["target"], os.path.join(folder, "prompt.json"))
        mask_path = os.path.join(folder, "mask.png")
        mask = None
        if os.path.isfile(mask_path):
            m = Image.open(mask_path).convert("L")
            if m.size != image.size:  # the authors resize it to the latent with PIL's default filter
                m = m.resize(image.size, Image.BICUBIC)
            mask = np.asarray(m) > 128  # the authors' threshold
        return Sample(name, folder, layout, image, str(meta.get("prompt", "")), pairs, mask)
    with open(os.path.join(folder, "meta_data.pkl"), "rb") as f:
        meta = pickle.load(f)
    image = Image.open(os.path.join(folder, "original_image.png")).convert("RGB")
    points = [tuple(p) for p in meta["points"]]
    pairs = _pairs(points[0::2], points[1::2], os.path.join(folder, "meta_data.pkl"))
    mask = meta.get("mask")
    if mask is not None:
        mask = np.asarray(mask)
        mask = (mask[..., 0] if mask.ndim == 3 else mask) > 0  # DragDiffusion: mask > 0 -> 1
        if mask.shape != (image.height, image.width):
            mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(image.size, Image.NEAREST)) > 127
    return Sample(name, folder, layout, image, str(meta.get("prompt", "")), pairs, mask)


def parse_size(text):
    if text == "auto":
        return "auto"
    w, _, h = text.lower().partition("x")
    try:
        size = (int(w), int(h or w))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: auto, N or WxH") from None
    if min(size) < 8 or max(size) > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"--size {text!r}: each side must be 8 to {MAX_SIZE} pixels")
    return size


def work_size(width, height, size="auto", multiple=8):
    """The (width, height) a picture is run at: see the module docstring."""
    if size != "auto":
        return tuple(size)
    return tuple(max(multiple, int(d / multiple + 0.5) * multiple) for d in (width, height))  # halves round up


def scale_pairs(pairs, from_size, to_size):
    fx, fy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return [tuple((round(x * fx, 3), round(y * fy, 3)) for x, y in pair) for pair in pairs]


def points_json(pairs):
    def num(v):
        return int(v) if float(v).is_integer() else v
    return json.dumps({"source": [[num(s[0]), num(s[1])] for s, _ in pairs],
                       "target": [[num(t[0]), num(t[1])] for _, t in pairs]})


def write_work_inputs(sample, work_dir, size, use_mask=True):
    """Working-size picture, mask and points in work_dir; returns (image path, mask path or None, points JSON)."""
    os.makedirs(work_dir, exist_ok=True)
    image = sample.image if sample.image.size == size else sample.image.resize(size, Image.BICUBIC)
    image_path = os.path.join(work_dir, "input.png")
    image.save(image_path)
    mask_path = None
    if use_mask and sample.mask is not None:
        mask = Image.fromarray(sample.mask.astype(np.uint8) * 255)
        if mask.size != size:
            mask = mask.resize(size, Image.NEAREST)
        mask_path = os.path.join(work_dir, "mask.png")
        mask.save(mask_path)
    points = points_json(scale_pairs(sample.pairs, sample.image.size, size))
    with open(os.path.join(work_dir, "points.json"), "w", encoding="utf-8") as f:
        f.write(points + "\n")
    return image_path, mask_path, points


def result_node(prompt, images):
    """The output node whose image is made from an SDE-Drag Point Mover's edited latent (its output 0)."""
    drags = {k for k, v in prompt.items() if v["class_type"] in rw.POINT_NODES}
    producing = sorted({i.node_id for i in images}, key=lambda k: (prompt.get(k, {}).get("class_type") != "SaveImage",
                                                                    rw.node_order(k)))
    for node_id in producing:
        stack, seen = [v for v in prompt.get(node_id, {}).get("inputs", {}).values()], set()
        while stack:
            value = stack.pop()
            if not rw.is_link(value, prompt):
                continue
            if value[0] in drags:
                if value[1] == 0:
                    return node_id
                continue
            if value[0] not in seen:
                seen.add(value[0])
                stack.extend(prompt[value[0]]["inputs"].values())
    return None


def run_sample(sample, server, out_root, workflow=DEFAULT_WORKFLOW, checkpoint=None, size="auto", multiple=8,
               seed=None, sets=(), use_mask=True, timeout=600, object_info=None, key=None):
    """Run one sample; returns its record (also written to OUT/<name>/result.json, last: it marks the sample
    finished)."""
    out = os.path.join(out_root, sample.name)
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(sample.folder)):
        path = os.path.join(sample.folder, name)
        if os.path.isfile(path):
            shutil.copyfile(path, os.path.join(out, name))
    size = work_size(*sample.image.size, size, multiple)
    image_path, mask_path, points = write_work_inputs(sample, os.path.join(out, "work"), size, use_mask)
    overrides = rw.Overrides(image=image_path, mask=mask_path, checkpoint=checkpoint, seed=seed, points=points,
                             prompt=sample.prompt, sets=list(sets))
    result = rw.execute(workflow, server, overrides, os.path.join(out, "outputs"), timeout, object_info)
    node = result_node(result.prompt, result.images)
    if node is None:
        raise ValueError("the workflow outputs no image made from the SDE-Drag Point Mover's latent output")
    main = [i for i in result.images if i.node_id == node][0]
    dragged = Image.open(main.path).convert("RGB")
    if dragged.size != sample.image.size:
        dragged = dragged.resize(sample.image.size, Image.BICUBIC)
    dragged.save(os.path.join(out, RESULT_NAME))
    record = {
        "sample": sample.name, "layout": sample.layout, "prompt": sample.prompt,
        "original_size": list(sample.image.size), "work_size": list(size),
        "points": json.loads(points_json(sample.pairs)), "work_points": json.loads(points),
        "mask": mask_path is not None, "seconds": round(result.seconds, 3),
        "result_node": node, "result": os.path.relpath(main.path, out), "notes": result.notes, "key": key,
    }
    batch.atomic_write(os.path.join(out, "result.json"), json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record


def write_summary(out_root, records, header):
    with open(os.path.join(out_root, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(records, f, indent=2, ensure_ascii=False)
    lines = [header, "", "| sample | layout | size | work size | pairs | mask | seconds | result |",
             "|---|---|---|---|---:|---|---:|---|"]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['sample']} | {r.get('layout', '')} | | | | | | error: {r['error'][:120]} |")
            continue
        lines.append(f"| {r['sample']} | {r['layout']} | {'x'.join(map(str, r['original_size']))} | "
                     f"{'x'.join(map(str, r['work_size']))} | {len(r['points']['source'])} | "
                     f"{'yes' if r['mask'] else 'no'} | {r['seconds']:.1f} | {r['sample']}/{RESULT_NAME} |")
    with open(os.path.join(out_root, "summary.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def sample_key(folder, workflow, checkpoint, size, multiple, seed, sets, use_mask):
    """What decides a sample's result: its files, the workflow and every setting (resume compares it)."""
    files = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            files[name] = rw.file_digest(path)
    settings = {"workflow": rw.load_workflow(workflow), "files": files, "size": size, "multiple": multiple, "seed": seed,
                "sets": [list(s) for s in sets], "mask": use_mask,
                "checkpoint": os.path.basename(checkpoint) if checkpoint and os.path.isfile(checkpoint) else checkpoint}
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def finished_record(out_dir, name, key):
    """The saved record of a sample finished before with the same key, else None."""
    try:
        with open(os.path.join(out_dir, name, "result.json"), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if record.get("key") == key else None


def run_bench(data_dir, out_dir, servers, workflow=DEFAULT_WORKFLOW, checkpoint=None, size="auto", multiple=8,
              seed=None, sets=(), only=None, limit=None, skip_existing=False, use_mask=True, timeout=600,
              per_server=2, progress=None):
    """Run every sample under data_dir on the started server(s); returns the records (errors included), in the
    samples' order. With several servers the samples are spread over them (lab/commands/batch.py); with
    skip_existing, a sample whose result.json holds the same key (files, workflow, settings) is not run again."""
    servers = servers if isinstance(servers, (list, tuple)) else [servers]
    samples = find_samples(data_dir)
    if only:
        samples = [s for s in samples if only in os.path.relpath(s[0], data_dir)]
    if limit:
        samples = samples[:limit]
    if not samples:
        raise ValueError(f"{data_dir}: no DragBench sample (origin_image.png + prompt.json, or original_image.png + "
                         "meta_data.pkl) found")
    os.makedirs(out_dir, exist_ok=True)
    workflow = rw.load_workflow(workflow)
    progress = progress or batch.Progress(len(samples), stream=sys.stdout)
    records, jobs, seen_notes = {}, [], set()
    for folder, layout in samples:
        name = sample_name(folder, data_dir)
        key = sample_key(folder, workflow, checkpoint, size, multiple, seed, sets, use_mask)
        done = finished_record(out_dir, name, key) if skip_existing else None
        if done is not None:
            records[name] = done
            progress.finish("skipped", f"{name}: done before, skipped")
            continue

        def job(server, object_info, folder=folder, layout=layout, key=key):
            sample = load_sample(folder, layout, data_dir)
            record = run_sample(sample, server, out_dir, workflow, checkpoint, size, multiple, seed, sets, use_mask,
                                timeout, object_info, key)
            return record
        jobs.append(batch.Job(name, job))

    def describe(error):
        if isinstance(error, PromptError):
            return rw.describe_error(error)
        return f"{type(error).__name__}: {error}"

    def one_line(record):
        text = (f"{record['layout']}, {record['original_size'][0]}x{record['original_size'][1]} -> "
                f"{record['work_size'][0]}x{record['work_size'][1]}, {len(record['points']['source'])} pair(s): "
                f"{record['seconds']:.1f} s")
        for note in record["notes"]:
            if note not in seen_notes:
                seen_notes.add(note)
                text += f"\n  note: {note}"
        return text

    layouts = dict((sample_name(f, data_dir), l) for f, l in samples)
    for outcome in batch.run_jobs(jobs, servers, per_server, progress, describe, one_line):
        records[outcome.name] = (outcome.record if outcome.ok else
                                 {"sample": outcome.name, "layout": layouts[outcome.name], "error": outcome.error})
        if outcome.ok:
            outcome.record["server"] = outcome.server
    return [records[sample_name(f, data_dir)] for f, _ in samples]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("data", help="DragBench folder (either layout; searched recursively)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (one sub-folder per sample)")
    parser.add_argument("--workflow", default=DEFAULT_WORKFLOW, help="UI or API workflow with an SDE-Drag Point Mover "
                        "(default: workflows/SDE-Drag (SD1.5 checkpoint).json)")
    parser.add_argument("--size", type=parse_size, default="auto", help="auto (default), N or WxH")
    parser.add_argument("--multiple", type=int, default=8, help="size multiple for --size auto (default 8)")
    parser.add_argument("--only", metavar="TEXT", help="only samples whose path contains TEXT")
    parser.add_argument("--limit", type=int, help="at most this many samples")
    parser.add_argument("--resume", "--skip-existing", dest="resume", action="store_true",
                        help="skip the samples finished before in OUT with the same files, workflow and settings")
    parser.add_argument("--ignore-mask", action="store_true", help="run without the samples' masks")
    rw.add_override_arguments(parser)
    args = parser.parse_args(argv)
    urls = rw.check_server_arguments(parser, args)
    try:
        sets = [rw.parse_set(s) for s in args.sets]
    except ValueError as e:
        parser.error(str(e))
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit {args.limit}: must be 1 or more")
    if not 1 <= args.multiple <= 256:
        parser.error(f"--multiple {args.multiple}: must be 1 to 256")
    if os.path.abspath(args.workflow) == DEFAULT_WORKFLOW and not (args.checkpoint or urls):
        parser.error("the default workflow (SDE-Drag (SD1.5 checkpoint).json) needs --checkpoint NAME_OR_PATH (an SD1.5 "
                     "checkpoint), or give --workflow")
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    try:
        with rw.Servers(urls, args.models, os.path.join(args.out, "server.log"), log=lambda m: print(m, flush=True)) as servers:
            records = run_bench(args.data, args.out, servers, args.workflow, args.checkpoint, args.size, args.multiple,
                                args.seed, sets, args.only, args.limit, args.resume, not args.ignore_mask,
                                args.timeout, per_server=args.per_server)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"dragbench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dragbench: interrupted; this client's prompts were taken off the servers. Run the same command with "
              f"--resume to go on: the finished samples are kept in {args.out}", file=sys.stderr)
        return 130
    failed = [r for r in records if "error" in r]
    header = (f"DragBench run of {args.data} with {os.path.relpath(args.workflow, PACK_DIR)}"
              f"{' and ' + args.checkpoint if args.checkpoint else ''}: {len(records) - len(failed)} done, "
              f"{len(failed)} failed, {time.time() - started:.0f} s in all.")
    write_summary(args.out, records, header)
    print(header)
    print(f"results: {args.out}/<sample>/{RESULT_NAME}; summary: {os.path.join(args.out, 'summary.md')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
