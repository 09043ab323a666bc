"""Bad input gets a clear error naming it before any model call, or a correct result: NaN and
infinite numbers, work that could not be interrupted, float16 and bfloat16 latents, overflowing
drags, malformed points, unknown combo values, a latent the reference model cannot take, and the
SAMPLER inside SamplerCustomAdvanced checking what it is given. Every case here failed on the main
branch before the hardening (issue 10)."""
import json

import comfy.model_management
import pytest
import torch

from fixtures import EMPTY, gmm, gmm_model, oracle_calls, scene_model, two_blobs
from sde_edit_pack.adapter.checks import MAX_SCHEDULE, InputError, NonFiniteOutput, check_choice, check_memory
from sde_edit_pack.adapter.points import MAX_PAIRS, parse_points
from sde_edit_pack.nodes.drag import SDEDragPointMover
from sde_edit_pack.nodes.inpaint import SDEInpaint
from lab.nodes.reference import ReferenceSceneImage, ReferenceSceneModel
from sde_edit_pack.nodes.sde_sampler import SDESamplerEta
from sde_edit_pack.nodes.sdedit import SDEditNoiseDenoise
from lab.reference import scenes

SHAPE = (4, 16, 16)
SDEDIT = dict(seed=0, steps=10, strength=0.5, eta=1.0, cfg=1.0, scheduler="normal", repeats=1)
INPAINT = dict(seed=0, steps=10, strength=1.0, eta=1.0, cfg=1.0, scheduler="normal", order=1, grow_mask_by=0, feather=0)
DRAG = dict(seed=1234, steps=20, t0=0.6, cfg=1.0, drag_step=2.0, patch_radius=5, beta=0.3, alpha=1.1, eta=1.0,
            scheduler="ddim_uniform", method="fast")
POINTS = json.dumps({"source": [[2, 3]], "target": [[9, 8]]})


def blobs(batch=2):
    return {"samples": two_blobs(SHAPE).sample(batch, torch.Generator().manual_seed(0)).float()}


def half_mask():
    mask = torch.zeros(1, 16, 16)
    mask[:, :, 8:] = 1.0
    return mask


def run(node, latent, model=None, mask=None, **kw):
    model = model or gmm_model("eps", SHAPE)
    if node == "sdedit":
        return SDEditNoiseDenoise.execute(model, EMPTY, EMPTY, latent, **dict(SDEDIT, **kw), mask=mask).result[0]
    if node == "inpaint":
        return SDEInpaint.execute(model, EMPTY, EMPTY, latent, **dict(INPAINT, **kw), mask=mask).result[0]
    points = kw.pop("points", POINTS)
    return SDEDragPointMover.execute(model, EMPTY, latent, points, **dict(DRAG, **kw), mask=mask).result[0]


def refused(name, call, *words):
    """call() raises InputError naming `name` (and the words), before any model call."""
    model = gmm_model("eps", SHAPE)
    before = oracle_calls(model)
    with pytest.raises(InputError) as err:
        call(model)
    assert name in str(err.value) and all(w in str(err.value) for w in words), str(err.value)
    assert oracle_calls(model) == before
    return str(err.value)


# 1. NaN and infinity -----------------------------------------------------------------------------

@pytest.mark.parametrize("node", ["sdedit", "inpaint", "drag"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan"])
def test_a_nan_or_infinite_cfg_is_refused(node, value):
    refused("cfg", lambda m: run(node, blobs(), m, half_mask(), cfg=value))


@pytest.mark.parametrize("name", ["strength", "eta"])
def test_nan_floats_are_refused_on_sdedit(name):
    refused(name, lambda m: run("sdedit", blobs(), m, **{name: float("nan")}))


@pytest.mark.parametrize("name", ["t0", "drag_step", "beta", "alpha", "eta"])
def test_nan_floats_are_refused_on_the_drag(name):
    refused(name, lambda m: run("drag", blobs(), m, **{name: float("nan")}))


def test_a_finite_but_enormous_latent_is_refused():
    latent = {"samples": torch.full((1, *SHAPE), 3e38)}
    for node in ("sdedit", "inpaint", "drag"):
        refused("latent", lambda m: run(node, latent, m, half_mask()), "±10000")


def test_identical_pairs_are_merged_and_too_many_refused():
    """100 identical pairs with alpha 3 used to paste one patch 100 times (3^100: overflow)."""
    same = json.dumps({"source": [[2, 3]] * 100, "target": [[9, 8]] * 100})
    assert parse_points("points", same) == [((2.0, 3.0), (9.0, 8.0))]
    out = run("drag", blobs(), points=same, alpha=3.0, method="paper", steps=10)
    assert torch.isfinite(out["samples"]).all()
    many = json.dumps({"source": [[i % 16, i // 16 % 16] for i in range(1000)], "target": [[3, 3]] * 1000})
    refused("points", lambda m: run("drag", blobs(), m, points=many), f"at most {MAX_PAIRS}")


def test_no_nan_result_is_ever_returned():
    """A model whose predictions blow up: the run raises instead of returning NaN as a result."""
    model = gmm_model("eps", SHAPE).clone()
    model.set_model_unet_function_wrapper(lambda apply, args: apply(args["input"], args["timestep"], **args["c"]) * float("nan"))
    with pytest.raises(NonFiniteOutput, match="NaN or infinite"):
        run("sdedit", blobs(), model)


def test_the_sampler_in_sampler_custom_advanced_checks_its_latent_and_noise_mask():
    from comfy_extras.nodes_custom_sampler import BasicScheduler, CFGGuider, RandomNoise, SamplerCustomAdvanced
    model = gmm_model("eps")
    sampler = SDESamplerEta.execute(1.0).result[0]
    guider = CFGGuider.execute(model, EMPTY, EMPTY, 1.0).result[0]
    sigmas = BasicScheduler.execute(model, "normal", 5, 1.0).result[0]
    noise = RandomNoise.execute(42).result[0]
    good = gmm().sample(2, torch.Generator().manual_seed(0)).float()
    bad = good.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="latent_image contains NaN"):
        SamplerCustomAdvanced.execute(noise, guider, sampler, sigmas, {"samples": bad})
    mask = torch.ones(2, 1, 2, 2)
    mask[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="noise_mask contains NaN"):
        SamplerCustomAdvanced.execute(noise, guider, sampler, sigmas, {"samples": good, "noise_mask": mask})


@pytest.mark.parametrize("progress_bar", [True, False])
def test_a_node_checks_the_latent_where_it_enters_and_its_sampler_does_not_check_it_again(monkeypatch, progress_bar):
    """The sampler's own checks (`checks.check_sampler_inputs`) are for what SamplerCustomAdvanced hands
    it; a pack node checked its latent, mask and schedule where they entered, and its run skips them, with
    ComfyUI's progress bar on or off (its guider hands the sampler disable_pbar by position)."""
    import comfy.utils
    from comfy_extras.nodes_custom_sampler import BasicScheduler, CFGGuider, RandomNoise, SamplerCustomAdvanced
    from sde_edit_pack.adapter import sampler as sampler_module
    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_ENABLED", progress_bar)
    checked, real = [], sampler_module.check_sampler_inputs
    monkeypatch.setattr(sampler_module, "check_sampler_inputs", lambda *a, **k: checked.append(a) or real(*a, **k))
    model = gmm_model("eps")
    latent = {"samples": gmm().sample(2, torch.Generator().manual_seed(0)).float()}
    SDEditNoiseDenoise.execute(model, EMPTY, EMPTY, latent, 0, 3, 0.5, 1.0, 1.0, "normal", 1)
    assert checked == []
    SamplerCustomAdvanced.execute(RandomNoise.execute(1).result[0], CFGGuider.execute(model, EMPTY, EMPTY, 1.0).result[0],
                                  SDESamplerEta.execute(1.0).result[0], BasicScheduler.execute(model, "normal", 3, 1.0).result[0],
                                  latent)
    assert len(checked) == 1


# 2. Work that could not be interrupted -------------------------------------------------------------

@pytest.mark.parametrize("node", ["sdedit", "inpaint"])
@pytest.mark.parametrize("strength", [1e-6, 1e-9, 1e-310])
def test_a_tiny_strength_is_refused_before_any_schedule_is_computed(node, strength):
    message = refused("strength", lambda m: run(node, blobs(), m, half_mask(), strength=strength, steps=25),
                      f"at most {MAX_SCHEDULE}")
    assert "0.0025" in message  # the smallest strength that 25 steps allow


def test_a_drag_that_would_run_too_many_steps_is_refused():
    points = json.dumps({"source": [[0, 0]], "target": [[15, 15]]})  # 21 px: 212 cycles of 0.1 px, 6000 steps each
    refused("drag_step", lambda m: run("drag", blobs(), m, points=points, method="paper", steps=10000, drag_step=0.1),
            "212 cycles of 6000 steps", "at most 100000")


def test_memory_beyond_the_device_is_refused_with_the_figure():
    free = comfy.model_management.get_free_memory(comfy.model_management.get_torch_device())
    latents_held = int(free // (4 * 4 * 16 * 16)) + 1
    with pytest.raises(InputError, match=r"latent is \(1, 4, 16, 16\).*GiB free"):
        check_memory("latent", torch.zeros(1, 4, 16, 16), latents_held)


# 3. float16 and bfloat16 latents ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("node, masked, method", [
    ("sdedit", False, None), ("sdedit", True, None), ("inpaint", True, None),
    ("drag", False, "warp"), ("drag", False, "fast"), ("drag", True, "paper")])
def test_half_precision_latents_give_the_float32_result(node, masked, method, dtype):
    """The pack computes in float32 whatever the latent's dtype: a float16 / bfloat16 latent gives
    what the float32 latent of the same (rounded) values gives, to 1e-5, and a float32 LATENT back,
    as ComfyUI's own guider returns."""
    rounded = blobs()["samples"].to(dtype)
    extra = {} if method is None else {"method": method, "steps": 10}
    mask = half_mask() if masked else None
    low = run(node, {"samples": rounded}, mask=mask, **extra)["samples"]
    full = run(node, {"samples": rounded.float()}, mask=mask, **extra)["samples"]
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    torch.testing.assert_close(low, full, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_in_sampler_custom_advanced(dtype):
    """Inside SamplerCustomAdvanced the initial noise is ComfyUI's, drawn in the latent's dtype; the
    sampler works in float32, so the result differs from the float32 latent's only by that noise's
    rounding, entering at σ0: at most σ0 · max|noise(dtype) − noise(float32)|."""
    from comfy_extras.nodes_custom_sampler import BasicScheduler, CFGGuider, RandomNoise, SamplerCustomAdvanced
    model = gmm_model("eps")
    sampler = SDESamplerEta.execute(1.0).result[0]
    guider = CFGGuider.execute(model, EMPTY, EMPTY, 1.0).result[0]
    sigmas = BasicScheduler.execute(model, "normal", 8, 0.6).result[0]
    noise = RandomNoise.execute(42).result[0]
    x = gmm().sample(2, torch.Generator().manual_seed(0)).to(dtype)
    low = SamplerCustomAdvanced.execute(noise, guider, sampler, sigmas, {"samples": x}).result[0]["samples"]
    full = SamplerCustomAdvanced.execute(noise, guider, sampler, sigmas, {"samples": x.float()}).result[0]["samples"]
    rounding = (noise.generate_noise({"samples": x}).float() - noise.generate_noise({"samples": x.float()})).abs().max()
    assert torch.isfinite(low).all() and rounding > 0
    assert (low.float() - full).abs().max() <= float(sigmas[0]) * rounding


# 4. Errors that name the input -----------------------------------------------------------------------

def test_the_reference_model_names_a_latent_of_the_wrong_size():
    """The reference model itself refuses a latent of another size than its images, naming the latent
    input and both sizes, before computing anything, whichever sampler calls it."""
    from nodes import KSampler
    model = scene_model()  # 3 x 64 x 64
    latent = {"samples": torch.zeros(1, 3, 32, 32)}
    before = oracle_calls(model)
    for call in (lambda: SDEditNoiseDenoise.execute(model, EMPTY, EMPTY, latent, **SDEDIT),
                 lambda: SDEDragPointMover.execute(model, EMPTY, latent, "", **DRAG),
                 lambda: KSampler().sample(model, 0, 4, 1.0, "euler", "normal", EMPTY, EMPTY, latent)):
        with pytest.raises(InputError, match=r"images are 3x64x64 .*\(latent_image, or latent on the drag node\) is 3x32x32"):
            call()
    assert oracle_calls(model) == before


@pytest.mark.parametrize("node, kwargs, name", [
    (ReferenceSceneImage, dict(kind="sketch"), "kind"),
    (ReferenceSceneModel, dict(parameterization="x0"), "parameterization"),
    (SDEditNoiseDenoise, dict(scheduler="foo"), "scheduler"),
    (SDEInpaint, dict(scheduler=""), "scheduler"),
])
def test_unknown_combo_values_are_refused_when_the_prompt_arrives(node, kwargs, name):
    message = node.validate_inputs(**kwargs)
    assert message is not True and f"{name} must be one of" in message
    assert node.validate_inputs(**{k: None for k in kwargs}) is True  # linked inputs are checked when run
    if node is ReferenceSceneImage:
        with pytest.raises(InputError, match=f"{name} must be one of"):
            node.execute(x=30, y=26, resolution=64, colour="red", **kwargs)


def test_every_validate_inputs_takes_one_input():
    """ComfyUI attaches validate_inputs' message to every input the function takes (execution.py,
    custom_validation_failed): with one input, a bad value is marked on its own input only."""
    import inspect
    from lab.nodes import LAB_NODES
    from sde_edit_pack.nodes import NODES
    checked = {node.__name__: list(inspect.signature(node.validate_inputs).parameters)
               for node in NODES + LAB_NODES if "validate_inputs" in vars(node)}
    assert checked and all(len(args) == 1 for args in checked.values()), checked


@pytest.mark.parametrize("text, words", [
    ("[" * 100_000, ["points", "cannot be read", "RecursionError"]),
    ('{"source": [[' + "9" * 5000 + ', 1]], "target": [[1, 1]]}', ["points", "cannot be read"]),
    (" " * 200_000, []),  # blank: no points
    ("x" * 600_000, ["points", "600000 characters"]),
])
def test_points_that_escaped_the_json_check_now_name_points(text, words):
    if not words:
        assert parse_points("points", text) == []
        return
    with pytest.raises(InputError) as err:
        parse_points("points", text)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert SDEDragPointMover.validate_inputs(points=text) == str(err.value)


# Found by lab/benchmarks/fuzz_server.py against a real server ---------------------------------------------

def test_a_bad_noise_mask_on_the_latent_is_named_as_such():
    latent = blobs()
    latent["noise_mask"] = torch.full((1, 1, 16, 16), 1.5)
    for node, name in (("sdedit", "latent_image's noise_mask"), ("inpaint", "latent_image's noise_mask"),
                       ("drag", "latent's noise_mask")):
        refused(name, lambda m: run(node, latent, m), "[0, 1]")


def test_links_given_plain_values_are_named():
    for node in ("sdedit", "inpaint", "drag"):
        with pytest.raises(InputError, match="model must be a MODEL"):
            run(node, blobs(), "abc", half_mask())
    with pytest.raises(InputError, match="positive must be a CONDITIONING"):
        SDEditNoiseDenoise.execute(gmm_model("eps", SHAPE), 5, EMPTY, blobs(), **SDEDIT)
    with pytest.raises(InputError, match="negative must be a CONDITIONING"):
        SDEInpaint.execute(gmm_model("eps", SHAPE), EMPTY, None, blobs(), **INPAINT, mask=half_mask())
    with pytest.raises(InputError, match="vae must be a VAE"):
        SDEDragPointMover.execute(gmm_model("eps", SHAPE), EMPTY, blobs(), POINTS, **DRAG, vae="abc")


def test_a_latent_the_wrong_size_for_the_reference_model_is_named_on_the_drag():
    """The drag node checks the points against the latent it is given (it does not know the reference
    model's size); the model then names the latent."""
    with pytest.raises(InputError, match=r"images are 4x16x16 .*latent on the drag node\) is 4x2x3"):
        run("drag", {"samples": torch.zeros(1, 4, 2, 3)}, points=json.dumps({"source": [[1, 0]], "target": [[2, 1]]}))


@pytest.mark.parametrize("change, words", [
    ("flip", ["sigmas must fall", "never rising"]), ("first zero", ["sigmas must fall", "positive first value"]),
    ("wrong size", ["images are 1x2x2", "(latent_image, or latent on the drag node) is 1x4x4"]),
    ("flow above 1", ["sigmas: a flow model's noise levels run from 1", "up to 2e+04"])])
def test_the_sampler_in_sampler_custom_advanced_checks_sigmas_and_the_latent_size(change, words):
    from comfy_extras.nodes_custom_sampler import BasicScheduler, CFGGuider, RandomNoise, SamplerCustomAdvanced
    model = gmm_model("flow" if change == "flow above 1" else "eps")
    sigmas = BasicScheduler.execute(model, "normal", 5, 1.0).result[0]
    latent = gmm().sample(2, torch.Generator().manual_seed(0)).float()
    if change == "flow above 1":  # SetFirstSigma 20000 on a flow model (found by the fuzz: a math domain error)
        sigmas = sigmas.clone()
        sigmas[0] = 20000.0
    elif change == "flip":
        sigmas = sigmas.flip(0)
    elif change == "first zero":
        sigmas = sigmas.clone()
        sigmas[0] = 0.0
    else:
        latent = torch.zeros(2, 1, 4, 4)
    with pytest.raises(InputError) as err:
        SamplerCustomAdvanced.execute(RandomNoise.execute(1).result[0], CFGGuider.execute(model, EMPTY, EMPTY, 1.0).result[0],
                                      SDESamplerEta.execute(1.0).result[0], sigmas, {"samples": latent})
    assert all(w in str(err.value) for w in words), str(err.value)


def test_every_number_input_is_checked_against_the_bounds_its_schema_declares():
    """Bounds are written once, in define_schema: check_numbers reads them, so a value just past either
    end of any pack node's number input is refused naming it, and both ends are accepted."""
    from lab.nodes import LAB_NODES
    from sde_edit_pack import nodes as pack_nodes
    from sde_edit_pack.nodes.common import check_numbers
    checked = 0
    for node in pack_nodes.NODES + LAB_NODES:  # the pack's and the lab's
        for spec in node.define_schema().inputs:
            if getattr(spec, "min", None) is None or getattr(spec, "max", None) is None:
                continue
            low_open = ("strength",) if spec.id == "strength" and node in (SDEditNoiseDenoise, SDEInpaint) else ()
            check_numbers(node, low_open=low_open, **{spec.id: spec.max})
            if not low_open:
                check_numbers(node, **{spec.id: spec.min})
            past = 1 if isinstance(spec.max, int) else 1e-3
            for bad in (spec.max + past, spec.min - past):
                with pytest.raises(InputError, match=rf"^{spec.id} must be in [\[(]{spec.min}, {spec.max}\], got"):
                    check_numbers(node, low_open=low_open, **{spec.id: bad})
            checked += 1
    assert checked >= 25, checked


@pytest.mark.parametrize("node", ["sdedit", "inpaint"])
def test_a_schedule_that_comes_out_as_nan_is_refused_naming_scheduler_and_steps(node):
    """ComfyUI's kl_optimal with 1 step is [nan, 0] (found by the fuzz): refused before any model call,
    naming the scheduler and the steps, instead of a sampler error about sigmas."""
    refused("scheduler", lambda m: run(node, blobs(), m, half_mask(), scheduler="kl_optimal", steps=1,
                                       **({"strength": 1.0} if node == "sdedit" else {})), "'kl_optimal'", "steps 1")


@pytest.mark.parametrize("value", [["a", "b", "c"], {"x": 1}, torch.zeros(2)])
def test_a_combo_value_that_cannot_be_looked_up_is_refused_naming_it(value):
    """The fuzz sent method = {'__value__': [...]}: a list, looked up in the drag's METHODS dict, raised
    TypeError (unhashable) instead of naming the input."""
    from sde_edit_pack.adapter.drag_methods import METHODS
    with pytest.raises(InputError, match="method must be one of warp, fast, paper"):
        check_choice("method", value, METHODS)
    latent = {"samples": torch.zeros(1, 1, 2, 2)}
    with pytest.raises(InputError, match="method must be one of"):
        SDEDragPointMover.execute(gmm_model("eps"), EMPTY, latent, "", 0, 100, 0.6, 1.0, 2.0, 1, 0.3, 1.1, 1.0,
                                  "normal", method=value)
