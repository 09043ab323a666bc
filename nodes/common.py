"""Inputs that several nodes declare the same way."""
import comfy.samplers
from comfy_api.v0_0_2 import io

CATEGORY = "sde_edit"


def seed_input(default=0):
    return io.Int.Input("seed", default=default, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                        tooltip="Seed of ComfyUI's initial noise and of the noise every SDE step draws.")


def eta_input(default=1.0):
    return io.Float.Input("eta", default=default, min=0.0, max=1.0, step=0.01,
                          tooltip="Noise of each step: 1 = SDE (DDPM / ancestral), 0 = ODE (DDIM, deterministic).")


def cfg_input(default=7.0):
    return io.Float.Input("cfg", default=default, min=0.0, max=100.0, step=0.1, round=0.01,
                          tooltip="Classifier-free guidance scale (1 = no guidance, one model call per step).")


def scheduler_input(default="normal"):
    return io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default=default,
                          tooltip="ComfyUI noise schedule the steps follow.")
