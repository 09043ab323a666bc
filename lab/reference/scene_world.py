"""A richer scene world for training and judging a learned model: one to three objects of three kinds
(a shaded ball, a box, an elongated bar whose orientation can be read) in four colours, sizes from a
few pixels to a quarter of the image, on a sky-over-ground background whose horizon height, sky,
ground and lighting vary; objects lower in the picture stand nearer and hide what is behind them.

Every image keeps its parameters (`World`, a list of `Obj`) and a caption ("a red ball left of a
blue bar on grass"). `split()` makes the train split and a held-out split: scenes that contain a
(kind, colour, ground) combination the train split never shows, plus fresh draws.

Images are (N, 3, S, S) in [0, 1], channels first; pixel i covers [i, i + 1). No ComfyUI import.

Two resolutions are drawn. At 32×32 (the pixel model's world) objects span 1/6 to 1/2 of the picture.
At any other size S (128 for the latent model, whose VAE sees what an SD VAE sees: objects many
pixels wide) objects span 1/10 to 1/3 of the picture, the horizon lies on a multiple of S/32 and
every length that draws an edge (a bar's least half width, the shading's falloff) scales with S/32,
so a picture at S averaged down by 2 is, up to anti-aliasing, the same world drawn at S/2.
"""
import math
import random
from dataclasses import dataclass, field, replace

import torch

SIZE = 32
KINDS = ("ball", "box", "bar")
COLOURS = {"red": (0.85, 0.15, 0.12), "blue": (0.15, 0.3, 0.85), "yellow": (0.95, 0.82, 0.12), "purple": (0.55, 0.2, 0.7)}
SKIES = {"day": ((0.45, 0.65, 0.95), (0.8, 0.88, 0.98)), "dusk": ((0.55, 0.45, 0.7), (0.98, 0.7, 0.5)),
         "overcast": ((0.62, 0.64, 0.68), (0.82, 0.83, 0.85))}
GROUNDS = {"grass": ((0.3, 0.6, 0.25), (0.15, 0.4, 0.12)), "sand": ((0.85, 0.76, 0.55), (0.7, 0.6, 0.4)),
           "snow": ((0.95, 0.96, 0.98), (0.82, 0.85, 0.9))}
SIZE_RANGE = (2.5, 8.0)  # at 32: an object's size s: a ball's radius, a box's half side, a bar's half length
HORIZON_ROWS = (12, 24)  # the first ground row, inclusive range, in units of S/32
BRIGHTNESS = (0.8, 1.1)
MIN_VISIBLE = 0.6  # every object keeps at least this share of its area in view
# Combinations the train split never shows: a scene holding one of these objects is held out.
HELD_OUT = (("bar", "yellow", "snow"), ("ball", "purple", "sand"), ("box", "blue", "grass"))


@dataclass(frozen=True)
class Obj:
    kind: str
    colour: str
    x: float  # centre, pixels
    y: float
    size: float
    angle: float = 0.0  # a bar's orientation in radians, in [0, π); 0 = horizontal. Others: 0


@dataclass(frozen=True)
class World:
    objects: tuple  # of Obj, in drawing order (far to near: increasing y)
    sky: str = "day"
    ground: str = "grass"
    horizon: int = 19  # first ground row
    brightness: float = 1.0
    light: float = -1.0  # light from the left (−1) .. right (+1); shades every object
    size: int = SIZE
    caption: str = field(default="", compare=False)


def size_range(size: int = SIZE):
    """(least, largest) object size s in a picture of `size` pixels: SIZE_RANGE at 32; elsewhere an
    object spans 1/10 to 1/3 of the picture (s is half that)."""
    return SIZE_RANGE if size == SIZE else (size / 20, size / 6)


def unit(size: int = SIZE):
    """Pixels per pixel of the 32×32 world: the scale of every drawn length."""
    return size / SIZE


def bar_half_width(length, size: int = SIZE):
    return max(1.25 * unit(size), 0.3 * length)


def _grid(size):
    return torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")


def coverage(obj: Obj, size: int = SIZE, ys=None, xs=None):
    """(S, S) anti-aliased coverage of one object, in [0, 1]. Works on tensors of parameters too
    (x, y, size, angle as 0-d tensors), so a parser can fit them by gradient descent."""
    if ys is None:
        ys, xs = _grid(size)
    dx, dy = xs - obj.x, ys - obj.y
    if obj.kind == "ball":
        signed = (dx * dx + dy * dy + 1e-9).sqrt() - obj.size
    elif obj.kind == "box":
        signed = torch.maximum(dx.abs(), dy.abs()) - obj.size
    elif obj.kind == "bar":
        c, s = torch.cos(torch.as_tensor(obj.angle)), torch.sin(torch.as_tensor(obj.angle))
        u, v = dx * c + dy * s, -dx * s + dy * c
        signed = torch.maximum(u.abs() - obj.size, v.abs() - bar_half_width(obj.size, size))
    else:
        raise ValueError(f"object kind must be one of {KINDS}, got {obj.kind!r}")
    return (0.5 - signed).clamp(0, 1)


def background(world: World):
    size = world.size
    rows = (torch.arange(size) + 0.5)[None, :, None].expand(1, size, size)
    h = world.horizon
    sky_top, sky_bottom = (torch.tensor(c)[:, None, None] for c in SKIES[world.sky])
    ground_top, ground_bottom = (torch.tensor(c)[:, None, None] for c in GROUNDS[world.ground])
    sky = sky_top + (sky_bottom - sky_top) * (rows / h)
    ground = ground_top + (ground_bottom - ground_top) * ((rows - h) / (size - h))
    img = torch.where(rows < h, sky, ground)
    return img * world.brightness


def paint(obj: Obj, world: World, ys=None, xs=None):
    """(3, S, S) the object's colour with its shading: lit from the side `world.light` says and from
    above, darker away from the light, so a ball looks round and a bar's ends differ."""
    if ys is None:
        ys, xs = _grid(world.size)
    colour = torch.tensor(COLOURS[obj.colour])[:, None, None]
    lx, ly = 0.8 * world.light, -0.6
    shade = 1.0 + 0.25 * ((xs - obj.x) * lx + (ys - obj.y) * ly) / (torch.as_tensor(obj.size) + 2.0 * unit(world.size))
    return colour * shade.clamp(0.6, 1.3) * world.brightness


def render(world: World):
    """(3, S, S) in [0, 1]."""
    ys, xs = _grid(world.size)
    img = background(world)
    for obj in world.objects:
        cover = coverage(obj, world.size, ys, xs)
        img = img * (1 - cover) + paint(obj, world, ys, xs) * cover
    return img.clamp(0, 1)


def render_all(worlds):
    return torch.stack([render(w) for w in worlds])


def caption(objects, ground, sky="day"):
    """Objects named left to right: 'a red ball on grass', 'a red ball left of a blue bar on sand',
    'a red ball, a blue bar and a yellow box on snow'; ', at dusk' / ', overcast' for the sky."""
    names = [f"a {o.colour} {o.kind}" for o in sorted(objects, key=lambda o: o.x)]
    if len(names) == 1:
        text = names[0]
    elif len(names) == 2:
        text = f"{names[0]} left of {names[1]}"
    else:
        text = f"{', '.join(names[:-1])} and {names[-1]}"
    text += f" on {ground}"
    return text + {"day": "", "dusk": ", at dusk", "overcast": ", overcast"}[sky]


def _visible_shares(objects, size):
    ys, xs = _grid(size)
    covers = [coverage(o, size, ys, xs) for o in objects]
    shares = []
    for i, c in enumerate(covers):
        seen = c.clone()
        for d in covers[i + 1:]:
            seen = seen * (1 - d)
        shares.append(float(seen.sum() / c.sum().clamp_min(1e-6)))
    return shares


def random_object(rng: random.Random, kind=None, colour=None, size: int = SIZE):
    kind = kind or rng.choice(KINDS)
    colour = colour or rng.choice(list(COLOURS))
    s = rng.uniform(*size_range(size))
    angle = rng.uniform(0, math.pi) if kind == "bar" else 0.0
    reach = s if kind != "box" else s
    x = rng.uniform(reach + 1, size - reach - 1)
    y = rng.uniform(reach + 1, size - reach - 1)
    return Obj(kind, colour, round(x, 2), round(y, 2), round(s, 2), round(angle, 3))


def random_world(rng: random.Random, count=None, size: int = SIZE, tries: int = 100):
    """One scene: 1–3 objects of distinct colours, none hidden by more than 1 − MIN_VISIBLE."""
    count = count or rng.choice((1, 1, 2, 2, 3))
    sky, ground = rng.choice(list(SKIES)), rng.choice(list(GROUNDS))
    for _ in range(tries):
        colours = rng.sample(list(COLOURS), count)
        objects = sorted((random_object(rng, colour=c, size=size) for c in colours), key=lambda o: o.y)
        if min(_visible_shares(objects, size)) >= MIN_VISIBLE:
            break
    else:
        objects = objects[:1]
    horizon = rng.randint(*HORIZON_ROWS) * size // SIZE
    return World(tuple(objects), sky, ground, horizon, round(rng.uniform(*BRIGHTNESS), 3),
                 round(rng.uniform(-1, 1), 3), size, caption(objects, ground, sky))


def is_held_out(world: World):
    return any((o.kind, o.colour, world.ground) in HELD_OUT for o in world.objects)


def split(n_train: int, n_held_out: int, seed: int = 0, size: int = SIZE):
    """(train worlds, held-out worlds): the train split has no HELD_OUT combination; the held-out
    split is half scenes with one (never seen in training), half fresh draws without."""
    rng = random.Random(seed)
    train, unseen, fresh = [], [], []
    while len(train) < n_train or len(unseen) < n_held_out - n_held_out // 2 or len(fresh) < n_held_out // 2:
        w = random_world(rng, size=size)
        if is_held_out(w):
            if len(unseen) < n_held_out - n_held_out // 2:
                unseen.append(w)
        elif len(train) < n_train:
            train.append(w)
        elif len(fresh) < n_held_out // 2:
            fresh.append(w)
    return train, unseen + fresh


def stroke_painting(world: World):
    """A rough painting of a scene, as the strokes SDEdit starts from: flat sky and ground colours, a
    wobbly horizon, every object a flat blob of its colour (a ball painted as a square, a bar twice
    as thick), no shading or lighting."""
    size = world.size
    ys, xs = _grid(size)
    sky = torch.tensor(SKIES[world.sky]).mean(0)[:, None, None]
    ground = torch.tensor(GROUNDS[world.ground]).mean(0)[:, None, None]
    horizon = world.horizon + 1.5 * unit(size) * torch.sin(xs / (4.0 * unit(size)))
    img = torch.where(ys < horizon, sky, ground).clone()
    for obj in world.objects:
        blob = replace(obj, kind="box") if obj.kind == "ball" else obj
        if obj.kind == "bar":
            blob_cover = coverage(obj, size, ys, xs) + coverage(replace(obj, size=obj.size + unit(size)), size, ys, xs)
        else:
            blob_cover = coverage(blob, size, ys, xs)
        paint_mask = blob_cover >= 0.5
        img = torch.where(paint_mask, torch.tensor(COLOURS[obj.colour])[:, None, None], img)
    return img


def object_mask(world: World, index: int = -1, threshold: float = 0.5):
    """(S, S) float mask of one object's visible pixels (default: the nearest)."""
    ys, xs = _grid(world.size)
    covers = [coverage(o, world.size, ys, xs) for o in world.objects]
    seen = covers[index].clone()
    for c in covers[index + 1 if index >= 0 else len(covers) + index + 1:]:
        seen = seen * (1 - c)
    return (seen >= threshold).float()


def rescaled(world: World, size: int):
    """The same world drawn at `size` pixels: every position and length scaled (the horizon rounded)."""
    f = size / world.size
    objects = tuple(replace(o, x=o.x * f, y=o.y * f, size=o.size * f) for o in world.objects)
    return replace(world, objects=objects, horizon=round(world.horizon * f), size=size)
