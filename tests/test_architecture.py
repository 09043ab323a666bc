"""The layout of docs/architecture.md holds: imports go one way (nodes -> adapter -> sampling; reference
beside them, used by the reference nodes only), sampling/ imports no ComfyUI, the product never imports
the tooling, and the tooling reaches the pack and itself without editing sys.path."""
import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCT = ("nodes", "adapter", "sampling", "reference")
TOOLING = ("commands", "benchmarks", "harness", "tests")
# what each product folder may import from the pack (besides itself)
ALLOWED = {"sampling": set(), "adapter": {"sampling"}, "reference": {"adapter", "sampling"},
           "nodes": {"adapter", "sampling", "reference"}}
EDITING_NODES = ("sdedit.py", "inpaint.py", "drag.py", "sde_sampler.py", "lora_schedule.py", "clicks.py", "common.py")


def imports(path):
    """[(module, level)] of every import in a file: level 0 = absolute, 1 = from ., 2 = from .."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
            if node.level and not node.module:  # from .. import x
                found += [(a.name, node.level) for a in node.names]
    return found


def pack_folders_imported(path):
    """The pack's top folders a product file imports by relative import (from ..adapter.x, from .. import nodes)."""
    folders = set()
    for module, level in imports(path):
        if level == 2 and module:
            folders.add(module.split(".")[0])
    return folders


@pytest.mark.parametrize("folder", PRODUCT)
def test_product_imports_go_one_way(folder):
    for path in glob.glob(os.path.join(ROOT, folder, "*.py")):
        wrong = pack_folders_imported(path) - ALLOWED[folder]
        assert not wrong, f"{os.path.relpath(path, ROOT)} imports {sorted(wrong)}"
        absolute = {m.split(".")[0] for m, level in imports(path) if level == 0}
        assert not absolute & set(TOOLING), f"{os.path.relpath(path, ROOT)} imports the tooling"
        if folder == "sampling":
            assert not {m for m in absolute if m.startswith("comfy") or m in ("nodes", "folder_paths", "server")}, \
                f"{os.path.relpath(path, ROOT)} imports ComfyUI"


def test_editing_nodes_do_not_reach_the_evaluation_world():
    for name in EDITING_NODES:
        assert "reference" not in pack_folders_imported(os.path.join(ROOT, "nodes", name)), name
    for path in glob.glob(os.path.join(ROOT, "adapter", "*.py")):
        assert "reference" not in pack_folders_imported(path), path


def test_the_tooling_does_not_edit_sys_path():
    """Only harness/comfy_host.py puts ComfyUI's own folder on sys.path (that is how ComfyUI is imported)."""
    for folder in TOOLING:
        for path in glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True):
            if path.endswith(os.path.join("harness", "comfy_host.py")) or "__pycache__" in path:
                continue
            tree = ast.parse(open(path, encoding="utf-8").read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                    assert False, f"{os.path.relpath(path, ROOT)}:{node.lineno} uses sys.path"
