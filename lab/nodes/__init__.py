"""The lab's ComfyUI nodes: the evaluation stand-ins (the closed-form reference scene model and its
pictures, the scene models trained here and their world's pictures). Registered by the lab's own
custom-node package (../__init__.py), never by the editing pack; their ids carry the prefix
`SDEEditLab`, so they share no name with other packs in ComfyUI's node-id namespace."""
from comfy_api.v0_0_2 import ComfyExtension, io

from .reference import ReferenceSceneImage, ReferenceSceneModel, SceneWorldImage
from .scene_model import SceneModelLoader

LAB_NODES = [ReferenceSceneModel, ReferenceSceneImage, SceneModelLoader, SceneWorldImage]
PREFIX = "SDEEditLab"
CATEGORY = "sde_edit_lab"


class LabExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(LAB_NODES)
