"""The runs of one run_workflow command: one per picture (--image FOLDER) and per seed (--seeds), each
in its own folder; what decides a run's outputs (its key), and the done.json that marks it finished
(--resume); the batch's summary.json. Stdlib only."""
import dataclasses
import hashlib
import json
import os
import re

from . import batch
from .prompt_edit import Overrides, load_workflow

PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
MAX_JOBS = 100_000
MAX_SEED = 2 ** 64 - 1
DONE_NAME = "done.json"  # written last into a job's folder: the job is finished (resume skips it)


def parse_seeds(text):
    """'1-8,20' -> [1, ..., 8, 20]: one prompt per seed."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            low = int(low)
            high = int(high) if dash else low
        except ValueError:
            raise ValueError(f"--seeds {text!r}: expected seeds and ranges such as 1-8,20") from None
        if not 0 <= low <= high <= MAX_SEED:
            raise ValueError(f"--seeds {text!r}: {part} is not a range of seeds in 0 to 2^64-1")
        if len(seeds) + high - low + 1 > MAX_JOBS:
            raise ValueError(f"--seeds {text!r}: more than {MAX_JOBS} seeds")
        seeds.extend(range(low, high + 1))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: a seed is given twice")
    return seeds


def pictures(path, what):
    """A picture file -> [it]; a folder -> its pictures (sorted by name)."""
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        found = sorted(os.path.join(path, n) for n in os.listdir(path)
                       if n.lower().endswith(PICTURE_EXTENSIONS) and os.path.isfile(os.path.join(path, n)))
        if not found:
            raise ValueError(f"{what} {path}: the folder holds no picture ({', '.join(PICTURE_EXTENSIONS)})")
        if len(found) > MAX_JOBS:
            raise ValueError(f"{what} {path}: more than {MAX_JOBS} pictures")
        return found
    raise ValueError(f"{what} {path}: no such file or folder")


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


@dataclasses.dataclass
class PlannedRun:
    name: str            # the job's name (its folder under --out in a batch)
    out_dir: str
    overrides: Overrides


def plan(out_dir, overrides, image=None, mask=None, seeds=None):
    """The runs of one command: one per picture (--image FOLDER) and per seed (--seeds); else one, into out_dir.

    With a mask folder, each picture takes the mask with its own file name (any extension)."""
    images = pictures(image, "--image") if image else [None]
    masks = {}
    if mask and os.path.isdir(mask):
        if len(images) == 1 and images[0] == image and not os.path.isdir(image or ""):
            raise ValueError(f"--mask {mask}: a folder of masks needs --image to be a folder too")
        by_stem = {_stem(p): p for p in pictures(mask, "--mask")}
        missing = [p for p in images if _stem(p) not in by_stem]
        if missing:
            raise ValueError(f"--mask {mask}: no mask named like {', '.join(os.path.basename(p) for p in missing[:5])}")
        masks = {p: by_stem[_stem(p)] for p in images}
    elif mask and not os.path.isfile(mask):
        raise ValueError(f"--mask {mask}: no such file or folder")
    seed_list = seeds if seeds is not None else [None]
    if len(images) * len(seed_list) > MAX_JOBS:
        raise ValueError(f"--image and --seeds make {len(images) * len(seed_list)} prompts; at most {MAX_JOBS}")
    single = len(images) * len(seed_list) == 1 and seeds is None and not (image and os.path.isdir(image))
    runs = []
    for picture in images:
        for seed in seed_list:
            o = dataclasses.replace(overrides, image=picture if picture else overrides.image,
                                    mask=masks.get(picture, mask), seed=seed if seed is not None else overrides.seed)
            parts = ([_stem(picture)] if picture and not single else []) + ([f"seed-{seed}"] if seed is not None else [])
            name = "_".join(parts) or "run"
            folder = re.sub(r"[^\w.+-]+", "_", name)
            runs.append(PlannedRun(name, out_dir if single else os.path.join(out_dir, folder), o))
    if len({r.out_dir for r in runs}) != len(runs):
        raise ValueError("--image: two pictures have the same name (a folder per picture would clash)")
    return runs


def file_digest(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_key(workflow, overrides):
    """What decides a run's outputs: the workflow and every override (pictures by their content)."""
    o = dataclasses.asdict(Overrides.of(overrides))
    for field in ("image", "mask"):
        if o[field]:
            o[field] = file_digest(o[field])
    if o["checkpoint"] and os.path.isfile(o["checkpoint"]):
        o["checkpoint"] = os.path.basename(o["checkpoint"])  # the server knows it by its name
    text = json.dumps({"workflow": load_workflow(workflow), "overrides": o}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def finished(out_dir, key):
    """Whether out_dir holds a finished run with this key (resume skips it)."""
    try:
        with open(os.path.join(out_dir, DONE_NAME), encoding="utf-8") as f:
            return json.load(f).get("key") == key
    except (OSError, ValueError):
        return False


def write_batch_summary(out_dir, runs, outcomes, keys):
    """OUT/summary.json: every run of the batch (skipped ones read back from their done.json)."""
    by_name = {o.name: o for o in outcomes}
    rows = []
    for r in runs:
        o = by_name.get(r.name)
        row = {"run": r.name, "folder": os.path.relpath(r.out_dir, out_dir), "key": keys[r.name]}
        if o is None:
            row["status"] = "finished before"
        elif o.ok:
            result = o.record["result"]
            row.update(status="done", server=o.server, seconds=round(result.seconds, 3),
                       images=[os.path.basename(p) for p in result.paths])
        else:
            row.update(status="failed", server=o.server, error=o.error)
        if o is not None and o.attempts:
            row["failed_tries"] = [{"server": u, "error": e} for u, e in o.attempts]
        rows.append(row)
    batch.atomic_write(os.path.join(out_dir, "summary.json"), json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
