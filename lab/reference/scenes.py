"""A small procedurally generated reference scene set, and rough stroke paintings of it.

Every scene is a ball on a sky-over-grass background; the set holds every ball colour at every
position of a grid, so the true position of the object in any reference image is known (inpainting
and drag benchmarks use that). Images are (N, 3, H, W) in [0, 1], channels first.
"""
from dataclasses import dataclass

import torch

SIZE = 64
RADIUS = 7
GRID = tuple(range(12, 53, 4))  # ball centres, in pixels, along x and along y
COLOURS = {"red": (0.85, 0.15, 0.12), "blue": (0.15, 0.3, 0.85)}
SKY_TOP, SKY_BOTTOM = (0.45, 0.65, 0.95), (0.8, 0.88, 0.98)
GRASS_TOP, GRASS_BOTTOM = (0.3, 0.6, 0.25), (0.15, 0.4, 0.12)
HORIZON = 0.6  # fraction of the height where grass starts


@dataclass(frozen=True)
class Scene:
    x: int
    y: int
    colour: str


def _mix(top, bottom, t):
    top, bottom = torch.tensor(top)[:, None, None], torch.tensor(bottom)[:, None, None]
    return top + (bottom - top) * t


def background(size: int = SIZE):
    rows = torch.linspace(0, 1, size)[None, :, None].expand(1, size, size)
    horizon = int(size * HORIZON)
    sky = _mix(SKY_TOP, SKY_BOTTOM, rows / HORIZON)
    grass = _mix(GRASS_TOP, GRASS_BOTTOM, (rows - HORIZON) / (1 - HORIZON))
    img = sky.clone()
    img[:, horizon:] = grass[:, horizon:]
    return img


def render(scene: Scene, size: int = SIZE, radius: float = RADIUS):
    """One scene: a shaded ball (lit from the top left), anti-aliased edge."""
    img = background(size)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    d = ((xs - scene.x) ** 2 + (ys - scene.y) ** 2).sqrt()
    cover = (radius + 0.5 - d).clamp(0, 1)
    light = 1.15 - 0.35 * ((xs - scene.x + radius / 2) ** 2 + (ys - scene.y + radius / 2) ** 2).sqrt() / radius
    ball = torch.tensor(COLOURS[scene.colour])[:, None, None] * light.clamp(0.5, 1.2)
    return (img * (1 - cover) + ball * cover).clamp(0, 1)


def all_scenes():
    return [Scene(x, y, c) for c in COLOURS for y in GRID for x in GRID]


def reference_images(size: int = SIZE):
    """(N, 3, size, size) in [0, 1] and the list of scenes they show."""
    scenes = all_scenes()
    scale = size / SIZE
    imgs = torch.stack([render(Scene(round(s.x * scale), round(s.y * scale), s.colour), size, RADIUS * scale) for s in scenes])
    return imgs, scenes


def stroke_painting(x: int = 30, y: int = 26, colour: str = "red", size: int = SIZE):
    """A rough painting of a scene: flat colours, a square blob for the ball, a wobbly horizon.

    Like the stroke inputs of SDEdit: right layout and colours, none of the detail."""
    img = torch.empty(3, size, size)
    img[:] = torch.tensor([0.55, 0.72, 0.95])[:, None, None]
    cols = torch.arange(size)
    horizon = (size * HORIZON + 2.5 * torch.sin(cols / 5.0)).round().long()
    for c in range(size):
        img[:, horizon[c]:, c] = torch.tensor([0.25, 0.55, 0.2])[:, None]
    half = RADIUS
    img[:, max(y - half, 0):y + half, max(x - half, 0):x + half] = torch.tensor(COLOURS[colour])[:, None, None]
    return img


def to_latent(images):
    """[0, 1] images → the [-1, 1] latent of ComfyUI's pixel_space VAE."""
    return images * 2 - 1


def to_image(latents):
    return ((latents + 1) / 2).clamp(0, 1)


# ---- The drag benchmark's object set: every pixel position, two object kinds ---------------------
# The ball scenes above sit on a 4-px grid, so an exact model snaps a drag to the grid and sub-steps
# shorter than 4 px cannot be judged. Here the object's centre may be at every pixel of a square of
# positions, and there are two kinds that differ in shape and texture (a shaded ball and a striped
# box), each in both colours, so a drag's identity can be scored from the nearest reference.
OBJECT_SIZE = 32
OBJECT_RADIUS = 4
OBJECT_POSITIONS = tuple(range(6, 26))  # every pixel; the object stays 2 px inside the frame
OBJECT_KINDS = ("ball", "box")


@dataclass(frozen=True)
class Thing:
    x: int
    y: int
    kind: str
    colour: str


def render_thing(thing: Thing, size: int = OBJECT_SIZE, radius: int = OBJECT_RADIUS):
    """One object scene. Pixel i covers [i, i + 1), so both kinds are centred exactly on (x, y): a
    (2r)×(2r) window around the integer point (x, y) (`drag.windows`) holds the whole object."""
    img = background(size)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    colour = torch.tensor(COLOURS[thing.colour])[:, None, None]
    if thing.kind == "ball":
        d = ((xs - thing.x) ** 2 + (ys - thing.y) ** 2).sqrt()
        cover = (radius + 0.5 - d).clamp(0, 1)
        light = 1.15 - 0.35 * ((xs - thing.x + radius / 2) ** 2 + (ys - thing.y + radius / 2) ** 2).sqrt() / radius
        paint = colour * light.clamp(0.5, 1.2)
    elif thing.kind == "box":
        cover = (((xs - thing.x).abs() < radius) & ((ys - thing.y).abs() < radius)).float()
        stripe = ((ys - thing.y + radius).floor() % 2 == 1).float()  # one-pixel rows, light and dark
        paint = colour * (1.0 - 0.45 * stripe)
    else:
        raise ValueError(f"object kind must be one of {OBJECT_KINDS}, got {thing.kind!r}")
    return (img * (1 - cover) + paint * cover).clamp(0, 1)


def all_things(positions=OBJECT_POSITIONS):
    return [Thing(x, y, k, c) for k in OBJECT_KINDS for c in COLOURS for y in positions for x in positions]


def object_images(size: int = OBJECT_SIZE):
    """(N, 3, size, size) in [0, 1] for every object at every position, and the list of things."""
    things = all_things()
    return torch.stack([render_thing(t, size) for t in things]), things


def object_centres(images, size: int = OBJECT_SIZE, threshold: float = 0.25):
    """(B, 2) centroid (x, y) of the pixels that differ from the empty background by more than
    `threshold` in some channel, in continuous coordinates (pixel i covers [i, i + 1)), so an
    object rendered at (x, y) gives (x, y). NaN where there is no object."""
    shown = (images - background(size)).abs().amax(1) > threshold
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    n = shown.flatten(1).sum(1).float()
    return torch.stack([(shown * xs).flatten(1).sum(1) / n, (shown * ys).flatten(1).sum(1) / n], 1)
