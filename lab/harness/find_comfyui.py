"""Find the ComfyUI that hosts this pack (stdlib only, so the set-up script can call it first).

Order: $COMFYUI_PATH; the ComfyUI whose custom_nodes/ holds this pack; the pinned copy in
build/ComfyUI (unless --no-fallback). Prints the path, or nothing and exit status 1.
"""
import os
import sys

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root: the pack


def is_comfyui(path):
    return bool(path) and os.path.isfile(os.path.join(path, "main.py")) and os.path.isdir(os.path.join(path, "comfy"))


def find_comfyui(fallback=True):
    explicit = os.environ.get("COMFYUI_PATH")
    if explicit:
        if not is_comfyui(explicit):
            raise SystemExit(f"COMFYUI_PATH={explicit!r} is not a ComfyUI folder (no main.py and comfy/)")
        return os.path.abspath(explicit)
    parent = os.path.dirname(PACK_DIR)
    if os.path.basename(parent) == "custom_nodes" and is_comfyui(os.path.dirname(parent)):
        return os.path.dirname(parent)
    pinned = os.path.join(PACK_DIR, "build", "ComfyUI")
    if fallback and is_comfyui(pinned):
        return pinned
    return None


if __name__ == "__main__":
    found = find_comfyui(fallback="--no-fallback" not in sys.argv)
    if not found:
        sys.exit(1)
    print(found)
