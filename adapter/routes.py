"""What the point editor (web/js/drag_point_editor.js) reads from the server instead of restating it:
GET /sde_edit/drag_editor answers {"unread_widgets": adapter.drag.UNREAD_WIDGETS}, the widgets each
drag method leaves unread (the editor greys them out). Registered on ComfyUI's own route table
(server.PromptServer.instance.routes, the public way custom nodes add routes) when the pack is loaded
by a running server; imported elsewhere (the tests' in-process host), there is no server and nothing
is registered."""
import sys

from .drag import UNREAD_WIDGETS

DRAG_EDITOR_ROUTE = "/sde_edit/drag_editor"


def drag_editor_settings() -> dict:
    return {"unread_widgets": {method: {when: list(names) for when, names in row.items()}
                               for method, row in UNREAD_WIDGETS.items()}}


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
