"""A LoRA whose strength follows SDE-Drag's cosine along the sampled schedule, as a ComfyUI hook.

The authors fine-tune a LoRA on the input picture and scale it from 1 near t = 0 down to 0.5 at t0
(Nie et al. 2023, `utils/drag.py`). Here the LoRA is a `WeightHook` (ComfyUI patches the weights at
the step's strength and restores them after sampling), attached to the conditioning, so every
sampler that goes through CFGGuider sees it: the pack's nodes, KSampler, SamplerCustomAdvanced.

ComfyUI's own keyframes (`HookKeyframeGroup`) only move forward through one sampling; a drag runs
many cycles in one sampling and ODE-Drag's inversion climbs the schedule. So the keyframe group
below takes the strength from the step's σ and the schedule being sampled (the same nearest-step
rule as the CFG ramp), whatever the order of the calls. It overrides only the group's public members
that ComfyUI calls (`prepare_current_keyframe`, `strength`, `reset`, `clone`, `is_empty`) and keeps
its state in its own attributes, none of the group's private ones; tests/test_lora_schedule.py fails,
naming the member, if a core renames one of them.
"""
import comfy.hooks
import torch

from ..sampling.ramps import cosine_ramp, schedule_position


class CosineKeyframes(comfy.hooks.HookKeyframeGroup):
    """Strength at_end · strength at the schedule's last step, at_top · strength at its first."""

    def __init__(self, at_end: float = 1.0, at_top: float = 0.5):
        super().__init__()
        self.at_end, self.at_top = at_end, at_top
        self.ramp_strength = None  # the strength at the step being sampled; None outside a sampling
        self.ramp_sigmas, self.ramp_schedule = None, None  # the sampled schedule, read once as floats

    def strength_at(self, sigma: float, schedule) -> float:
        return cosine_ramp(*schedule_position(schedule, sigma), self.at_end, self.at_top)

    @property
    def strength(self):
        """What ComfyUI multiplies the hooks' weights by (`Hook.strength` reads it): the ramp's at the
        step being sampled; 1 outside a sampling (a text encoder's scheduled encode), as a group
        without keyframes gives."""
        return 1.0 if self.ramp_strength is None else self.ramp_strength

    def prepare_current_keyframe(self, curr_t, transformer_options) -> bool:
        """Called by ComfyUI before each model call with the call's σ; True when the strength
        changed (ComfyUI then re-patches the weights)."""
        sigmas = transformer_options["sample_sigmas"]
        if sigmas is not self.ramp_sigmas:  # one copy off the device per sampling, not per model call
            self.ramp_sigmas, self.ramp_schedule = sigmas, torch.as_tensor(sigmas).flatten().tolist()
        strength = self.strength_at(float(curr_t), self.ramp_schedule)
        if strength == self.ramp_strength:
            return False
        self.ramp_strength = strength
        return True

    def reset(self):
        """Called by ComfyUI before each sampling and each scheduled text encode."""
        super().reset()
        self.ramp_strength = None

    def is_empty(self):
        return False

    def clone(self):
        return CosineKeyframes(self.at_end, self.at_top)


def cosine_lora_hooks(lora=None, hooks=None, strength: float = 1.0, strength_at_t0: float = 0.5):
    """A HOOKS group: the LoRA state dict `lora` (TrainLoraNode's LORA_MODEL) and/or the weight hooks
    of `hooks` (e.g. Create Hook LoRA's, from a file), each scaled by `strength` near σ = 0 and by
    `strength_at_t0` at the first step sampled. The given hooks are cloned, never changed."""
    group = comfy.hooks.HookGroup()
    if lora is not None:
        group = group.clone_and_combine(comfy.hooks.create_hook_lora(lora, strength_model=1.0, strength_clip=0.0))
    if hooks is not None:
        group = group.clone_and_combine(hooks)
    # the hooks' own strength is 1 (a LoRA) or the one set on Create Hook LoRA: the ramp multiplies it
    group.set_keyframes_on_hooks(CosineKeyframes(strength, strength_at_t0))
    return group
