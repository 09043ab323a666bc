"""SDE image editing for ComfyUI: SDEdit, SDE inpainting and SDE-Drag on one shared SDE sampler.

Loaded by ComfyUI as a custom node pack through the V3 entry point below (comfy_api v0.0.2: the one
versioned API name that 0.3.75, 0.33 and newer cores all have; docs/test_host.md says why).
"""
from comfy_api.v0_0_2 import ComfyExtension, io

from .adapter.routes import register_routes
from .nodes import NODES

WEB_DIRECTORY = "./web"
register_routes()  # what the point editor reads from the server (a running ComfyUI only)


class SDEEditExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> SDEEditExtension:
    return SDEEditExtension()
