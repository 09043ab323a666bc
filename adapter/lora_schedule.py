"""A LoRA whose strength follows SDE-Drag's cosine along the sampled schedule, as a ComfyUI hook.

The authors fine-tune a LoRA on the input picture and scale it from 1 near t = 0 down to 0.5 at t0
(Nie et al. 2023, `utils/drag.py`). Here the LoRA is a `WeightHook` (ComfyUI patches the weights at
the step's strength and restores them after sampling), attached to the conditioning, so every
sampler that goes through CFGGuider sees it: the pack's nodes, KSampler, SamplerCustomAdvanced.

ComfyUI's own keyframes (`HookKeyframeGroup`) only move forward through one sampling; a drag runs
many cycles in one sampling and ODE-Drag's inversion climbs the schedule. So the keyframe group
below takes the strength from the step's σ and the schedule being sampled (the same nearest-step
rule as the CFG ramp), whatever the order of the calls.
"""
import comfy.hooks
import torch

from ..sampling.ramps import cosine_ramp, schedule_position


class CosineKeyframes(comfy.hooks.HookKeyframeGroup):
    """Strength at_end · strength at the schedule's last step, at_top · strength at its first."""

    def __init__(self, at_end: float = 1.0, at_top: float = 0.5):
        super().__init__()
        self.at_end, self.at_top = at_end, at_top
        self._sigmas, self._schedule = None, None  # the sampled schedule, read once as floats

    def strength_at(self, sigma: float, schedule) -> float:
        return cosine_ramp(*schedule_position(schedule, sigma), self.at_end, self.at_top)

    def prepare_current_keyframe(self, curr_t, transformer_options) -> bool:
        """Called by ComfyUI before each model call with the call's σ; True when the strength
        changed (ComfyUI then re-patches the weights)."""
        sigmas = transformer_options["sample_sigmas"]
        if sigmas is not self._sigmas:  # one copy off the device per sampling, not per model call
            self._sigmas, self._schedule = sigmas, torch.as_tensor(sigmas).flatten().tolist()
        strength = self.strength_at(float(curr_t), self._schedule)
        if strength == self._current_strength:
            return False
        self._current_keyframe = comfy.hooks.HookKeyframe(strength)
        self._current_strength = strength
        return True

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
