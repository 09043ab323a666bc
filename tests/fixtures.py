"""Exact reference models and small helpers shared by the tests."""
import contextlib
import functools
import os

import torch

from lab.reference.oracle_models import make_model
from lab.reference.oracles import GaussianMixture

PARAMETERIZATIONS = ("eps", "v_prediction", "flow")
EMPTY = [[torch.zeros(1, 1, 8), {}]]  # conditioning: the oracles ignore text
GMM_SHAPE = (1, 2, 2)


def gmm():
    """Three well-separated components in 4 dimensions (so nearest-mean assignment is ~exact)."""
    means = torch.tensor([[2.0, 2.0, 2.0, 2.0], [-2.0, -2.0, -2.0, -2.0], [0.0, 3.0, 0.0, -3.0]])
    variances = torch.tensor([[0.25] * 4, [0.5] * 4, [0.1] * 4])
    return GaussianMixture([0.5, 0.3, 0.2], means, variances, GMM_SHAPE)


def two_blobs(shape):
    """A two-component mixture over latents of any shape (means ±1 everywhere)."""
    d = 1
    for n in shape:
        d *= n
    return GaussianMixture([0.6, 0.4], torch.stack([torch.ones(d), -torch.ones(d)]), torch.full((2, d), 0.3), shape)


@functools.lru_cache(maxsize=None)
def gmm_model(parameterization: str, shape=GMM_SHAPE):
    return make_model(gmm() if shape == GMM_SHAPE else two_blobs(shape), parameterization, shape[0])


@functools.lru_cache(maxsize=None)
def scene_model(parameterization: str = "eps"):
    from lab.nodes.reference import _scene_model
    return _scene_model(parameterization, 64)


def oracle_calls(model):
    return model.model.diffusion_model.calls


def clone_latent(latent):
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in latent.items()}


def assert_latent_unchanged(before, after):
    assert before.keys() == after.keys()
    for k in before:
        if isinstance(before[k], torch.Tensor):
            assert torch.equal(before[k], after[k]), f"input LATENT[{k!r}] was modified in place"
        else:
            assert before[k] == after[k]


def interrupting(model, after: int):
    """A clone of model whose unet wrapper (the hook model patches use) records every call's
    timestep and raises ComfyUI's interrupt flag at call number `after`. Returns (model, calls)."""
    import comfy.model_management
    calls = []
    model = model.clone()

    def wrapper(apply_model, args):
        calls.append(float(args["timestep"][0]))
        if len(calls) == after:
            comfy.model_management.interrupt_current_processing(True)
        return apply_model(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(wrapper)
    return model, calls


@functools.lru_cache(maxsize=None)
def object_model(parameterization: str = "eps"):
    """The exact model of the drag benchmark's object set (ball and striped box, every pixel; 32 px)."""
    import comfy.latent_formats
    from lab.reference import scenes
    from lab.reference.oracles import EmpiricalImages
    images, _ = scenes.object_images()
    return make_model(EmpiricalImages(scenes.to_latent(images)), parameterization, 3, comfy.latent_formats.ChromaRadiance)


@contextlib.contextmanager
def progress_updates():
    """[(value, total)] of every progress update the pack makes. Cores after 0.3.75 (0.33) throttle updates
    without a preview (at most one per 0.1 s and 0.5 %; comfy.utils.PROGRESS_THROTTLE_*): the throttle is
    set to zero here, so that what is counted is what the pack reports, on either core."""
    import comfy.utils
    updates = []
    saved = {name: getattr(comfy.utils, name) for name in ("PROGRESS_THROTTLE_MIN_INTERVAL", "PROGRESS_THROTTLE_MIN_PERCENT")
             if hasattr(comfy.utils, name)}
    for name in saved:
        setattr(comfy.utils, name, 0)
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: updates.append((value, total)))
    try:
        yield updates
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        for name, value in saved.items():
            setattr(comfy.utils, name, value)


def skip_if_train_lora_outputs_moved(path, object_info):
    """A workflow saved with 0.3.75's Train LoRA (outputs MODEL, LORA_MODEL, loss map, steps) links its LoRA
    from output 1; 0.33's node has no MODEL output (LORA_MODEL, loss map, steps), so that link would take the
    loss map. Workflow files link outputs by slot number, so one file cannot serve both cores: such a
    workflow is run on the core its Train LoRA matches and skipped, with both output lists, on the other."""
    import json
    import os
    import pytest
    with open(path, encoding="utf-8") as f:
        nodes = json.load(f)["nodes"]
    served = object_info.get("TrainLoraNode", {}).get("output", [])
    for node in nodes:
        if node["type"] == "TrainLoraNode":
            saved = [o["type"] for o in node.get("outputs") or []]
            if saved != served[:len(saved)]:
                pytest.skip(f"{os.path.basename(path)}: saved with Train LoRA outputs {saved}, and this ComfyUI's "
                            f"Train LoRA has {served} (a newer core dropped its MODEL output), so its links by slot "
                            "would connect the wrong outputs; it runs on ComfyUI 0.3.75 (docs/workflows.md)")


OUTPUTS_BEFORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "outputs_before")


def check_outputs_unchanged(workflow: str, outputs: dict):
    """A shipped workflow's outputs equal those recorded before the redesign of issue 24 (behaviour kept):
    outputs {name: array}, a picture (uint8: every channel within 1 level, PNG rounding of a float that
    moved in its last bit) or a latent (float: within 1e-5). Recorded per core (its noise and nodes differ)
    in tests/data/outputs_before/<core version>.npz; SDE_EDIT_RECORD_OUTPUTS=1 records instead of checking
    (run on the commit before a change that must not change behaviour)."""
    import comfyui_version
    import numpy as np
    import platform
    import torch
    if platform.machine().lower() in ("x86_64", "amd64"):  # conftest.py pins the kernels the recordings were made with
        assert torch.backends.cpu.get_cpu_capability() == "AVX2" and os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2", (
            "the recorded outputs are checked with PyTorch's and oneDNN's AVX2 kernels (tests/conftest.py); "
            f"this process runs {torch.backends.cpu.get_cpu_capability()}, oneDNN {os.environ.get('ONEDNN_MAX_CPU_ISA')}")
    path = os.path.join(OUTPUTS_BEFORE, f"{comfyui_version.__version__}.npz")
    named = {f"{workflow} | {name}": np.asarray(value) for name, value in outputs.items()}
    if os.environ.get("SDE_EDIT_RECORD_OUTPUTS"):
        os.makedirs(OUTPUTS_BEFORE, exist_ok=True)
        recorded = dict(np.load(path)) if os.path.exists(path) else {}
        recorded.update(named)
        np.savez_compressed(path, **recorded)
        return
    recorded = np.load(path)
    for key, value in named.items():
        assert key in recorded.files, f"{key}: no output recorded for it in {path}"
        before = recorded[key]
        assert before.shape == value.shape and before.dtype == value.dtype, (key, before.shape, value.shape)
        if value.dtype == np.uint8:
            diff = np.abs(before.astype(int) - value.astype(int)).max()
            assert diff <= 1, f"{key}: differs from before by up to {diff} levels"
        else:
            diff = float(np.abs(before.astype(np.float64) - value.astype(np.float64)).max())
            assert diff <= 1e-5, f"{key}: differs from before by up to {diff}"
