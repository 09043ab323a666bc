"""What the drag's region-from-handles rule (sampling.regions.similar_region, the default
handle_region's flood fill) finds on real photographs, against object masks drawn by hand
(tests/data/photo_objects.json on scikit-image's sample photographs). The figures docs/region_drag.md
gives ("Real photographs") are what this computes: on an 8× grid with the node's defaults (threshold
1, a quarter of the picture at most, grown by one latent pixel), from 15 handles on 5 objects, 7 are
dropped as background and only 2 find a region that overlaps the object by half (IoU ≥ 0.5); so the
docs send users to marking the region. The hand masks are checked too: each handle lies on its object."""
import json

import pytest

from lab.benchmarks.bench_region_photos import DEFAULT, OBJECTS, hand_mask, measure, summary

skimage = pytest.importorskip("skimage", reason="scikit-image (requirements-dev.txt) ships the photographs")

PHOTOS = json.load(open(OBJECTS))["photos"]


def test_each_handle_lies_on_its_hand_drawn_object():
    for name, entry in PHOTOS.items():
        mask = hand_mask(entry)
        assert tuple(mask.shape) == (entry["size"][1], entry["size"][0]), name
        assert 0.01 < float(mask.float().mean()) < 0.9, name  # the cat fills 80 % of its photo
        assert all(bool(mask[y, x]) for x, y in entry["handles"]), name


def test_the_default_rule_rarely_finds_a_real_object():
    rows = [r for name, entry in PHOTOS.items()
            for r in measure(name, entry, 8, DEFAULT["threshold"], DEFAULT["max_fraction"], DEFAULT["grow"])]
    s = summary(rows)
    by_photo = {name: [r for r in rows if r["photo"] == name] for name in PHOTOS}
    assert s["n"] == 15
    assert s["dropped"] == 7  # over a quarter of the picture: the cat (2), the astronaut (3), the cup handle (into the saucer), the rear wheel
    assert s["useful"] == 2  # IoU ≥ 0.5: the coffee cup from its side and its coffee
    assert round(s["iou"], 2) == 0.17
    assert all(r["dropped"] for r in by_photo["astronaut"])
    assert max(r["iou"] for r in by_photo["chelsea"]) < 0.05  # the eye, not the cat
