"""Drag settings: the authors' SDE-Drag and the cheaper presets, run through ComfyUI's guider, and
the number of latents each sends through the model (the cost formula the node reference,
docs/nodes.md, states)."""
from dataclasses import dataclass, replace

import torch

from ..sampling.drag import drag_substep_count, similar_region, warp_image
from ..sampling.masks import grow, paint_strokes
from .checks import InputError
from .guided import RisingCFGGuider, run_sampler, schedule_tail
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


def setting_for(method: str, steps: int, t0: float, drag_step: float) -> DragSetting:
    """The node's `method`: "paper" takes steps, t0 and drag_step from the node (their defaults are
    the authors'); the other presets fix them."""
    if method == "paper":
        return replace(PAPER, steps=steps, t0=t0, drag_step=drag_step)
    return PRESETS[method]


def latent_region(region, samples, grow_by: int = 1):
    """A checked MASK (B or 1, H, W) at image or latent resolution -> (B or 1, 1, H, W) at the
    latent's: 1 where it covers at least half a latent pixel's image pixels (area), then grown by
    `grow_by` latent pixels. Grown, because an object's edge pixels that a mask leaves out stay behind
    as a rim at the source: on the trained scene model a 1-px growth halved what a large object left
    behind (0.181 -> 0.092 RMS) and its placement error (1.22 -> 0.75 px), docs/scene_model.md."""
    at_latent = torch.nn.functional.interpolate(region[:, None].float(), size=tuple(samples.shape[-2:]), mode="area")
    return grow((at_latent >= 0.5).float()[:, 0], grow_by)[:, None]


def painted_region(region, strokes, height: int, width: int):
    """The region at image resolution (B or 1, H, W): the MASK (nearest-resized; zeros when None) with
    the editor's brush strokes painted over it."""
    base = (torch.zeros(1, height, width) if region is None else
            torch.nn.functional.interpolate(region[:, None].float().cpu(), size=(height, width), mode="nearest")[:, 0])
    return torch.cat([paint_strokes(strokes, height, width, item[None]) for item in base]) if strokes else base


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


def drag_region(region, strokes, samples, factor: int):
    """What moves, at the latent's resolution ((B or 1, 1, h, w), grown as `latent_region`), from the
    `region` input (a checked MASK or None) with the editor's brush strokes (`points.parse_region`)
    painted over it at image resolution (painting adds, erasing removes); None when there is neither.
    An empty region, or one that covers the whole latent, is refused naming `region`."""
    if region is None and not strokes:
        return None
    if strokes:
        region = painted_region(region, strokes, samples.shape[-2] * factor, samples.shape[-1] * factor)
    name = "region" if strokes == [] else "region (with the region painted in the point editor)"
    at_latent = latent_region(region, samples, grow_by=0)
    if not bool(at_latent.any()):
        raise InputError(f"{name} is empty at the latent's resolution (no latent pixel is at least half covered): "
                         f"mark the object to move in white (a segmentation that found nothing gives an empty mask: "
                         f"click on the object or lower its threshold, or disconnect region to let handle_region "
                         f"find what moves)")
    if bool(at_latent.flatten(1).all(1).any()):
        raise InputError(f"{name} covers the whole image: mark only the object to move (white), so that something "
                         f"stays where it is")
    return grow(at_latent[:, 0], 1)[:, None]


WARP_SPACES = ("image", "latent")


def image_space_warp(vae, samples, pairs, factor: int, region=None, strokes=(), found=None):
    """warp's move made on the picture (`sampling.drag.warp_image`): the LATENT's samples decoded by the
    VAE, the region moved at full resolution, encoded back. The region at image resolution: the MASK
    and the strokes (`painted_region`), grown by one latent pixel (`factor` image pixels) as
    `latent_region` grows it; or, when the user marked nothing, `found` (the latent region found from the
    handles) scaled up. pairs in image pixels. Returns (guide latent in the LATENT's convention, changed)."""
    height, width = samples.shape[-2] * factor, samples.shape[-1] * factor
    if region is not None or strokes:
        at_image = grow((painted_region(region, list(strokes), height, width) >= 0.5).float(), factor)[:, None]
    else:
        at_image = torch.nn.functional.interpolate(found.float().cpu(), scale_factor=factor, mode="nearest")

    def decode(z):
        return vae.decode(z).movedim(-1, 1).float().cpu()

    def encode(image):
        return vae.encode(image.movedim(1, -1)).float()

    return warp_image(decode, encode, samples, at_image, pairs, factor)


HANDLE_REGIONS = ("similar + windows", "similar", "windows")


def region_from_handles(choice: str, samples, pairs, radius: int = 5):
    """What moves when the user marks nothing (warp and fast): "similar" = `similar_region` from the
    source points, grown by one latent pixel as a marked region is (None where it finds no object:
    the windows); "windows" = None (the square patches); "similar + windows" = both together (the node's
    default: as good as a window that covers the object, and far better than one that does not, on the
    closed-form object set and on the trained model; docs/region_drag.md)."""
    if choice == "windows" or not pairs:
        return None
    found = similar_region(samples, [s for s, _ in pairs])
    if choice == "similar + windows":
        height, width = samples.shape[-2], samples.shape[-1]
        boxes = torch.zeros(1, 1, height, width)
        for (sx, sy), _ in pairs:
            x, y = min(max(round(sx), 0), width - 1), min(max(round(sy), 0), height - 1)
            boxes[..., max(y - radius, 0):y + radius, max(x - radius, 0):x + radius] = 1
        found = boxes.to(samples) if found is None else torch.maximum(found, boxes.to(found))
    return None if found is None else grow(found[:, 0], 1)[:, None]


def run_drag(model, positive, negative, latent: dict, pairs, setting: DragSetting, seed: int, cfg: float, radius: int,
             beta: float, alpha: float, eta: float, scheduler: str, mask=None, region=None, warped=None):
    """Drag `latent` along `pairs` (latent pixels). Returns (LATENT, [latent per frame], sampler).
    negative None: no guidance (one model call per latent, cfg ignored). region: what moves, from
    `drag_region` (warp: moved once; fast and paper: the pasted patch's shape in every cycle). warped:
    warp only, (guide, changed) from `image_space_warp`, the move already made on the picture."""
    sigmas = schedule_tail(model, scheduler, setting.steps, setting.run_steps())
    if negative is None:
        negative, cfg = positive, 1.0
    where = dict(seed=seed, batch_indices=latent.get("batch_index"))
    if setting.algorithm == "warp":
        sampler = WarpDragSampler(pairs, radius, setting.seam, eta, setting.order, setting.replay, region, warped,
                                  **where)
    else:
        sampler = DragSampler(pairs, radius, beta, alpha, setting.drag_step, eta, setting.order, region, **where)
    out = run_sampler(model, positive, negative, cfg, latent, seed, sigmas, sampler, mask,
                      guider=RisingCFGGuider(model, sigmas, cfg))
    return out, sampler.frames, sampler


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
