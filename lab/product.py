"""The editing pack the lab runs beside: the repository root above this folder.

The lab's ComfyUI models and nodes use a few of the pack's pieces (its input checks, its noise levels,
its node-input checks). They come from the pack as it was already imported: by the test host (as
`sde_edit_pack`) or by ComfyUI's custom-node loader (under its folder's name). Where the lab is loaded
first, the pack's folder is imported here as a package without running its `__init__` (which registers
the editor's routes: that is the pack's own loading's job), so the two can load in either order.
"""
import importlib
import importlib.util
import os
import sys

PRODUCT_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
NAME = "sde_edit_pack"  # the test host's name for it (lab/harness/comfy_host.py)


def _already_imported():
    if NAME in sys.modules:
        return sys.modules[NAME]
    init = os.path.join(PRODUCT_DIR, "__init__.py")
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and os.path.basename(path) == "__init__.py" and os.path.realpath(path) == init:
            return module
    return None


def pack():
    """The pack's root package: its submodules (`adapter.checks`, `nodes.common`, ...) import from it."""
    found = _already_imported()
    if found is not None:
        return found
    spec = importlib.util.spec_from_loader(NAME, loader=None, is_package=True)
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [PRODUCT_DIR]
    sys.modules[NAME] = module
    return module


def module(name: str):
    """The pack's module `name` (e.g. "adapter.checks"), imported once."""
    return importlib.import_module(f"{pack().__name__}.{name}")
