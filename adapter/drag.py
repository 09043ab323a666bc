"""The SDE-Drag Point Mover's work (`drag`): its inputs checked, the region that moves built, the drag
run through ComfyUI's guider. Drag settings: the authors' SDE-Drag and the cheaper presets, the
number of latents each sends through the model (the cost formula the node reference, docs/nodes.md,
states) and the widgets each leaves unread (the point editor greys them out)."""
from dataclasses import dataclass, replace

import comfy.samplers
import torch

from ..sampling.drag import Paste, drag_substep_count
from ..sampling.masks import grow, paint_strokes
from ..sampling.regions import similar_region
from ..sampling.warp import warp_image
from .checks import (InputError, check_choice, check_conditioning, check_latent, check_mask, check_memory, check_model,
                     check_vae, check_work)
from .guided import RisingCFGGuider, run_sampler, schedule_tail
from .points import check_inside, downscale_factor, parse_points, parse_region, to_latent
from .sampler import DragSampler, WarpDragSampler


@dataclass(frozen=True)
class DragSetting:
    """algorithm: "cycle" (SDE-Drag, ODE-Drag at η = 0) or "warp" (warp-and-inpaint).
    steps: of the whole schedule; t0: the fraction of it that runs (per cycle, or the warp pass's
    strength); drag_step: latent pixels per cycle; order: 1 (the paper's step) or 2
    ((SDE-)DPM-Solver++(2M)); seam: latent pixels the warp pass repaints around what moved."""
    algorithm: str
    steps: int
    t0: float
    drag_step: float = 2.0
    order: int = 1
    seam: int = 1
    replay: bool = False  # warp: Cycle-SDE replay of the input's recorded noise instead of fresh noise

    def run_steps(self) -> int:
        return max(1, round(self.steps * self.t0))

    def model_evaluations(self, pairs, batch: int, eta: float, guided: bool) -> int:
        """Latents through the model for one drag of `batch` latents. guided: CFG with a negative
        and cfg ≠ 1 (ComfyUI evaluates cond and uncond: twice as many)."""
        k = self.run_steps()
        if self.algorithm == "warp":
            # no points: nothing moves, no model call; replay: the edited and the recorded latent
            per_latent = (2 * k if self.replay else k) if pairs else 0
        else:
            # SDE: the edited and the recorded latent, k steps; ODE: k − 1 inversion calls (the first
            # step from the clean latent is free) and k going down, on the edited latent alone
            per_cycle = 2 * k if eta > 0 else 2 * k - 1
            per_latent = drag_substep_count(pairs, self.drag_step) * per_cycle
        return per_latent * batch * (2 if guided else 1)


PAPER = DragSetting("cycle", steps=100, t0=0.6, drag_step=2.0)  # the authors' defaults (the node's widgets)
PRESETS = {
    "warp": DragSetting("warp", steps=10, t0=0.5, seam=1, replay=True),
    "fast": DragSetting("cycle", steps=20, t0=0.6, drag_step=8.0, order=2),
    "paper": PAPER,
}
METHODS = tuple(PRESETS)
HANDLE_REGIONS = ("similar + windows", "similar", "windows")
WARP_SPACES = ("image", "latent")

# The widgets each method leaves unread: "always", and "with_region" besides when a region is connected
# or painted (every method then moves the region, not patch_radius's windows, and handle_region has
# nothing to find). warp and fast fix steps, t0 and drag_step (PRESETS); warp pastes nothing, so beta
# and alpha do nothing there; warp_space is warp's; paper always moves the authors' windows. The point
# editor greys these out; it reads this table from the server (adapter/routes.py), it has none of its own.
UNREAD_WIDGETS = {
    "warp": {"always": ("steps", "t0", "drag_step", "beta", "alpha"), "with_region": ("patch_radius", "handle_region")},
    "fast": {"always": ("steps", "t0", "drag_step", "warp_space"), "with_region": ("patch_radius", "handle_region")},
    "paper": {"always": ("handle_region", "warp_space"), "with_region": ("patch_radius",)},
}


def unread_widgets(method: str, with_region: bool) -> set:
    """The widgets `method` leaves unread (UNREAD_WIDGETS), with a region connected or painted or not."""
    row = UNREAD_WIDGETS[method]
    return set(row["always"]) | (set(row["with_region"]) if with_region else set())


def setting_for(method: str, steps: int, t0: float, drag_step: float) -> DragSetting:
    """The node's `method`: "paper" takes steps, t0 and drag_step from the node (their defaults are
    the authors'); the other presets fix them."""
    if method == "paper":
        return replace(PAPER, steps=steps, t0=t0, drag_step=drag_step)
    return PRESETS[method]


# ---------------------------------------------------------------- what moves: the region, built once
#
# marked: the `region` MASK input, checked; strokes: the region painted in the point editor;
# region_image: what the user marked at image resolution (the MASK resized, the strokes painted over it);
# region_latent: what moves at the latent's resolution (from what the user marked, or found from the
# handles).


def region_batch(name: str, region, samples):
    """The `region` MASK's batch made one a drag can use, before check_mask: one mask per object (a
    segmenter's individual masks, SAM3 Detect individual_masks) for a single image is their union, since
    every object marked moves along the pairs; a batch of the latent's size stays one mask per image.
    An empty batch (a segmenter that found nothing) is refused here, where it can be named."""
    if not isinstance(region, torch.Tensor) or region.ndim != 3:
        return region  # check_mask names what is wrong with it
    batch = samples.shape[0]
    if region.shape[0] == 0:
        raise InputError(f"{name} is an empty batch of masks (0 x {region.shape[-2]} x {region.shape[-1]}): the "
                         "segmentation found no object; click on the object or lower its threshold, or disconnect "
                         f"{name} to let handle_region find what moves")
    if region.shape[0] in (1, batch):
        return region
    if batch == 1:
        return region.amax(0, keepdim=True)
    raise InputError(f"{name} has a batch of {region.shape[0]} masks for a latent batch of {batch}: give 1 mask (for "
                     f"every image), {batch} (one per image), or one mask of all the objects (SAM3 Detect: "
                     "individual_masks off)")


def painted_region(marked, strokes, height: int, width: int):
    """The region at image resolution (B or 1, H, W): the MASK (nearest-resized; zeros when None) with
    the editor's brush strokes painted over it."""
    base = (torch.zeros(1, height, width) if marked is None else
            torch.nn.functional.interpolate(marked[:, None].float().cpu(), size=(height, width), mode="nearest")[:, 0])
    return torch.cat([paint_strokes(strokes, height, width, item[None]) for item in base]) if strokes else base


def latent_region(region, samples, grow_by: int = 1):
    """A checked MASK (B or 1, H, W) at image or latent resolution -> (B or 1, 1, H, W) at the
    latent's: 1 where it covers at least half a latent pixel's image pixels (area), then grown by
    `grow_by` latent pixels. Grown, because an object's edge pixels that a mask leaves out stay behind
    as a rim at the source: on the trained scene model a 1-px growth halved what a large object left
    behind (0.181 -> 0.092 RMS) and its placement error (1.22 -> 0.75 px), docs/scene_model.md."""
    at_latent = torch.nn.functional.interpolate(region[:, None].float(), size=tuple(samples.shape[-2:]), mode="area")
    return grow((at_latent >= 0.5).float()[:, 0], grow_by)[:, None]


def marked_region(marked, strokes, samples, factor: int):
    """What the user marked, built once: (region_image, region_latent), (None, None) when nothing is.
    region_image: (B or 1, H, W) at image resolution, `painted_region` (what `image_space_warp` moves).
    region_latent: (B or 1, 1, h, w), as `latent_region` (grown by one latent pixel), from region_image
    when strokes are painted, else from the MASK as given (its area average at the latent's resolution is
    taken from the finest picture of it there is). An empty region, or one that covers the whole latent,
    is refused naming `region`."""
    if marked is None and not strokes:
        return None, None
    region_image = painted_region(marked, strokes, samples.shape[-2] * factor, samples.shape[-1] * factor)
    name = "region" if strokes == [] else "region (with the region painted in the point editor)"
    at_latent = latent_region(region_image if strokes else marked, samples, grow_by=0)
    if not bool(at_latent.any()):
        raise InputError(f"{name} is empty at the latent's resolution (no latent pixel is at least half covered): "
                         f"mark the object to move in white (a segmentation that found nothing gives an empty mask: "
                         f"click on the object or lower its threshold, or disconnect region to let handle_region "
                         f"find what moves)")
    if bool(at_latent.flatten(1).all(1).any()):
        raise InputError(f"{name} covers the whole image: mark only the object to move (white), so that something "
                         f"stays where it is")
    return region_image, grow(at_latent[:, 0], 1)[:, None]


def handle_windows(samples, pairs, radius: int):
    """The (2r)×(2r) squares around the source points, (1, 1, h, w) at the latent's resolution
    (clipped at its edges), r = `radius` (the node's patch_radius)."""
    height, width = samples.shape[-2], samples.shape[-1]
    boxes = torch.zeros(1, 1, height, width)
    for (sx, sy), _ in pairs:
        x, y = min(max(round(sx), 0), width - 1), min(max(round(sy), 0), height - 1)
        boxes[..., max(y - radius, 0):y + radius, max(x - radius, 0):x + radius] = 1
    return boxes


def region_from_handles(choice: str, samples, pairs, radius: int):
    """What moves when the user marks nothing (warp and fast): "similar" = `similar_region` from the
    source points, grown by one latent pixel as a marked region is (None where it finds no object:
    the windows); "windows" = None (the square patches); "similar + windows" = both together, the
    windows of `radius` (patch_radius) around each source point (the node's default: as good as a window
    that covers the object, and far better than one that does not, on the closed-form object set and on
    the trained model; docs/region_drag.md)."""
    if choice == "windows" or not pairs:
        return None
    found = similar_region(samples, [s for s, _ in pairs])
    if choice == "similar + windows":
        boxes = handle_windows(samples, pairs, radius)
        found = boxes.to(samples) if found is None else torch.maximum(found, boxes.to(found))
    return None if found is None else grow(found[:, 0], 1)[:, None]


def image_space_warp(vae, samples, pairs, factor: int, *, region_image=None, region_latent=None):
    """warp's move made on the picture (`sampling.warp.warp_image`): the LATENT's samples decoded by the
    VAE, the region moved at full resolution, encoded back. The region at image resolution:
    region_image (what the user marked) grown by one latent pixel (`factor` image pixels) as
    `latent_region` grows it; or, when the user marked nothing, region_latent (found from the handles)
    scaled up. pairs in image pixels. Returns (guide latent in the LATENT's convention, changed)."""
    if region_image is not None:
        at_image = grow((region_image >= 0.5).float(), factor)[:, None]
    else:
        at_image = torch.nn.functional.interpolate(region_latent.float().cpu(), scale_factor=factor, mode="nearest")

    def decode(z):
        return vae.decode(z).movedim(-1, 1).float().cpu()

    def encode(image):
        return vae.encode(image.movedim(1, -1)).float()

    return warp_image(decode, encode, samples, at_image, pairs, factor)


# ---------------------------------------------------------------- the drag


def run_drag(*, model, positive, negative, latent: dict, pairs, setting: DragSetting, seed: int, cfg: float,
             radius: int, beta: float, alpha: float, eta: float, scheduler: str, mask=None, region=None, warped=None):
    """Drag `latent` along `pairs` (latent pixels). Returns (LATENT, [latent per frame], sampler).
    negative None: no guidance (one model call per latent, cfg ignored). radius, beta, alpha: the
    copy-and-paste's (`sampling.drag.Paste`, with the setting's drag_step). region: what moves,
    region_latent (warp: moved once; fast and paper: the pasted patch's shape in every cycle). warped:
    warp only, (guide, changed) from `image_space_warp`, the move already made on the picture."""
    sigmas = schedule_tail(model, scheduler, setting.steps, setting.run_steps())
    if negative is None:
        negative, cfg = positive, 1.0
    where = dict(seed=seed, batch_indices=latent.get("batch_index"))
    if setting.algorithm == "warp":
        sampler = WarpDragSampler(pairs=pairs, radius=radius, seam=setting.seam, eta=eta, order=setting.order,
                                  replay=setting.replay, region=region, warped=warped, **where)
    else:
        paste = Paste(radius=radius, beta=beta, alpha=alpha, drag_step=setting.drag_step)
        sampler = DragSampler(pairs=pairs, paste=paste, eta=eta, order=setting.order, region=region, **where)
    out = run_sampler(model, positive, negative, cfg, latent, seed, sigmas, sampler, mask,
                      guider=RisingCFGGuider(model, sigmas, cfg))
    return out, sampler.frames, sampler


def drag(*, model, positive, negative, latent, points, mask, vae, region, seed, steps, t0, cfg, drag_step,
         patch_radius, beta, alpha, eta, scheduler, method, handle_region, warp_space, latents_held):
    """The SDE-Drag Point Mover node, its inputs by their names (numbers already checked against the
    schema's bounds): every input checked, naming it, before any work; the region built once; the drag.
    latents_held: float32 copies of the latent a run holds besides a recorded chain (the memory check).
    Returns (LATENT, the sub-steps' LATENT, the `region` MASK for the point editor to draw, or None)."""
    check_model("model", model)
    check_conditioning("positive", positive)
    if negative is not None:
        check_conditioning("negative", negative)
    samples = check_latent("latent", latent)
    check_choice("method", method, METHODS)
    check_choice("handle_region", handle_region, HANDLE_REGIONS)
    check_choice("warp_space", warp_space, WARP_SPACES)
    check_choice("scheduler", scheduler, comfy.samplers.SCHEDULER_NAMES)
    # images: (batch, channels, height, width), or one frame of a video VAE's latent (Qwen-Image, Cosmos)
    if not (samples.ndim == 4 or (samples.ndim == 5 and samples.shape[2] == 1)):
        raise InputError(f"latent: SDE-Drag edits images, (batch, channels, height, width) or (batch, channels, 1, "
                         f"height, width); got shape {tuple(samples.shape)}")
    check_vae("vae", vae)
    image_pairs = parse_points("points", points)
    factor = downscale_factor(model, vae)
    check_inside("points", image_pairs, samples.shape[-1] * factor, samples.shape[-2] * factor,
                 image=f"the image of latent ({samples.shape[-1]}x{samples.shape[-2]} latent pixels x {factor})")
    mask_name = "mask" if mask is not None else "latent's noise_mask"
    mask = check_mask(mask_name, mask if mask is not None else latent.get("noise_mask"), samples)
    strokes = parse_region("points", points)
    marked = check_mask("region", region_batch("region", region, samples), samples)
    region_image, region_latent = marked_region(marked, strokes, samples, factor)

    setting = setting_for(method, steps, t0, drag_step)
    pairs = to_latent(image_pairs, factor)
    if region_latent is None and method != "paper":
        region_latent = region_from_handles(handle_region, samples, pairs, patch_radius)
    k = setting.run_steps()
    if setting.algorithm == "cycle":
        cycles = drag_substep_count(pairs, setting.drag_step)
        check_work("drag_step", cycles * k, f"{cycles} cycles of {k} steps: longest drag / drag_step × steps × t0")
    # a recorded chain holds k + 1 latents besides the loop's own copies (one cycle at a time)
    recorded = k + 1 if (setting.algorithm == "cycle" or setting.replay) else 0
    check_memory("latent", samples, latents_held + recorded)
    warped = None
    if setting.algorithm == "warp" and warp_space == "image" and vae is not None and region_latent is not None \
            and samples.ndim == 4 and pairs:
        warped = image_space_warp(vae, samples, image_pairs, factor, region_image=region_image,
                                  region_latent=region_latent)
    out, frames, _ = run_drag(model=model, positive=positive, negative=negative, latent=latent, pairs=pairs,
                              setting=setting, seed=seed, cfg=cfg, radius=patch_radius, beta=beta, alpha=alpha,
                              eta=eta, scheduler=scheduler, mask=mask, region=region_latent, warped=warped)
    substeps = latent.copy()
    substeps["samples"] = torch.cat(frames).to(out["samples"])
    substeps.pop("noise_mask", None)
    substeps.pop("batch_index", None)
    return out, substeps, region_shown(marked)  # the editor draws it (a segmenter's mask is known only now)


MAX_SHOWN_RUNS = 100_000  # a mask this fragmented is not drawn after a run (the message would be megabytes)


def region_shown(marked):
    """The `region` MASK the drag used (its first image, after `region_batch`), for the point editor to
    draw after a run (a mask from a segmenter is only known then): {"width", "height", "runs"}, the
    row-major run lengths of out / in pixels (in = at least 0.5, the editor's rule), starting with an
    out run; None when there is none or it is too fragmented to send."""
    if marked is None:
        return None
    bits = (marked[0] >= 0.5).flatten().to(torch.int8).cpu()
    edges = torch.nonzero(bits[1:] != bits[:-1]).flatten() + 1
    bounds = [0] + edges.tolist() + [bits.numel()]
    runs = [b - a for a, b in zip(bounds, bounds[1:])]
    if bool(bits[0]):
        runs = [0] + runs
    if len(runs) > MAX_SHOWN_RUNS:
        return None
    return {"width": int(marked.shape[-1]), "height": int(marked.shape[-2]), "runs": runs}
