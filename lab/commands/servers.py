"""The ComfyUI servers a headless run uses: one that is already running (--comfyui URL), or one started
here (with --models); uploading a picture to a server's input folder. Stdlib only."""
import hashlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from lab.harness.comfy_server import ComfyServer, PromptError

UPLOAD_SUBFOLDER = "sde_edit_runs"
MODEL_FOLDERS = {  # ComfyUI folder name -> sub-folders of a models/ directory (for --models)
    "checkpoints": ["checkpoints"], "loras": ["loras"], "vae": ["vae"], "text_encoders": ["text_encoders", "clip"],
    "diffusion_models": ["diffusion_models", "unet"], "clip_vision": ["clip_vision"], "controlnet": ["controlnet"],
    "embeddings": ["embeddings"], "upscale_models": ["upscale_models"], "style_models": ["style_models"],
}


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
