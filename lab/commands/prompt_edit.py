"""Workflow to API prompt, with the overrides of a headless run applied (--image, --mask, --checkpoint,
--seed, --points, --prompt, --set): the prompt editing of run_workflow.py. Stdlib only."""
import copy
import dataclasses
import json
import os
import shutil
import sys

from lab.harness.workflow_to_api import BYPASSED, MUTED, to_api

from .servers import upload

SEED_NAMES = ("seed", "noise_seed")
POINT_NODES = ("SDEDragPointMover",)


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


def new_id(prompt, base):
    node_id, n = base, 1
    while node_id in prompt:
        n += 1
        node_id = f"{base}_{n}"
    return node_id


def node_title(entry):
    return (entry.get("_meta") or {}).get("title") or entry["class_type"]


def match_nodes(prompt, node):
    """Node ids that NODE names: an id, else a title (case-insensitive), else a class_type."""
    if node in prompt:
        return [node]
    by_title = [k for k, v in prompt.items() if node_title(v).lower() == node.lower()]
    if by_title:
        return by_title
    return [k for k, v in prompt.items() if v["class_type"] == node]


def unmute_mask_loaders(workflow):
    workflow = copy.deepcopy(workflow)
    for node in workflow.get("nodes", []):
        if node.get("type") == "LoadImageMask" and node.get("mode") in (MUTED, BYPASSED):
            node["mode"] = 0
    return workflow


def load_workflow(workflow):
    if isinstance(workflow, (str, os.PathLike)):
        with open(workflow, encoding="utf-8") as f:
            return json.load(f)
    return workflow


def is_ui_format(workflow):
    return isinstance(workflow.get("nodes"), list)


def link_checkpoint(server, path):
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


def positive_text_nodes(prompt, object_info):
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
    if o.image is not None:
        set_image(prompt, object_info, upload(server, o.image), notes)
    if o.mask is not None:
        set_mask(prompt, object_info, upload(server, o.mask), notes)
    if o.checkpoint is not None:
        set_checkpoint(prompt, object_info, o.checkpoint, server)
    if o.seed is not None:
        set_seed(prompt, o.seed, notes)
    if o.points is not None:
        set_points(prompt, o.points)
    if o.prompt is not None:
        set_prompt_text(prompt, object_info, o.prompt, notes)
    for node, name, value in o.sets:
        set_widget(prompt, object_info, node, name, value)
    return prompt


def nodes_of(prompt, class_types):
    return [k for k, v in prompt.items() if v["class_type"] in class_types]


def set_image(prompt, object_info, name, notes):
    """--image: every LoadImage's image; without one, a LoadImage in place of the encoded IMAGE."""
    loaders = nodes_of(prompt, ("LoadImage",))
    for k in loaders:
        prompt[k]["inputs"]["image"] = name
    if not loaders:
        add_image_loader(prompt, object_info, name, notes)


def add_image_loader(prompt, object_info, name, notes):
    """A LoadImage fed to every input that the IMAGE encoded by VAEEncode nodes fed."""
    sources = {tuple(v["inputs"]["pixels"]) for v in prompt.values()
               if is_link(v["inputs"].get("pixels"), prompt)
               and output_type(object_info, prompt, v["inputs"]["pixels"]) == "IMAGE"}
    if not sources:
        raise ValueError("--image: the workflow has no LoadImage and no VAEEncode to feed the image to")
    new = new_id(prompt, "image_override")
    for entry in prompt.values():
        for key, value in entry["inputs"].items():
            if is_link(value, prompt) and tuple(value) in sources:
                entry["inputs"][key] = [new, 0]
    prompt[new] = {"class_type": "LoadImage", "inputs": {"image": name},
                   "_meta": {"title": "Input image (--image)"}}
    notes.append(f"--image: added a LoadImage in place of the encoded image {sorted(sources)}")


def set_mask(prompt, object_info, name, notes):
    """--mask: every LoadImageMask (red channel); without one, a LoadImageMask on every free `mask` input."""
    loaders = nodes_of(prompt, ("LoadImageMask",))
    for k in loaders:
        prompt[k]["inputs"].update(image=name, channel="red")
    if not loaders:
        add_mask_loader(prompt, object_info, name, notes)


def free_mask_inputs(prompt, object_info):
    """Nodes with an optional MASK input named `mask` that nothing feeds."""
    targets = []
    for node_id, entry in prompt.items():
        spec = input_spec(object_info, entry["class_type"], "mask")
        optional = (object_info.get(entry["class_type"], {}).get("input", {}).get("optional") or {})
        if spec and spec[0] == "MASK" and "mask" in optional and "mask" not in entry["inputs"]:
            targets.append(node_id)
    return targets


def add_mask_loader(prompt, object_info, name, notes):
    targets = free_mask_inputs(prompt, object_info)
    if not targets:
        raise ValueError("--mask: the workflow has no LoadImageMask and no node with a free `mask` input")
    new = new_id(prompt, "mask_override")
    prompt[new] = {"class_type": "LoadImageMask", "inputs": {"image": name, "channel": "red"},
                   "_meta": {"title": "Mask (--mask)"}}
    for k in targets:
        prompt[k]["inputs"]["mask"] = [new, 0]
    notes.append(f"--mask: added a LoadImageMask connected to the mask input of node(s) {', '.join(targets)}")


def set_checkpoint(prompt, object_info, checkpoint, server):
    """--checkpoint: every CheckpointLoaderSimple's ckpt_name (a file is linked into a server started here)."""
    loaders = nodes_of(prompt, ("CheckpointLoaderSimple",))
    if not loaders:
        raise ValueError("--checkpoint: the workflow has no CheckpointLoaderSimple (for other loaders use "
                         "--set, e.g. --set UNETLoader.unet_name=flux1-dev.safetensors)")
    name = checkpoint
    if os.path.isfile(name):
        name = link_checkpoint(server, name)
        if server is not None:  # the list changes when a file is linked in
            object_info["CheckpointLoaderSimple"] = server.get("/object_info/CheckpointLoaderSimple")[
                "CheckpointLoaderSimple"]
    known = combo_options(object_info, "CheckpointLoaderSimple", "ckpt_name")
    if name not in known:
        raise ValueError(f"--checkpoint {checkpoint}: the server has no checkpoint {name!r}; it lists "
                         f"{known or 'none'} (give a file path, or put the file in the server's models/checkpoints)")
    for k in loaders:
        prompt[k]["inputs"]["ckpt_name"] = name


def set_seed(prompt, seed, notes):
    """--seed: every `seed` and `noise_seed` widget."""
    count = 0
    for entry in prompt.values():
        for key in SEED_NAMES:
            if key in entry["inputs"] and not is_link(entry["inputs"][key], prompt):
                entry["inputs"][key] = int(seed)
                count += 1
    if not count:
        notes.append("--seed: the workflow has no seed input; ignored")


def set_points(prompt, points):
    """--points: every SDE-Drag Point Mover's points (JSON text or a dict), checked for its two lists."""
    text = points if isinstance(points, str) else json.dumps(points)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--points is not valid JSON ({e})") from None
    if not isinstance(data, dict) or not {"source", "target"} <= set(data):
        raise ValueError('--points must be {"source": [[x, y], ...], "target": [[x, y], ...]}')
    movers = nodes_of(prompt, POINT_NODES)
    if not movers:
        raise ValueError("--points: the workflow has no SDE-Drag Point Mover")
    for k in movers:
        prompt[k]["inputs"]["points"] = text


def set_prompt_text(prompt, object_info, text, notes):
    """--prompt: the text of the encoders that make each `positive` conditioning."""
    targets = positive_text_nodes(prompt, object_info)
    for node_id, name in targets:
        prompt[node_id]["inputs"][name] = text
    if not targets:
        notes.append("--prompt: no text encoder makes a positive conditioning in this workflow; ignored")


def set_widget(prompt, object_info, node, name, value):
    """--set NODE.input=value on every node NODE names, the value read as the input's type."""
    ids = match_nodes(prompt, node)
    if not ids:
        known = ", ".join(f"{k} ({node_title(v)!r})" for k, v in prompt.items())
        raise ValueError(f"--set {node}.{name}: no node has that id, title or class_type; nodes: {known}")
    for k in ids:
        class_type = prompt[k]["class_type"]
        spec = input_spec(object_info, class_type, name)
        if spec is None:
            names = [n for s in ("required", "optional")
                     for n in (object_info.get(class_type, {}).get("input", {}).get(s) or {})]
            raise ValueError(f"--set {node}.{name}: {class_type} has no input {name!r}; it has {names}")
        prompt[k]["inputs"][name] = coerce(spec[0], value, f"--set {node}.{name}")

def prepare(workflow, server, overrides=None, object_info=None, notes=None):
    """The API prompt for `workflow` with `overrides` applied (uploads happen here)."""
    o = Overrides.of(overrides)
    workflow = load_workflow(workflow)
    if object_info is not None:
        object_info = dict(object_info)
    elif is_ui_format(workflow) or o != Overrides():  # a bare API prompt needs no node definitions
        object_info = server.get("/object_info")
    if is_ui_format(workflow):
        if o.mask is not None:
            workflow = unmute_mask_loaders(workflow)
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
