"""The solvers the loops step with, one short object per method, chosen by order from `STEPPERS`
(k-diffusion's `sampling.py` shape). `loop.sample` and `cycle.replay` take their step from here, and
the nodes' `order` input its choices; an order not listed is refused, never stepped as another.

A stepper's `mean(levels, x, x0, t, u, eta, memory)` returns (the step's deterministic part, the scale
of its fresh noise w, memory): memory is what the method carries to its next step (None at the first),
so that Cycle-SDE can replay any of them (`cycle.replay` adds the recorded noise to the mean; `loop.sample`
adds fresh noise with `steps.with_noise`).
"""
from dataclasses import dataclass
from typing import Callable

from .noise_levels import NoiseLevels
from .steps import multistep_mean, step_mean


@dataclass(frozen=True)
class Stepper:
    name: str  # as the nodes' order tooltip names it
    mean: Callable


def ddim_mean(levels: NoiseLevels, x, x0, sigma_t: float, sigma_u: float, eta: float, memory=None):
    """The DDIM family's step (Song et al. 2021, arXiv 2010.02502): DDPM at η = 1, DDIM at η = 0
    (`steps.step_mean`). It remembers nothing."""
    mean, c_noise = step_mean(levels, x, x0, sigma_t, sigma_u, eta)
    return mean, c_noise, None


def dpmpp_2m_mean(levels: NoiseLevels, x, x0, sigma_t: float, sigma_u: float, eta: float, memory=None):
    """(SDE-)DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095; `steps.multistep_mean`): memory is the
    previous step's (x0, h)."""
    x0_prev, h_prev = memory if memory is not None else (None, None)
    mean, c_noise, h = multistep_mean(levels, x, x0, sigma_t, sigma_u, eta, x0_prev, h_prev)
    return mean, c_noise, (x0, h)


STEPPERS = {
    1: Stepper("DDPM (eta 1) / DDIM (eta 0) step", ddim_mean),
    2: Stepper("SDE-DPM-Solver++(2M) / DPM-Solver++(2M)", dpmpp_2m_mean),
}
ORDERS = tuple(STEPPERS)


def stepper(order) -> Stepper:
    """The stepper of `order`; any other order raises."""
    if isinstance(order, bool) or order not in STEPPERS:
        raise ValueError(f"order must be one of {', '.join(map(str, ORDERS))}, got {order!r}")
    return STEPPERS[order]

