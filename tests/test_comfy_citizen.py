"""ComfyUI's own machinery around the pack's sampler: model patches, progress bar with previews,
interrupt, and the SAMPLER inside SamplerCustomAdvanced."""
import comfy.model_management
import comfy.utils
import pytest
import torch

from fixtures import EMPTY, gmm, gmm_model, interrupting, progress_updates, scene_model
from sde_edit_pack.nodes.sde_sampler import SDESamplerEta
from sde_edit_pack.nodes.sdedit import SDEditNoiseDenoise
from lab.reference import scenes


def latent():
    return {"samples": gmm().sample(2, torch.Generator().manual_seed(0)).float()}


def test_model_patches_run_and_interrupt_stops_between_model_calls():
    """A unet wrapper (the hook model patches use) sees every call; an interrupt raised during
    sampling stops it at the next model call."""
    model, calls = interrupting(gmm_model("eps"), after=3)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            SDEditNoiseDenoise.execute(model, EMPTY, EMPTY, latent(), 0, 20, 0.8, 1.0, 1.0, "normal", 1)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert len(calls) == 3


def test_progress_bar_gets_every_step_with_a_preview():
    with progress_updates() as updates:
        images, _ = scenes.reference_images()
        SDEditNoiseDenoise.execute(scene_model(), EMPTY, EMPTY, {"samples": scenes.to_latent(images[:1])},
                                   0, 6, 0.5, 1.0, 1.0, "normal", 2)
    assert updates == [(i, 12) for i in range(1, 13)]  # steps × repeats


def test_sde_sampler_node_works_in_sampler_custom_advanced():
    from comfy_extras.nodes_custom_sampler import BasicScheduler, CFGGuider, RandomNoise, SamplerCustomAdvanced
    model = gmm_model("flow")
    sampler = SDESamplerEta.execute(1.0).result[0]
    guider = CFGGuider.execute(model, EMPTY, EMPTY, 3.0).result[0]
    sigmas = BasicScheduler.execute(model, "simple", 12, 0.7).result[0]
    noise = RandomNoise.execute(42).result[0]
    inp = latent()
    out, denoised = SamplerCustomAdvanced.execute(noise, guider, sampler, sigmas, inp).result
    again = SamplerCustomAdvanced.execute(noise, guider, sampler, sigmas, inp).result[0]
    assert out["samples"].shape == inp["samples"].shape and torch.isfinite(out["samples"]).all()
    assert torch.equal(out["samples"], again["samples"])  # the step noise is seeded from the NOISE seed
    assert not torch.allclose(out["samples"], inp["samples"])


def test_tooltips_link_the_documentation_by_the_repository_url():
    """A tooltip is read in ComfyUI, where the repository's files are not: a docs page it names is the
    repository's URL of it, never a path."""
    import re
    from sde_edit_pack.nodes import NODES
    url = "https://github.com/sde-edit/comfyui-sde-edit/blob/main/"
    linked = []
    for node in NODES:
        schema = node.define_schema()
        for text in [schema.description] + [getattr(i, "tooltip", None) for i in schema.inputs + schema.outputs]:
            for cited in re.finditer(r"docs/[\w.-]+\.md", text or ""):
                assert text[:cited.start()].endswith(url), (node.__name__, text)
                linked.append(cited.group())
    assert {"docs/region_drag.md", "docs/sde_vs_ode.md"} <= set(linked)
