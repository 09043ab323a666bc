"""Thin ComfyUI node classes (V3 schema). They declare inputs and outputs, check them, and call the
adapter; the maths is in ../sampling."""
from .inpaint import SDEInpaint
from .reference import ReferenceSceneImage, ReferenceSceneModel
from .sde_sampler import SDESamplerEta
from .sdedit import SDEditNoiseDenoise

NODES = [SDEditNoiseDenoise, SDEInpaint, SDESamplerEta, ReferenceSceneModel, ReferenceSceneImage]
