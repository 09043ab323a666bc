#!/usr/bin/env bash
# `make test`: the suite on every test host this machine has, one after the other, each in its own venv.
#   1. the default host (lab/harness/setup_host.sh: $COMFYUI_PATH, the ComfyUI holding this pack, else the
#      pinned ComfyUI 0.3.75 in build/ComfyUI) with .venv;
#   2. the newer core, where its tarball is found (lab/harness/setup_newer_host.sh: ComfyUI 0.33.0 from
#      ../shared/comfyui/ in CI and development) with .venv-<version>.
# SDE_EDIT_HOSTS=default|newer|all (default all) picks which; the arguments go to pytest. Exits non-zero
# when the suite fails on any host, after running it on all of them.
set -uo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"  # the repository root
cd "$here"
hosts="${SDE_EDIT_HOSTS:-all}"
export SDE_EDIT_REQUIRE_BROWSER=1
failed=()
ran=()

run_suite() {  # <label> <python> [env assignments...] -- pytest args
  local label="$1" python="$2"; shift 2
  echo "=== make test on $label ===" >&2
  if env "$@" "$python" -m pytest tests -m "not slow" "${pytest_args[@]}"; then
    ran+=("$label: passed")
  else
    ran+=("$label: FAILED")
    failed+=("$label")
  fi
}

pytest_args=("$@")
if [ "$hosts" = all ] || [ "$hosts" = default ]; then
  comfy="$(lab/harness/setup_host.sh)"
  version="$(.venv/bin/python -c "import sys; sys.path.insert(0, sys.argv[1]); import comfyui_version; print(comfyui_version.__version__)" "$comfy" 2>/dev/null || echo '?')"
  run_suite "ComfyUI $version ($comfy)" .venv/bin/python SDE_EDIT_HOST=default
fi
if [ "$hosts" = all ] || [ "$hosts" = newer ]; then
  newer="$(lab/harness/setup_newer_host.sh)" || { echo "setup_newer_host.sh failed" >&2; exit 1; }
  if [ -n "$newer" ]; then
    read -r comfy venv <<< "$newer"
    run_suite "ComfyUI ${comfy##*/ComfyUI-} ($comfy)" "$venv/bin/python" COMFYUI_PATH="$comfy" SDE_EDIT_HOST=newer
  elif [ "$hosts" = newer ]; then
    echo "no newer ComfyUI tarball found (../shared/comfyui/ComfyUI-*.tar.gz or COMFYUI_NEWER_TARBALL)" >&2
    exit 1
  else
    echo "(no newer ComfyUI tarball in ../shared/comfyui/: the suite ran on the default host only)" >&2
  fi
fi
printf '%s\n' "${ran[@]}" >&2
[ "${#failed[@]}" -eq 0 ]
