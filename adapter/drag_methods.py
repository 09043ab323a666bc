"""The SDE-Drag Point Mover's methods, one object each (`METHODS`, the node's `method` combo): what a
method is, in one place. A `DragMethod` owns its settings (a `DragSetting` preset, and which of the
node's widgets set it), the widgets it leaves unread (the point editor greys them out; it reads them
from the server, adapter/routes.py), whether the handles find what moves when nothing is marked, and
its sentence of the method input's tooltip. A setting's `algorithm` (`ALGORITHMS`) owns the rest: the
sampler it runs, the model evaluations it costs (the formula the node reference, docs/nodes.md,
states), the latents it records, the work it is refused beyond, and whether it moves the picture.

Adding a method is adding one DragMethod to METHODS (a new algorithm besides: one object in ALGORITHMS
with its SAMPLER in adapter/sampler.py and its maths in sampling/); the node, the editor's table and the
benchmarks read them from here."""
from dataclasses import dataclass, replace

from ..sampling.drag import Paste, drag_substep_count
from .checks import check_work
from .sampler import DragSampler, WarpDragSampler


@dataclass(frozen=True)
class DragSetting:
    """algorithm: a key of ALGORITHMS, "cycle" (SDE-Drag, ODE-Drag at η = 0) or "warp" (warp-and-inpaint).
    steps: of the whole schedule; t0: the fraction of it that runs (per cycle, or the warp pass's
    strength); drag_step: latent pixels per cycle; order: a key of `sampling.steppers.STEPPERS`, 1 (the
    paper's step) or 2 ((SDE-)DPM-Solver++(2M)); seam: latent pixels the warp pass repaints around what
    moved."""
    algorithm: str
    steps: int
    t0: float
    drag_step: float = 2.0
    order: int = 1
    seam: int = 1
    replay: bool = False  # warp: Cycle-SDE replay of the input's recorded noise instead of fresh noise

    def run_steps(self) -> int:
        return max(1, round(self.steps * self.t0))

    @property
    def kind(self):
        """The algorithm object that runs this setting (ALGORITHMS)."""
        return ALGORITHMS[self.algorithm]

    def cycles(self, pairs) -> int:
        """The full passes a drag along `pairs` runs, each of run_steps() steps."""
        return self.kind.cycles(self, pairs)

    def model_evaluations(self, pairs, batch: int, eta: float, guided: bool) -> int:
        """Latents through the model for one drag of `batch` latents. guided: CFG with a negative
        and cfg ≠ 1 (ComfyUI evaluates cond and uncond: twice as many)."""
        return self.kind.per_latent(self, pairs, self.cycles(pairs), eta) * batch * (2 if guided else 1)


class CycleDrag:
    """SDE-Drag (Nie et al. 2023, arXiv 2311.01410): a Cycle-SDE cycle per sub-step of drag_step latent
    pixels (`sampling.drag.sde_drag`); ODE-Drag at η = 0. The pasted patch is the region's shape, or the
    square windows of patch_radius."""
    moves_picture = False  # it pastes on the noisy latent, every cycle

    def cycles(self, setting: DragSetting, pairs) -> int:
        return drag_substep_count(pairs, setting.drag_step)

    def per_latent(self, setting: DragSetting, pairs, cycles: int, eta: float) -> int:
        # SDE: the edited and the recorded latent, k steps; ODE: k − 1 inversion calls (the first
        # step from the clean latent is free) and k going down, on the edited latent alone
        k = setting.run_steps()
        return cycles * (2 * k if eta > 0 else 2 * k - 1)

    def recorded_latents(self, setting: DragSetting) -> int:
        return setting.run_steps() + 1  # the chain, one cycle at a time

    def check_work(self, setting: DragSetting, cycles: int):
        k = setting.run_steps()
        check_work("drag_step", cycles * k, f"{cycles} cycles of {k} steps: longest drag / drag_step × steps × t0")

    def sampler(self, setting: DragSetting, pairs, cycles: int, *, radius, beta, alpha, eta, region, warped, **where):
        paste = Paste(radius=radius, beta=beta, alpha=alpha, drag_step=setting.drag_step)
        return DragSampler(pairs=pairs, paste=paste, cycles=cycles, eta=eta, order=setting.order, region=region,
                           **where)


class WarpDrag:
    """Warp-and-inpaint (`sampling.drag.warp_drag`, Inpaint4Drag's idea): the region (or the windows)
    moved once on the clean latent or on the picture, then one repair pass; replay: a Cycle-SDE pass
    on the input's recorded noise. It pastes nothing: beta and alpha are not read."""
    moves_picture = True  # warp_space image: the move made on the decoded picture

    def cycles(self, setting: DragSetting, pairs) -> int:
        return 1

    def per_latent(self, setting: DragSetting, pairs, cycles: int, eta: float) -> int:
        # no points: nothing moves, no model call; replay: the edited and the recorded latent
        k = setting.run_steps()
        return (2 * k if setting.replay else k) if pairs else 0

    def recorded_latents(self, setting: DragSetting) -> int:
        return setting.run_steps() + 1 if setting.replay else 0

    def check_work(self, setting: DragSetting, cycles: int):
        pass  # one pass of at most `steps` steps: never near check_work's bound

    def sampler(self, setting: DragSetting, pairs, cycles: int, *, radius, beta, alpha, eta, region, warped, **where):
        return WarpDragSampler(pairs=pairs, radius=radius, seam=setting.seam, eta=eta, order=setting.order,
                               replay=setting.replay, region=region, warped=warped, **where)


ALGORITHMS = {"cycle": CycleDrag(), "warp": WarpDrag()}


@dataclass(frozen=True)
class DragMethod:
    """One value of the node's `method`. preset: its setting; widgets: the setting's fields that the
    node's widgets of the same names set (paper: steps, t0, drag_step; the others fix them all).
    finds_region: with no region marked, `handle_region` finds what moves (False: the authors' windows
    of patch_radius). unread / unread_with_region: the widgets it never reads, and those it does not
    read besides when a region is connected or painted (every method then moves the region, not
    patch_radius's windows, and handle_region has nothing to find). tooltip: its sentence of the method
    input's tooltip, `{s}` its preset."""
    name: str
    preset: DragSetting
    tooltip: str
    unread: tuple
    unread_with_region: tuple
    widgets: tuple = ()
    finds_region: bool = True

    def setting(self, **widgets) -> DragSetting:
        """The setting a run with the node's widgets (by name) uses."""
        return replace(self.preset, **{name: widgets[name] for name in self.widgets})

    def unread_widgets(self, with_region: bool) -> set:
        return set(self.unread) | (set(self.unread_with_region) if with_region else set())

    def describe(self) -> str:
        return self.tooltip.format(s=self.preset)


METHODS = {method.name: method for method in (
    DragMethod("warp", DragSetting("warp", steps=10, t0=0.5, seam=1, replay=True),
               "warp (cheapest): move the patches once, then one Cycle-SDE repair pass of {s.steps}×{s.t0:g} steps "
               "that replays the input's own noise.",
               unread=("steps", "t0", "drag_step", "beta", "alpha"),
               unread_with_region=("patch_radius", "handle_region")),
    DragMethod("fast", DragSetting("cycle", steps=20, t0=0.6, drag_step=8.0, order=2),
               "fast: SDE-Drag with {s.steps}×{s.t0:g} steps per cycle, a cycle per {s.drag_step:g} latent px, "
               "second-order steps.",
               unread=("steps", "t0", "drag_step", "warp_space"),
               unread_with_region=("patch_radius", "handle_region")),
    DragMethod("paper", DragSetting("cycle", steps=100, t0=0.6, drag_step=2.0),  # the authors' (the widgets' defaults)
               "paper: the authors' SDE-Drag with steps, t0 and drag_step as set (their defaults: {s.steps}, "
               "{s.t0:g}, {s.drag_step:g}).",
               unread=("handle_region", "warp_space"), unread_with_region=("patch_radius",),
               widgets=("steps", "t0", "drag_step"), finds_region=False),
)}
PRESETS = {name: method.preset for name, method in METHODS.items()}
PAPER = PRESETS["paper"]
# The table the point editor reads (adapter/routes.py): per method, the widgets it leaves unread.
UNREAD_WIDGETS = {name: {"always": method.unread, "with_region": method.unread_with_region}
                  for name, method in METHODS.items()}


def unread_widgets(method: str, with_region: bool) -> set:
    """The widgets `method` leaves unread, with a region connected or painted or not."""
    return METHODS[method].unread_widgets(with_region)
