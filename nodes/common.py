"""Inputs that several nodes declare the same way."""
import comfy.samplers
from comfy_api.v0_0_2 import io

from ..adapter.checks import InputError, check_choice, check_range
from ..sampling.steppers import ORDERS, STEPPERS

CATEGORY = "sde_edit"
DOCS = "https://github.com/sde-edit/comfyui-sde-edit/blob/main/docs/"  # tooltips link a page by its URL
# float32 copies of the latent batch that one SDEdit / inpainting run holds at once (the loop's x, x0,
# noise, re-injected region and start, ComfyUI's noise and cond/uncond batch), with room to spare:
# the memory figure in docs/limits.md, checked against the device's free memory before any work.
LATENTS_HELD = 16


def seed_input(default=0):
    return io.Int.Input("seed", default=default, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                        tooltip="Seed of ComfyUI's initial noise and of the noise every SDE step draws.")


def eta_input(default=1.0):
    return io.Float.Input("eta", default=default, min=0.0, max=1.0, step=0.01,
                          tooltip="Noise of each step: 1 = SDE (DDPM / ancestral), 0 = ODE (DDIM, deterministic).")


def cfg_input(default=7.0):
    return io.Float.Input("cfg", default=default, min=0.0, max=100.0, step=0.1, round=0.01,
                          tooltip="Classifier-free guidance scale (1 = no guidance, one model call per step).")


def docs_url(page: str) -> str:
    """The repository's URL of docs/<page> (a tooltip is read where the repository's files are not)."""
    return DOCS + page


def order_input():
    """The solver's order: the choices and their names are `sampling.steppers.STEPPERS`'."""
    return io.Int.Input("order", default=ORDERS[0], min=min(ORDERS), max=max(ORDERS),
                        tooltip=" ".join(f"{order}: {STEPPERS[order].name}." for order in ORDERS))


def scheduler_input(default="normal"):
    return io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default=default,
                          tooltip="ComfyUI noise schedule the steps follow.")


def choices_valid(**named):
    """For a node's validate_inputs: True, or the message of the first COMBO value (name=(value,
    options)) that is not one of its options. A value not given (a link) is checked when the node runs.
    ComfyUI 0.3.75 does not check a V3 node's combos when the prompt arrives (later cores do, per input),
    and it attaches validate_inputs' message to every input the function takes: so a node's
    validate_inputs takes one input, and its other combos are checked by execute before any work."""
    try:
        for name, (value, options) in named.items():
            if value is not None:
                check_choice(name, value, options)
    except InputError as e:
        return str(e)
    return True


def check_numbers(node, low_open=(), **values):
    """Each number input named in `values` checked against the min and max its node's schema declares
    (so the bounds are written once, in define_schema), before any work: the error names the input and
    the interval. low_open: inputs whose minimum is excluded (strength: 0 would run nothing)."""
    declared = {i.id: i for i in node.define_schema().inputs}
    for name, value in values.items():
        spec = declared[name]
        check_range(name, value, spec.min, spec.max, low_open=name in low_open)
