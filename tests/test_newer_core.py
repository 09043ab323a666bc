"""What newer ComfyUI cores change for the pack's memory check (issue 30, part 3), on both installed
cores (0.3.75, 0.33).

Newer cores (0.33 has it; 0.3.75 lacks it) give `ModelPatcher.get_free_memory(device)`, and their
model_management.get_free_memory is noted as almost never what a caller wants: ComfyUI's own sampling
(samplers.py) and VAE ask the patcher, which with dynamic VRAM also counts what the resident models'
weights would give up. `adapter.checks.check_memory` asks the MODEL's patcher where it has the method
and ComfyUI's global figure where it does not. Both paths run here on real ModelPatchers: the core's
own (0.3.75: the global figure; 0.33: the patcher's), and on both cores a ModelPatcher subclass that
reports, as a dynamic-VRAM core's does, more than the device has free.

The image-to-image model samplings of newer cores (IMG_TO_IMG_FLOW, IMG_TO_IMG_VELOCITY) are refused by
the editing nodes: tests/test_model_families.py. The LoRA schedule's use of ComfyUI's hook keyframes:
tests/test_lora_schedule.py.
"""
import comfy.model_management
import comfy.model_patcher
import comfyui_version
import pytest
import torch

from fixtures import gmm_model
from sde_edit_pack.adapter.checks import InputError, check_memory, free_bytes_for_sampling

RECLAIMABLE = 2 ** 40  # bytes the resident weights would give up, far above any change of free RAM meanwhile
SAMPLES = torch.zeros(1, 4, 16, 16)  # 4 KiB a float32 copy


class DynamicVramPatcher(comfy.model_patcher.ModelPatcher):
    """A real ModelPatcher that answers get_free_memory(device) as a dynamic-VRAM core's does: the
    device's free memory plus what the resident models' weights would give up (0.33 adds
    comfy_aimdo's vbars_analyze)."""

    def get_free_memory(self, device):
        return comfy.model_management.get_free_memory(device) + RECLAIMABLE


def dynamic_vram_model():
    m = gmm_model("eps")
    return DynamicVramPatcher(m.model, m.load_device, m.offload_device)


def latents_needing(bytes_needed):
    return int(bytes_needed // (SAMPLES.numel() * 4)) + 1


def test_the_cores_own_patcher_gives_the_figure_sampling_would_use():
    """0.3.75's ModelPatcher has no get_free_memory: the global figure. 0.33's has it: its figure (the
    same as the global one on this CPU, where dynamic VRAM is off)."""
    model = gmm_model("eps")
    device = model.load_device
    has_method = callable(getattr(model, "get_free_memory", None))
    if comfyui_version.__version__ == "0.3.75":
        assert not has_method
    global_free = comfy.model_management.get_free_memory(device)
    figure = free_bytes_for_sampling(model, device)
    patcher_free = model.get_free_memory(device) if has_method else global_free
    for other in (global_free, patcher_free):  # free RAM moves a little between the calls
        assert abs(figure - other) < 2 ** 30, (figure, other)
    # a latent beyond it is refused, naming the latent and the figure
    with pytest.raises(InputError, match=r"latent is \(1, 4, 16, 16\).*GiB free"):
        check_memory("latent", SAMPLES, latents_needing(figure + 2 ** 34), model=model)


def test_the_patchers_figure_is_the_one_checked_where_it_has_the_method():
    """A latent that fits in what the patcher reports, but not in the device's free memory alone, is
    accepted for that MODEL and refused without it (and for a patcher without the method)."""
    model = dynamic_vram_model()
    device = model.load_device
    held = latents_needing(comfy.model_management.get_free_memory(device) + RECLAIMABLE // 2)
    check_memory("latent", SAMPLES, held, model=model)  # fits: the patcher counts the reclaimable weights
    with pytest.raises(InputError, match=r"latent is \(1, 4, 16, 16\).*GiB free"):
        check_memory("latent", SAMPLES, held)  # no MODEL: the device's free memory
    plain = gmm_model("eps")  # the core's own patcher: no dynamic VRAM here
    with pytest.raises(InputError, match=r"GiB free"):
        check_memory("latent", SAMPLES, held, model=plain)


class NoRoomPatcher(comfy.model_patcher.ModelPatcher):
    """A real ModelPatcher whose device, by its own account, has nothing free (where the global figure has
    plenty): a node that asks the patcher refuses; one that asked only the global figure would sample."""

    def get_free_memory(self, device):
        return 0


@pytest.mark.parametrize("node", ["SDEdit", "SDE Inpaint", "SDE-Drag"])
def test_every_editing_node_asks_its_models_patcher(node):
    from fixtures import EMPTY
    from sde_edit_pack.nodes.drag import SDEDragPointMover
    from sde_edit_pack.nodes.inpaint import SDEInpaint
    from sde_edit_pack.nodes.sdedit import SDEditNoiseDenoise
    base = gmm_model("eps")
    model = NoRoomPatcher(base.model, base.load_device, base.offload_device)
    latent = {"samples": torch.zeros(1, 1, 2, 2)}
    with pytest.raises(InputError, match=r"latent.* is \(1, 1, 2, 2\).*0\.0 GiB free"):
        if node == "SDEdit":
            SDEditNoiseDenoise.execute(model, EMPTY, EMPTY, latent, 0, 4, 0.5, 1.0, 1.0, "normal", 1, None)
        elif node == "SDE Inpaint":
            SDEInpaint.execute(model, EMPTY, EMPTY, latent, 0, 4, 1.0, 1.0, 1.0, "normal", 1, 0, 0, torch.ones(1, 2, 2))
        else:
            SDEDragPointMover.execute(model, EMPTY, latent, '{"source": [[0, 0]], "target": [[1, 1]]}', 0, 100, 0.6, 1.0,
                                      2.0, 1, 0.3, 1.1, 1.0, "normal", method="warp")
