"""Run a ComfyUI workflow headless: convert it, apply overrides, queue it, save every output image.

    python -m commands.run_workflow WORKFLOW.json --out DIR [--comfyui URL ...] [--per-server N]
        [--models DIR] [--image PATH] [--mask PATH] [--checkpoint NAME_OR_PATH] [--seed N | --seeds LIST]
        [--points JSON] [--prompt TEXT] [--set NODE.input=value ...] [--timeout S] [--resume]

WORKFLOW.json is either the UI format (what the frontend saves: nodes and links; it is converted
with harness/workflow_to_api.py against the server's live /object_info) or the API format (what
"Export (API)" saves: {node id: {"class_type", "inputs"}}).

Server: --comfyui URL uses a ComfyUI that is already running (its models, its input folder).
Several --comfyui URLs (repeat it, or separate them by commas; each a ComfyUI on its own GPU or machine)
share the runs of a batch: at most --per-server N (default 2) of them are queued or running on one
server at a time; a run whose server went away (or ran out of GPU memory) is run again on another
server; when a server stops answering, the others finish its runs (commands/batch.py). Each run's
outputs depend only on the run (its seed and settings), not on the server that made them.
Without --comfyui, a ComfyUI is started for this run (`main.py --cpu` on loopback, a temporary base
directory with this pack linked in, see harness/comfy_server.py; its log goes to DIR/server.log);
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

Python API (used by commands/dragbench.py and commands/demo.py):

    run(workflow, server, overrides=None, out_dir=None) -> [saved paths]
    execute(workflow, server, overrides=None, out_dir=None) -> RunResult (prompt, images with their
        node, title and bytes, the server's own execution time)
    prepare(workflow, server, overrides=None) -> the API prompt that would be queued

`workflow` is a path, a UI-format dict or an API-format dict; `server` is a started
comfy_server.ComfyServer or a RemoteServer(url); `overrides` an Overrides (or a dict of its fields).
Stdlib only.
"""
import argparse
import copy
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from harness.comfy_server import ComfyServer, PromptError
from harness.workflow_to_api import BYPASSED, MUTED, to_api

from . import batch

UPLOAD_SUBFOLDER = "sde_edit_runs"
SEED_NAMES = ("seed", "noise_seed")
POINT_NODES = ("SDEDragPointMover",)
MODEL_FOLDERS = {  # ComfyUI folder name -> sub-folders of a models/ directory (for --models)
    "checkpoints": ["checkpoints"], "loras": ["loras"], "vae": ["vae"], "text_encoders": ["text_encoders", "clip"],
    "diffusion_models": ["diffusion_models", "unet"], "clip_vision": ["clip_vision"], "controlnet": ["controlnet"],
    "embeddings": ["embeddings"], "upscale_models": ["upscale_models"], "style_models": ["style_models"],
}


# ----------------------------------------------------------------------------------------------- server

class RemoteServer(ComfyServer):
    """A ComfyUI that is already running (--comfyui URL): ComfyServer's client side, nothing started."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.base_dir = None  # its folders are not ours: nothing is linked into them
        self.process = None
        self._tmp = None
        self.log = None
        self.log_path = None

    def start(self, timeout=10):
        deadline = time.time() + timeout
        while True:
            try:
                self.get("/system_stats")
                return self
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                if time.time() > deadline:
                    raise RuntimeError(f"no ComfyUI answers at {self.url}: {e}") from None
                time.sleep(0.5)

    def stop(self):
        pass


def models_config(models_dir, directory):
    """Write an extra_model_paths.yaml that adds a models/ folder; return ComfyUI's argument list for it."""
    models_dir = os.path.abspath(models_dir)
    if not os.path.isdir(models_dir):
        raise SystemExit(f"--models {models_dir}: not a folder")
    lines = ["sde_edit_runner:", f"  base_path: {json.dumps(models_dir)}"]
    for name, subs in MODEL_FOLDERS.items():
        lines.append(f"  {name}: |\n" + "".join(f"    {s}\n" for s in subs).rstrip("\n"))
    path = os.path.join(directory, "extra_model_paths.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return ["--extra-model-paths-config", path]


def start_server(comfyui_url=None, models_dir=None, log_path=None):
    """A RemoteServer for a URL, else a new ComfyServer (not started yet: use it as a context manager)."""
    if comfyui_url:
        return RemoteServer(comfyui_url)
    extra = []
    if models_dir:
        conf_dir = tempfile.mkdtemp(prefix="sde-edit-models-")
        extra = models_config(models_dir, conf_dir)
    return ComfyServer(log_path=log_path, extra_args=extra)


def upload(server, path, subfolder=UPLOAD_SUBFOLDER):
    """Upload a picture to the server's input folder; the value a LoadImage takes for it.

    The stored name starts with a hash of the content, so equal files share one upload and different
    files with the same name (every DragBench sample's origin_image.png) never overwrite each other."""
    with open(path, "rb") as f:
        data = f.read()
    name = f"{hashlib.sha1(data).hexdigest()[:12]}_{os.path.basename(path)}"
    boundary = uuid.uuid4().hex
    parts = []
    for field, value in (("overwrite", "true"), ("type", "input"), ("subfolder", subfolder)):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    req = urllib.request.Request(server.url + "/upload/image", data=b"".join(parts),
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise PromptError(f"/upload/image answered {e.code} for {path}: {e.read()[:500]!r}") from None
    return f"{answer['subfolder']}/{answer['name']}" if answer.get("subfolder") else answer["name"]


# ------------------------------------------------------------------------------------------- overrides

@dataclasses.dataclass
class Overrides:
    image: str = None        # path of a picture for LoadImage
    mask: str = None         # path of a mask picture (white = may change)
    checkpoint: str = None   # checkpoint name on the server, or a file path
    seed: int = None
    points: object = None    # JSON text, or a {"source": ..., "target": ...} dict
    prompt: str = None       # positive prompt text
    sets: list = dataclasses.field(default_factory=list)  # [(node id / title / class_type, input, value)]

    @classmethod
    def of(cls, value):
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        return cls(**value)


def parse_set(text):
    """'NODE.input=value' -> (NODE, input, value text); NODE may itself contain dots."""
    key, sep, value = text.partition("=")
    node, dot, name = key.rpartition(".")
    if not sep or not dot or not node or not name:
        raise ValueError(f"--set {text!r}: expected NODE.input=value (NODE: a node id, title or class_type)")
    return node.strip(), name.strip(), value


def is_link(value, prompt):
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int) and value[0] in prompt)


def input_spec(object_info, class_type, name):
    """(kind, options) of a node input from /object_info; kind is "COMBO" for a list; None if unknown."""
    info = object_info.get(class_type) or {}
    for section in ("required", "optional"):
        spec = (info.get("input", {}).get(section) or {}).get(name)
        if spec is not None:
            kind = "COMBO" if isinstance(spec[0], list) else spec[0]
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            return kind, options
    return None


def combo_options(object_info, class_type, name):
    info = object_info.get(class_type) or {}
    for section in ("required", "optional"):
        spec = (info.get("input", {}).get(section) or {}).get(name)
        if spec is not None:
            if isinstance(spec[0], list):
                return list(spec[0])
            if len(spec) > 1 and isinstance(spec[1], dict):
                return list(spec[1].get("options", []))
    return []


def output_type(object_info, prompt, link):
    node = prompt.get(link[0])
    info = object_info.get(node["class_type"]) if node else None
    outputs = (info or {}).get("output") or []
    return outputs[link[1]] if link[1] < len(outputs) else None


def coerce(kind, value, where):
    """A --set value text as the input's type."""
    if not isinstance(value, str):
        return value
    try:
        if kind == "INT":
            return int(value)
        if kind == "FLOAT":
            return float(value)
        if kind == "BOOLEAN":
            low = value.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError(value)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a valid {kind}") from None
    if kind in ("STRING", "COMBO"):
        return value
    raise ValueError(f"{where} is a {kind} socket, not a widget value; --set sets widget values only")


def _new_id(prompt, base):
    node_id, n = base, 1
    while node_id in prompt:
        n += 1
        node_id = f"{base}_{n}"
    return node_id


def _title(entry):
    return (entry.get("_meta") or {}).get("title") or entry["class_type"]


def match_nodes(prompt, node):
    """Node ids that NODE names: an id, else a title (case-insensitive), else a class_type."""
    if node in prompt:
        return [node]
    by_title = [k for k, v in prompt.items() if _title(v).lower() == node.lower()]
    if by_title:
        return by_title
    return [k for k, v in prompt.items() if v["class_type"] == node]


def _unmute_mask_loaders(workflow):
    workflow = copy.deepcopy(workflow)
    for node in workflow.get("nodes", []):
        if node.get("type") == "LoadImageMask" and node.get("mode") in (MUTED, BYPASSED):
            node["mode"] = 0
    return workflow


def _load(workflow):
    if isinstance(workflow, (str, os.PathLike)):
        with open(workflow, encoding="utf-8") as f:
            return json.load(f)
    return workflow


def is_ui_format(workflow):
    return isinstance(workflow.get("nodes"), list)


def _link_checkpoint(server, path):
    """Link (or copy) a checkpoint file into the models/checkpoints of a server this process started."""
    name = os.path.basename(path)
    base = getattr(server, "base_dir", None)
    if not base:
        print(f"note: {path} is used by its name {name!r}; against a running ComfyUI it must already be in the "
              "server's models/checkpoints", file=sys.stderr)
        return name
    dest = os.path.join(base, "models", "checkpoints", name)
    if not os.path.exists(dest):
        try:
            os.symlink(os.path.abspath(path), dest)
        except FileExistsError:  # another run of the batch linked it first
            pass
        except OSError:
            shutil.copyfile(path, dest)
    return name


def _positive_text_nodes(prompt, object_info):
    """(node id, input name) of the multiline text inputs that make each `positive` conditioning."""
    found, seen = [], set()

    def visit(node_id):
        if node_id in seen:
            return
        seen.add(node_id)
        entry = prompt[node_id]
        texts = []
        for name, value in entry["inputs"].items():
            spec = input_spec(object_info, entry["class_type"], name)
            if isinstance(value, str) and spec and spec[0] == "STRING" and spec[1].get("multiline"):
                texts.append((node_id, name))
        if texts:
            found.extend(texts)
            return
        for name, value in entry["inputs"].items():
            if is_link(value, prompt) and output_type(object_info, prompt, value) == "CONDITIONING":
                visit(value[0])

    for entry in prompt.values():
        value = entry["inputs"].get("positive")
        if is_link(value, prompt):
            visit(value[0])
    return found


def apply_overrides(prompt, object_info, overrides, server=None, notes=None):
    """Apply `overrides` to an API prompt in place (uploads go to `server`); returns the prompt."""
    o = Overrides.of(overrides)
    notes = notes if notes is not None else []

    def each(class_types):
        return [k for k, v in prompt.items() if v["class_type"] in class_types]

    if o.image is not None:
        name = upload(server, o.image)
        loaders = each(("LoadImage",))
        for k in loaders:
            prompt[k]["inputs"]["image"] = name
        if not loaders:
            sources = {tuple(v["inputs"]["pixels"]) for v in prompt.values()
                       if is_link(v["inputs"].get("pixels"), prompt)
                       and output_type(object_info, prompt, v["inputs"]["pixels"]) == "IMAGE"}
            if not sources:
                raise ValueError("--image: the workflow has no LoadImage and no VAEEncode to feed the image to")
            new = _new_id(prompt, "image_override")
            for entry in prompt.values():
                for key, value in entry["inputs"].items():
                    if is_link(value, prompt) and tuple(value) in sources:
                        entry["inputs"][key] = [new, 0]
            prompt[new] = {"class_type": "LoadImage", "inputs": {"image": name},
                           "_meta": {"title": "Input image (--image)"}}
            notes.append(f"--image: added a LoadImage in place of the encoded image {sorted(sources)}")

    if o.mask is not None:
        name = upload(server, o.mask)
        loaders = each(("LoadImageMask",))
        for k in loaders:
            prompt[k]["inputs"].update(image=name, channel="red")
        if not loaders:
            targets = []
            for node_id, entry in prompt.items():
                spec = input_spec(object_info, entry["class_type"], "mask")
                optional = (object_info.get(entry["class_type"], {}).get("input", {}).get("optional") or {})
                if spec and spec[0] == "MASK" and "mask" in optional and "mask" not in entry["inputs"]:
                    targets.append(node_id)
            if not targets:
                raise ValueError("--mask: the workflow has no LoadImageMask and no node with a free `mask` input")
            new = _new_id(prompt, "mask_override")
            prompt[new] = {"class_type": "LoadImageMask", "inputs": {"image": name, "channel": "red"},
                           "_meta": {"title": "Mask (--mask)"}}
            for k in targets:
                prompt[k]["inputs"]["mask"] = [new, 0]
            notes.append(f"--mask: added a LoadImageMask connected to the mask input of node(s) {', '.join(targets)}")

    if o.checkpoint is not None:
        loaders = each(("CheckpointLoaderSimple",))
        if not loaders:
            raise ValueError("--checkpoint: the workflow has no CheckpointLoaderSimple (for other loaders use "
                             "--set, e.g. --set UNETLoader.unet_name=flux1-dev.safetensors)")
        name = o.checkpoint
        if os.path.isfile(name):
            name = _link_checkpoint(server, name)
            if server is not None:  # the list changes when a file is linked in
                object_info["CheckpointLoaderSimple"] = server.get("/object_info/CheckpointLoaderSimple")[
                    "CheckpointLoaderSimple"]
        known = combo_options(object_info, "CheckpointLoaderSimple", "ckpt_name")
        if name not in known:
            raise ValueError(f"--checkpoint {o.checkpoint}: the server has no checkpoint {name!r}; it lists "
                             f"{known or 'none'} (give a file path, or put the file in the server's models/checkpoints)")
        for k in loaders:
            prompt[k]["inputs"]["ckpt_name"] = name

    if o.seed is not None:
        count = 0
        for entry in prompt.values():
            for key in SEED_NAMES:
                if key in entry["inputs"] and not is_link(entry["inputs"][key], prompt):
                    entry["inputs"][key] = int(o.seed)
                    count += 1
        if not count:
            notes.append("--seed: the workflow has no seed input; ignored")

    if o.points is not None:
        text = o.points if isinstance(o.points, str) else json.dumps(o.points)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--points is not valid JSON ({e})") from None
        if not isinstance(data, dict) or not {"source", "target"} <= set(data):
            raise ValueError('--points must be {"source": [[x, y], ...], "target": [[x, y], ...]}')
        movers = each(POINT_NODES)
        if not movers:
            raise ValueError("--points: the workflow has no SDE-Drag Point Mover")
        for k in movers:
            prompt[k]["inputs"]["points"] = text

    if o.prompt is not None:
        targets = _positive_text_nodes(prompt, object_info)
        for node_id, name in targets:
            prompt[node_id]["inputs"][name] = o.prompt
        if not targets:
            notes.append("--prompt: no text encoder makes a positive conditioning in this workflow; ignored")

    for node, name, value in o.sets:
        ids = match_nodes(prompt, node)
        if not ids:
            known = ", ".join(f"{k} ({_title(v)!r})" for k, v in prompt.items())
            raise ValueError(f"--set {node}.{name}: no node has that id, title or class_type; nodes: {known}")
        for k in ids:
            class_type = prompt[k]["class_type"]
            spec = input_spec(object_info, class_type, name)
            if spec is None:
                names = [n for s in ("required", "optional")
                         for n in (object_info.get(class_type, {}).get("input", {}).get(s) or {})]
                raise ValueError(f"--set {node}.{name}: {class_type} has no input {name!r}; it has {names}")
            prompt[k]["inputs"][name] = coerce(spec[0], value, f"--set {node}.{name}")
    return prompt


def prepare(workflow, server, overrides=None, object_info=None, notes=None):
    """The API prompt for `workflow` with `overrides` applied (uploads happen here)."""
    o = Overrides.of(overrides)
    workflow = _load(workflow)
    if object_info is not None:
        object_info = dict(object_info)
    elif is_ui_format(workflow) or o != Overrides():  # a bare API prompt needs no node definitions
        object_info = server.get("/object_info")
    if is_ui_format(workflow):
        if o.mask is not None:
            workflow = _unmute_mask_loaders(workflow)
        prompt = to_api(workflow, object_info)
    else:
        wrapped = workflow.get("prompt")  # the body of a /prompt request: {"prompt": {...}, "client_id": ...}
        if isinstance(wrapped, dict) and "class_type" not in wrapped:
            workflow = wrapped
        prompt = copy.deepcopy(workflow)
        for node_id, entry in prompt.items():
            if not isinstance(entry, dict) or "class_type" not in entry:
                raise ValueError(f"node {node_id!r} is neither a UI-format workflow nor an API-format prompt entry")
            entry.setdefault("inputs", {})
    return apply_overrides(prompt, object_info, o, server, notes)


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


def _node_order(node_id):
    return (0, int(node_id), "") if str(node_id).isdigit() else (1, 0, str(node_id))


def execute(workflow, server, overrides=None, out_dir=None, timeout=600, object_info=None):
    """Queue the workflow (after prepare) and wait; fetch every output image, write them to out_dir."""
    notes = []
    prompt = prepare(workflow, server, overrides, object_info, notes)
    started = time.time()
    entry = server.run(prompt, timeout=timeout)
    seconds = server_seconds(entry, time.time() - started)
    outputs = entry.get("outputs", {})
    node_ids = sorted(outputs, key=_node_order)
    bases = {k: slug(_title(prompt[k]) if k in prompt else str(k)) for k in node_ids}
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
            saved = SavedImage(str(node_id), node["class_type"], _title(node), i, data, img["filename"])
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


class Servers:
    """The servers of a run: every --comfyui URL (checked to answer), or one ComfyUI started here."""

    def __init__(self, urls, models_dir=None, log_path=None, log=print):
        self.urls, self.models_dir, self.log_path, self.log = urls, models_dir, log_path, log
        self.servers = []

    def __enter__(self):
        if not self.urls:
            server = start_server(None, self.models_dir, self.log_path)
            self.log(f"starting ComfyUI from {server.comfyui} (CPU) ...")
            self.servers = [server]
            server.start()
            return self.servers
        down = []
        for url in self.urls:
            server = RemoteServer(url)
            try:
                self.servers.append(server.start())
            except RuntimeError as e:
                down.append(str(e))
        if not self.servers:
            raise RuntimeError("; ".join(down))
        for message in down:
            self.log(f"note: {message}; going on without it")
        return self.servers

    def __exit__(self, *exc):
        for server in self.servers:
            server.stop()


# ----------------------------------------------------------------------------------------------- batches

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


def _file_digest(path):
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
            o[field] = _file_digest(o[field])
    if o["checkpoint"] and os.path.isfile(o["checkpoint"]):
        o["checkpoint"] = os.path.basename(o["checkpoint"])  # the server knows it by its name
    text = json.dumps({"workflow": _load(workflow), "overrides": o}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def finished(out_dir, key):
    """Whether out_dir holds a finished run with this key (resume skips it)."""
    try:
        with open(os.path.join(out_dir, DONE_NAME), encoding="utf-8") as f:
            return json.load(f).get("key") == key
    except (OSError, ValueError):
        return False


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


def main(argv=None):
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
    args = parser.parse_args(argv)
    urls = check_server_arguments(parser, args)
    try:
        overrides = Overrides(image=args.image, mask=args.mask, checkpoint=args.checkpoint, seed=args.seed,
                              points=args.points, prompt=args.prompt, sets=[parse_set(s) for s in args.sets])
        if args.seeds is not None and args.seed is not None:
            raise ValueError("--seed and --seeds: give one of them")
        seeds = parse_seeds(args.seeds) if args.seeds is not None else None
        runs = plan(args.out, overrides, args.image, args.mask, seeds)
        workflow = _load(args.workflow)
        keys = {r.name: run_key(workflow, r.overrides) for r in runs}
    except (ValueError, OSError) as e:
        parser.error(str(e))
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    progress = batch.Progress(len(runs), stream=sys.stdout)
    todo = [r for r in runs if not (args.resume and finished(r.out_dir, keys[r.name]))]
    for r in runs:
        if r not in todo:
            progress.finish("skipped", f"{r.name}: finished before, skipped (--resume)")
    if not todo:
        print(f"nothing to run: all {len(runs)} run(s) were finished before in {args.out}")
        return 0
    jobs = [batch.Job(r.name, run_to_folder(workflow, r, keys[r.name], args.timeout)) for r in todo]

    def describe(error):
        return describe_error(error) if isinstance(error, PromptError) else f"{type(error).__name__}: {error}"

    def one_line(record):
        result = record["result"]
        return f"{len(result.images)} image(s), {result.seconds:.2f} s"

    try:
        with Servers(urls, args.models, os.path.join(args.out, "server.log"), log=lambda m: print(m, flush=True)) as servers:
            outcomes = batch.run_jobs(jobs, servers, args.per_server, progress, describe, one_line)
            log_path = servers[0].log_path if not urls else None
    except (ValueError, OSError, RuntimeError) as e:
        print(f"run_workflow: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"run_workflow: interrupted; this client's prompts were taken off the servers. Run the same command "
              f"with --resume to go on: the finished runs are kept in {args.out}", file=sys.stderr)
        return 130
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
    print(f"  total {time.time() - started:.1f} s")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
