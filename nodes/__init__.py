"""Thin ComfyUI node classes (V3 schema). They declare inputs and outputs, check them, and call the
adapter; the maths is in ../sampling."""
from .clicks import SDEDragClicks
from .drag import SDEDragPointMover
from .inpaint import SDEInpaint
from .lora_schedule import SDELoraSchedule
from .reference import ReferenceSceneImage, ReferenceSceneModel, SceneWorldImage
from .scene_model import SceneModelLoader
from .sde_sampler import SDESamplerEta
from .sdedit import SDEditNoiseDenoise

NODES = [SDEditNoiseDenoise, SDEInpaint, SDEDragPointMover, SDEDragClicks, SDESamplerEta, SDELoraSchedule, ReferenceSceneModel,
         ReferenceSceneImage, SceneModelLoader, SceneWorldImage]
