"""SDE-Drag's identity LoRA on its cosine schedule (issue 12): the SDELoraSchedule node's HOOKS, attached
to the prompts with ComfyUI's own Cond Pair Set Props, make ComfyUI patch the LoRA into the weights at
the step's strength. Checked on the tiny real-architecture SD1.5 checkpoint (lab/harness/tiny_checkpoints.py)
by reading, inside every model call, the weight the UNet is about to use: its difference from the base
weight, divided by the LoRA's full difference, is the strength the model sees. It must equal
strength_at_t0 + (strength − strength_at_t0)·(1 + cos(π·k/n))/2 for the step k of n above the end of the
schedule being sampled (`expected` below), at every call of
SDE-Drag's cycles (down the schedule), ODE-Drag's inversion (up it), warp's pass, SDEdit and KSampler.

The schedule overrides public members of ComfyUI's HookKeyframeGroup only (no private attribute): the
members it relies on, and their parameters, are checked by name, so a core that renames one fails here
saying which. The in-graph training (TrainLoraNode) runs in tests/test_workflows_run.py on the shipped
workflow."""
import inspect
import json
import math
import os

import pytest
import torch

import comfy.hooks  # noqa: E402  (ComfyUI is booted by conftest.py)
import comfy.model_patcher
import comfy.utils
import folder_paths
import nodes
from lab.harness import tiny_checkpoints
from comfy_extras.nodes_hooks import PairConditioningSetProperties

from sde_edit_pack.adapter.checks import InputError
from sde_edit_pack.nodes.drag import SDEDragPointMover
from sde_edit_pack.nodes.lora_schedule import SDELoraSchedule
from sde_edit_pack.nodes.sdedit import SDEditNoiseDenoise
from sde_edit_pack.sampling.ramps import cosine_ramp

RANK = 4
# Modules the LoRA patches and the test reads: a convolution, an attention projection, a linear layer.
MODULES = ("diffusion_model.input_blocks.0.0", "diffusion_model.middle_block.1.proj_in",
           "diffusion_model.time_embed.0")


@pytest.fixture(scope="module")
def sd15():
    path = tiny_checkpoints.ensure("sd15")
    folder_paths.add_model_folder_path("checkpoints", os.path.dirname(path))
    with torch.inference_mode():
        model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(os.path.basename(path))[:3]
        positive = nodes.CLIPTextEncode().encode(clip, "a red ball on grass")[0]
        negative = nodes.CLIPTextEncode().encode(clip, "")[0]
        image = torch.linspace(0, 1, 64 * 64 * 3).reshape(1, 64, 64, 3)
        latent = nodes.VAEEncode().encode(vae, image)[0]
    return model, positive, negative, latent


def lora_for(model, seed=0):
    """A LoRA in the generic format TrainLoraNode writes (module.lora_up/lora_down/alpha), random."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name in MODULES:
        w = comfy.utils.get_attr(model.model, name + ".weight")
        out, rest = w.shape[0], w.shape[1:]
        sd[f"{name}.lora_down.weight"] = torch.randn((RANK, *rest), generator=g) * 0.1
        sd[f"{name}.lora_up.weight"] = torch.randn((out, RANK) + (1,) * (len(rest) - 1), generator=g) * 0.1
        sd[f"{name}.alpha"] = torch.tensor(float(RANK))
    return sd


def full_difference(sd, name):
    up, down = sd[f"{name}.lora_up.weight"], sd[f"{name}.lora_down.weight"]
    return (up.flatten(1) @ down.flatten(1)).reshape(down.shape[:1] and (up.shape[0], *down.shape[1:]))


def recorder(model, sd):
    """A clone of `model` whose UNet wrapper records (σ, strength seen per module, schedule) at every call."""
    base = {n: comfy.utils.get_attr(model.model, n + ".weight").detach().clone() for n in MODULES}
    full = {n: full_difference(sd, n) for n in MODULES}
    seen = []

    def wrapper(apply, args):
        strengths = []
        for n in MODULES:
            delta = comfy.utils.get_attr(model.model, n + ".weight").detach().float() - base[n]
            strengths.append(float((delta * full[n]).sum() / (full[n] * full[n]).sum()))
            # the difference is the LoRA's, scaled: nothing else moved
            assert torch.allclose(delta, strengths[-1] * full[n], atol=1e-5 * float(full[n].abs().max()))
        schedule = [float(s) for s in args["c"]["transformer_options"]["sample_sigmas"]]
        seen.append((float(args["timestep"][0]), strengths, schedule))
        return apply(args["input"], args["timestep"], **args["c"])

    m = model.clone()
    m.set_model_unet_function_wrapper(wrapper)
    return m, seen, base


def expected(sigma, schedule, strength, at_t0):
    n = len(schedule) - 1
    i = min(range(n + 1), key=lambda j: abs(schedule[j] - sigma))
    k = n - i
    return at_t0 + (strength - at_t0) * (1 + math.cos(math.pi * k / n)) / 2


def hooked(positive, negative, sd, strength=1.0, at_t0=0.5):
    hooks = SDELoraSchedule.execute(strength=strength, strength_at_t0=at_t0, lora=sd).result[0]
    return PairConditioningSetProperties().set_properties(positive, negative, 1.0, "default", hooks=hooks)


def check_seen(seen, strength, at_t0):
    assert seen
    for sigma, strengths, schedule in seen:
        want = expected(sigma, schedule, strength, at_t0)
        for s in strengths:
            assert s == pytest.approx(want, abs=1e-4), (sigma, strengths, want)


POINTS = json.dumps({"source": [[20, 20]], "target": [[36, 28]]})
DRAG = dict(seed=0, points=POINTS, steps=10, t0=0.6, cfg=3.0, patch_radius=2, drag_step=1.0, beta=0.3, alpha=1.1,
            scheduler="ddim_uniform")


@pytest.mark.parametrize("method,eta", [("paper", 1.0), ("paper", 0.0), ("warp", 1.0)])
@torch.inference_mode()
def test_the_drag_model_sees_the_cosine_strength_at_every_call(sd15, method, eta):
    model, positive, negative, latent = sd15
    sd = lora_for(model)
    pos, neg = hooked(positive, negative, sd)
    m, seen, base = recorder(model, sd)
    SDEDragPointMover.execute(model=m, positive=pos, negative=neg, latent=latent, eta=eta, method=method, **DRAG)
    check_seen(seen, 1.0, 0.5)
    sigmas = [s for s, _, _ in seen]
    strengths = [st[0] for _, st, _ in seen]
    if method == "paper":
        # 2 latent px in 1-px sub-steps = 2 cycles of 6 steps: the strength goes back up each cycle, and
        # ODE-Drag's inversion climbs (σ rising) with the strength falling
        top_k1 = 0.5 + 0.5 * (1 + math.cos(math.pi / 6)) / 2  # the last step (k = 1 of n = 6)
        assert max(strengths) == pytest.approx(top_k1, abs=1e-5) and min(strengths) == pytest.approx(0.5, abs=1e-6)
        assert sum(abs(s - 0.5) < 1e-6 for s in strengths) >= 2  # each cycle starts again at t0
        rises = sum(b > a for a, b in zip(sigmas, sigmas[1:]))
        assert rises >= (6 if eta == 0 else 1)
    # after sampling the model's weights are its own again
    for n in MODULES:
        assert torch.equal(comfy.utils.get_attr(model.model, n + ".weight"), base[n])


@torch.inference_mode()
def test_sdedit_and_ksampler_see_it_over_their_own_schedule(sd15):
    model, positive, negative, latent = sd15
    sd = lora_for(model, seed=1)
    pos, neg = hooked(positive, negative, sd, strength=0.8, at_t0=0.2)
    m, seen, _ = recorder(model, sd)
    SDEditNoiseDenoise.execute(model=m, positive=pos, negative=neg, latent_image=latent, seed=0, steps=5, strength=0.6,
                               eta=1.0, cfg=2.0, scheduler="normal", repeats=1)
    check_seen(seen, 0.8, 0.2)
    assert [round(st[0], 6) for _, st, _ in seen] == sorted(round(st[0], 6) for _, st, _ in seen)  # rising to 0.8
    seen.clear()
    nodes.KSampler().sample(m, 0, 4, 2.0, "euler", "normal", pos, neg, latent, denoise=1.0)
    check_seen(seen, 0.8, 0.2)
    assert len(seen) == 4


@torch.inference_mode()
def test_the_lora_changes_the_drag_and_strength_zero_does_not(sd15):
    model, positive, negative, latent = sd15
    sd = lora_for(model, seed=2)
    plain = SDEDragPointMover.execute(model=model, positive=positive, negative=negative, latent=latent, eta=1.0,
                                      method="warp", **DRAG).result[0]["samples"]
    pos, neg = hooked(positive, negative, sd)
    with_lora = SDEDragPointMover.execute(model=model, positive=pos, negative=neg, latent=latent, eta=1.0,
                                          method="warp", **DRAG).result[0]["samples"]
    pos0, neg0 = hooked(positive, negative, sd, strength=0.0, at_t0=0.0)
    off = SDEDragPointMover.execute(model=model, positive=pos0, negative=neg0, latent=latent, eta=1.0,
                                    method="warp", **DRAG).result[0]["samples"]
    assert not torch.allclose(with_lora, plain, atol=1e-4)
    assert torch.allclose(off, plain, atol=1e-5)


def test_the_ramp_is_the_authors_curve():
    """cosine_ramp(k, n, 1, 0.5): 1 at k = 0, 0.5 at k = n, 0.75 half-way, and the authors'
    (1 − f)·begin + f·end with f = (1 − cos(π·k/length))/2 (their length is n − 1)."""
    assert cosine_ramp(0, 60, 1.0, 0.5) == 1.0
    assert cosine_ramp(60, 60, 1.0, 0.5) == pytest.approx(0.5, abs=1e-15)
    assert cosine_ramp(30, 60, 1.0, 0.5) == pytest.approx(0.75, abs=1e-15)
    for k in range(61):
        f = (1 - math.cos(k * math.pi / 60)) / 2
        assert cosine_ramp(k, 60, 1.0, 0.5) == pytest.approx((1 - f) * 1.0 + f * 0.5, abs=1e-15)


@pytest.mark.parametrize("kw,words", [
    (dict(), "lora or hooks must be connected"),
    (dict(lora={"x": 1.0}), "lora must be a LORA_MODEL"),
    (dict(lora={"x.lora_up.weight": torch.tensor([float("nan")])}), "lora (x.lora_up.weight) contains NaN"),
    (dict(hooks="hooks"), "hooks must be HOOKS"),
    (dict(lora={"x.alpha": torch.tensor(1.0)}, strength=float("nan")), "strength must be in [-10.0, 10.0]"),
    (dict(lora={"x.alpha": torch.tensor(1.0)}, strength_at_t0=11.0), "strength_at_t0 must be in [-10.0, 10.0]"),
])
def test_bad_inputs_are_named(kw, words):
    args = dict(strength=1.0, strength_at_t0=0.5)
    args.update(kw)
    with pytest.raises(InputError) as e:
        SDELoraSchedule.execute(**args)
    assert words in str(e.value)


# ComfyUI's side of the keyframe protocol that CosineKeyframes (adapter/lora_schedule.py) plugs into: the
# members of comfy.hooks.HookKeyframeGroup it overrides or inherits and that ComfyUI calls, with the
# parameter names ComfyUI passes; Hook.strength, which reads the group's strength; and the ModelPatcher
# method that asks every hook's group before a model call (samplers.py calls it).
KEYFRAME_GROUP_MEMBERS = {  # name: (parameters after self, or None for a property; what the pack does with it)
    "prepare_current_keyframe": (["curr_t", "transformer_options"],
                                 "overrides: ComfyUI asks it for the step's strength"),
    "strength": (None, "overrides: Hook.strength reads it to scale the weights"),
    "reset": ([], "overrides and calls: ComfyUI resets the group before a sampling and a scheduled encode"),
    "initialize_timesteps": (["model"], "inherits: ComfyUI calls it before a sampling"),
    "clone": ([], "overrides: HookGroup.set_keyframes_on_hooks clones the group"),
    "is_empty": ([], "overrides: says the group has a schedule"),
}


def test_the_core_keyframe_members_the_schedule_relies_on_are_there():
    """Fails naming the member if ComfyUI renames, removes or re-signs one: the ramp would then be
    silently ignored (the LoRA at full strength at every step) or fail inside sampling."""
    group, hook = comfy.hooks.HookKeyframeGroup, comfy.hooks.Hook
    for name, (params, use) in KEYFRAME_GROUP_MEMBERS.items():
        member = inspect.getattr_static(group, name, None)
        assert member is not None, f"comfy.hooks.HookKeyframeGroup.{name} is gone (renamed?); CosineKeyframes {use}"
        if params is None:
            assert isinstance(member, property), \
                f"comfy.hooks.HookKeyframeGroup.{name} is no longer a property; CosineKeyframes {use}"
        else:
            got = list(inspect.signature(member).parameters)[1:]
            assert got == params, (f"comfy.hooks.HookKeyframeGroup.{name} now takes {got}, not {params}; "
                                   f"CosineKeyframes {use}")
    assert isinstance(inspect.getattr_static(hook, "strength", None), property), \
        "comfy.hooks.Hook.strength is gone or no longer a property (it read hook_keyframe.strength)"
    assert hasattr(comfy.model_patcher.ModelPatcher, "prepare_hook_patches_current_keyframe"), \
        "comfy.model_patcher.ModelPatcher.prepare_hook_patches_current_keyframe is gone (renamed?): it asked each " \
        "hook's keyframe group for the step's strength"


def test_the_core_asks_the_schedule_through_those_members(sd15):
    """The real ModelPatcher asks the group, as before a model call, and the hooks' strength (what it
    scales the weights by) follows the ramp at each step, down and up the schedule; a reset (before a
    sampling or a text encoder's scheduled encode) gives 1 again."""
    model = sd15[0]
    hooks = SDELoraSchedule.execute(strength=1.0, strength_at_t0=0.25, lora=lora_for(model)).result[0]
    sigmas = torch.tensor([14.6, 7.0, 3.0, 1.0, 0.0])
    options = {"transformer_options": {"sample_sigmas": sigmas}}
    patcher = model.clone()
    weight_hooks = hooks.get_type(comfy.hooks.EnumHookType.Weight)
    assert weight_hooks and all(h.strength == 1.0 for h in weight_hooks)  # before any sampling
    schedule = sigmas.tolist()
    for k in (0, 1, 2, 3, 1, 0):  # down the schedule, then back up it (ODE-Drag's inversion)
        patcher.prepare_hook_patches_current_keyframe(sigmas[k:k + 1], hooks, options)
        want = cosine_ramp(len(schedule) - 1 - k, len(schedule) - 1, 1.0, 0.25)
        for h in weight_hooks:
            assert h.strength == pytest.approx(want, abs=1e-12), (k, h.strength, want)
    hooks.reset()
    assert all(h.strength == 1.0 for h in weight_hooks)
