"""The node reference (docs/nodes.md) is what a real server's /object_info says: every node of the pack is
documented, with every input, its type, whether it is optional, its default and its range. (This file was
tests/test_readme_matches_server.py while the reference was in the README.)"""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "docs", "nodes.md")
from lab.harness.comfy_server import ComfyServer  # noqa: E402

HEADING = re.compile(r"^### .* \(`(\w+)`\)\s*$")
NUMBER = r"[-−]?[\d.]+(?:\^\d+[-−]\d+)?"


def reference_nodes():
    """{node id: [(input names, type cell, default cell, range cell)]} from the node reference's tables."""
    nodes, current = {}, None
    with open(REFERENCE, encoding="utf-8") as f:
        for line in f:
            heading = HEADING.match(line)
            if heading:
                current = nodes.setdefault(heading.group(1), [])
            elif line.startswith("## "):
                current = None
            elif current is not None and line.startswith("| ") and not line.startswith("| input |"):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) >= 4 and not set(cells[0]) <= set("-"):
                    names = [n.strip() for n in cells[0].split(",")]
                    current.append((names, cells[1], cells[2], cells[3]))
    return nodes


def number(text):
    text = text.replace("−", "-")
    if "^" in text:  # 2^64-1
        base, rest = text.split("^")
        exp, minus = rest.split("-")
        return int(base) ** int(exp) - int(minus)
    return float(text)


def parse_default(cell):
    if cell in ("–", "-"):
        return None
    cell = cell.strip("`")
    try:
        return number(cell)
    except ValueError:
        return cell


def spec_type(spec):
    kind = spec[0]
    return "COMBO" if isinstance(kind, list) else kind


def spec_options(spec):
    return spec[0] if isinstance(spec[0], list) else spec[1].get("options")


@pytest.fixture(scope="module")
def object_info():
    with ComfyServer() as server:
        yield server.get("/object_info")


def pack_nodes(info):
    """The pack's nodes and the lab's (installed beside it by the test host)."""
    return {name for name, entry in info.items()
            if entry.get("python_module", "").endswith(("comfyui-sde-edit", "sde-edit-lab"))}


def test_every_pack_node_is_documented(object_info):
    nodes = pack_nodes(object_info)
    assert {"SDEditNoiseDenoise", "SDEInpaint", "SDEDragPointMover", "SDESamplerEta",
            "SDEEditLabReferenceSceneModel"} <= nodes
    assert nodes <= set(reference_nodes()), f"undocumented: {nodes - set(reference_nodes())}"


@pytest.mark.parametrize("node", sorted(reference_nodes()))
def test_reference_inputs_defaults_and_ranges_match_object_info(node, object_info):
    info = object_info[node]["input"]
    specs = {**info.get("required", {}), **info.get("optional", {})}
    documented = {}
    for names, type_cell, default_cell, range_cell in reference_nodes()[node]:
        for name in names:
            documented[name] = (type_cell, default_cell, range_cell)
    assert set(documented) == set(specs), f"{node}: docs/nodes.md {sorted(documented)} vs server {sorted(specs)}"
    for name, (type_cell, default_cell, range_cell) in documented.items():
        spec = specs[name]
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        kind = type_cell.split(",")[0].strip()
        assert kind == spec_type(spec), f"{node}.{name}: type {kind} vs {spec_type(spec)}"
        assert ("optional" in type_cell) == (name in info.get("optional", {})), f"{node}.{name}: optional?"
        default = parse_default(default_cell)
        if default is not None:
            assert options.get("default") == default, f"{node}.{name}: default {default!r} vs {options.get('default')!r}"
        else:
            assert "default" not in options or kind == "COMBO", f"{node}.{name}: server has default {options.get('default')!r}"
        interval = re.match(rf"^([(\[]?)({NUMBER})(?: to |, )({NUMBER})[)\]]?", range_cell)
        if interval and kind in ("INT", "FLOAT"):
            low, high = number(interval.group(2)), number(interval.group(3))
            assert options.get("min") == low and options.get("max") == high, \
                f"{node}.{name}: range {low}..{high} vs {options.get('min')}..{options.get('max')}"
            step = re.search(rf"step ({NUMBER})", range_cell)
            if step:
                assert options.get("step") == number(step.group(1)), f"{node}.{name}: step"
        if kind == "COMBO" and "SCHEDULER_NAMES" not in range_cell:
            assert [o.strip() for o in range_cell.split(",")] == list(spec_options(spec)), f"{node}.{name}: options"
