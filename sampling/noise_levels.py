"""x = a(σ)·x0 + s(σ)·ε for every model family ComfyUI runs.

| family                               | a(σ)  | s(σ) |
|--------------------------------------|-------|------|
| "ve": EPS, V_PREDICTION, EDM (SD1/2/XL) | 1     | σ    |
| "flow": CONST (SD3, Flux, flow models) | 1 − σ | σ    |

`noise` scales s: ComfyUI's CONST noises with σ·(noise_scale·ε) where a model sets noise_scale
(HiDream-O1: 8; 1 elsewhere).

σ is ComfyUI's own sigma for the model, so a schedule from `calculate_sigmas` is used as it is.
"""
import math
from dataclasses import dataclass

KINDS = ("ve", "flow")


@dataclass(frozen=True)
class NoiseLevels:
    kind: str = "ve"
    noise: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"noise level kind must be one of {KINDS}, got {self.kind!r}")
        if not (math.isfinite(self.noise) and self.noise > 0):
            raise ValueError(f"noise scale must be a positive number, got {self.noise!r}")

    def a(self, sigma: float) -> float:
        """Signal scale: how much of x0 is left at level σ."""
        return 1.0 - sigma if self.kind == "flow" else 1.0

    def s(self, sigma: float) -> float:
        """Noise scale: the standard deviation of the added ε at level σ."""
        return float(sigma) * self.noise

    def unit_scale(self, sigma: float) -> float:
        """sqrt(a² + s²): dividing x by it gives unit variance for unit-variance x0 (drag copies
        patches in this scale)."""
        return math.sqrt(self.a(sigma) ** 2 + self.s(sigma) ** 2)

    def noised(self, x0, eps, sigma: float):
        """x0 taken to level σ with noise eps."""
        return self.a(sigma) * x0 + self.s(sigma) * eps
