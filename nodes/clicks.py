from comfy_api.v0_0_2 import io

from ..adapter.clicks import clicks_from_points, points_of_reached_drag
from .common import CATEGORY


class SDEDragClicks(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SDEDragClicks",
            display_name="SDE-Drag Points as Clicks",
            category=CATEGORY,
            description="The drag's source points as a segmenter's clicks, [{\"x\": int, \"y\": int}, ...] in image "
                        "pixels (SAM3 Detect's positive_coords): placing a handle in the SDE-Drag point editor also "
                        "selects the object under it, and the mask goes to the drag's region input.",
            inputs=[
                io.String.Input("points", default="", multiline=False,
                                tooltip="Empty (the default): the points of the SDE-Drag Point Mover this node's "
                                        "clicks reach (the editor fills this in when the workflow is queued). Or "
                                        "drag points typed here, as in the SDE-Drag node."),
            ],
            outputs=[io.String.Output(display_name="positive_coords",
                                      tooltip="One click per source point, for SAM3 Detect's positive_coords.")],
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],
        )

    @classmethod
    def fingerprint_inputs(cls, points=""):
        # ComfyUI's cache key holds the inputs but not the prompt: read from the drag node (empty text),
        # the clicks could be stale, so that case always runs (it costs a JSON parse).
        return float("nan") if not str(points or "").strip() else points

    @classmethod
    def execute(cls, points="") -> io.NodeOutput:
        text = points if str(points or "").strip() else points_of_reached_drag(cls.hidden.prompt, cls.hidden.unique_id)
        return io.NodeOutput(clicks_from_points(text))
