"""`make demo`'s part on the latent scene model trained here (shaped like SD: an 8× VAE and a UNet on its
16×16×4 latents of 128×128 pictures): the three "(trained latent model, CPU)" workflows run as shipped
(SDEdit from strokes, SDE inpainting of an object, SDE-Drag of a ball), each output read back by the
scene parser (at 64×64, `scene_parser.parse_at`), and one sheet of the pictures.

    .venv/bin/python -m lab.commands.demo_trained [--docs]

Writes out/demo/trained/ (every saved picture, sheet.png, table.md); --docs also copies the sheet to
docs/demo_trained_sheet.png. Run by lab/commands/demo.py on its server.
"""
import argparse
import json
import os
import shutil
import sys
import time

from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_host import import_reference
from lab.harness.comfy_server import ComfyServer

from .demo_drag import font, png_to_tensor
from .run_workflow import execute

OUT = os.path.join(ROOT, "out", "demo", "trained")
DOCS_SHEET = os.path.join(ROOT, "docs", "demo_trained_sheet.png")
WORKFLOWS = [os.path.join(ROOT, "lab", "workflows", f"{name} (trained latent model, CPU).json") for name in ("SDEdit", "SDE Inpaint", "SDE-Drag")]
TILE = 256  # px on the sheet: the 128×128 pictures twice their size


def run(server, out_dir=OUT, log=print):
    """Runs the three workflows; returns [(workflow name, caption, [(title, PNG bytes, note)])]."""
    import importlib
    parser = importlib.import_module(import_reference().__name__ + ".scene_parser")
    os.makedirs(out_dir, exist_ok=True)
    object_info = server.get("/object_info")
    rows = []
    for path in WORKFLOWS:
        with open(path, encoding="utf-8") as f:
            workflow = json.load(f)
        name = os.path.splitext(os.path.basename(path))[0]
        result = execute(workflow, server, object_info=object_info)
        text = next(v["inputs"]["text"] for v in result.prompt.values()
                    if v["class_type"] == "CLIPTextEncode" and v["inputs"]["text"])
        pictures = []
        for img in result.images:
            if img.class_type == "SaveAnimatedWEBP" or img.title.startswith("Sub-steps"):
                continue
            tensor = png_to_tensor(img.data)
            p = parser.parse_at(tensor)
            f = tensor.shape[-1] / p.world.size  # the parse's pixels -> the picture's
            note = f"{'valid' if p.valid() else 'no scene'}, residual {p.residual:.3f}"
            if img.title != "Input image":
                note += ", caption " + ("matched" if p.matches(text) else "missed")
            if "Drag" in name and img.title == "Dragged image":
                ball = [o for o in p.objects if o.kind == "ball"]
                note += f", ball at ({ball[0].x * f:.0f}, {ball[0].y * f:.0f})" if ball else ", no ball"
            pictures.append((img.title, img.data, note))
            with open(os.path.join(out_dir, f"{name} - {img.title}.png"), "wb") as f:
                f.write(img.data)
            log(f"  {name}: {img.title}: {note}", flush=True)
        rows.append((name, text, pictures, result.seconds))
    return rows


def make_sheet(rows):
    tile, gap, label = TILE, 12, 58
    width = max(len(p) for _, _, p, _ in rows) * (tile + gap) + gap
    height = len(rows) * (tile + label + 34) + 40
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, 10), "The latent scene model trained here (128 by 128 px through its 8x VAE): its three workflows as shipped",
              fill="black", font=font(15))
    y = 40
    for name, text, pictures, _ in rows:
        draw.text((gap, y), f"{name}: \"{text}\"", fill="black", font=font(14))
        y += 22
        for i, (title, data, note) in enumerate(pictures):
            x = gap + i * (tile + gap)
            img = Image.open(__import__("io").BytesIO(data)).convert("RGB").resize((tile, tile), Image.NEAREST)
            sheet.paste(img, (x, y))
            draw.text((x, y + tile + 4), title, fill="black", font=font(13))
            for j, part in enumerate(note.split(", ", 1)):
                draw.text((x, y + tile + 20 + 16 * j), part, fill=(90, 90, 90), font=font(11))
        y += tile + label + 12
    return sheet


def write_report(rows, out_dir=OUT, docs=False):
    sheet = make_sheet(rows)
    sheet.save(os.path.join(out_dir, "sheet.png"))
    if docs:
        shutil.copyfile(os.path.join(out_dir, "sheet.png"), DOCS_SHEET)
    lines = ["| workflow | prompt | picture | parse | seconds |", "|---|---|---|---|---:|"]
    for name, text, pictures, seconds in rows:
        for title, _, note in pictures:
            lines.append(f"| {name} | {text} | {title} | {note} | {seconds:.1f} |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(table)
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", action="store_true", help="also copy the sheet to docs/")
    args = p.parse_args(argv)
    started = time.time()
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    with ComfyServer(log_path=None) as server:
        rows = run(server)
    print(write_report(rows, docs=args.docs))
    print(f"outputs: {OUT}/ ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
