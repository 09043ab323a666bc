"""What the point editor (web/js/drag_point_editor.js) reads from the server instead of restating it:
GET /sde_edit/drag_editor answers {"unread_widgets": {method: {"always": [...], "with_region": [...]}}},
the widgets each drag method (adapter/drag_methods.METHODS) leaves unread (the editor greys them out).
Registered on ComfyUI's own route table (server.PromptServer.instance.routes, the public way custom nodes
add routes) when the pack is loaded by a running server; imported elsewhere (the tests' in-process host), there is no server and nothing
is registered."""
import sys

from .drag_methods import METHODS

DRAG_EDITOR_ROUTE = "/sde_edit/drag_editor"


def drag_editor_settings() -> dict:
    return {"unread_widgets": {name: {"always": list(method.unread), "with_region": list(method.unread_with_region)}
                               for name, method in METHODS.items()}}


def register_routes() -> bool:
    """Add the route to the running server's table; False where there is no server (nothing to serve).
    ComfyUI's main imports `server` and makes its PromptServer before it loads custom nodes; the module
    is looked up, not imported, so that loading the pack without a server starts nothing."""
    server = sys.modules.get("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is None:
        return False
    from aiohttp import web

    @instance.routes.get(DRAG_EDITOR_ROUTE)
    async def drag_editor(request):
        return web.json_response(drag_editor_settings())

    return True
