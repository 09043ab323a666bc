from comfy_api.v0_0_2 import io

from ..adapter.checks import InputError, check_hooks, check_lora
from ..adapter.lora_schedule import cosine_lora_hooks
from .common import CATEGORY, check_numbers


class SDELoraSchedule(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SDELoraSchedule",
            display_name="LoRA on SDE-Drag's Cosine Schedule",
            category=CATEGORY,
            description="SDE-Drag's identity LoRA (Nie et al. 2023): a LoRA fine-tuned on the input picture (Train "
                        "LoRA), applied at `strength` near the end of sampling and falling on a cosine to "
                        "`strength_at_t0` at the first step sampled. Attach the HOOKS to the prompts with Cond Pair "
                        "Set Props; every sampler then sees it: SDE-Drag's cycles, SDEdit, SDE Inpaint, KSampler.",
            inputs=[
                io.LoraModel.Input("lora", optional=True, tooltip="Train LoRA's lora output (fine-tuned on the input picture)."),
                io.Hooks.Input("hooks", optional=True, tooltip="Or (and) hooks from Create Hook LoRA: a LoRA file."),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.01,
                               tooltip="The LoRA's strength at the last step (σ near 0). The authors: 1."),
                io.Float.Input("strength_at_t0", default=0.5, min=-10.0, max=10.0, step=0.01,
                               tooltip="Its strength at the first step sampled (t0 of a drag cycle, SDEdit's strength). "
                                       "The authors: 0.5. Between the two it follows half a cosine over the steps."),
            ],
            outputs=[io.Hooks.Output()],
        )

    @classmethod
    def execute(cls, strength, strength_at_t0, lora=None, hooks=None) -> io.NodeOutput:
        check_numbers(cls, strength=strength, strength_at_t0=strength_at_t0)
        check_lora("lora", lora)
        check_hooks("hooks", hooks)
        if lora is None and hooks is None:
            raise InputError("lora or hooks must be connected: Train LoRA's lora, or Create Hook LoRA's hooks")
        return io.NodeOutput(cosine_lora_hooks(lora, hooks, strength, strength_at_t0))
