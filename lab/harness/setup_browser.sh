#!/usr/bin/env bash
# Installs what the browser tests (tests/test_browser.py) need on top of lab/harness/setup_host.sh:
# a Chromium (Debian's `chromium` package, used by Playwright as its executable, because Playwright's
# own browser download needs the internet) and the Python `playwright` package in the venv.
# It also installs the frontends the browser tests run against besides the server's own: every
# `# <name>-frontend: comfyui-frontend-package==X` line of requirements-dev.txt (the newest frontend,
# upgraded deliberately there) goes into build/frontend-X/ with `pip install --target ... --no-deps`,
# never into the venv, where ComfyUI's own pinned frontend stays.
# Idempotent: does nothing on a machine that already has all of it. Prints the Chromium path.
#   VENV=...     the virtual environment (default: .venv at the repository root)
#   CHROMIUM=... an existing Chromium/Chrome binary to use instead of installing one
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"  # the repository root
venv="${VENV:-$here/.venv}"
playwright_spec="${PLAYWRIGHT_SPEC:-playwright>=1.40}"

find_chromium() {
  for name in "${CHROMIUM:-}" chromium chromium-browser google-chrome; do
    [ -n "$name" ] && command -v "$name" 2>/dev/null && return 0
  done
  return 1
}

if ! chromium="$(find_chromium)"; then
  echo "setup_browser: installing Debian's chromium (apt-get)" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >&2
  "${sudo_cmd[@]}" apt-get install -y -qq chromium >&2
  chromium="$(find_chromium)" || { echo "setup_browser: chromium did not install" >&2; exit 1; }
fi

[ -x "$venv/bin/python" ] || { echo "setup_browser: no venv at $venv; run lab/harness/setup_host.sh first" >&2; exit 1; }
if ! "$venv/bin/python" -c "import playwright.sync_api" 2>/dev/null; then
  echo "setup_browser: installing $playwright_spec into $venv" >&2
  "$venv/bin/python" -m pip -q --disable-pip-version-check install "$playwright_spec" >&2
fi
for version in $(sed -n 's/^# *[a-z]*-frontend: *comfyui-frontend-package==\([0-9A-Za-z.]*\) *$/\1/p' "$here/requirements-dev.txt"); do
  target="$here/build/frontend-$version"
  if [ ! -f "$target/comfyui_frontend_package/static/index.html" ]; then
    echo "setup_browser: installing comfyui-frontend-package==$version into $target" >&2
    rm -rf "$target.partial"
    "$venv/bin/python" -m pip -q --disable-pip-version-check install --no-deps --target "$target.partial" \
      "comfyui-frontend-package==$version" >&2
    rm -rf "$target"
    mv "$target.partial" "$target"
  fi
done
echo "$chromium"
