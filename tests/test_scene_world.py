"""The scene world (lab/reference/scene_world.py) and its parser (lab/reference/scene_parser.py): splits and
captions; the parser recovers rendered scenes exactly, stays right under the noise the benchmarks
meet, and calls a mixture of two scenes no scene."""
import math

import pytest
import torch

from lab.reference import scene_parser as sp
from lab.reference import scene_world as sw


def test_split_keeps_held_out_combinations_out_of_training():
    train, held = sw.split(600, 60, seed=3)
    assert len(train) == 600 and len(held) == 60
    assert not any(sw.is_held_out(w) for w in train)
    assert sum(sw.is_held_out(w) for w in held) == 30  # half never-seen combinations, half fresh draws
    assert {len(w.objects) for w in train} == {1, 2, 3}
    assert {w.sky for w in train} == set(sw.SKIES) and {w.ground for w in train} == set(sw.GROUNDS)
    sizes = [o.size for w in train for o in w.objects]
    assert min(sizes) < 3 and max(sizes) > 7.5  # smaller than the default patch radius to a quarter of the image
    assert sw.split(600, 60, seed=3) == (train, held)  # seeded


def test_caption_names_objects_left_to_right_with_ground_and_sky():
    a = sw.Obj("ball", "red", 5, 10, 3)
    b = sw.Obj("bar", "blue", 20, 12, 5, 0.5)
    c = sw.Obj("box", "yellow", 12, 20, 4)
    assert sw.caption([b, a], "grass") == "a red ball left of a blue bar on grass"
    assert sw.caption([c, b, a], "sand", "dusk") == "a red ball, a yellow box and a blue bar on sand, at dusk"
    assert sorted(sp.named_objects(sw.caption([c, b, a], "snow"))) == [("ball", "red"), ("bar", "blue"), ("box", "yellow")]


def test_every_object_stays_mostly_visible():
    train, _ = sw.split(200, 0, seed=4)
    for w in train:
        assert min(sw._visible_shares(list(w.objects), w.size)) >= sw.MIN_VISIBLE


def _angle_error(a, b):
    return abs(((a - b) + math.pi / 2) % math.pi - math.pi / 2)


def _match(truth, parsed, centre=0.3, size=0.3, angle=math.radians(3)):
    if len(truth.objects) != len(parsed.objects):
        return False
    pairs = zip(sorted(truth.objects, key=lambda o: o.colour), sorted(parsed.objects, key=lambda o: o.colour))
    return all(a.kind == b.kind and a.colour == b.colour and math.hypot(a.x - b.x, a.y - b.y) < centre
               and abs(a.size - b.size) < size and (a.kind != "bar" or _angle_error(a.angle, b.angle) < angle)
               for a, b in pairs)


def test_parser_recovers_rendered_scenes_exactly():
    """40 scenes with one to three objects and occlusion: kinds, colours, background exact; centres and
    sizes within 0.3 px, bar angles within 3°; the render of the parse equals the image to 0.01 RMS."""
    scenes, _ = sw.split(40, 0, seed=11)
    for w in scenes:
        p = sp.parse(sw.render(w))
        assert _match(w, p), (w, p.world)
        assert (p.world.sky, p.world.ground, p.world.horizon) == (w.sky, w.ground, w.horizon)
        assert p.residual < 0.01 and p.valid() and p.matches(w.caption)


@pytest.mark.parametrize("noise", [0.02, 0.05])
def test_parser_is_robust_to_noise(noise):
    """Pixel noise of 0.02 and 0.05 (5 and 13 of 255): kinds and colours still right, centres within
    0.5 px, in at least 19 of 20 scenes; the residual reads the noise level."""
    scenes, _ = sw.split(20, 0, seed=12)
    g = torch.Generator().manual_seed(0)
    hits = 0
    for w in scenes:
        img = (sw.render(w) + noise * torch.randn(3, w.size, w.size, generator=g)).clamp(0, 1)
        p = sp.parse(img)
        hits += _match(w, p, centre=0.5, size=0.5, angle=math.radians(6))
        assert p.residual < 1.2 * noise
    assert hits >= 19


def test_a_mixture_of_two_scenes_is_no_scene():
    scenes, _ = sw.split(20, 0, seed=13)
    rejected = 0
    for a, b in zip(scenes[::2], scenes[1::2]):
        p = sp.parse(0.5 * sw.render(a) + 0.5 * sw.render(b))
        rejected += not p.valid()
    assert rejected == 10


def test_nearest_distance_sees_copies():
    scenes, _ = sw.split(30, 0, seed=14)
    imgs = sw.render_all(scenes)
    d = sp.nearest_distance(imgs[:5], imgs)
    assert torch.all(d < 1e-4)
    d_other = sp.nearest_distance(imgs[:5], imgs[5:])
    assert torch.all(d_other > 0.02)
