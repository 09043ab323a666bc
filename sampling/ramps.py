"""Per-step ramps along a sampled schedule: SDE-Drag's CFG rises linearly and its LoRA strength falls
on a cosine, both as functions of the step's place in the schedule (Nie et al. 2023, the authors'
`scale_schedule`), not of the order in which the model is called: a drag runs many cycles, and
ODE-Drag's inversion climbs the schedule, inside one sampling."""
import math


def schedule_position(schedule, sigma: float):
    """(k, n): the step at σ is k steps above the schedule's end (k = n at its first σ, k = 0 at its
    last). schedule: decreasing σs, n + 1 of them; σ is matched to the nearest one."""
    n = len(schedule) - 1
    i = min(range(n + 1), key=lambda j: abs(float(schedule[j]) - sigma))
    return n - i, n


def linear_ramp(k: int, n: int, at_end: float, at_top: float) -> float:
    """at_end at k = 0, at_top at k = n, linear in k."""
    return at_end + (at_top - at_end) * k / max(n, 1)


def cosine_ramp(k: int, n: int, at_end: float, at_top: float) -> float:
    """at_end at k = 0, at_top at k = n, along half a cosine: flat at both ends. The authors index
    the same curve by k / (n − 1) (their top step overshoots to within 0.1 % of at_top); here k = n
    lands on at_top, as the CFG ramp does."""
    f = (1.0 - math.cos(math.pi * k / max(n, 1))) / 2.0
    return (1.0 - f) * at_end + f * at_top
