"""Reading a picture of the scene world back into its parameters, and a realism score that does not
reward copying.

`parse(image)` fits a `scene_world.World` to any (3, S, S) image in [0, 1]:
1. background: the sky, ground, horizon row and brightness whose render agrees with the most pixels;
2. objects: pixels far from that background, split by their nearest palette colour and into
   4-connected components; each component's moments give a first guess (centre, size, the major
   axis's angle, elongation → bar, corner reach → box or ball);
3. analysis by synthesis: the guesses are refined by gradient descent on the squared difference
   between the image and the world's own renderer (`scene_world.render`), each plausible kind tried,
   the better fit kept.
`residual` is the RMS of image − render(parse(image)): 0 on a render, the noise level on a noisy one,
large on an image that is no scene of the world. `nearest_distance` is the RMS to the closest image
of a set (copying shows as a distance below the held-out split's).
"""
import math
from dataclasses import dataclass, replace

import torch

from . import scene_world as sw

FOREGROUND = 0.12  # a pixel this far (max over channels) from the fitted background is an object's
CLEAR_CHROMA = 0.97  # cosine between a pixel's colour and its palette colour
MIN_PIXELS = 4  # smaller components are anti-aliased edges
VALID_RESIDUAL = 0.05  # a parse explains the image: RMS residual at most this (about 13/255)


@dataclass
class Parse:
    world: sw.World
    residual: float  # RMS of image − render(world), [0, 1] units

    @property
    def objects(self):
        return self.world.objects

    def valid(self, max_residual: float = VALID_RESIDUAL):
        """A scene of the world: explained to `max_residual`, one to three objects of sizes the
        world draws (with a margin of one pixel of the 32×32 world)."""
        low, high = sw.size_range(self.world.size)
        margin = sw.unit(self.world.size)
        sizes_ok = all(low - margin <= o.size <= high + margin for o in self.objects)
        return self.residual <= max_residual and 1 <= len(self.objects) <= 3 and sizes_ok

    def matches(self, text: str):
        """The (kind, colour) pairs named in a world caption are exactly the parsed objects'."""
        return sorted((o.kind, o.colour) for o in self.objects) == sorted(named_objects(text))


def named_objects(text: str):
    words = text.replace(",", " ").split()
    return [(words[i + 1], words[i]) for i in range(len(words) - 1) if words[i] in sw.COLOURS and words[i + 1] in sw.KINDS]


def _backgrounds(size):
    """(K, 3, S, S) unit-brightness backgrounds and their (sky, ground, horizon)."""
    keys, imgs = [], []
    for sky in sw.SKIES:
        for ground in sw.GROUNDS:
            for h in range(6, size - 5):
                keys.append((sky, ground, h))
                imgs.append(sw.background(sw.World((), sky, ground, h, 1.0, 0.0, size)))
    return keys, torch.stack(imgs)


_BG_CACHE = {}


def fit_background(image):
    """(sky, ground, horizon, brightness) whose background agrees with the most pixels."""
    size = image.shape[-1]
    if size not in _BG_CACHE:
        _BG_CACHE[size] = _backgrounds(size)
    keys, bgs = _BG_CACHE[size]
    ratio = (image[None] * bgs).sum(1) / (bgs * bgs).sum(1)  # per-pixel brightness estimate
    b = ratio.flatten(1).median(1).values.clamp(0.5, 1.5)
    err2 = ((image[None] - b[:, None, None, None] * bgs) ** 2).sum(1)
    k = int(err2.clamp(max=0.1 ** 2).flatten(1).sum(1).argmin())  # robust: objects cost at most 0.1²
    sky, ground, h = keys[k]
    return sky, ground, h, float(b[k])


def _components(mask):
    """4-connected components of a (S, S) bool mask: a list of (S, S) bool masks."""
    size = mask.shape[-1]
    labels = torch.where(mask, torch.arange(1, size * size + 1, dtype=torch.float32).reshape(size, size), torch.zeros(()))
    for _ in range(4 * size):
        padded = torch.nn.functional.pad(labels, (1, 1, 1, 1))
        grown = torch.stack([labels, padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]).amax(0)
        grown = torch.where(mask, grown, torch.zeros(()))
        if torch.equal(grown, labels):
            break
        labels = grown
    return [labels == v for v in labels.unique() if v > 0]


def _guesses(pixels, colour):
    """First guesses (one per plausible kind) from a component's moments."""
    ys, xs = torch.nonzero(pixels, as_tuple=True)
    xs, ys = xs.float() + 0.5, ys.float() + 0.5
    cx, cy = float(xs.mean()), float(ys.mean())
    dx, dy = xs - cx, ys - cy
    cov = torch.tensor([[float((dx * dx).mean()), float((dx * dy).mean())], [float((dx * dy).mean()), float((dy * dy).mean())]])
    evals, evecs = torch.linalg.eigh(cov)
    major, minor = float(evals[1]), max(float(evals[0]), 1e-3)
    angle = math.atan2(float(evecs[1, 1]), float(evecs[0, 1])) % math.pi
    area = float(pixels.sum())
    # every kind is tried: a partly hidden box can look elongated, a short bar round
    return [sw.Obj("bar", colour, cx, cy, max(math.sqrt(3 * major), 1.5), angle),
            sw.Obj("ball", colour, cx, cy, max(math.sqrt(area / math.pi), 1.0)),
            sw.Obj("box", colour, cx, cy, max(math.sqrt(area) / 2, 1.0))]


def _render_params(params, kinds, colours, world, ys, xs):
    """Differentiable render: params (N, 4) = x, y, size, angle per object, in drawing order."""
    img = sw.background(world)
    for (x, y, s, a), kind, colour in zip(params, kinds, colours):
        obj = sw.Obj(kind, colour, x, y, s, a)
        cover = sw.coverage(obj, world.size, ys, xs)
        img = img * (1 - cover) + sw.paint(obj, world, ys, xs) * cover
    return img


def _refine(image, world, objects, steps: int = 60):
    """Gradient descent on x, y, size, angle of every object and the world's light."""
    if not objects:
        return world, objects
    order = sorted(range(len(objects)), key=lambda i: objects[i].y)  # nearer (lower) objects drawn last
    ys, xs = torch.meshgrid(torch.arange(world.size) + 0.5, torch.arange(world.size) + 0.5, indexing="ij")
    params = torch.tensor([[o.x, o.y, o.size, o.angle] for o in objects], requires_grad=True)
    light = torch.tensor(world.light, requires_grad=True)
    bright = torch.tensor(world.brightness, requires_grad=True)
    opt = torch.optim.Adam([{"params": [params], "lr": 0.1}, {"params": [light], "lr": 0.05}, {"params": [bright], "lr": 0.005}])
    kinds, colours = [o.kind for o in objects], [o.colour for o in objects]
    for _ in range(steps):
        w = replace(world, light=light, brightness=bright)
        loss = ((_render_params(params[order], [kinds[i] for i in order], [colours[i] for i in order], w, ys, xs).clamp(0, 1) - image) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            params[:, 2].clamp_(0.5, world.size)
            light.clamp_(-1, 1)
            bright.clamp_(0.5, 1.5)
    p = params.detach()
    objects = [sw.Obj(k, c, round(float(x), 3), round(float(y), 3), round(float(s), 3),
                      round(float(a) % math.pi, 3) if k == "bar" else 0.0) for (x, y, s, a), k, c in zip(p, kinds, colours)]
    return replace(world, light=round(float(light.detach()), 3), brightness=round(float(bright.detach()), 4)), objects


def _rms(a, b):
    return float(((a - b) ** 2).mean().sqrt())


def parse(image, refine_steps: int = 60) -> Parse:
    """The world that best explains `image` (3, S, S) in [0, 1]."""
    image = image.detach().float().clamp(0, 1)
    size = image.shape[-1]
    sky, ground, h, b = fit_background(image)
    world = sw.World((), sky, ground, h, b, 0.0, size)
    bg = sw.background(world)
    far = (image - bg).abs().amax(0) > FOREGROUND
    palette = torch.stack([torch.tensor(c) for c in sw.COLOURS.values()])
    chroma = image / image.norm(dim=0, keepdim=True).clamp_min(1e-6)
    similarity = torch.einsum("khw,ck->chw", chroma, palette / palette.norm(dim=1, keepdim=True))
    nearest = similarity.argmax(0)
    # an object's own pixels have its colour's chroma (shading scales it); an anti-aliased edge mixes
    # it with what is behind and can look like another colour, so only clear pixels seed objects
    far = far & (similarity.amax(0) > CLEAR_CHROMA)
    candidates = []
    for ci, colour in enumerate(sw.COLOURS):
        for comp in _components(far & (nearest == ci)):
            if comp.sum() >= MIN_PIXELS:
                candidates.append((comp, colour))
    # each component: the kind whose refined single-object fit explains the image best
    objects, guesses = [], []
    for comp, colour in candidates:
        best = None
        for guess in _guesses(comp, colour):
            w1, (obj,) = _refine(image, world, [guess], steps=refine_steps // 2)
            err = _rms(sw.render(replace(w1, objects=(obj,))), image)
            if best is None or err < best[0]:
                best = (err, obj, w1.light)
        objects.append(best[1])
        guesses.append(_guesses(comp, colour))
        world = replace(world, light=best[2])
    objects, guesses = _merge_duplicates(objects, guesses)
    world, objects = _refine(image, world, objects, steps=refine_steps)
    # with every object in place (a hidden part explained by its occluder), try the other kinds again
    for i in range(len(objects)):
        err = _sse(image, replace(world, objects=tuple(sorted(objects, key=lambda o: o.y))))
        for guess in guesses[i]:
            if guess.kind == objects[i].kind:
                continue
            w2, trial = _refine(image, world, objects[:i] + [guess] + objects[i + 1:], steps=refine_steps)
            trial_err = _sse(image, replace(w2, objects=tuple(sorted(trial, key=lambda o: o.y))))
            if trial_err < err:
                world, objects, err = w2, trial, trial_err
    objects = _prune(image, world, sorted(objects, key=lambda o: o.y))
    world = _refit_background(image, replace(world, objects=tuple(objects)))
    world = replace(world, caption=sw.caption(objects, world.ground, world.sky) if objects else "")
    return Parse(world, _rms(sw.render(world), image))


def _merge_duplicates(objects, guesses):
    """Two components of one colour whose centres lie within the larger one's size are one object
    split by an occluder: keep the larger fit."""
    keep = list(range(len(objects)))
    for i in range(len(objects)):
        for j in range(len(objects)):
            a, b = objects[i], objects[j]
            if i != j and i in keep and j in keep and a.colour == b.colour and a.size >= b.size \
                    and math.hypot(a.x - b.x, a.y - b.y) < a.size:
                keep.remove(j)
    return [objects[i] for i in keep], [guesses[i] for i in keep]


def _sse(image, world):
    return float(((sw.render(world) - image) ** 2).sum())


def _prune(image, world, objects, gain: float = 1.0):
    """Drop objects that explain almost nothing (a component made of another object's anti-aliased
    edge): removing one must cost at least `gain` in summed squared error (a real object of the
    smallest size costs about ten times that)."""
    objects = list(objects)
    changed = True
    while changed and objects:
        changed = False
        full = _sse(image, replace(world, objects=tuple(objects)))
        gains = [_sse(image, replace(world, objects=tuple(objects[:i] + objects[i + 1:]))) - full for i in range(len(objects))]
        i = min(range(len(objects)), key=lambda j: gains[j])
        if gains[i] < gain:
            objects.pop(i)
            changed = True
    return objects


def _refit_background(image, world):
    """With the objects in place, the horizon row, sky, ground and brightness that fit best."""
    best = (_sse(image, world), world)
    for sky in sw.SKIES:
        for ground in sw.GROUNDS:
            for h in range(max(world.horizon - 2, 6), min(world.horizon + 3, world.size - 5)):
                w = replace(world, sky=sky, ground=ground, horizon=h)
                bg = sw.background(replace(w, brightness=1.0, objects=()))
                b = float(((image * bg).sum() / (bg * bg).sum()).clamp(0.5, 1.5))
                for bb in (world.brightness, b):
                    cand = replace(w, brightness=bb)
                    err = _sse(image, cand)
                    if err < best[0]:
                        best = (err, cand)
    return best[1]


def parse_all(images, refine_steps: int = 60):
    return [parse(img, refine_steps) for img in images]


def nearest_distance(images, references, chunk: int = 4096):
    """(B,) RMS distance of each image to its nearest reference image."""
    flat = images.flatten(1).double()
    best = torch.full((flat.shape[0],), float("inf"), dtype=torch.float64)
    for i in range(0, references.shape[0], chunk):
        r = references[i:i + chunk].flatten(1).double()
        d2 = (flat * flat).sum(1, keepdim=True) - 2 * flat @ r.T + (r * r).sum(1)
        best = torch.minimum(best, d2.clamp_min(0).min(1).values)
    return (best / flat.shape[1]).sqrt().float()


def parse_at(image, size: int = 64, refine_steps: int = 60) -> Parse:
    """Parse a picture larger than `size` averaged down to `size` pixels (the world at 128 parses at
    64: the same world up to anti-aliasing, and 4× faster than at full size). The parse, its
    residual and its validity are the reduced picture's."""
    image = image.detach().float()
    if image.shape[-1] > size:
        image = torch.nn.functional.adaptive_avg_pool2d(image[None], size)[0]
    return parse(image, refine_steps)
