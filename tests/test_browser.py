"""The SDE-Drag point editor in a real browser, against a real ComfyUI server on loopback.

A person's path, on two frontends (the one the pinned ComfyUI ships, and the newest
comfyui-frontend-package pinned in requirements-dev.txt, served with --front-end-root) and in both
renderers (the classic LiteGraph canvas and Vue "Nodes 2.0"): open the drag workflow from the
template browser, clear its points, place two drag pairs by clicking in the editor, check the
`points` widget, run it with the Run button and wait for the output. Also: dragging a dot, deleting a
pair (right-click), undo, press-drag-release; the workflow exported from the browser re-opens with the
same points and gives the same output for the same seed; malformed points typed by hand get an error
that names `points`, and the server serves the next prompt.

Every page's console is read through the Chrome DevTools protocol (messages with their stacks): a
deprecation warning raised from the pack's own scripts (/extensions/<pack>/...) fails the test, as
does an uncaught exception thrown from them. LiteGraph's deprecation warnings are shown once per page
by default, so a page sets LiteGraph.alwaysRepeatWarnings (where the frontend has it): a warning the
frontend itself raised first cannot hide the pack's.

Needs Chromium and the Python playwright package (lab/harness/setup_browser.sh installs both, and the newest
frontend into build/); the tests skip with that hint when any is missing. Screenshots and each page's
console go to out/e2e/<frontend version>/<renderer>/.
"""
import contextlib
import io
import json
import os
import shutil
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from lab.commands import make_thumbnails as mt  # noqa: E402
from lab.harness.comfy_server import LAB_LINK_NAME, PACK_DIR, ComfyServer, PromptError, pinned_frontend  # noqa: E402

# `make test` sets up the browser and sets SDE_EDIT_REQUIRE_BROWSER=1: there a missing browser is a
# failure, not a skip. Run directly on a machine without one, these tests skip with a hint.
REQUIRE_BROWSER = os.environ.get("SDE_EDIT_REQUIRE_BROWSER") == "1"
if REQUIRE_BROWSER:
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright: run lab/harness/setup_browser.sh")

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
OUT = os.path.join(PACK_DIR, "out", "e2e")
TEMPLATE = "SDE-Drag (reference model, CPU)"  # the workflow's file name, the card's title
TEMPLATE_MODULE = LAB_LINK_NAME  # its CPU workflows are the lab's (lab/workflows/), listed under the lab's name
PACK_MODULE = "comfyui-sde-edit"  # the name ComfyServer links the pack under in custom_nodes/
NODE = "SDEDragPointMover"
# Two drag pairs on the reference scene (ball at 28, 28): the ball's centre and its lower part, both
# moved 12 px to the right (3 sub-steps, about 12 s on 2 cores). The round trip and the recovery
# after an error run short drags (4 px, one sub-step) to keep the file within its time budget.
PAIRS = [((28, 28), (40, 28)), ((28, 34), (40, 34))]
EXPECTED_POINTS = '{"source": [[28, 28], [28, 34]], "target": [[40, 28], [40, 34]]}'
SHORT_PAIRS = [((28, 28), (32, 28)), ((28, 34), (32, 34))]
SHORT_POINTS = '{"source": [[28, 28], [28, 34]], "target": [[32, 28], [32, 34]]}'
MALFORMED = '{"source": [[28, 28]], "target": [[40, 28]'
UI_TIMEOUT_MS = 30_000
THUMB_TOP_FREE = mt.THUMB_TOP_FREE  # px at the top of a 512 px thumbnail kept free of text
RUN_TIMEOUT_S = 120
MISSING_LINE = "point editor"  # the line a node gets when its editor cannot be shown
PINNED_FRONTEND = "pinned"  # the comfyui-frontend-package in the venv, the one ComfyUI's requirements pin
NEWEST_FRONTEND = "newest"  # requirements-dev.txt's `# newest-frontend:` pin, installed into build/
FRONTENDS = (PINNED_FRONTEND, NEWEST_FRONTEND)
RENDERERS = ("classic", "vue")
# The longer flows (editing in place, the exported workflow) run once per frontend, in one renderer each.
DIAGONAL = {PINNED_FRONTEND: "classic", NEWEST_FRONTEND: "vue"}
# Tests take `frontend` (a module-scoped fixture: one server per frontend, the tests grouped by it) and
# `renderer` as separate parameters.
every_frontend = pytest.mark.parametrize("frontend", FRONTENDS, indirect=True)
every_renderer = pytest.mark.parametrize("renderer", RENDERERS)


def find_chromium():
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        path = name and shutil.which(name)
        if path:
            return path
    return None


def post_json(server, path, payload):
    """POST that expects no JSON back (ComfyServer.post parses the answer)."""
    request = urllib.request.Request(server.url + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).close()


def require(condition, reason):
    if not condition:
        if REQUIRE_BROWSER:
            pytest.fail(f"{reason} although SDE_EDIT_REQUIRE_BROWSER=1: run lab/harness/setup_browser.sh")
        pytest.skip(f"{reason}: run lab/harness/setup_browser.sh")


@pytest.fixture(scope="module")
def frontend(request):
    """None for the server's own frontend, else the static folder of the newest pinned one."""
    if request.param == PINNED_FRONTEND:
        return None
    version, static = pinned_frontend("newest-frontend")
    require(static, f"comfyui-frontend-package {version} is not installed in build/")
    return static


@pytest.fixture(scope="module")
def server(frontend):
    with ComfyServer(front_end_root=frontend) as s:
        # A returning user: the frontend opens the template browser by itself only on a first start,
        # at a moment of its choosing; the tests open it themselves, from the side bar.
        post_json(s, "/settings/Comfy.TutorialCompleted", True)
        yield s
        # The server warns when a page imports a legacy script (/scripts/ui..., /extensions/core/...):
        # here only the pack's scripts could. Nor may a warning or deprecation in its log name the pack.
        log = s.read_log().splitlines()
        flagged = [line for line in log if "[DEPRECATION WARNING]" in line or (
            any(name in line for name in (PACK_MODULE, "sde_edit")) and ("warn" in line.lower() or "deprecat" in line.lower()))]
        assert not flagged, "\n".join(flagged)


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    require(executable, "no Chromium found (or set CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


class Console:
    """Every console message of a page with the URLs of its stack (Chrome DevTools protocol: Playwright's
    own console events carry only the line that called console.warn, which for LiteGraph's deprecation
    warnings is LiteGraph itself), and the uncaught exceptions."""

    def __init__(self, context, page):
        self.messages, self.errors = [], []
        page.on("pageerror", lambda e: self.errors.append(f"{e}\n{e.stack or ''}"))
        self.cdp = context.new_cdp_session(page)
        self.cdp.on("Runtime.consoleAPICalled", self.on_message)
        self.cdp.send("Runtime.enable")

    def on_message(self, event):
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in event.get("args", []))
        frames = [f"{f.get('functionName') or '(anonymous)'} {f.get('url', '')}:{f.get('lineNumber', 0) + 1}"
                  for f in (event.get("stackTrace") or {}).get("callFrames", [])]
        self.messages.append({"type": event.get("type"), "text": text, "stack": frames})

    def ours(self, message):
        """Raised from the pack's scripts (in the stack), or naming the pack in its text: its scripts'
        folder, its Python module (e.g. 1.49's "Use of defaultInput on ... input custom_nodes.<pack>:
        ..."), its extension (e.g. "Monkey-patching ... (Extension: "sde-edit.DragPointEditor")")."""
        where = f"/extensions/{PACK_MODULE}/"
        return (PACK_MODULE in message["text"] or "sde-edit." in message["text"]
                or any(where in f for f in message["stack"]))

    def deprecations_from_the_pack(self):
        found = {}
        for m in self.messages:
            if "deprecat" in m["text"].lower() and self.ours(m):
                found.setdefault(m["text"], m)  # LiteGraph repeats each warning: one of a kind is enough
        return list(found.values())

    def dump(self, path):
        with open(path, "w", encoding="utf-8") as f:
            for m in self.messages:
                f.write(f"[{m['type']}] {m['text']}\n" + "".join(f"    at {frame}\n" for frame in m["stack"][:12]))
            for e in self.errors:
                f.write(f"[uncaught] {e}\n")


@contextlib.contextmanager
def browser_page(server, browser, tmp_path, renderer, name):
    """A ComfyPage on a fresh browser context; on leaving, the console is saved and checked."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    console = Console(context, page)
    ui = ComfyPage(page, server, tmp_path, console, renderer)
    yield ui
    context.close()
    if ui.version:
        console.dump(os.path.join(ui.out, f"console_{name}.txt"))
    # Uncaught exceptions thrown from the pack's own scripts (the frontend's own are not ours to judge).
    ours = [e for e in console.errors if f"/extensions/{PACK_MODULE}/" in e]
    assert not ours, ours
    # Deprecation warnings raised by the pack's code (its file in the text or in the stack).
    deprecated = console.deprecations_from_the_pack()
    assert not deprecated, "\n\n".join(f"{m['text']}\n  " + "\n  ".join(m["stack"][:8]) for m in deprecated)


@pytest.fixture
def ui(request, server, browser, tmp_path):
    params = request.node.callspec.params
    renderer = params.get("renderer") or DIAGONAL[params["frontend"]]
    with browser_page(server, browser, tmp_path, renderer, request.node.originalname) as page:
        yield page


def out_dir(version, renderer):
    path = os.path.join(OUT, version, renderer)
    os.makedirs(path, exist_ok=True)
    return path


def pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


class ComfyPage:
    """The ComfyUI frontend in one browser page, driven the way a person would, plus a few reads of
    the frontend's state (app.graph) to check what happened."""

    def __init__(self, page, server, tmp_path, console, renderer):
        self.page, self.server, self.tmp_path, self.console = page, server, tmp_path, console
        self.renderer, self.version = renderer, None

    @property
    def out(self):
        return out_dir(self.version, self.renderer)

    # ---- start-up ------------------------------------------------------------------------------

    def open(self, vue_nodes=None):
        """Load the page in this test's renderer (or the one given)."""
        vue_nodes = self.renderer == "vue" if vue_nodes is None else vue_nodes
        self.page.goto(self.server.url)
        self.page.wait_for_function(
            "window.app?.graph && window.app.extensionManager?.workflow?.activeWorkflow && "
            "window.app.extensions?.some(e => e.name === 'sde-edit.DragPointEditor')", timeout=60_000)
        self.version = self.page.evaluate("window.__COMFYUI_FRONTEND_VERSION__")
        # Every deprecation warning each time, not only the first of its kind on the page.
        self.page.evaluate("() => { if ('alwaysRepeatWarnings' in LiteGraph) LiteGraph.alwaysRepeatWarnings = true }")
        # Settings live on the server (user folder), so every page states its renderer.
        self.page.evaluate("(on) => app.extensionManager.setting.set('Comfy.VueNodes.Enabled', on)", vue_nodes)
        self.page.wait_for_function("(on) => LiteGraph.vueNodesMode === on", arg=vue_nodes)

    def dismiss_notices(self):
        """Close the frontend's "Introducing Nodes 2.0" banner and its toasts ("Prefer the legacy
        design?", then "Switch back to Nodes 2.0 anytime ...") where shown, so that they do not
        cover the screenshots."""
        close_x = "xpath=ancestor::*[.//i[contains(@class, 'lucide--x')]][1]//button[.//i[contains(@class, 'lucide--x')]]"
        banner_close = self.page.get_by_role("button", name="Try it out").locator(close_x)
        toast_close = self.page.locator(".p-toast-message").get_by_role("button", name="Close")
        for close in (banner_close, toast_close, toast_close):  # closing one toast may open the next
            try:
                if close.count() and close.first.is_visible():
                    close.first.click(timeout=2000)
                    self.page.wait_for_timeout(400)
            except sync_api.Error:
                pass  # it went away by itself (toasts animate out and time out)

    def open_template(self, name, check_card=True):
        """Templates (side bar) → the lab's category → the workflow's card (by its title, the
        workflow's file name), as a person does. Checks the card on the way: its title, and its
        thumbnail shown whole (not cropped by the card) with nothing of the frontend's laid over
        the thumbnail's text (its top strip)."""
        dialog = self.page.get_by_role("dialog").filter(has_text=TEMPLATE_MODULE)
        self.page.get_by_role("button", name="Templates", exact=True).click()
        dialog.get_by_text(TEMPLATE_MODULE, exact=True).first.click()
        card = dialog.get_by_text(name, exact=True)
        card.wait_for(timeout=UI_TIMEOUT_MS)
        if check_card:
            self.check_thumbnail(dialog, name)
        dialog.screenshot(path=os.path.join(self.out, "templates.png"))
        card.click()
        dialog.wait_for(state="hidden", timeout=UI_TIMEOUT_MS)
        self.page.wait_for_function(f"app.graph.nodes.some(n => n.comfyClass === '{NODE}')")
        return self.drag_node_id()

    def check_thumbnail(self, dialog, name):
        thumb = dialog.locator(f'img[alt="{name}"]').first
        self.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle(),
                                    timeout=UI_TIMEOUT_MS)
        geometry = thumb.evaluate("""(img) => {
            const box = (r) => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom})
            let clip = img.parentElement, card = img
            while (clip && getComputedStyle(clip).overflow === 'visible') clip = clip.parentElement
            for (let n = img; n && !n.querySelector?.('h3'); n = n.parentElement) card = n.parentElement
            const r = img.getBoundingClientRect()
            // whatever the frontend draws on the card above the picture (badges, buttons)
            const covers = [...(card?.querySelectorAll('*') ?? [])]
                .filter((e) => !e.contains(img) && e !== img && e.getBoundingClientRect().width > 0 &&
                               getComputedStyle(e).position === 'absolute')
                .map((e) => box(e.getBoundingClientRect()))
            return {img: box(r), natural: [img.naturalWidth, img.naturalHeight], clip: box(clip.getBoundingClientRect()),
                    fit: getComputedStyle(img).objectFit, covers}
        }""")
        img, clip = geometry["img"], geometry["clip"]
        assert geometry["natural"] == [512, 512], geometry
        inside = (img["left"] >= clip["left"] - 1 and img["right"] <= clip["right"] + 1
                  and img["top"] >= clip["top"] - 1 and img["bottom"] <= clip["bottom"] + 1)
        assert inside or geometry["fit"] == "contain", f"the card crops the thumbnail: {geometry}"
        # The thumbnail keeps its top strip (THUMB_TOP_FREE of 512 px) free of text for the card's badges.
        strip = img["top"] + (img["bottom"] - img["top"]) * THUMB_TOP_FREE / 512
        for c in geometry["covers"]:
            overlaps = c["left"] < img["right"] and c["right"] > img["left"] and c["bottom"] > img["top"] and c["top"] < img["bottom"]
            assert not overlaps or c["bottom"] <= strip + 1, f"the card lays {c} over the thumbnail's text: {geometry}"

    def missing_editor_note(self, node_id):
        """The text of the line the pack adds to the node when its editor cannot be shown, or None."""
        return self.page.evaluate(
            f"(id) => app.graph.getNodeById(id).widgets.find(w => w.name === '{MISSING_LINE}')?.value ?? null", node_id)

    def drag_node_id(self):
        return self.page.evaluate(f"app.graph.nodes.find(n => n.comfyClass === '{NODE}').id")

    # ---- the editor ----------------------------------------------------------------------------

    def editor(self, node_id):
        return self.page.locator(f'.sde-drag-editor[data-node-id="{node_id}"]')

    def show_editor(self, node_id, scale=1.0):
        """Zoom (1 by default: frontend 1.58 hides DOM widgets when the canvas is zoomed out) and pan
        the canvas so that the editor sits in the middle of the window, then click the node's title so
        that it is on top of any node overlapping it."""
        self.page.evaluate("""([id, scale]) => {
            const canvas = app.canvas, node = app.graph.getNodeById(id)
            if (scale) canvas.ds.scale = scale
            canvas.centerOnNode(node)
            canvas.setDirty(true, true)
        }""", [node_id, scale])
        self.page.wait_for_timeout(300)
        box = self.editor(node_id).bounding_box()
        viewport = self.page.viewport_size
        dy = viewport["height"] / 2 - (box["y"] + box["height"] / 2)
        self.page.evaluate("""(dy) => {
            const ds = app.canvas.ds
            ds.offset[1] += dy / ds.scale
            app.canvas.setDirty(true, true)
        }""", dy)
        self.page.wait_for_timeout(300)
        self.focus_node(node_id)

    def focus_node(self, node_id):
        """Click the node's title: it is selected and drawn above the nodes that overlap it."""
        self.page.mouse.click(*self.title_point(node_id))
        self.page.wait_for_timeout(200)

    def show_node(self, node_id, largest_scale=1.5):
        """Zoom so that the whole node fits below the menu bars (at most `largest_scale`), centred
        across and with its title 120 px from the top of the window."""
        self.page.evaluate("""([id, largest]) => {
            const node = app.graph.getNodeById(id), ds = app.canvas.ds
            const top = 120, title = LiteGraph.NODE_TITLE_HEIGHT
            ds.scale = Math.min(largest, (window.innerHeight - top - 40) / (node.size[1] + title))
            app.canvas.centerOnNode(node)
            const canvasTop = app.canvas.canvas.getBoundingClientRect().top
            ds.offset[1] = (top - canvasTop) / ds.scale - (node.pos[1] - title)
            app.canvas.setDirty(true, true)
        }""", [node_id, largest_scale])
        self.page.wait_for_timeout(400)

    def title_point(self, node_id):
        """Screen point on the node's title bar (Vue node header or canvas-drawn title)."""
        return self.page.evaluate("""(id) => {
            if (LiteGraph.vueNodesMode) {
                const r = document.querySelector(`[data-node-id="${id}"]`).getBoundingClientRect()
                return [r.left + r.width / 2, r.top + 12]
            }
            const node = app.graph.getNodeById(id), canvas = app.canvas
            const [x, y] = canvas.ds.convertOffsetToCanvas([node.pos[0] + node.size[0] / 2, node.pos[1] - LiteGraph.NODE_TITLE_HEIGHT / 2])
            const r = canvas.canvas.getBoundingClientRect()
            return [r.left + x * r.width / canvas.canvas.width, r.top + y * r.height / canvas.canvas.height]
        }""", node_id)

    def node_screenshot(self, node_id, path):
        """A picture of the whole node (title to bottom edge) as it is on screen."""
        box = self.page.evaluate("""(id) => {
            if (LiteGraph.vueNodesMode) {
                const r = document.querySelector(`[data-node-id="${id}"]`).getBoundingClientRect()
                return {x: r.left, y: r.top, width: r.width, height: r.height}
            }
            const node = app.graph.getNodeById(id), canvas = app.canvas, c = canvas.canvas
            const r = c.getBoundingClientRect(), title = LiteGraph.NODE_TITLE_HEIGHT
            const [x0, y0] = canvas.ds.convertOffsetToCanvas([node.pos[0], node.pos[1] - title])
            const [x1, y1] = canvas.ds.convertOffsetToCanvas([node.pos[0] + node.size[0], node.pos[1] + node.size[1]])
            const sx = r.width / c.width, sy = r.height / c.height
            return {x: r.left + x0 * sx, y: r.top + y0 * sy, width: (x1 - x0) * sx, height: (y1 - y0) * sy}
        }""", node_id)
        pad = 6
        clip = {"x": box["x"] - pad, "y": box["y"] - pad, "width": box["width"] + 2 * pad, "height": box["height"] + 2 * pad}
        self.page.screenshot(path=path, clip=clip)

    def pixel_point(self, node_id, x, y):
        """Screen point of the centre of image pixel (x, y) in the editor's image frame."""
        frame = self.editor(node_id).locator(".sde-drag-frame")
        box = frame.bounding_box()
        for _ in range(20):  # None: the editor redrew its frame in between (a picture that just loaded)
            if box:
                break
            self.page.wait_for_timeout(100)
            box = frame.bounding_box()
        width, height = int(frame.get_attribute("data-width")), int(frame.get_attribute("data-height"))
        return box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height

    def click_pixel(self, node_id, x, y, button="left"):
        self.page.mouse.click(*self.pixel_point(node_id, x, y), button=button)

    def place_pairs(self, node_id, pairs):
        for source, target in pairs:
            self.click_pixel(node_id, *source)
            self.click_pixel(node_id, *target)

    def paint(self, node_id, mode, path, radius):
        """Pick the brush (mode "Paint region" or "Erase region", radius in image pixels) and drag it
        along `path` (image pixels) on the picture."""
        editor = self.editor(node_id)
        editor.get_by_role("button", name=mode, exact=True).click()
        brush = editor.get_by_label("Brush radius")
        brush.fill(str(radius))
        brush.dispatch_event("change")
        self.page.mouse.move(*self.pixel_point(node_id, *path[0]))
        self.page.mouse.down()
        for x, y in path[1:]:
            self.page.mouse.move(*self.pixel_point(node_id, x, y), steps=6)
        self.page.mouse.up()

    def region_overlay_count(self, node_id):
        """How many pixels the editor's region overlay marks (its canvas is at image resolution)."""
        return self.editor(node_id).locator("canvas.sde-drag-region").evaluate("""(c) => {
            if (getComputedStyle(c).display === 'none' || !c.width) return -1
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
            let n = 0
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++
            return n
        }""")

    def disabled_widgets(self, node_id):
        """Names of the node's widgets that are disabled (greyed out)."""
        return set(self.page.evaluate(
            "(id) => app.graph.getNodeById(id).widgets.filter(w => w.disabled).map(w => w.name)", node_id))

    def points(self, node_id):
        return self.page.evaluate("(id) => app.graph.getNodeById(id).widgets.find(w => w.name === 'points').value",
                                  node_id)

    def arrows(self, node_id):
        return self.editor(node_id).locator(".sde-drag-pair").count()

    def points_textarea(self):
        """The text box that shows the points (its value, not its text, holds them)."""
        for box in self.page.locator("textarea").all():
            if box.is_visible() and box.input_value().startswith('{"source"'):
                return box
        raise AssertionError("no visible text box with the points")

    # ---- running -------------------------------------------------------------------------------

    def run_button(self):
        """The Run button. From 1.49 the queue-mode menu's trigger is a button named "Run" too: the
        one wanted carries data-testid="queue-button" (1.49, 1.58) or sits in the split button that
        does (1.27, 1.32)."""
        run = self.page.get_by_role("button", name="Run", exact=True)
        queue = self.page.locator('[data-testid="queue-button"]')
        for candidate in (run.and_(queue), queue.get_by_role("button", name="Run", exact=True)):
            if candidate.count() == 1:
                return candidate
        return run

    def run(self):
        """Click Run; the server's answer to the prompt (a Playwright Response)."""
        with self.page.expect_response(lambda r: r.url.endswith("/api/prompt") and r.request.method == "POST") as answer:
            self.run_button().click()
        return answer.value

    def run_and_wait(self):
        response = self.run()
        assert response.ok, response.text()
        prompt_id = response.json()["prompt_id"]
        entry = self.server.wait(prompt_id, timeout=RUN_TIMEOUT_S)
        return prompt_id, entry

    def wait_for_input_picture(self, node_id):
        """The editor shows the input image (from the run's preview of it)."""
        self.page.wait_for_function(
            "(id) => document.querySelector(`.sde-drag-editor[data-node-id='${id}']`)?.dataset.image === 'input'",
            arg=node_id, timeout=UI_TIMEOUT_MS)
        self.page.wait_for_timeout(300)  # the picture's own load and paint

    def saved_image(self, entry, title="Dragged image"):
        """PNG bytes of the first image of the SaveImage node with this title."""
        node_id = self.page.evaluate("(t) => String(app.graph.nodes.find(n => n.title === t).id)", title)
        return self.server.output_images(entry)[node_id][0]

    # ---- files ---------------------------------------------------------------------------------

    def menu(self, *path):
        """Click through the main menu (the logo at the top left)."""
        self.page.locator(".comfyui-logo").first.click()
        for name in path[:-1]:
            self.page.get_by_role("menuitem", name=name, exact=True).hover()
        self.page.get_by_role("menuitem", name=path[-1], exact=True).click()

    def export_workflow(self):
        """File → Export, accept the file name: the downloaded workflow JSON (a path)."""
        with self.page.expect_download() as download:
            self.menu("File", "Export")
            prompt = self.page.get_by_role("dialog").filter(has_text="Export")
            prompt.locator("input").fill("drag_points_roundtrip")
            prompt.locator("input").press("Enter")
        path = str(self.tmp_path / "drag_points_roundtrip.json")
        download.value.save_as(path)
        return path

    def open_workflow_file(self, path):
        """File → Open and pick the file."""
        with self.page.expect_file_chooser() as chooser:
            self.menu("File", "Open")
        chooser.value.set_files(path)


def make_two_pairs(ui, scale=1.0, pairs=PAIRS):
    """Open the template, clear its example pair, place two pairs: the drag node's id."""
    ui.open()
    node_id = ui.open_template(TEMPLATE)
    ui.show_editor(node_id, scale)
    assert ui.arrows(node_id) == 1  # the template's example pair
    ui.editor(node_id).get_by_role("button", name="Clear").click()
    assert ui.points(node_id) == '{"source": [], "target": []}'
    ui.place_pairs(node_id, pairs)
    return node_id


SCALE = {"classic": 1.25, "vue": 1.1}


@every_renderer
@every_frontend
def test_place_two_pairs_and_run(ui, frontend, renderer):
    node_id = make_two_pairs(ui, SCALE[renderer])
    out = ui.out
    assert ui.points(node_id) == EXPECTED_POINTS
    assert ui.arrows(node_id) == 2
    ui.dismiss_notices()
    ui.editor(node_id).screenshot(path=os.path.join(out, "editor_before_run.png"))

    assert ui.missing_editor_note(node_id) is None  # the editor is there: no line saying it is missing
    prompt_id, entry = ui.run_and_wait()
    sent = ui.server.get(f"/history/{prompt_id}")[prompt_id]["prompt"][2][str(node_id)]["inputs"]["points"]
    assert sent == EXPECTED_POINTS
    output = pixels(ui.saved_image(entry))
    assert output.shape == (64, 64, 3)
    Image.fromarray(output).save(os.path.join(out, "output.png"))

    ui.wait_for_input_picture(node_id)
    assert ui.arrows(node_id) == 2
    ui.dismiss_notices()
    ui.editor(node_id).screenshot(path=os.path.join(out, "editor_two_pairs.png"))
    ui.show_node(node_id)
    ui.node_screenshot(node_id, os.path.join(out, "node_two_pairs.png"))
    ui.page.screenshot(path=os.path.join(out, "page.png"))


@every_frontend
def test_drag_a_point_delete_a_pair_undo_and_press_drag(ui, frontend):
    """Editing in place: move a target by dragging it, delete a pair with a right-click, undo, and
    make a pair by pressing at the source and releasing at the target."""
    node_id = make_two_pairs(ui)
    page = ui.page
    page.mouse.move(*ui.pixel_point(node_id, 40, 34))
    page.mouse.down()
    page.mouse.move(*ui.pixel_point(node_id, 44, 40), steps=4)
    page.mouse.up()
    assert ui.points(node_id) == '{"source": [[28, 28], [28, 34]], "target": [[40, 28], [44, 40]]}'
    ui.click_pixel(node_id, 28, 28, button="right")
    assert ui.points(node_id) == '{"source": [[28, 34]], "target": [[44, 40]]}'
    ui.editor(node_id).get_by_role("button", name="Undo").click()
    assert ui.points(node_id) == '{"source": [[28, 28], [28, 34]], "target": [[40, 28], [44, 40]]}'
    assert ui.arrows(node_id) == 2
    page.mouse.move(*ui.pixel_point(node_id, 12, 50))
    page.mouse.down()
    page.mouse.move(*ui.pixel_point(node_id, 20, 52), steps=4)
    page.mouse.up()
    assert ui.points(node_id) == ('{"source": [[28, 28], [28, 34], [12, 50]], '
                                  '"target": [[40, 28], [44, 40], [20, 52]]}')
    assert ui.arrows(node_id) == 3


@every_frontend
def test_saved_workflow_reopens_with_the_same_points_and_output(ui, frontend):
    node_id = make_two_pairs(ui, pairs=SHORT_PAIRS)
    exported = ui.export_workflow()
    with open(exported) as f:
        saved = json.load(f)
    saved_node = next(n for n in saved["nodes"] if n["type"] == NODE)
    assert SHORT_POINTS in saved_node["widgets_values"]
    seed = saved_node["widgets_values"][1]
    _, first = ui.run_and_wait()
    first_png = ui.saved_image(first)

    # Drop the server's cache of node outputs so that the second run computes everything again. Twice:
    # ComfyUI's worker reads the /free flag after each prompt and then may run gc.collect() before it
    # waits for the next one; a flag set during that gap wakes nobody and would only be read after the
    # next prompt had run from the cache (seen once in CI under load). The second /free finds it waiting.
    post_json(ui.server, "/free", {"unload_models": True, "free_memory": True})
    time.sleep(2.0)
    post_json(ui.server, "/free", {"unload_models": True, "free_memory": True})
    time.sleep(1.0)
    ui.page.reload()
    ui.open()
    ui.open_workflow_file(exported)
    ui.page.wait_for_function(
        f"app.graph.nodes.some(n => n.comfyClass === '{NODE}') && "
        "app.extensionManager.workflow.activeWorkflow?.filename?.startsWith('drag_points_roundtrip')")
    node_id = ui.drag_node_id()
    assert ui.points(node_id) == SHORT_POINTS
    ui.show_editor(node_id)
    assert ui.arrows(node_id) == 2
    prompt_id, second = ui.run_and_wait()
    prompt = ui.server.get(f"/history/{prompt_id}")[prompt_id]["prompt"][2]
    assert prompt[str(node_id)]["inputs"]["seed"] == seed
    cached = [m[1].get("nodes", []) for m in second["status"]["messages"] if m[0] == "execution_cached"]
    assert all(str(node_id) not in nodes for nodes in cached), "the second run came from the cache"
    assert np.array_equal(pixels(first_png), pixels(ui.saved_image(second)))


@every_renderer
@every_frontend
def test_malformed_points_typed_by_hand_get_a_clear_error(ui, frontend, renderer):
    ui.open()
    node_id = ui.open_template(TEMPLATE)
    ui.dismiss_notices()
    ui.show_node(node_id)  # the whole node below the menu bars: its text box and its editor
    ui.focus_node(node_id)
    page = ui.page
    textarea = ui.points_textarea()
    textarea.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(MALFORMED)
    assert ui.points(node_id) == MALFORMED
    editor = ui.editor(node_id)
    assert editor.get_attribute("data-pairs") == "-1"  # the editor re-read the text and says why it cannot draw it
    assert "not valid JSON" in editor.locator(".sde-drag-status").inner_text()
    editor.screenshot(path=os.path.join(ui.out, "editor_malformed_points.png"))

    # The server refuses the node when the prompt arrives (validate_inputs), naming the input; the
    # prompt's other outputs (the input preview) stay valid, so ComfyUI queues those and the frontend
    # marks the node with the error instead of opening a dialog.
    response = ui.run()
    assert response.ok, response.text()
    errors = response.json()["node_errors"][str(node_id)]["errors"]
    assert any(e["extra_info"]["input_name"] == "points" and "points is not valid JSON" in e["details"] for e in errors), errors
    page.wait_for_function("id => !!(window.app.lastNodeErrors && window.app.lastNodeErrors[id])", arg=str(node_id))
    shown = page.evaluate("id => JSON.stringify(window.app.lastNodeErrors[id])", str(node_id))
    assert "points is not valid JSON" in shown, shown
    page.screenshot(path=os.path.join(ui.out, "malformed_points_error.png"))

    # The editor recovers the text (Clear), a new pair is placed, and the server runs it.
    ui.focus_node(node_id)
    editor.get_by_role("button", name="Clear").click()
    ui.place_pairs(node_id, SHORT_PAIRS[:1])
    assert ui.points(node_id) == '{"source": [[28, 28]], "target": [[32, 28]]}'
    _, entry = ui.run_and_wait()
    assert pixels(ui.saved_image(entry)).shape == (64, 64, 3)


def test_a_renderer_without_dom_widgets_keeps_the_points_text_and_says_why_the_editor_is_missing(browser, tmp_path):
    """Frontend 1.27.10 (requirements-dev.txt's `# old-frontend:` pin; the last one whose Vue renderer
    shows no DOM widgets): the classic canvas shows the editor; after switching to Vue "Nodes 2.0" the
    editor is gone, and the node keeps its points text box (with the points), gets a line saying why
    the editor is missing, and a toast says it too. The typed points still reach the server. Back on
    the classic canvas the editor shows again and the line is removed. (This frontend is older than
    the 1.32.9 that ComfyUI 0.3.75 asks for; it warns so, and runs.)"""
    version, static = pinned_frontend("old-frontend")
    require(static, f"comfyui-frontend-package {version} is not installed in build/")
    with ComfyServer(front_end_root=static) as server:
        post_json(server, "/settings/Comfy.TutorialCompleted", True)
        with browser_page(server, browser, tmp_path, "vue", "editor_missing") as ui:
            ui.open(vue_nodes=False)  # this frontend draws a stale graph if a template opens in Vue mode
            assert ui.version == version
            node_id = ui.open_template(TEMPLATE, check_card=False)
            ui.show_node(node_id)
            ui.editor(node_id).wait_for(timeout=UI_TIMEOUT_MS)  # the classic canvas shows the editor
            assert ui.missing_editor_note(node_id) is None
            ui.page.evaluate("() => app.extensionManager.setting.set('Comfy.VueNodes.Enabled', true)")
            ui.page.wait_for_function("() => LiteGraph.vueNodesMode === true")
            ui.show_node(node_id)
            ui.page.wait_for_function(
                f"(id) => app.graph.getNodeById(id).widgets.some(w => w.name === '{MISSING_LINE}')",
                arg=node_id, timeout=UI_TIMEOUT_MS)
            note = ui.missing_editor_note(node_id)
            assert "Vue renderer (Nodes 2.0) does not show DOM widgets" in note, note
            toast = ui.page.locator(".p-toast-message").filter(has_text="point editor not shown")
            toast.wait_for(timeout=UI_TIMEOUT_MS)
            assert "Vue renderer (Nodes 2.0)" in toast.inner_text()
            assert ui.editor(node_id).count() == 0 or not ui.editor(node_id).is_visible()
            textarea = ui.points_textarea()  # the text box is still there, with the points
            assert textarea.input_value() == ui.points(node_id)
            ui.page.screenshot(path=os.path.join(ui.out, "editor_missing.png"))
            # The line is neither saved with the workflow nor sent: the prompt runs as before.
            widgets = ui.page.evaluate("(id) => app.graph.getNodeById(id).serialize().widgets_values", node_id)
            assert note not in widgets and widgets[0] == ui.points(node_id)
            prompt_id, entry = ui.run_and_wait()
            sent = ui.server.get(f"/history/{prompt_id}")[prompt_id]["prompt"][2][str(node_id)]["inputs"]
            assert sent["points"] == ui.points(node_id) and MISSING_LINE not in sent
            # Back on the classic canvas the editor shows again and the line goes (node.removeWidget)
            ui.page.evaluate("() => app.extensionManager.setting.set('Comfy.VueNodes.Enabled', false)")
            ui.page.wait_for_function("() => LiteGraph.vueNodesMode === false")
            ui.show_node(node_id)
            ui.page.wait_for_function(
                f"(id) => !app.graph.getNodeById(id).widgets.some(w => w.name === '{MISSING_LINE}')",
                arg=node_id, timeout=UI_TIMEOUT_MS)
            ui.editor(node_id).wait_for(timeout=UI_TIMEOUT_MS)
            assert ui.page.evaluate("(id) => app.graph.getNodeById(id).serialize().widgets_values", node_id) == widgets


# ---- the painted region, the warp preview, the widgets a method ignores ---------------------------

def ignored(method, region=False):
    """The widgets the editor greys out: the server's table (adapter/drag.py UNREAD_WIDGETS), which the
    editor reads from /sde_edit/drag_editor; it has none of its own."""
    from sde_edit_pack.adapter.drag import unread_widgets
    return unread_widgets(method, region)


def server_mask(points, width, height):
    """The server's region for a points text: parse_region then paint_strokes, (height, width) bools."""
    from sde_edit_pack.adapter.points import parse_region
    from sde_edit_pack.sampling.masks import paint_strokes
    return paint_strokes(parse_region("points", points), height, width)[0].numpy() > 0.5


def expected_ignored(node_widgets, method, region=False):
    """What the editor greys out for `method`, with a region (painted or connected) or not: the
    server's table, for the widgets the node has."""
    return ignored(method, region) & set(node_widgets)


@every_frontend
def test_a_painted_region_round_trips_through_the_saved_workflow(ui, frontend):
    """Paint a region with the brush, erase part of it, add a pair: the strokes are in `points` (the
    pairs kept), the overlay is the server's mask pixel for pixel, and the saved workflow re-opens with
    the same text, overlay and greyed widgets."""
    ui.open()
    node_id = ui.open_template(TEMPLATE)
    ui.show_editor(node_id)
    before = json.loads(ui.points(node_id))
    ui.paint(node_id, "Paint region", [(20, 20), (36, 24)], 5)
    ui.paint(node_id, "Erase region", [(28, 14), (28, 32)], 2)
    ui.editor(node_id).get_by_role("button", name="Points", exact=True).click()
    ui.place_pairs(node_id, [((22, 22), (22, 40))])
    text = ui.points(node_id)
    data = json.loads(text)
    assert data["source"] == before["source"] + [[22, 22]] and data["target"] == before["target"] + [[22, 40]]
    strokes = data["region"]
    assert [(s["radius"], s["erase"]) for s in strokes] == [(5, False), (2, True)], strokes
    assert strokes[0]["path"][0] == [20, 20] and strokes[0]["path"][-1] == [36, 24]
    assert strokes[1]["path"][0] == [28, 14] and strokes[1]["path"][-1] == [28, 32]
    assert len(text) < 400, text  # the paths are simplified (a point per quarter radius at most)
    mask = server_mask(text, 64, 64)
    assert 0 < mask.sum() and not mask[14:33, 28].any()  # painted, and the erased line cut through it
    assert ui.region_overlay_count(node_id) == mask.sum()
    editor = ui.editor(node_id)
    assert editor.get_attribute("data-strokes") == "2"
    node_widgets = ui.page.evaluate("(id) => app.graph.getNodeById(id).widgets.map(w => w.name)", node_id)
    assert ui.disabled_widgets(node_id) == expected_ignored(node_widgets, "warp", region=True)
    ui.dismiss_notices()
    editor.screenshot(path=os.path.join(ui.out, "editor_region.png"))

    exported = ui.export_workflow()
    with open(exported) as f:
        saved = json.load(f)
    saved_node = next(n for n in saved["nodes"] if n["type"] == NODE)
    assert saved_node["widgets_values"][0] == text
    ui.page.reload()
    ui.open()
    ui.open_workflow_file(exported)
    ui.page.wait_for_function(
        f"app.graph.nodes.some(n => n.comfyClass === '{NODE}') && "
        "app.extensionManager.workflow.activeWorkflow?.filename?.startsWith('drag_points_roundtrip')")
    node_id = ui.drag_node_id()
    assert ui.points(node_id) == text
    ui.show_editor(node_id)
    assert ui.editor(node_id).get_attribute("data-strokes") == "2"
    assert ui.region_overlay_count(node_id) == mask.sum()
    assert ui.disabled_widgets(node_id) == expected_ignored(node_widgets, "warp", region=True)  # greyed on load too


PREVIEW_MODULE = f"/extensions/{PACK_MODULE}/js/sde_drag/warp_preview.js"
POINTS_MODULE = f"/extensions/{PACK_MODULE}/js/sde_drag/points.js"
# The preview against the node's warp_region on the same picture (factor 1: image = latent, as the
# pixel-space trained scene model): pixels both call landed may differ by MAX_LEVEL_DIFF in 0..255 (the
# browser rounds to bytes; the fields differ by float rounding), and at most MAX_STATUS_DIFF pixels may
# be landed in one and not the other (a bilinear region value within float error of 0.5).
MAX_LEVEL_DIFF = 1.0
MAX_STATUS_DIFF = 2
PREVIEW_CASES = {
    "translation": [((20, 26), (31, 30))],
    # two handles at the ends of the bar, turned by about 30 degrees about its centre (32, 32)
    "rotation": [((22, 32), (23, 27)), ((42, 32), (41, 37))],
}
PREVIEW_STROKES = [{"radius": 6, "path": [[22, 32], [42, 32]], "erase": False},
                   {"radius": 3, "path": [[18, 20], [24, 27]], "erase": False},
                   {"radius": 1.5, "path": [[30, 26], [30, 38]], "erase": True}]


# Strokes at the edges of the rule: fractional points and radii, pixels at exactly the radius (3-4-5),
# one-point strokes, paths leaving the picture, erasing over painting, a path that turns back on itself.
PAINT_CASES = [
    [{"radius": 5, "path": [[20, 20]], "erase": False}, {"radius": 5, "path": [[40, 30], [43, 34]], "erase": False}],
    [{"radius": 0.5, "path": [[3.25, 7.75], [30.5, 9.1]], "erase": False},
     {"radius": 2.5, "path": [[10.5, 10.5]], "erase": False}],
    [{"radius": 7.3, "path": [[-5, 12], [70, 18], [30, 62.4]], "erase": False},
     {"radius": 3, "path": [[30, 20], [30, 40], [31, 20]], "erase": True},
     {"radius": 1.5, "path": [[62.9, 0.1], [63.5, 63.5]], "erase": False}],
    [{"radius": 1024, "path": [[0, 0]], "erase": False}, {"radius": 12.25, "path": [[32, 32], [33.5, 40.75]], "erase": True}],
]


@pytest.mark.parametrize("frontend", [NEWEST_FRONTEND], indirect=True)
def test_the_editor_paints_strokes_exactly_as_the_server(ui, frontend):
    """points.js paintRegion (the editor's overlay, and the region its preview moves) against the server's
    sampling/masks.py paint_strokes, pixel for pixel, on strokes at the edges of the rule, on a square
    and on a non-square picture."""
    ui.open()
    for width, height in ((64, 64), (48, 80)):
        for strokes in PAINT_CASES:
            got = ui.page.evaluate("""async ([pointsUrl, strokes, width, height]) => {
                const { paintRegion, parseRegion } = await import(pointsUrl)
                const { region, error } = parseRegion(strokes)
                return error ?? Array.from(paintRegion(region, width, height))
            }""", [POINTS_MODULE, strokes, width, height])
            text = json.dumps({"source": [], "target": [], "region": strokes})
            server = server_mask(text, width, height)
            assert not isinstance(got, str), got
            assert np.array_equal(np.array(got, dtype=bool).reshape(height, width), server), (width, height, strokes)
            assert server.any() and not server.all()


def synthetic_picture(size=64):
    """RGB uint8: smooth ramps with a checker, so that bilinear reads are tested on every channel."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    checker = ((x // 4 + y // 4) % 2) * 60
    return np.stack([x * 3 + checker, y * 3 + 20, 255 - (x + y) * 1.5 - checker / 2], -1).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("frontend", [NEWEST_FRONTEND], indirect=True)
def test_the_warp_preview_matches_the_node(ui, frontend):
    """The editor's preview (warp_preview.js, run in the browser) against the node's warp_region on the
    same picture and region (paint_strokes of the same strokes, no growth), for a translation and a
    rotation by two pairs; then the preview's time on a 512x512 picture (recorded, not asserted)."""
    import torch
    from sde_edit_pack.sampling.warp import warp_region
    from sde_edit_pack.sampling.masks import paint_strokes

    ui.open()
    picture = synthetic_picture()
    size = picture.shape[0]
    rgba = np.concatenate([picture, np.full((size, size, 1), 255, np.uint8)], -1)
    strokes = [(s["radius"], s["erase"], [tuple(p) for p in s["path"]]) for s in PREVIEW_STROKES]
    region = paint_strokes(strokes, size, size)  # (1, H, W)
    x = torch.from_numpy(picture).permute(2, 0, 1)[None].float()
    for name, pairs in PREVIEW_CASES.items():
        got = ui.page.evaluate("""async ([previewUrl, pointsUrl, size, rgba, strokes, pairs]) => {
            const { warpRegion } = await import(previewUrl)
            const { paintRegion } = await import(pointsUrl)
            const region = paintRegion(strokes, size, size)
            const picture = { width: size, height: size, data: Uint8ClampedArray.from(rgba) }
            const r = warpRegion(picture, region, pairs.map(([s, t]) => ({ source: s, target: t })))
            return { data: Array.from(r.data), landed: Array.from(r.landed), hole: Array.from(r.hole),
                     region: Array.from(region) }
        }""", [PREVIEW_MODULE, POINTS_MODULE, size, rgba.flatten().tolist(), PREVIEW_STROKES,
               [[list(s), list(t)] for s, t in pairs]])
        assert np.array_equal(np.array(got["region"]).reshape(size, size), region[0].numpy().astype(int))
        moved, hole, changed = warp_region(x, region[None], [(tuple(map(float, s)), tuple(map(float, t))) for s, t in pairs])
        py_hole = hole[0, 0].numpy() > 0.5
        py_landed = (changed[0, 0].numpy() > 0.5) & ~py_hole
        js = np.array(got["data"], dtype=np.float64).reshape(size, size, 4)[..., :3]
        js_landed = np.array(got["landed"]).reshape(size, size) > 0
        js_hole = np.array(got["hole"]).reshape(size, size) > 0
        status_diff = int((js_landed != py_landed).sum() + (js_hole != py_hole).sum())
        both = js_landed & py_landed
        level_diff = float(np.abs(js - moved[0].permute(1, 2, 0).numpy())[both].max())
        print(f"preview vs node, {name}: {int(py_landed.sum())} landed, {int(py_hole.sum())} hole pixels; "
              f"max level difference {level_diff:.3f}, status differences {status_diff}")
        assert py_landed.sum() > 100 and py_hole.sum() > 10
        assert level_diff <= MAX_LEVEL_DIFF and status_diff <= MAX_STATUS_DIFF, (name, level_diff, status_diff)
        # elsewhere the picture is as it was
        assert np.array_equal(js[~js_landed], picture[~js_landed].astype(np.float64))

    timing = ui.page.evaluate("""async ([previewUrl, pointsUrl]) => {
        const { drawPreview } = await import(previewUrl)
        const { paintRegion } = await import(pointsUrl)
        const size = 512, canvas = document.createElement('canvas')
        canvas.width = canvas.height = size
        const ctx = canvas.getContext('2d')
        const picture = ctx.createImageData(size, size)
        for (let i = 0; i < picture.data.length; i++) picture.data[i] = (i * 7 + (i >> 11)) & 255
        const region = paintRegion([{ radius: 60, path: [[180, 200], [300, 260]], erase: false }], size, size)
        const all = [[[180, 200], [220, 190]], [[300, 260], [300, 320]], [[100, 400], [120, 400]], [[420, 80], [400, 100]]]
        const out = {}
        for (const n of [1, 2, 4]) {
            const pairs = all.slice(0, n).map(([s, t]) => ({ source: s, target: t }))
            const times = []
            for (let run = 0; run < 21; run++) {
                const image = ctx.createImageData(size, size)
                const started = performance.now()
                drawPreview(picture, region, pairs, image.data)
                ctx.putImageData(image, 0, 0)
                if (run) times.push(performance.now() - started)  // the first run warms the JIT up
            }
            times.sort((a, b) => a - b)
            out[n] = { median_ms: (times[9] + times[10]) / 2, min_ms: times[0], max_ms: times[19], runs: 20 }
        }
        return out
    }""", [PREVIEW_MODULE, POINTS_MODULE])
    print("preview time on 512x512, by pairs:", json.dumps(timing))
    with open(os.path.join(ui.out, "preview_timing.json"), "w") as f:
        json.dump(timing, f, indent=1)


def preview_against_expected(editor, region=None):
    """The editor's preview canvas against drawPreview run here on the shown picture with the node's pairs
    and `region` (a 0/1 array at the picture's size; None: the strokes in the node's points, painted):
    whether every byte is equal, and the counts of landed and hole pixels, and whether it is visible."""
    return editor.evaluate("""async (root, [previewUrl, pointsUrl, region]) => {
        const { drawPreview } = await import(previewUrl)
        const { paintRegion, parsePoints } = await import(pointsUrl)
        const img = root.querySelector('img.sde-drag-image'), shown = root.querySelector('canvas.sde-drag-preview')
        const c = document.createElement('canvas')
        c.width = img.naturalWidth
        c.height = img.naturalHeight
        const ctx = c.getContext('2d')
        ctx.drawImage(img, 0, 0)
        const picture = ctx.getImageData(0, 0, c.width, c.height)
        const node = app.graph.getNodeById(Number(root.dataset.nodeId))
        const parsed = parsePoints(node.widgets.find(w => w.name === 'points').value)
        const mask = region ? Uint8Array.from(region) : paintRegion(parsed.region, c.width, c.height)
        const expected = ctx.createImageData(c.width, c.height)
        const result = drawPreview(picture, mask, parsed.pairs, expected.data)
        const got = shown.getContext('2d').getImageData(0, 0, c.width, c.height).data
        return { equal: got.every((v, i) => v === expected.data[i]), landed: result.landed.reduce((a, b) => a + b, 0),
                 hole: result.hole.reduce((a, b) => a + b, 0), visible: getComputedStyle(shown).visibility }
    }""", [PREVIEW_MODULE, POINTS_MODULE, None if region is None else region.astype(np.uint8).flatten().tolist()])


@pytest.mark.parametrize("renderer", ["classic"])
@pytest.mark.parametrize("frontend", [NEWEST_FRONTEND], indirect=True)
def test_the_preview_in_the_editor(ui, frontend, renderer):
    """After a run the editor shows the picture; a region painted over the ball and Preview on: the
    editor draws warp_preview.js's result for that picture, region and pair over it (and off again)."""
    ui.open()
    node_id = ui.open_template(TEMPLATE)
    ui.show_editor(node_id, 1.25)
    ui.run_and_wait()
    ui.wait_for_input_picture(node_id)
    ui.paint(node_id, "Paint region", [(25, 27), (31, 29)], 7)
    editor = ui.editor(node_id)
    preview = editor.get_by_role("button", name="Preview", exact=True)
    preview.click()
    ui.page.wait_for_function("(e) => e.dataset.preview === 'shown'", arg=editor.element_handle())
    same = preview_against_expected(editor)
    assert same["equal"] and same["landed"] > 50 and same["visible"] == "visible", same
    ui.dismiss_notices()
    ui.page.evaluate("(id) => { const n = app.graph.getNodeById(id); n.setSize([n.size[0], n.size[1] + 320]) }", node_id)
    ui.show_node(node_id)
    ui.page.mouse.move(5, 500)  # no brush outline in the picture
    ui.node_screenshot(node_id, os.path.join(ui.out, "node_region_preview.png"))
    preview.click()
    assert editor.get_attribute("data-preview") == "off"
    assert editor.locator("canvas.sde-drag-region").evaluate("(c) => getComputedStyle(c).visibility") == "visible"
    ui.page.mouse.move(5, 500)
    ui.node_screenshot(node_id, os.path.join(ui.out, "node_region_painted.png"))


VUE_INPUT_DISABLED = """([id, names]) => {
    const node = document.querySelector(`[data-node-id="${id}"]`)
    const row = (name) => node.querySelector(`[data-widget-name="${name}"]`) ??
        [...node.querySelectorAll('.lg-node-widget')].find((e) => e.textContent.trim().startsWith(name))
    return Object.fromEntries(names.map((name) => [name, row(name)?.querySelector('input')?.disabled ?? null]))
}"""


@every_renderer
@every_frontend
def test_widgets_the_method_ignores_are_greyed_out(ui, frontend, renderer):
    """steps, t0, drag_step, beta, alpha under warp; steps, t0, drag_step under fast; none under paper;
    patch_radius too under warp with a painted region. The values and their order (widgets_values, the
    prompt) do not change. In Vue nodes the inputs are disabled: at once on 1.58; on 1.32, whose Vue
    renderer copies the widgets when it lists a node, once it lists them again."""
    ui.open()
    node_id = ui.open_template(TEMPLATE)
    ui.show_node(node_id)
    page = ui.page
    before = page.evaluate("(id) => app.graph.getNodeById(id).serialize().widgets_values", node_id)
    names = page.evaluate("(id) => app.graph.getNodeById(id).widgets.map(w => w.name)", node_id)
    assert ui.disabled_widgets(node_id) == expected_ignored(names, "warp")  # on load: the template's method is warp
    from sde_edit_pack.adapter.routes import DRAG_EDITOR_ROUTE, drag_editor_settings
    served = page.evaluate("async (route) => (await (await fetch('/api' + route)).json())", DRAG_EDITOR_ROUTE)
    assert served == drag_editor_settings()  # the table the editor greys by

    def pick(method):  # what the frontend does when a method is picked in the combo
        page.evaluate("""([id, method]) => {
            const w = app.graph.getNodeById(id).widgets.find(w => w.name === 'method')
            w.value = method
            w.callback?.(method, app.canvas, app.graph.getNodeById(id))
        }""", [node_id, method])
        page.wait_for_timeout(150)

    checked = ["steps", "t0", "cfg", "beta", "patch_radius"]
    for method in ("fast", "paper", "warp"):
        pick(method)
        assert ui.disabled_widgets(node_id) == expected_ignored(names, method), method
        if renderer == "vue" and ui.version != "1.32.9":
            shown = page.evaluate(VUE_INPUT_DISABLED, [node_id, checked])
            assert shown == {n: n in ignored(method) for n in checked}, (method, shown)
    if renderer == "vue" and ui.version == "1.32.9":
        for on in (False, True):  # the renderer lists the node's widgets again
            page.evaluate("(on) => app.extensionManager.setting.set('Comfy.VueNodes.Enabled', on)", on)
            page.wait_for_function("(on) => LiteGraph.vueNodesMode === on", arg=on)
        ui.show_node(node_id)
        shown = page.evaluate(VUE_INPUT_DISABLED, [node_id, checked])
        assert shown == {n: n in ignored("warp") for n in checked}, shown
    ui.dismiss_notices()
    ui.node_screenshot(node_id, os.path.join(ui.out, "node_greyed_warp.png"))

    # a painted region (typed, as the editor writes it): warp moves it, not patch_radius's windows
    region = '{"source": [[28, 28]], "target": [[40, 28]], "region": [{"radius": 6, "path": [[28, 28]], "erase": false}]}'
    page.evaluate("""([id, text]) => {
        const w = app.graph.getNodeById(id).widgets.find(w => w.name === 'points')
        w.value = text
        w.callback?.(text)
    }""", [node_id, region])
    page.wait_for_timeout(150)
    assert ui.disabled_widgets(node_id) == expected_ignored(names, "warp", region=True)
    pick("fast")
    assert ui.disabled_widgets(node_id) == expected_ignored(names, "fast", region=True)

    after = page.evaluate("(id) => app.graph.getNodeById(id).serialize().widgets_values", node_id)
    assert after == [region] + ["fast" if v == "warp" else v for v in before[1:]]  # only points and method changed
    sent = page.evaluate("async (id) => (await app.graphToPrompt()).output[id].inputs", str(node_id))
    values = dict(zip([n for n in names if n != "points_editor"], after))
    for name in ("steps", "t0", "drag_step", "beta", "alpha", "patch_radius"):
        assert sent[name] == values[name], (name, sent[name], values[name])


# A region from a connected MASK loader: the editor reads the loader's file and computes its mask by
# ComfyUI's rules (LoadImage: 1 - alpha; LoadImageMask: the channel), resized to the picture as the
# server resizes it (nearest), with the strokes painted over it (adapter/drag.py painted_region).
CONNECTED_PICTURE = "drag_region_picture.png"  # 64x64 RGB: the picture the drag node edits
ALPHA_SHAPE = "drag_region_alpha.png"  # 40x48 RGBA: transparent ellipse, a band of alpha 120..135
RED_SHAPE = "drag_region_red.png"  # 50x30 RGB: red disc, a band of red 120..135 (LoadImageMask "red")

OVERLAY_CLASSES = """(c) => {
    // per pixel: 0 outside the region, 1 painted (orange), 2 from the connected mask (blue)
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
    let s = ''
    for (let i = 0; i < d.length; i += 4) s += d[i + 3] === 0 ? '0' : d[i] === 255 ? '1' : '2'
    return [c.width, c.height, s]
}"""


def connected_shapes():
    """The alpha and red pictures (uint8 arrays) and their MASKs by ComfyUI's rules (float32)."""
    y, x = np.mgrid[0:48, 0:40]
    alpha = np.full((48, 40), 255, np.uint8)
    alpha[((x - 14) / 9.0) ** 2 + ((y - 20) / 12.0) ** 2 <= 1] = 0
    alpha[8:41, 26:37] = (120 + (y[8:41, 26:37] % 16)).astype(np.uint8)  # straddles 127 | 128
    rgba = np.dstack([(x * 6).astype(np.uint8), (y * 5).astype(np.uint8), np.full((48, 40), 90, np.uint8), alpha])
    y, x = np.mgrid[0:30, 0:50]
    red = np.zeros((30, 50), np.uint8)
    red[(x - 35) ** 2 + (y - 15) ** 2 <= 64] = 255
    red[4:26, 6:14] = (120 + (y[4:26, 6:14] % 16)).astype(np.uint8)
    rgb = np.dstack([red, (x * 5).astype(np.uint8), np.full((30, 50), 200, np.uint8)])
    alpha_mask = 1.0 - (alpha.astype(np.float32) / 255.0)  # LoadImage: 1 - alpha
    red_mask = red.astype(np.float32) / 255.0  # LoadImageMask, channel red
    return rgba, rgb, alpha_mask, red_mask


def expected_region(mask, points, height=64, width=64):
    """The server's region at image resolution for a MASK and a points text: painted_region >= 0.5,
    and the strokes alone (for the overlay's colours)."""
    import torch
    from sde_edit_pack.adapter.drag import painted_region
    from sde_edit_pack.adapter.points import parse_region
    strokes = parse_region("points", points)
    region = painted_region(torch.from_numpy(mask)[None], strokes, height, width)[0].numpy() >= 0.5
    return region, server_mask(points, width, height)


@every_frontend
def test_a_region_from_a_connected_mask_loader_is_shown_and_previewed(ui, frontend):
    """`region` fed by LoadImage's MASK (a 40x48 RGBA picture: 1 - alpha) then by LoadImageMask (a
    50x30 picture's red channel): the editor's overlay is the server's painted_region of that mask,
    resized to the 64x64 picture, pixel for pixel, without strokes and with a painted and an erased
    stroke (painted pixels orange, the connected rest blue); Preview shows the move of the connected
    region alone (no strokes), equal to warp_preview.js's drawPreview of it; a region from any other
    node gets a note in the status line and the overlay shows the strokes alone."""
    rgba, rgb, alpha_mask, red_mask = connected_shapes()
    inputs = os.path.join(ui.server.base_dir, "input")
    Image.fromarray(synthetic_picture()).save(os.path.join(inputs, CONNECTED_PICTURE))
    Image.fromarray(rgba, "RGBA").save(os.path.join(inputs, ALPHA_SHAPE))
    Image.fromarray(rgb, "RGB").save(os.path.join(inputs, RED_SHAPE))
    ui.open()
    page = ui.page
    ids = page.evaluate("""([picture, alphaShape, redShape]) => {
        for (const n of [...app.graph.nodes]) app.graph.remove(n)
        const add = (type, x, y, title) => {
            const n = LiteGraph.createNode(type)
            n.pos = [x, y]
            if (title) n.title = title
            app.graph.add(n)
            return n
        }
        const widget = (n, name) => n.widgets.find((w) => w.name === name)
        const load = add('LoadImage', 0, 0)
        widget(load, 'image').value = picture
        const encode = add('VAEEncode', 360, 0)
        load.connect(0, encode, 0)
        const drag = add('SDEDragPointMover', 620, 0)
        drag.setSize([drag.size[0], drag.size[1] + 120])
        encode.connect(0, drag, drag.inputs.findIndex((i) => i.name === 'latent'))
        const alpha = add('LoadImage', 0, 420, 'Alpha shape')
        widget(alpha, 'image').value = alphaShape
        const red = add('LoadImageMask', 0, 840, 'Red shape')
        widget(red, 'image').value = redShape
        widget(red, 'channel').value = 'red'
        const solid = add('SolidMask', 360, 840)
        alpha.connect(1, drag, drag.inputs.findIndex((i) => i.name === 'region'))
        app.graph.setDirtyCanvas(true, true)
        return { drag: drag.id, red: red.id, solid: solid.id }
    }""", [CONNECTED_PICTURE, ALPHA_SHAPE, RED_SHAPE])
    node_id = ids["drag"]
    ui.show_editor(node_id)
    editor = ui.editor(node_id)
    handle = editor.element_handle()
    status = editor.locator(".sde-drag-status")

    def wait_ready(title):
        page.wait_for_function("([e, title]) => e.dataset.regionSource === 'ready' && e.dataset.image === 'input' &&"
                               " e.querySelector('.sde-drag-status').textContent.includes(title)",
                               arg=[handle, title], timeout=UI_TIMEOUT_MS)
        page.wait_for_timeout(200)

    def check_overlay(mask, label):
        points = ui.points(node_id)
        region, strokes = expected_region(mask, points)
        width, height, classes = editor.locator("canvas.sde-drag-region").evaluate(OVERLAY_CLASSES)
        got = np.array([int(c) for c in classes]).reshape(height, width)
        assert (width, height) == (64, 64)
        assert np.array_equal(got > 0, region), (label, int((got > 0).sum()), int(region.sum()),
                                                  int(((got > 0) != region).sum()))
        assert np.array_equal(got == 1, region & strokes), label  # painted: orange
        assert np.array_equal(got == 2, region & ~strokes), label  # from the connected mask: blue
        return region

    wait_ready("Alpha shape")
    assert "region: mask of Alpha shape" in status.inner_text()
    region = check_overlay(alpha_mask, "LoadImage's MASK alone")
    assert 300 < region.sum() < 64 * 64 / 2
    names = page.evaluate("(id) => app.graph.getNodeById(id).widgets.map(w => w.name)", node_id)
    assert ui.disabled_widgets(node_id) == expected_ignored(names, "warp", region=True)

    # Preview with the connected region alone (no strokes): one pair, and the move drawn over the picture.
    assert "region" not in json.loads(ui.points(node_id))
    ui.place_pairs(node_id, [((14, 26), (24, 30))])
    assert ui.points(node_id) == '{"source": [[14, 26]], "target": [[24, 30]]}'
    preview = editor.get_by_role("button", name="Preview", exact=True)
    preview.click()
    page.wait_for_function("(e) => e.dataset.preview === 'shown'", arg=handle, timeout=UI_TIMEOUT_MS)
    same = preview_against_expected(editor, region)
    assert same["equal"] and same["landed"] > 100 and same["hole"] > 10 and same["visible"] == "visible", same
    ui.dismiss_notices()
    editor.screenshot(path=os.path.join(ui.out, "editor_connected_region_preview.png"))
    preview.click()
    assert editor.get_attribute("data-preview") == "off"

    # Strokes painted over it: painting adds, erasing removes, as on the server.
    ui.paint(node_id, "Paint region", [(44, 44), (56, 52)], 4)
    ui.paint(node_id, "Erase region", [(4, 20), (40, 20)], 2)
    editor.get_by_role("button", name="Points", exact=True).click()
    assert len(json.loads(ui.points(node_id))["region"]) == 2
    region = check_overlay(alpha_mask, "LoadImage's MASK and two strokes")
    assert not region[19:22, 6:38].any()  # the erased line cuts through the connected shape
    ui.page.mouse.move(5, 500)
    editor.screenshot(path=os.path.join(ui.out, "editor_connected_region.png"))

    # The same strokes over LoadImageMask's red channel.
    page.evaluate("""([red, drag]) => {
        const d = app.graph.getNodeById(drag)
        app.graph.getNodeById(red).connect(0, d, d.inputs.findIndex((i) => i.name === 'region'))
    }""", [ids["red"], node_id])
    wait_ready("Red shape")
    check_overlay(red_mask, "LoadImageMask's red channel and two strokes")

    # Any other node: a note in the status line, the strokes alone in the overlay (seen after a run).
    page.evaluate("""([solid, drag]) => {
        const d = app.graph.getNodeById(drag)
        app.graph.getNodeById(solid).connect(0, d, d.inputs.findIndex((i) => i.name === 'region'))
    }""", [ids["solid"], node_id])
    page.wait_for_function("(e) => e.dataset.regionSource === 'other'", arg=handle, timeout=UI_TIMEOUT_MS)
    solid = ui.server.get("/object_info/SolidMask")["SolidMask"]["display_name"] or "SolidMask"  # 0.33: "Create Solid Mask"
    assert f"region: from {solid}, seen after a run" in status.inner_text()
    check_overlay(np.zeros((64, 64), np.float32), "another node: the strokes alone")
    assert ui.disabled_widgets(node_id) == expected_ignored(names, "warp", region=True)


@every_renderer
@every_frontend
def test_a_region_known_only_after_a_run_is_shown_after_the_run(ui, frontend, renderer):
    """A `region` from a node the browser cannot read (as SAM3 Detect's: here SolidMask composited into
    a 20x20 square, at 64x64) is only a note before a run; after it, the editor draws the region the drag
    reports it used (the node's UI output) in blue, pixel for pixel the square. The square sits elsewhere
    in each renderer: the same prompt queued again on the same server would be served from ComfyUI's
    cache, which sends no `executed` message for a cached node (so the editor learns of no new region)."""
    left = {"classic": 8, "vue": 10}[renderer]
    node_id = make_two_pairs(ui, SCALE[renderer], pairs=[((14, 26), (24, 30))])
    page, editor = ui.page, ui.editor(node_id)
    handle = editor.element_handle()
    page.evaluate("""([id, left]) => {
        const drag = app.graph.getNodeById(id)
        const add = (type, x, y, values) => {
            const n = LiteGraph.createNode(type)
            n.pos = [x, y]
            app.graph.add(n)
            for (const [name, v] of Object.entries(values)) n.widgets.find((w) => w.name === name).value = v
            return n
        }
        const empty = add('SolidMask', -400, 600, { value: 0, width: 64, height: 64 })
        const square = add('SolidMask', -400, 800, { value: 1, width: 20, height: 20 })
        const composite = add('MaskComposite', -100, 700, { x: left, y: 16, operation: 'add' })
        empty.connect(0, composite, 0)
        square.connect(0, composite, 1)
        composite.connect(0, drag, drag.inputs.findIndex((i) => i.name === 'region'))
        app.graph.setDirtyCanvas(true, true)
    }""", [node_id, left])
    page.wait_for_function("(e) => e.dataset.regionSource === 'other'", arg=handle, timeout=UI_TIMEOUT_MS)
    _, entry = ui.run_and_wait()
    page.wait_for_function("(e) => e.dataset.regionSource === 'ready'", arg=handle, timeout=UI_TIMEOUT_MS)
    ui.wait_for_input_picture(node_id)
    width, height, classes = editor.locator("canvas.sde-drag-region").evaluate(OVERLAY_CLASSES)
    got = np.array([int(c) for c in classes]).reshape(height, width)
    square = np.zeros((64, 64), bool)
    square[16:36, left:left + 20] = True
    assert (width, height) == (64, 64) and np.array_equal(got == 2, square) and not (got == 1).any()
    assert "(blue)" in editor.locator(".sde-drag-status").inner_text()
    ui.dismiss_notices()
    editor.screenshot(path=os.path.join(ui.out, "editor_region_after_run.png"))
