"""Convert a UI-format ComfyUI workflow (what the frontend saves: nodes, links, widgets_values) to the
API prompt format that the server's /prompt takes, using the live server's /object_info.

The widget order comes from the real node definitions: for each node, its required then optional
inputs in object_info order (`input_order` where the server gives it); a linked input takes
[source node id, source slot]; a widget input takes the next entry of widgets_values. The extra
"fixed" / "increment" / "decrement" / "randomize" entry that the frontend saves after a seed
(an INT input named seed / noise_seed, or one with control_after_generate) is skipped. A widget past
the end of widgets_values keeps its default, as in the frontend, which assigns the saved values in order
and stops at the last one: a workflow can so leave out trailing widgets that a newer core added or moved
(0.33's TrainLoraNode inserted widgets after `lora_dtype`).

Frontend-only nodes (Note, MarkdownNote, Reroute, PrimitiveNode) produce no prompt entry: a Reroute is
followed to its source, and an input fed by a PrimitiveNode takes its own widget value. Muted nodes
(mode 2) are left out; bypassed ones (mode 4) are left out and pass each output through from their
first linked input of the same type, as the frontend does. Subgraphs are not supported.

    python -m lab.harness.workflow_to_api WORKFLOW.json --server http://127.0.0.1:8188 [-o prompt.json]

Stdlib only.
"""
import argparse
import json
import sys
import urllib.request

SKIP_TYPES = {"Note", "MarkdownNote"}
VIRTUAL_TYPES = {"Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_NAMES = {"seed", "noise_seed"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}


def _links(workflow):
    """{link id: (from node id, from slot, type)}; accepts both the list and the object link format."""
    result = {}
    for link in workflow.get("links") or []:
        if isinstance(link, dict):
            result[link["id"]] = (link["origin_id"], link["origin_slot"], link.get("type"))
        else:
            result[link[0]] = (link[1], link[2], link[5] if len(link) > 5 else None)
    return result


def _input_specs(info):
    """[(name, type, options)] of a node definition's required then optional inputs, in order."""
    specs = []
    order = info.get("input_order", {})
    for section in ("required", "optional"):
        inputs = info.get("input", {}).get(section) or {}
        for name in order.get(section) or list(inputs):
            spec = inputs[name]
            kind = "COMBO" if isinstance(spec[0], list) else spec[0]
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            specs.append((name, kind, options))
    return specs


def _combo_options(info, name):
    """The options of a combo input (the list form [options, {...}] or V3's ["COMBO", {"options": ...}])."""
    for section in ("required", "optional"):
        spec = (info.get("input", {}).get(section) or {}).get(name)
        if spec is not None:
            return spec[0] if isinstance(spec[0], list) else (spec[1] if len(spec) > 1 else {}).get("options") or []
    return []


def _is_widget(kind, options, ui_input):
    if ui_input is not None and "widget" in ui_input:
        return True
    if options.get("forceInput") or options.get("rawLink"):
        return False
    return kind in WIDGET_TYPES


def _has_control(name, kind, options):
    return bool(options.get("control_after_generate")) or (kind == "INT" and name in SEED_NAMES)


def to_api(workflow: dict, object_info: dict) -> dict:
    """The API prompt ({node id: {"class_type", "inputs", "_meta"}}) of a UI-format workflow."""
    if (workflow.get("definitions") or {}).get("subgraphs"):  # the frontend may write "definitions": null
        raise ValueError("workflows with subgraphs are not supported; unpack them in the frontend first")
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = _links(workflow)

    def source(link_id, seen=()):
        """(node id, slot) that really feeds a link, or None (muted, unconnected bypass, primitive)."""
        if link_id is None or link_id not in links:
            return None
        from_id, from_slot, link_type = links[link_id]
        node = nodes.get(from_id)
        if node is None or from_id in seen:
            return None
        if node["type"] == "Reroute":
            inputs = node.get("inputs") or []
            return source(inputs[0].get("link"), seen + (from_id,)) if inputs else None
        if node["type"] == "PrimitiveNode" or node.get("mode") == MUTED:
            return None
        if node.get("mode") == BYPASSED:
            out_type = link_type or node["outputs"][from_slot]["type"]
            candidates = [i for i in node.get("inputs") or []
                          if i.get("link") is not None and i.get("type") == out_type]
            # the frontend prefers the input at the same slot index, then the first of the same type
            same_slot = [i for i in candidates if (node.get("inputs") or []).index(i) == from_slot]
            for inp in same_slot + candidates:
                found = source(inp["link"], seen + (from_id,))
                if found is not None:
                    return found
            return None
        return (str(from_id), from_slot)

    prompt = {}
    for node in sorted(workflow["nodes"], key=lambda n: n.get("order", 0)):
        class_type = node["type"]
        if class_type in SKIP_TYPES or class_type in VIRTUAL_TYPES or node.get("mode") in (MUTED, BYPASSED):
            continue
        info = object_info.get(class_type)
        if info is None:
            raise ValueError(f"node {node['id']}: type {class_type!r} is not known to the server "
                             "(a missing custom node?)")
        ui_inputs = {i["name"]: i for i in node.get("inputs") or []}
        values = node.get("widgets_values")
        values = values if values is not None else []
        by_name = values if isinstance(values, dict) else None
        pos = 0
        inputs = {}
        for name, kind, options in _input_specs(info):
            ui_input = ui_inputs.get(name)
            linked = source(ui_input.get("link")) if ui_input is not None else None
            if _is_widget(kind, options, ui_input):
                if by_name is not None:
                    value, present = by_name.get(name), name in by_name
                else:
                    present = pos < len(values)
                    value = values[pos] if present else None
                    pos += present
                    if (present and _has_control(name, kind, options) and pos < len(values)
                            and values[pos] in CONTROL_VALUES):
                        pos += 1
                if linked is not None:
                    inputs[name] = list(linked)
                elif present:
                    inputs[name] = value
                elif "default" in options:
                    inputs[name] = options["default"]
                elif kind == "COMBO" and _combo_options(info, name):
                    inputs[name] = _combo_options(info, name)[0]
            elif linked is not None:
                inputs[name] = list(linked)
        entry = {"class_type": class_type, "inputs": inputs}
        entry["_meta"] = {"title": node.get("title") or info.get("display_name") or class_type}
        prompt[str(node["id"])] = entry
    return prompt


def fetch_object_info(server: str) -> dict:
    with urllib.request.urlopen(server.rstrip("/") + "/object_info", timeout=60) as r:
        return json.loads(r.read())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow", help="UI-format workflow JSON")
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="running ComfyUI (for /object_info)")
    parser.add_argument("--object-info", help="read /object_info from this JSON file instead of the server")
    parser.add_argument("-o", "--output", help="write the API prompt here (default: stdout)")
    args = parser.parse_args(argv)
    with open(args.workflow, encoding="utf-8") as f:
        workflow = json.load(f)
    if args.object_info:
        with open(args.object_info, encoding="utf-8") as f:
            object_info = json.load(f)
    else:
        object_info = fetch_object_info(args.server)
    text = json.dumps(to_api(workflow, object_info), indent=2, ensure_ascii=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
