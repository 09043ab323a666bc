"""What the point editor (web/js) and the server both know, held equal: the bounds of the points text
(adapter/points.py, restated in web/js/sde_drag/points.js so the editor refuses first), and the
widgets each method leaves unread, which the editor reads from the server instead of restating
(adapter/drag.py UNREAD_WIDGETS, served by adapter/routes.py). The stroke painting and the preview's
field are compared in the browser itself (tests/test_browser.py)."""
import os
import re

from sde_edit_pack.adapter import points
from sde_edit_pack.adapter.drag import METHODS, UNREAD_WIDGETS
from sde_edit_pack.adapter.routes import DRAG_EDITOR_ROUTE, drag_editor_settings, register_routes

WEB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web", "js")
LIMITS = ("MAX_TEXT", "MAX_PAIRS", "MAX_STROKES", "MAX_REGION_POINTS", "MIN_BRUSH", "MAX_BRUSH")


def read(*path):
    with open(os.path.join(WEB, *path), encoding="utf-8") as f:
        return f.read()


def test_the_editor_states_the_servers_points_limits():
    stated = {name: float(value) for name, value in
              re.findall(r"^export const (\w+) = ([0-9.]+)\s*$", read("sde_drag", "points.js"), re.M)}
    assert {name: stated.get(name) for name in LIMITS} == {name: float(getattr(points, name)) for name in LIMITS}


def test_the_editor_reads_the_unread_widgets_from_the_server_and_states_none_itself():
    editor = read("drag_point_editor.js")
    assert f"'{DRAG_EDITOR_ROUTE}'" in editor
    named = {name for row in UNREAD_WIDGETS.values() for names in row.values() for name in names}
    assert named == {"steps", "t0", "drag_step", "beta", "alpha", "patch_radius", "handle_region", "warp_space"}
    for name in named:  # no widget of the table is named in the editor's code
        assert not re.search(rf"['\"]{name}['\"]", editor), name
    settings = drag_editor_settings()
    assert set(settings["unread_widgets"]) == set(METHODS)
    assert settings == {"unread_widgets": {m: {k: list(v) for k, v in row.items()} for m, row in UNREAD_WIDGETS.items()}}


def test_without_a_running_server_no_route_is_registered():
    assert register_routes() is False  # the tests' host imports the pack without a server
