"""The layout of docs/architecture.md holds: the product (the pack users install: the root __init__.py,
nodes/, adapter/, sampling/) imports one way (nodes -> adapter -> sampling), sampling/ imports no ComfyUI,
the product never imports the lab; the lab (lab/) reaches the product only through lab/product.py, never by
a relative import out of its folder; the tooling reaches the pack and itself without editing sys.path."""
import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCT = ("nodes", "adapter", "sampling")
LAB = "lab"
# what each product folder may import from the pack (besides itself)
ALLOWED = {"sampling": set(), "adapter": {"sampling"}, "nodes": {"adapter", "sampling"}}
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


def python_files(folder):
    return [p for p in glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True) if "__pycache__" not in p]


@pytest.mark.parametrize("folder", PRODUCT)
def test_product_imports_go_one_way(folder):
    for path in glob.glob(os.path.join(ROOT, folder, "*.py")):
        wrong = pack_folders_imported(path) - ALLOWED[folder]
        assert not wrong, f"{os.path.relpath(path, ROOT)} imports {sorted(wrong)}"
        absolute = {m.split(".")[0] for m, level in imports(path) if level == 0}
        assert LAB not in absolute, f"{os.path.relpath(path, ROOT)} imports the lab"
        if folder == "sampling":
            assert not {m for m in absolute if m.startswith("comfy") or m in ("nodes", "folder_paths", "server")}, \
                f"{os.path.relpath(path, ROOT)} imports ComfyUI"


def test_the_product_has_no_lab_in_it():
    """The pack's folders hold only the product: no evaluation world, models, nodes or tooling of the lab."""
    for gone in ("reference", "models", "harness", "commands", "benchmarks", "nodes/reference.py", "nodes/scene_model.py"):
        assert not os.path.exists(os.path.join(ROOT, gone)), f"{gone}/ belongs in lab/"
    assert LAB not in {m.split(".")[0] for m, level in imports(os.path.join(ROOT, "__init__.py")) if level == 0}
    assert not {m for m, level in imports(os.path.join(ROOT, "__init__.py")) if level == 1 and m.startswith(LAB)}


def test_the_lab_reaches_the_product_only_through_product_py():
    """A lab file never imports the product by a relative import out of lab/ (ComfyUI loads the lab as a
    package of its own: there is no parent to import from); lab/product.py finds the pack."""
    for path in python_files(LAB):
        depth = len(os.path.relpath(os.path.dirname(path), os.path.join(ROOT, LAB)).split(os.sep)) \
            if os.path.dirname(path) != os.path.join(ROOT, LAB) else 0
        for module, level in imports(path):
            assert level <= depth + 1 if level else True, f"{os.path.relpath(path, ROOT)} imports {'.' * level}{module}"
    for folder in ("nodes", "reference"):  # what ComfyUI loads as the lab's package: the pack comes from product.py
        for path in python_files(os.path.join(LAB, folder)):
            assert "sde_edit_pack" not in open(path, encoding="utf-8").read(), os.path.relpath(path, ROOT)


def test_the_tooling_does_not_edit_sys_path():
    """Only lab/harness/comfy_host.py puts ComfyUI's own folder on sys.path (that is how ComfyUI is imported)."""
    for path in python_files(LAB) + python_files("tests"):
        if path.endswith(os.path.join("harness", "comfy_host.py")):
            continue
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                assert False, f"{os.path.relpath(path, ROOT)}:{node.lineno} uses sys.path"
