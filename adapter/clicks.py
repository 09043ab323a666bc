"""The drag's own source points as a segmenter's clicks (SAM3_Detect's positive_coords): one click
places a handle and selects the object it sits on.

The points live in the SDE-Drag node's `points` widget, and the mask the clicks make flows into that
same node's `region`: a link from the drag node would be a cycle. So the clicks node reads them from
the prompt: it walks downstream from itself to the one SDE-Drag node its output reaches."""
import json

from .checks import InputError
from .points import parse_points

DRAG_CLASS = "SDEDragPointMover"


def _is_link(value, prompt):
    return isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt


def drag_nodes_reached(prompt: dict, start: str):
    """Ids of the SDE-Drag nodes reached by following links downstream from `start` (breadth first);
    a drag node ends its path (one fed by a drag's output is another edit, not where the mask goes)."""
    consumers = {}
    for node_id, entry in prompt.items():
        for value in (entry.get("inputs") or {}).values():
            if _is_link(value, prompt):
                consumers.setdefault(str(value[0]), set()).add(str(node_id))
    found, seen, queue = [], {start}, [start]
    while queue:
        for node_id in sorted(consumers.get(queue.pop(0), ())):
            if node_id in seen:
                continue
            seen.add(node_id)
            if prompt[node_id].get("class_type") == DRAG_CLASS:
                found.append(node_id)
            else:
                queue.append(node_id)
    return sorted(found)


def points_of_reached_drag(prompt, node_id):
    """The literal `points` text of the one SDE-Drag node downstream of `node_id` in the API prompt."""
    if not isinstance(prompt, dict) or node_id is None or str(node_id) not in prompt:
        raise InputError("points: empty, and the prompt is not available to find the SDE-Drag node it feeds; "
                         "type the drag points here")
    reached = drag_nodes_reached(prompt, str(node_id))
    if not reached:
        raise InputError("points: empty, and this node's output reaches no SDE-Drag Point Mover (connect the mask "
                         "made from these clicks to its region input), so there are no drag points to read; type "
                         "them here or connect the mask")
    if len(reached) > 1:
        raise InputError(f"points: empty, and this node's output reaches {len(reached)} SDE-Drag Point Mover nodes "
                         f"({', '.join(reached)}); which one's points are the clicks is ambiguous: type the points "
                         "here, or use one clicks node per drag node")
    text = prompt[reached[0]]["inputs"].get("points")
    if not isinstance(text, str):
        raise InputError(f"points: empty, and the points of the SDE-Drag node {reached[0]} come from a link, not "
                         "its own widget; type the points here")
    return text


def clicks_from_points(text: str) -> str:
    """SAM3_Detect's positive_coords: '[{"x": int, "y": int}, ...]', one click per source point, in the
    image pixels the points are written in (the picture SAM gets is the one VAE Encode encodes)."""
    pairs = parse_points("points", text)
    if not pairs:
        raise InputError("points has no source points: place a drag handle on the object in the SDE-Drag point "
                         "editor (its source point is the click)")
    clicks = [{"x": int(round(sx)), "y": int(round(sy))} for (sx, sy), _ in pairs]
    return json.dumps(list({(c["x"], c["y"]): c for c in clicks}.values()))
