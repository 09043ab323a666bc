"""Run a ComfyUI workflow headless: convert it, apply overrides, queue it, save every output image.

    python -m lab.commands.run_workflow WORKFLOW.json --out DIR [--comfyui URL ...] [--per-server N]
        [--models DIR] [--image PATH] [--mask PATH] [--checkpoint NAME_OR_PATH] [--seed N | --seeds LIST]
        [--points JSON] [--prompt TEXT] [--set NODE.input=value ...] [--timeout S] [--resume]

WORKFLOW.json is either the UI format (what the frontend saves: nodes and links; it is converted
with lab/harness/workflow_to_api.py against the server's live /object_info) or the API format (what
"Export (API)" saves: {node id: {"class_type", "inputs"}}).

Server: --comfyui URL uses a ComfyUI that is already running (its models, its input folder).
Several --comfyui URLs (repeat it, or separate them by commas; each a ComfyUI on its own GPU or machine)
share the runs of a batch: at most --per-server N (default 2) of them are queued or running on one
server at a time; a run whose server went away (or ran out of GPU memory) is run again on another
server; when a server stops answering, the others finish its runs (lab/commands/batch.py). Each run's
outputs depend only on the run (its seed and settings), not on the server that made them.
Without --comfyui, a ComfyUI is started for this run (`main.py --cpu` on loopback, a temporary base
directory with this pack linked in, see lab/harness/comfy_server.py; its log goes to DIR/server.log);
--models DIR lets that server also read a ComfyUI models folder (checkpoints/, loras/, vae/, unet/,
clip/, ...).

Overrides, applied to the API prompt in this order:
  --image PATH    uploads the file (/upload/image, subfolder sde_edit_runs/) and sets the `image` of
                  every LoadImage. A workflow with no LoadImage (such as the Reference Scene CPU
                  examples) gets one in place of the IMAGE that its VAEEncode nodes encode (every
                  input fed by that IMAGE, previews included, is re-pointed to it).
  --mask PATH     a mask picture, white = may change (read from its red channel: a grayscale PNG
                  works). Uploaded like --image; every LoadImageMask gets it with channel "red". In a
                  UI-format workflow a muted or bypassed LoadImageMask is switched on first. With no
                  LoadImageMask, one is added and connected to every free optional `mask` (MASK)
                  input (the SDE-Drag Point Mover's, SDE Inpaint's, SDEdit's).
  --checkpoint X  sets every CheckpointLoaderSimple's ckpt_name. X is a name the server lists, or a
                  file path: when this tool started the server, the file is linked into that server's
                  models/checkpoints/; against --comfyui the file must already be in the server's
                  checkpoints folder and its file name is used.
  --seed N        sets every `seed` and `noise_seed` input.
  --points JSON   sets every SDE-Drag Point Mover's points: {"source": [[x, y], ...], "target": [...]}
                  in image pixels.
  --prompt TEXT   sets the text of the encoders that make the `positive` conditioning of every node
                  that takes one (followed back through nodes such as FluxGuidance).
  --set NODE.input=value
                  any widget value. NODE is a node id, a node title or a class_type (every node that
                  matches); the value is read as the input's type (INT, FLOAT, BOOLEAN, text/combo).
                  Repeatable. Applied last, so it wins over the options above.

Batches: --image FOLDER runs once per picture in it (--mask FOLDER: each picture's mask by its file
name), --seeds 1-8,20 once per seed (both: every picture with every seed). Each run writes into its own
folder under --out (<picture>_seed-<n>), and OUT/summary.json lists them all with the server that ran
each. A finished run's folder holds done.json, written last; --resume skips every run whose done.json
has the same workflow and settings (a changed setting runs it again), so an interrupted batch goes on
where it stopped. One progress bar shows the whole batch.

Every image in the finished prompt's outputs (SaveImage, PreviewImage, ...) is written to --out as
<title>_<i>.png (the node title made file-safe; the node id is added where two titles clash), and the
API prompt that ran as workflow_api.json. A short summary is printed. Exit status 1 if ComfyUI
rejected or failed a prompt.

Python API (used by lab/commands/dragbench.py and lab/commands/demo.py; the prompt editing is lab/commands/prompt_edit.py,
the servers lab/commands/servers.py, a batch's runs and their done marks lab/commands/run_plan.py):

    run(workflow, server, overrides=None, out_dir=None) -> [saved paths]
    execute(workflow, server, overrides=None, out_dir=None) -> RunResult (prompt, images with their
        node, title and bytes, the server's own execution time)
    prepare(workflow, server, overrides=None) -> the API prompt that would be queued

`workflow` is a path, a UI-format dict or an API-format dict; `server` is a started
comfy_server.ComfyServer or a RemoteServer(url); `overrides` an Overrides (or a dict of its fields).
Stdlib only.
"""
import argparse
import dataclasses
import json
import math
import os
import re
import sys
import time
import urllib.parse

from lab.harness.comfy_server import PromptError

from . import batch
from .prompt_edit import POINT_NODES, Overrides, is_link, load_workflow, new_id, node_title, parse_set, prepare
from .run_plan import DONE_NAME, MAX_JOBS, file_digest, finished, parse_seeds, plan, run_key, write_batch_summary
from .servers import RemoteServer, Servers, start_server

# the API, with the names of prompt_edit, run_plan and servers that dragbench.py, make_thumbnails.py and the tests use
__all__ = ["run", "execute", "prepare", "Overrides", "RunResult", "SavedImage", "RemoteServer", "Servers", "start_server",
           "describe_error", "server_seconds", "node_order", "add_override_arguments", "check_server_arguments",
           "POINT_NODES", "is_link", "load_workflow", "new_id", "parse_set", "DONE_NAME", "MAX_JOBS", "file_digest",
           "parse_seeds", "run_key", "main"]


# ----------------------------------------------------------------------------------------------- running

@dataclasses.dataclass
class SavedImage:
    node_id: str
    class_type: str
    title: str
    index: int
    data: bytes
    filename: str      # the server's file name
    path: str = None   # where it was written (None without out_dir)


@dataclasses.dataclass
class RunResult:
    prompt: dict
    entry: dict        # the server's history entry
    images: list       # [SavedImage] in node id order
    seconds: float     # the server's execution time (wall time of the run where it gives none)
    notes: list

    @property
    def paths(self):
        return [i.path for i in self.images if i.path]

    def by_node(self):
        """{node id: [PNG bytes, ...]}"""
        out = {}
        for img in self.images:
            out.setdefault(img.node_id, []).append(img.data)
        return out


def server_seconds(entry, fallback):
    """Execution time of a prompt from the server's execution_start / execution_success stamps."""
    stamps = {kind: data.get("timestamp") for kind, data in entry.get("status", {}).get("messages", [])
              if isinstance(data, dict)}
    if stamps.get("execution_start") and stamps.get("execution_success"):
        return (stamps["execution_success"] - stamps["execution_start"]) / 1000.0
    return fallback


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "node"


def node_order(node_id):
    return (0, int(node_id), "") if str(node_id).isdigit() else (1, 0, str(node_id))


def execute(workflow, server, overrides=None, out_dir=None, timeout=600, object_info=None):
    """Queue the workflow (after prepare) and wait; fetch every output image, write them to out_dir."""
    notes = []
    prompt = prepare(workflow, server, overrides, object_info, notes)
    started = time.time()
    entry = server.run(prompt, timeout=timeout)
    seconds = server_seconds(entry, time.time() - started)
    outputs = entry.get("outputs", {})
    node_ids = sorted(outputs, key=node_order)
    bases = {k: slug(node_title(prompt[k]) if k in prompt else str(k)) for k in node_ids}
    clash = {b for b in bases.values() if list(bases.values()).count(b) > 1}
    images = []
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "workflow_api.json"), "w", encoding="utf-8") as f:
            json.dump(prompt, f, indent=2, ensure_ascii=False)
    for node_id in node_ids:
        files = [img for key, value in outputs[node_id].items() if isinstance(value, list)
                 for img in value if isinstance(img, dict) and "filename" in img]
        base = bases[node_id] + (f"-{slug(str(node_id))}" if bases[node_id] in clash else "")
        for i, img in enumerate(files):
            query = urllib.parse.urlencode({k: img.get(k, "") for k in ("filename", "subfolder", "type")})
            data = server.get_bytes(f"/view?{query}")
            node = prompt.get(node_id, {"class_type": "?", "_meta": {"title": str(node_id)}})
            saved = SavedImage(str(node_id), node["class_type"], node_title(node), i, data, img["filename"])
            if out_dir:
                ext = os.path.splitext(img["filename"])[1] or ".png"
                saved.path = os.path.join(out_dir, f"{base}_{i:03d}{ext}")
                with open(saved.path, "wb") as f:
                    f.write(data)
            images.append(saved)
    return RunResult(prompt, entry, images, seconds, notes)


def run(workflow, server, overrides=None, out_dir=None, timeout=600, object_info=None):
    """Run a workflow on a started server; returns the paths of the images it saved into out_dir."""
    return execute(workflow, server, overrides, out_dir, timeout, object_info).paths


def describe_error(error):
    """A PromptError's message plus the node errors ComfyUI sent with it, one line each."""
    details = error.details if isinstance(getattr(error, "details", None), dict) else {}
    if details.get("exception_message"):  # it failed while running
        return (f"node {details.get('node_id')} ({details.get('node_type')}) failed: "
                f"{details['exception_message'].strip()}")
    lines = [str(error).split(": {", 1)[0] if details else str(error)]
    if details.get("error"):
        err = details["error"]
        lines.append(f"  {err.get('message', '')}: {err.get('details', '')}".rstrip(": "))
    for node_id, info in (details.get("node_errors") or {}).items():
        for err in info.get("errors", []):
            lines.append(f"  node {node_id} ({info.get('class_type')}): {err.get('message')}: {err.get('details')}")
    return "\n".join(lines)


def _show(path):
    """A path as typed from the current folder where it is below it, else absolute."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel


def summary(result, label, out_dir=None):
    lines = [f"{label}: {len(result.images)} image(s) in {result.seconds:.2f} s (server execution time)"]
    for note in result.notes:
        lines.append(f"  note: {note}")
    shown = {}
    for img in result.images:
        shown.setdefault((img.node_id, img.title, img.class_type), []).append(img)
    for (node_id, title, class_type), imgs in shown.items():
        where = _show(imgs[0].path) if imgs[0].path else imgs[0].filename
        more = f" (+{len(imgs) - 1} more)" if len(imgs) > 1 else ""
        lines.append(f"  node {node_id} {title!r} ({class_type}): {len(imgs)} -> {where}{more}")
    if out_dir:
        lines.append(f"  API prompt: {_show(os.path.join(out_dir, 'workflow_api.json'))}")
    return "\n".join(lines)


def add_override_arguments(parser):
    parser.add_argument("--comfyui", metavar="URL", action="append", default=[],
                        help="use this running ComfyUI; repeat it (or separate URLs by commas) to spread the prompts "
                             "over several servers (default: start one, CPU)")
    parser.add_argument("--per-server", type=int, default=2, metavar="N",
                        help=f"prompts in flight on each server, 1 to {batch.MAX_PER_SERVER} (default 2)")
    parser.add_argument("--models", metavar="DIR", help="a ComfyUI models/ folder for the server this tool starts")
    parser.add_argument("--checkpoint", metavar="NAME_OR_PATH", help="every CheckpointLoaderSimple's ckpt_name")
    parser.add_argument("--seed", type=int, help="every seed / noise_seed input")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NODE.input=value",
                        help="a widget value of the nodes with this id, title or class_type (repeatable)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for one prompt (default 600)")


def check_server_arguments(parser, args):
    """--comfyui, --per-server and --timeout checked before any work; returns the URLs."""
    urls = batch.parse_urls(args.comfyui)
    if urls and args.models:
        parser.error("--models is for the server this tool starts; a running ComfyUI (--comfyui) has its own")
    if not 1 <= args.per_server <= batch.MAX_PER_SERVER:
        parser.error(f"--per-server {args.per_server}: must be 1 to {batch.MAX_PER_SERVER}")
    if not math.isfinite(args.timeout) or not 1 <= args.timeout <= 7 * 24 * 3600:
        parser.error(f"--timeout {args.timeout}: must be 1 to {7 * 24 * 3600} seconds")
    return urls


def run_to_folder(workflow, planned, key, timeout):
    """The job function of one planned run: execute it on the given server, then mark it done."""
    def job(server, object_info):
        result = execute(workflow, server, planned.overrides, planned.out_dir, timeout, object_info)
        for image in result.images:  # on disk now: a long batch keeps no pictures in memory
            image.data = None
        batch.atomic_write(os.path.join(planned.out_dir, DONE_NAME), json.dumps({
            "run": planned.name, "key": key, "images": [os.path.basename(p) for p in result.paths],
            "seconds": round(result.seconds, 3)}, indent=2) + "\n")
        return {"result": result}
    return job


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\nPython API")[0].split("\n\n", 2)[2])
    parser.add_argument("workflow", help="workflow JSON, UI or API format")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the output images")
    parser.add_argument("--image", metavar="PATH", help="picture for every LoadImage; a folder: one run per picture")
    parser.add_argument("--mask", metavar="PATH", help="mask picture (white = may change) for LoadImageMask / mask "
                        "inputs; a folder: each picture's mask by file name")
    parser.add_argument("--seeds", metavar="LIST", help="one run per seed, e.g. 1-8,20 (instead of --seed)")
    parser.add_argument("--points", metavar="JSON", help="every SDE-Drag Point Mover's points")
    parser.add_argument("--prompt", metavar="TEXT", help="the positive prompt text")
    parser.add_argument("--resume", action="store_true", help="skip the runs already finished in --out with the "
                        "same workflow and settings")
    add_override_arguments(parser)
    return parser


def planned_runs(parser, args):
    """(workflow, runs, {run name: key}) of the command line; a bad argument ends it with a usage error."""
    try:
        overrides = Overrides(image=args.image, mask=args.mask, checkpoint=args.checkpoint, seed=args.seed,
                              points=args.points, prompt=args.prompt, sets=[parse_set(s) for s in args.sets])
        if args.seeds is not None and args.seed is not None:
            raise ValueError("--seed and --seeds: give one of them")
        seeds = parse_seeds(args.seeds) if args.seeds is not None else None
        runs = plan(args.out, overrides, args.image, args.mask, seeds)
        workflow = load_workflow(args.workflow)
        keys = {r.name: run_key(workflow, r.overrides) for r in runs}
    except (ValueError, OSError) as e:
        parser.error(str(e))
    return workflow, runs, keys


def runs_to_do(args, runs, keys, progress):
    """The runs not finished before (all of them without --resume); the others are counted as skipped."""
    todo = [r for r in runs if not (args.resume and finished(r.out_dir, keys[r.name]))]
    for r in runs:
        if r not in todo:
            progress.finish("skipped", f"{r.name}: finished before, skipped (--resume)")
    return todo


def describe(error):
    return describe_error(error) if isinstance(error, PromptError) else f"{type(error).__name__}: {error}"


def one_line(record):
    result = record["result"]
    return f"{len(result.images)} image(s), {result.seconds:.2f} s"


def run_batch(args, urls, jobs, progress):
    """(outcomes, the log of a server started here or None) of the jobs; an exit status where it stopped."""
    try:
        with Servers(urls, args.models, os.path.join(args.out, "server.log"), log=lambda m: print(m, flush=True)) as servers:
            outcomes = batch.run_jobs(jobs, servers, args.per_server, progress, describe, one_line)
            return outcomes, (servers[0].log_path if not urls else None)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"run_workflow: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"run_workflow: interrupted; this client's prompts were taken off the servers. Run the same command "
              f"with --resume to go on: the finished runs are kept in {args.out}", file=sys.stderr)
        return 130


def report(args, runs, todo, keys, outcomes, log_path):
    """The summary of one run, or the batch's summary.json; the failures. Returns the exit status."""
    failed = [o for o in outcomes if not o.ok]
    one_run = [r.out_dir for r in runs] == [args.out]  # no batch: the run's outputs go straight into --out
    if one_run and not failed:
        (outcome,) = outcomes
        print(summary(outcome.record["result"], f"{os.path.basename(args.workflow)} on {outcome.server}", args.out))
    elif not one_run:
        write_batch_summary(args.out, runs, outcomes, keys)
        print(f"{len(outcomes) - len(failed)} run(s) done, {len(failed)} failed, {len(runs) - len(todo)} skipped; "
              f"summary: {_show(os.path.join(args.out, 'summary.json'))}")
    if failed:
        print(f"run_workflow: {len(failed)} of {len(outcomes)} run(s) failed:\n"
              + "\n".join(f"{o.name}: {o.error}" for o in failed), file=sys.stderr)
        if log_path:
            print(f"server log: {log_path}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    urls = check_server_arguments(parser, args)
    workflow, runs, keys = planned_runs(parser, args)
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    progress = batch.Progress(len(runs), stream=sys.stdout)
    todo = runs_to_do(args, runs, keys, progress)
    if not todo:
        print(f"nothing to run: all {len(runs)} run(s) were finished before in {args.out}")
        return 0
    jobs = [batch.Job(r.name, run_to_folder(workflow, r, keys[r.name], args.timeout)) for r in todo]
    ran = run_batch(args, urls, jobs, progress)
    if isinstance(ran, int):
        return ran
    status = report(args, runs, todo, keys, *ran)
    if status == 0:
        print(f"  total {time.time() - started:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
