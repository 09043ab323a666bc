"""Thin ComfyUI node classes (V3 schema). They declare inputs and outputs, check them, and call the
adapter; the maths is in ../sampling."""
from .clicks import SDEDragClicks
from .drag import SDEDragPointMover
from .inpaint import SDEInpaint
from .lora_schedule import SDELoraSchedule
from .sde_sampler import SDESamplerEta
from .sdedit import SDEditNoiseDenoise

NODES = [SDEditNoiseDenoise, SDEInpaint, SDEDragPointMover, SDEDragClicks, SDESamplerEta, SDELoraSchedule]
