#!/usr/bin/env bash
# Creates (or reuses) the second test host: a newer ComfyUI core, unpacked from its source tarball
# (ComfyUI-<version>.tar.gz, the whole tree as released), with a virtual environment of its own
# (.venv-<version>) holding that core's own requirements.txt (its own pins: frontend, templates,
# comfy-kitchen, comfy-aimdo, ...) and the pack's.
# The tarball is $COMFYUI_NEWER_TARBALL, else the newest ../shared/comfyui/ComfyUI-*.tar.gz beside this
# checkout (there in CI and development; a fresh clone elsewhere has none, and then this prints nothing
# and exits 0: the suite runs on the pinned host alone).
# Prints "<ComfyUI folder> <venv folder>" on one line. Idempotent; prints nothing else on a warm machine.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"  # the repository root
python="${PYTHON:-python3}"

tarball="${COMFYUI_NEWER_TARBALL:-}"
if [ -z "$tarball" ]; then
  tarball="$(ls -1 "$here"/../shared/comfyui/ComfyUI-*.tar.gz 2>/dev/null | sort -V | tail -n 1 || true)"
fi
[ -n "$tarball" ] || exit 0
[ -f "$tarball" ] || { echo "setup_newer_host: COMFYUI_NEWER_TARBALL=$tarball is not a file" >&2; exit 1; }
version="$(basename "$tarball" .tar.gz)"
version="${version#ComfyUI-}"
comfy="$here/build/ComfyUI-$version"
venv="$here/.venv-$version"

if [ ! -f "$comfy/main.py" ]; then
  echo "setup_newer_host: unpacking $(basename "$tarball") into $comfy" >&2
  mkdir -p "$here/build"
  rm -rf "$comfy.partial"
  mkdir "$comfy.partial"
  tar -xzf "$tarball" -C "$comfy.partial" --strip-components=1
  [ -f "$comfy.partial/main.py" ] || { echo "setup_newer_host: $tarball holds no ComfyUI tree" >&2; exit 1; }
  mv "$comfy.partial" "$comfy"
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
stamp="$venv/.requirements-installed"
want="$(cat "$comfy/requirements.txt" "$here/requirements.txt" "$here/requirements-dev.txt" | sha1sum | cut -c1-12)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup_newer_host: installing ComfyUI $version's and the pack's requirements into $venv (first time: a few minutes)" >&2
  "$venv/bin/python" -m pip -q --disable-pip-version-check install \
    -r "$comfy/requirements.txt" -r "$here/requirements.txt" -r "$here/requirements-dev.txt"
  echo "$want" > "$stamp"
fi
echo "$comfy $venv"
