"""The SDE-Drag Point Mover's work (`drag`): its inputs checked where they enter, the drag planned
(`DragPlan`: the pairs, the cycles they make, what moves: the region built once, the move made on the
picture), the plan run through ComfyUI's guider (`run_plan`). What each method is (its settings, its
sampler, its cost, the widgets it leaves unread): adapter/drag_methods.py."""
from dataclasses import dataclass, replace
from typing import NamedTuple, Optional

import comfy.samplers
import torch

from ..sampling.masks import grow, paint_strokes
from ..sampling.regions import similar_region
from ..sampling.warp import pixel_at, warp_image
from .checks import (InputError, check_choice, check_conditioning, check_edit_mask, check_latent, check_mask,
                     check_memory, check_vae)
from .drag_methods import (METHODS, PAPER, PRESETS, UNREAD_WIDGETS, DragMethod, DragSetting,  # noqa: F401 (the lab's)
                           unread_widgets)
from .guided import RisingCFGGuider, run_edit, schedule_tail
from .points import check_inside, downscale_factor, read_points, to_latent
from .sampler import check_editable_model

HANDLE_REGIONS = ("similar + windows", "similar", "windows")
WARP_SPACES = ("image", "latent")


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
    name = "region (with the region painted in the point editor)" if strokes else "region"
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
        x, y = pixel_at(sx, sy, height, width)
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


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True, eq=False)
class DragPlan:
    """One drag as it runs. image_pairs: the pairs in image pixels, `factor` of them per latent pixel;
    pairs: in latent pixels; cycles: the passes they make (`DragSetting.cycles`, counted once); region:
    what moves, (B or 1, 1, h, w) at the latent's resolution (None: the windows of patch_radius); warped:
    (guide, changed), the move made on the picture (`image_space_warp`), or None."""
    setting: DragSetting
    image_pairs: Optional[list]
    factor: Optional[int]
    pairs: list
    cycles: int
    region: Optional[torch.Tensor] = None
    warped: Optional[tuple] = None


def plan_pairs(setting: DragSetting, image_pairs, factor: int) -> DragPlan:
    """The plan's pairs and cycles; what moves is `plan_moves`'s."""
    pairs = to_latent(image_pairs, factor)
    return DragPlan(setting, image_pairs, factor, pairs, setting.cycles(pairs))


def check_cost(plan: DragPlan, samples, latents_held: int, model=None):
    """Refuse, before any work, a drag that would run too many steps or hold more latents than the device
    (model's, by its patcher's free memory where the core says it) has room for. latents_held: float32
    copies of the latent a run holds besides a recorded chain."""
    kind = plan.setting.kind
    kind.check_work(plan.setting, plan.cycles)
    check_memory("latent", samples, latents_held + kind.recorded_latents(plan.setting), model=model)


def plan_moves(plan: DragPlan, method: DragMethod, samples, *, marked=(None, None), handle_region: str,
               patch_radius: int, warp_space: str, vae=None) -> DragPlan:
    """What moves, as the node plans it (the benchmarks plan theirs here too): the region the user
    marked (marked: `marked_region`'s (region_image, region_latent)), else, where `method` finds one,
    the region found from the handles (`region_from_handles`), else the windows; and, for an algorithm
    that moves the picture, with warp_space image and a VAE, the move made on it (`image_space_warp`)."""
    region_image, region = marked
    if region is None and method.finds_region:
        region = region_from_handles(handle_region, samples, plan.pairs, patch_radius)
    warped = None
    if plan.setting.kind.moves_picture and warp_space == "image" and vae is not None and region is not None \
            and samples.ndim == 4 and plan.pairs:
        warped = image_space_warp(vae, samples, plan.image_pairs, plan.factor, region_image=region_image,
                                  region_latent=region)
    return replace(plan, region=region, warped=warped)


# ---------------------------------------------------------------- the drag


class Dragged(NamedTuple):
    """What a drag gives back."""
    latent: dict  # the LATENT
    frames: list  # the latent after each sub-step (warp: its warped start and the result), ComfyUI's convention
    plan: DragPlan


def run_plan(plan: DragPlan, *, model, positive, negative, latent: dict, seed: int, cfg: float, radius: int,
             beta: float, alpha: float, eta: float, scheduler: str, mask=None) -> Dragged:
    """Run the plan on `latent` through ComfyUI's guider (CFG rising along the schedule). negative None:
    no guidance (one model call per latent, cfg ignored). radius, beta, alpha: the copy-and-paste's
    (`sampling.drag.Paste`, with the setting's drag_step)."""
    setting = plan.setting
    sigmas = schedule_tail(model, scheduler, setting.steps, setting.run_steps())
    if negative is None:
        negative, cfg = positive, 1.0
    sampler = setting.kind.sampler(setting, plan.pairs, plan.cycles, radius=radius, beta=beta, alpha=alpha, eta=eta,
                                   region=plan.region, warped=plan.warped, seed=seed,
                                   batch_indices=latent.get("batch_index"))
    out, frames = run_edit(model, positive, negative, cfg, latent, seed, sigmas, sampler, mask,
                           guider=RisingCFGGuider(model, sigmas, cfg))
    return Dragged(out, frames, plan)


def run_drag(*, model, positive, negative, latent: dict, pairs, setting: DragSetting, seed: int, cfg: float,
             radius: int, beta: float, alpha: float, eta: float, scheduler: str, mask=None, region=None, warped=None):
    """`run_plan` of a plan made by hand (the benchmarks'): `pairs` in latent pixels, region and warped
    as `DragPlan`'s. Returns `Dragged` (LATENT, frames, plan)."""
    plan = DragPlan(setting, None, None, pairs, setting.cycles(pairs), region, warped)
    return run_plan(plan, model=model, positive=positive, negative=negative, latent=latent, seed=seed, cfg=cfg,
                    radius=radius, beta=beta, alpha=alpha, eta=eta, scheduler=scheduler, mask=mask)


def check_drag_inputs(model, positive, negative, latent, method, handle_region, warp_space, scheduler, vae):
    """The drag's inputs that are not the points or the masks, checked naming them. Returns the samples."""
    check_editable_model("model", model)
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
    return samples


def drag(*, model, positive, negative, latent, points, mask, vae, region, seed, steps, t0, cfg, drag_step,
         patch_radius, beta, alpha, eta, scheduler, method, handle_region, warp_space, latents_held):
    """The SDE-Drag Point Mover node, its inputs by their names (numbers already checked against the
    schema's bounds): every input checked, naming it, before any work; the drag planned; the plan run.
    latents_held: float32 copies of the latent a run holds besides a recorded chain (the memory check).
    Returns (LATENT, the sub-steps' LATENT, the `region` MASK for the point editor to draw, or None)."""
    samples = check_drag_inputs(model, positive, negative, latent, method, handle_region, warp_space, scheduler, vae)
    image_pairs, strokes = read_points("points", points)
    factor = downscale_factor(model, vae)
    check_inside("points", image_pairs, samples.shape[-1] * factor, samples.shape[-2] * factor,
                 image=f"the image of latent ({samples.shape[-1]}x{samples.shape[-2]} latent pixels x {factor})")
    mask = check_edit_mask(mask, latent, "latent", samples)
    marked = check_mask("region", region_batch("region", region, samples), samples)
    marked_regions = marked_region(marked, strokes, samples, factor)

    drag_method = METHODS[method]
    plan = plan_pairs(drag_method.setting(steps=steps, t0=t0, drag_step=drag_step), image_pairs, factor)
    check_cost(plan, samples, latents_held, model=model)
    plan = plan_moves(plan, drag_method, samples, marked=marked_regions, handle_region=handle_region,
                      patch_radius=patch_radius, warp_space=warp_space, vae=vae)
    out, frames, _ = run_plan(plan, model=model, positive=positive, negative=negative, latent=latent, seed=seed,
                              cfg=cfg, radius=patch_radius, beta=beta, alpha=alpha, eta=eta, scheduler=scheduler,
                              mask=mask)
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
