"""Start a real ComfyUI server on loopback with the pack installed, and run prompts on it.

The server gets a temporary base directory (custom_nodes/ holding a link to this pack and, unless
with_lab=False, one to the lab's custom-node package lab/ beside it, as a second pack (with_pack=False:
the lab alone); models/,
input/, output/, temp/, user/), so it never touches the host's own folders. Stdlib only.

By default it serves the frontend that its ComfyUI's requirements pin (the comfyui-frontend-package
in the venv). `front_end_root` serves another one, a `static/` folder of that package
(`--front-end-root`): `pinned_frontend("newest-frontend")` finds the newest frontend that
lab/harness/setup_browser.sh installs into build/frontend-<version>/ from requirements-dev.txt's pin.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from .find_comfyui import PACK_DIR, find_comfyui

PACK_LINK_NAME = "comfyui-sde-edit"
LAB_LINK_NAME = "sde-edit-lab"  # the lab's nodes (lab/nodes), installed beside the pack
LAB_DIR = os.path.join(PACK_DIR, "lab")
REQUIREMENTS_DEV = os.path.join(PACK_DIR, "requirements-dev.txt")


def frontend_pin(key="newest-frontend"):
    """The version pinned by a `# <key>: comfyui-frontend-package==X` line of requirements-dev.txt."""
    with open(REQUIREMENTS_DEV, encoding="utf-8") as f:
        for line in f:
            m = re.match(rf"#\s*{re.escape(key)}:\s*comfyui-frontend-package==([\w.]+)\s*$", line.strip())
            if m:
                return m.group(1)
    raise LookupError(f"no '# {key}: comfyui-frontend-package==X' line in {REQUIREMENTS_DEV}")


def pinned_frontend(key="newest-frontend"):
    """(version, static folder) of a frontend pinned in requirements-dev.txt; the folder is None
    until lab/harness/setup_browser.sh has installed it into build/frontend-<version>/."""
    version = frontend_pin(key)
    static = os.path.join(PACK_DIR, "build", f"frontend-{version}", "comfyui_frontend_package", "static")
    return version, (static if os.path.isfile(os.path.join(static, "index.html")) else None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PromptError(RuntimeError):
    def __init__(self, message, details=None):
        super().__init__(message)
        self.details = details


class PromptTimeout(TimeoutError):
    """A prompt that did not finish in time (the server still answers: not a connection failure)."""
    prompt_timeout = True

    def __init__(self, message, prompt_id=None):
        super().__init__(message)
        self.prompt_id = prompt_id


class ComfyServer:
    def __init__(self, base_dir=None, python=sys.executable, comfyui=None, extra_args=(), log_path=None,
                 front_end_root=None, with_lab=True, with_pack=True):
        self.comfyui = comfyui or find_comfyui()
        if self.comfyui is None:
            raise RuntimeError("no ComfyUI found: run lab/harness/setup_host.sh or set COMFYUI_PATH")
        self._tmp = None if base_dir else tempfile.TemporaryDirectory(prefix="sde-edit-comfy-")
        self.base_dir = base_dir or self._tmp.name
        for sub in ("custom_nodes", "models/checkpoints", "models/vae", "input", "output", "temp", "user"):
            os.makedirs(os.path.join(self.base_dir, sub), exist_ok=True)
        link = os.path.join(self.base_dir, "custom_nodes", PACK_LINK_NAME)
        if with_pack and not os.path.lexists(link):
            os.symlink(PACK_DIR, link)
        lab_link = os.path.join(self.base_dir, "custom_nodes", LAB_LINK_NAME)
        if with_lab and not os.path.lexists(lab_link):
            os.symlink(LAB_DIR, lab_link)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.python, self.extra_args = python, list(extra_args)
        if front_end_root:  # ComfyUI runs in its own folder: the path must be absolute
            self.extra_args += ["--front-end-root", os.path.abspath(front_end_root)]
        self.log_path = log_path or os.path.join(self.base_dir, "server.log")
        self.process = None
        self.client_id = uuid.uuid4().hex

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=180):
        args = [self.python, os.path.join(self.comfyui, "main.py"), "--cpu", "--listen", "127.0.0.1",
                "--port", str(self.port), "--base-directory", self.base_dir, "--disable-auto-launch",
                "--database-url", "sqlite:///:memory:", *self.extra_args]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, cwd=self.comfyui, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited at start-up; see {self.log_path}:\n{self.read_log()[-3000:]}")
            try:
                self.get("/system_stats")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"ComfyUI did not answer within {timeout} s; see {self.log_path}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if getattr(self, "log", None):
            self.log.close()
        if self._tmp:
            self._tmp.cleanup()

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def get_bytes(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return r.read()

    def post(self, path, payload):
        req = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                body = r.read()
                return json.loads(body) if body.strip() else None  # /interrupt and /queue answer with no body
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            try:
                details = json.loads(body)
            except ValueError:
                details = body
            raise PromptError(f"{path} answered {e.code}: {body[:2000]}", details) from None

    def queue(self, prompt):
        return self.post("/prompt", {"prompt": prompt, "client_id": self.client_id})["prompt_id"]

    def wait(self, prompt_id, timeout=600):
        """The prompt's history entry once it has finished; PromptError if it failed."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history:
                entry = history[prompt_id]
                status = entry.get("status", {})
                if status.get("status_str") == "error":
                    messages = [m for m in status.get("messages", []) if m[0] == "execution_error"]
                    detail = messages[0][1] if messages else status
                    raise PromptError(f"prompt failed: {detail.get('exception_message', detail) if isinstance(detail, dict) else detail}", detail)
                if status.get("completed", True):
                    return entry
            time.sleep(0.2)
        raise PromptTimeout(f"prompt {prompt_id} did not finish within {timeout} s", prompt_id)

    def run(self, prompt, timeout=600):
        return self.wait(self.queue(prompt), timeout)

    def output_images(self, entry):
        """{node id: [PNG bytes, ...]} of a finished prompt's image outputs."""
        result = {}
        for node_id, out in entry.get("outputs", {}).items():
            for img in out.get("images", []):
                query = urllib.parse.urlencode({k: img[k] for k in ("filename", "subfolder", "type")})
                result.setdefault(node_id, []).append(self.get_bytes(f"/view?{query}"))
        return result
