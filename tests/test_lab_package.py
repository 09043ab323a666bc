"""The pack users install and the lab beside it: a ComfyUI with only the pack in custom_nodes/ lists exactly
the editing nodes; with the lab installed beside it (a second custom-node package, lab/), the lab's nodes
too, under prefixed ids; the lab loads whichever package ComfyUI imports first; the registry archive leaves
the lab out; the lab's model patchers carry what a newer core's multi-GPU deep clone needs."""
import fnmatch
import os
import subprocess

import pytest
import torch

from lab.harness.comfy_server import ComfyServer
from lab.harness.find_comfyui import PACK_DIR

EDITING_NODES = {"SDEditNoiseDenoise", "SDEInpaint", "SDEDragPointMover", "SDEDragClicks", "SDESamplerEta",
                 "SDELoraSchedule"}  # ids kept from before the lab moved out: saved workflows keep loading
LAB_NODES = {"SDEEditLabReferenceSceneModel", "SDEEditLabReferenceSceneImage", "SDEEditLabSceneModelLoader",
             "SDEEditLabSceneWorldImage"}


def listed(server):
    """The node ids of /object_info that custom-node packages registered (not ComfyUI's own)."""
    info = server.get("/object_info")
    return {k for k, v in info.items() if str(v.get("python_module", "")).startswith("custom_nodes")}


def test_the_pack_alone_lists_exactly_the_editing_nodes():
    with ComfyServer(with_lab=False) as server:
        assert listed(server) == EDITING_NODES
        assert "IMPORT FAILED" not in server.read_log()


def test_the_lab_beside_the_pack_adds_its_prefixed_nodes():
    with ComfyServer() as server:
        assert listed(server) == EDITING_NODES | LAB_NODES
        info = server.get("/object_info")
        assert {info[n]["category"] for n in LAB_NODES} == {"sde_edit_lab"}
        assert "IMPORT FAILED" not in server.read_log()


def test_the_lab_loads_without_the_pack_imported_first():
    """ComfyUI imports custom_nodes/ in os.listdir order: the lab may come first. Alone, it imports the
    pack's folder by path (lab/product.py) without running its __init__, so the editing nodes are not
    registered and the editor's route is not added twice; its own nodes run."""
    with ComfyServer(with_pack=False) as server:
        assert listed(server) == LAB_NODES
        prompt = {"1": {"class_type": "SDEEditLabReferenceSceneImage",
                        "inputs": {"kind": "scene", "x": 30, "y": 26, "colour": "red", "resolution": 64}},
                  "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
        images = server.output_images(server.run(prompt))
        assert images.get("2"), "the lab's node drew nothing"


def test_the_registry_archive_leaves_the_lab_out():
    """.comfyignore (what `comfy node pack` drops) covers every tracked file of the lab, and none of the pack's."""
    patterns = [line.strip() for line in open(os.path.join(PACK_DIR, ".comfyignore"), encoding="utf-8")
                if line.strip() and not line.startswith("#")]

    def ignored(path):
        parts = path.split("/")
        return any(fnmatch.fnmatch(path, p) or (p.endswith("/") and p.rstrip("/") in parts[:-1])
                   or fnmatch.fnmatch(parts[-1], p) for p in patterns)

    files = [f for f in subprocess.run(["git", "ls-files", "-z"], cwd=PACK_DIR, capture_output=True, text=True,
                                        check=True).stdout.split("\0") if f]
    if not files:
        pytest.skip("not a git checkout")
    lab = [f for f in files if f.startswith("lab/")]
    assert lab and all(ignored(f) for f in lab)
    shipped = [f for f in files if not ignored(f)]
    for part in ("__init__.py", "nodes/drag.py", "adapter/drag.py", "sampling/loop.py", "web/js/sde_drag/points.js",
                 "workflows/SDE-Drag (SDXL checkpoint).json", "requirements.txt", "pyproject.toml", "LICENSE"):
        assert part in shipped, part
    assert not [f for f in shipped if f.endswith((".safetensors", ".npz"))]


def test_the_lab_models_can_be_deep_cloned_for_several_gpus():
    """Newer cores' ModelPatcher.deepclone_multigpu rebuilds a model from cached_patcher_init and refuses
    patchers without it; the lab's reference model carries a factory that builds an equal, separate model."""
    from lab.reference.oracle_models import make_model
    from lab.reference.oracles import GaussianMixture
    d = 2 * 4 * 4
    oracle = GaussianMixture([0.6, 0.4], torch.stack([torch.ones(d), -torch.ones(d)]), torch.full((2, d), 0.3), (2, 4, 4))
    patcher = make_model(oracle, "eps", 2)
    factory, args = patcher.cached_patcher_init[:2]
    fresh = factory(*args, disable_dynamic=True)  # how ModelPatcher.clone(disable_dynamic=True) calls it
    clone = patcher.deepclone_multigpu() if hasattr(patcher, "deepclone_multigpu") else fresh
    assert clone.model is not patcher.model
    x, sigma = torch.randn(2, 2, 4, 4), torch.tensor([1.5, 1.5])
    options = {"transformer_options": {"sigmas": sigma}}  # what ComfyUI's sampling passes
    with torch.no_grad():
        assert torch.equal(clone.model.apply_model(x, sigma, **options), patcher.model.apply_model(x, sigma, **options))


def test_the_trained_scene_model_can_be_deep_cloned_for_several_gpus():
    from lab.nodes.scene_model import load_weights
    from lab.reference import latent_scene_model
    model = load_weights(latent_scene_model.WEIGHTS_NAME)[0]
    factory, args, index = model.cached_patcher_init
    again = factory(*args)[index]
    clone = model.deepclone_multigpu() if hasattr(model, "deepclone_multigpu") else again
    assert clone.model is not model.model
    sd, sd_again = model.model.diffusion_model.state_dict(), clone.model.diffusion_model.state_dict()
    assert sd.keys() == sd_again.keys() and all(torch.equal(sd[k], sd_again[k]) for k in sd)
