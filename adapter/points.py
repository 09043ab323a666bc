"""Drag points: the JSON a person types (or the web editor writes), checked against the image, and
mapped to latent pixels with the model's (or the VAE's) downscale factor."""
import functools
import json
import math
from typing import NamedTuple

from .checks import InputError

FORMAT = '{"source": [[x, y], ...], "target": [[x, y], ...]} in image pixels'
MAX_PAIRS = 32  # after merging identical pairs: each paste can scale a patch by alpha once more
MAX_TEXT = 500_000  # characters; a longer string is not MAX_PAIRS points and MAX_REGION_POINTS brush points
MAX_STROKES = 500  # painted region: brush strokes, and points over all strokes (paint work stays bounded)
MAX_REGION_POINTS = 20_000
MIN_BRUSH, MAX_BRUSH = 0.5, 1024  # brush radius, image pixels
# The point editor checks the same bounds before the server does (web/js/sde_drag/points.js states them;
# tests/test_editor_twins.py holds the two equal).

# Image pixels per latent pixel, by ComfyUI latent format, where it is not the usual 8 (a newer
# ComfyUI states it on the format itself as `spacial_downscale_ratio`, which is read first): the
# downscale_ratio of the family's VAE in comfy/sd.py (SD_X4: the x4 upscaler's VAE; HunyuanImage21Refiner:
# its 16x video VAE), or of its empty-latent node (Stable Cascade's default compression 42 for stage C).
DOWNSCALE = {"ChromaRadiance": 1, "Flux2": 16, "HunyuanImage21": 32, "HunyuanImage21Refiner": 16, "SC_Prior": 42,
             "SC_B": 4, "SD_X4": 4}


def downscale_factor(model, vae=None) -> int:
    """From the VAE when one is given (it is what decodes the latent), else from the latent format."""
    ratio = getattr(vae, "downscale_ratio", None) if vae is not None else None
    if isinstance(ratio, (tuple, list)):  # video VAEs: (temporal, height, width)
        ratio = ratio[-1]
    if isinstance(ratio, (int, float)) and ratio > 0:
        return int(ratio)
    fmt = model.get_model_object("latent_format")
    if type(fmt).__name__ in DOWNSCALE:  # newer cores give every format a default of 8 (SD_X4's VAE is 4x)
        return DOWNSCALE[type(fmt).__name__]
    ratio = getattr(fmt, "spacial_downscale_ratio", None)
    return int(ratio) if ratio else 8


def _load(name: str, text: str):
    """The points JSON object, or None for empty text or JSON null (no points)."""
    if text is None or not str(text).strip():
        return None
    if not isinstance(text, str):
        raise InputError(f"{name} must be a string: {FORMAT}")
    if len(text) > MAX_TEXT:
        raise InputError(f"{name} is {len(text)} characters long; at most {MAX_TEXT} are read (up to {MAX_PAIRS} pairs: {FORMAT})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{name} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); expected {FORMAT}") from None
    except (RecursionError, ValueError) as e:  # nesting too deep; a number of thousands of digits
        raise InputError(f"{name} cannot be read as points ({type(e).__name__}: {str(e)[:120]}); expected {FORMAT}") from None
    return data


class DragPoints(NamedTuple):
    pairs: tuple  # ((sx, sy), (tx, ty)), ... in image pixels (`parse_points`)
    strokes: tuple  # the region painted in the point editor (`parse_region`)


def read_points(name: str, text) -> DragPoints:
    """The points text read once per prompt: the node's validate_inputs (when the prompt arrives) and its
    run (a separate call) share one parse of the same text (an immutable result, cached by the text)."""
    if isinstance(text, str):
        return _read_text(name, text)
    return _read(name, text)


@functools.lru_cache(maxsize=8)
def _read_text(name: str, text: str) -> DragPoints:
    return _read(name, text)


def _read(name: str, text) -> DragPoints:
    data = _load(name, text)
    pairs, strokes = point_pairs(name, data), region_strokes(name, data)
    return DragPoints(tuple(pairs), tuple((radius, erase, tuple(path)) for radius, erase, path in strokes))


def parse_points(name: str, text: str):
    """[((sx, sy), (tx, ty)), ...] from the JSON string; empty text or empty lists mean no points."""
    return point_pairs(name, _load(name, text))


def point_pairs(name: str, data):
    """`parse_points` of the loaded JSON (None: no points)."""
    if data is None:
        return []
    if not isinstance(data, dict) or not {"source", "target"} <= set(data):
        raise InputError(f"{name} must be an object with 'source' and 'target' lists: {FORMAT}")
    source, target = data["source"], data["target"]
    if not isinstance(source, list) or not isinstance(target, list):
        raise InputError(f"{name}: 'source' and 'target' must be lists of [x, y] points: {FORMAT}")
    if len(source) != len(target):
        raise InputError(f"{name} has {len(source)} source and {len(target)} target points; each source point needs "
                         f"exactly one target")

    def point(p, role, i):
        ok = (isinstance(p, (list, tuple)) and len(p) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p))
        if not ok:
            raise InputError(f"{name}: {role} point {i + 1} is {json.dumps(p)}; a point is [x, y] with two finite numbers")
        return float(p[0]), float(p[1])

    pairs = [(point(s, "source", i), point(t, "target", i)) for i, (s, t) in enumerate(zip(source, target))]
    pairs = list(dict.fromkeys(pairs))  # identical pairs count once (pasting one patch twice only rescales it)
    if len(pairs) > MAX_PAIRS:
        raise InputError(f"{name} has {len(pairs)} different pairs; at most {MAX_PAIRS} are allowed")
    return pairs


def parse_region(name: str, text: str):
    """The region painted in the point editor: the points object's optional "region" list of brush
    strokes {"radius": r, "path": [[x, y], ...], "erase": false} in image pixels, as
    [(radius, erase, [(x, y), ...])] for `sampling.masks.paint_strokes`; [] when there is none (no
    "region", or "region": null)."""
    return region_strokes(name, _load(name, text))


def region_strokes(name: str, data):
    """`parse_region` of the loaded JSON."""
    strokes = data.get("region") if isinstance(data, dict) else None
    if strokes is None:  # no "region", or "region": null, as `points` null: no painted region
        strokes = []
    if not isinstance(strokes, list):
        raise InputError(f"{name}: 'region' must be a list of brush strokes "
                         f'{{"radius": r, "path": [[x, y], ...], "erase": false}}, got {type(strokes).__name__}')
    if len(strokes) > MAX_STROKES:
        raise InputError(f"{name}: 'region' has {len(strokes)} brush strokes; at most {MAX_STROKES} are allowed")

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    out, total = [], 0
    for i, stroke in enumerate(strokes):
        where = f"{name}: region stroke {i + 1}"
        if not isinstance(stroke, dict) or not isinstance(stroke.get("path"), list) or not stroke["path"]:
            raise InputError(f'{where} must be {{"radius": r, "path": [[x, y], ...], "erase": false}} with at least one point')
        radius, erase = stroke.get("radius"), stroke.get("erase", False)
        if not number(radius) or not MIN_BRUSH <= radius <= MAX_BRUSH:
            raise InputError(f"{where}: radius must be a finite number in [{MIN_BRUSH}, {MAX_BRUSH}] image pixels, "
                             f"got {json.dumps(radius)}")
        if not isinstance(erase, bool):
            raise InputError(f"{where}: erase must be true or false, got {json.dumps(erase)}")
        path = stroke["path"]
        total += len(path)
        if total > MAX_REGION_POINTS:
            raise InputError(f"{name}: 'region' has more than {MAX_REGION_POINTS} brush points in all")
        for j, p in enumerate(path):
            if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(number(v) for v in p)):
                raise InputError(f"{where}: point {j + 1} is {json.dumps(p)}; a point is [x, y] with two finite numbers")
        out.append((float(radius), erase, [(float(x), float(y)) for x, y in path]))
    return out


def check_inside(name: str, pairs, width: int, height: int, image: str = "the image"):
    """Every point within the image of width × height pixels: 0 ≤ x < width, 0 ≤ y < height. image: what
    the size comes from, for the message (a point outside may as well mean the wrong latent)."""
    for i, pair in enumerate(pairs):
        for role, (x, y) in zip(("source", "target"), pair):
            if not (0 <= x < width and 0 <= y < height):
                raise InputError(f"{name}: {role} point {i + 1} ({x:g}, {y:g}) is outside {image}, which is "
                                 f"{width}x{height} pixels (x in [0, {width}), y in [0, {height}))")


def to_latent(pairs, factor: int):
    """Image pixel p → the latent coordinate of its centre, (p + ½)/factor − ½, which rounds to the
    latent pixel that contains it (p // factor)."""
    def c(p):
        return (p + 0.5) / factor - 0.5
    return [((c(sx), c(sy)), (c(tx), c(ty))) for (sx, sy), (tx, ty) in pairs]
