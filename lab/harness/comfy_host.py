"""Boot the real ComfyUI in this process (CPU) and import the pack through it, as ComfyUI does (and the
lab's nodes beside it).

Used by the tests and the demo. The pack is imported as a package named `sde_edit_pack` so its
relative imports resolve and its own nodes/ never shadows ComfyUI's top-level `nodes` module.
"""
import importlib
import importlib.util
import os
import sys

from .find_comfyui import PACK_DIR, find_comfyui

PACKAGE = "sde_edit_pack"


def boot_comfyui(load_custom_nodes: bool = False, cpu: bool = True):
    """Put ComfyUI on sys.path with CPU settings (cpu=False: ComfyUI picks the device, e.g. CUDA);
    optionally run its custom-node loader on the pack."""
    path = find_comfyui()
    if path is None:
        raise RuntimeError("no ComfyUI found: run `make test` / lab/harness/setup_host.sh, or set COMFYUI_PATH")
    if path not in sys.path:
        sys.path.insert(0, path)
    import comfy.options
    comfy.options.enable_args_parsing(False)
    import comfy.cli_args
    if cpu:
        comfy.cli_args.args.cpu = True  # before comfy.model_management is imported: no CUDA driver here
    import comfy.model_management  # noqa: F401
    return path


def load_package(name, folder):
    """Import `folder` as package `name` (so relative imports inside it resolve)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_pack(cpu: bool = True):
    boot_comfyui(cpu=cpu)
    return load_package(PACKAGE, PACK_DIR)


def import_sampling():
    """The pack's plain-PyTorch `sampling` package alone, without booting ComfyUI."""
    return load_package("sde_edit_sampling", os.path.join(PACK_DIR, "sampling"))


def import_reference():
    """The lab's `reference` package (lab/reference), without booting ComfyUI: its plain-maths modules
    (scenes, oracles, scene_metrics, scene_world, scene_parser) import from it; oracle_models and
    scene_model need ComfyUI booted and the pack imported (`import_lab`)."""
    return importlib.import_module("lab.reference")


def import_lab(cpu: bool = True):
    """The lab's nodes package (lab/nodes: LAB_NODES), on the pack imported through ComfyUI, as the
    lab's custom-node package loads them beside the pack."""
    import_pack(cpu=cpu)
    return importlib.import_module("lab.nodes")
