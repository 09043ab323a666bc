"""Per-step Gaussian noise that a batch element gets the same alone or in a batch.

ComfyUI gives each latent in a batch its place through LATENT["batch_index"]; the initial noise of
`comfy.sample.prepare_noise` honours it. The SDE steps need more noise after that: here every batch
element draws from its own CPU generator, seeded from (seed, its batch index), so the element run
alone (with its batch_index) gets exactly the same stream.
"""
import torch

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads nearby (seed, index) pairs apart


def element_seed(seed: int, index: int, stream: int = 0) -> int:
    return (int(seed) * 1_000_003 + (int(index) + 1) * _MIX + stream * 0xD1B54A32D192ED03) % (2 ** 63)


class StepNoise:
    """Callable that returns one N(0, I) draw shaped like the latent batch on every call.

    `stream` separates independent uses of one seed (the step noise, the known-region chain, ...).
    Draws are made on the CPU (as ComfyUI does, so results do not depend on the device) in float32.
    """

    def __init__(self, seed: int, shape, batch_indices=None, stream: int = 0, device="cpu", dtype=torch.float32):
        batch = shape[0]
        indices = list(range(batch)) if batch_indices is None else [int(i) for i in batch_indices]
        if len(indices) != batch:
            raise ValueError(f"batch_index has {len(indices)} entries for a batch of {batch}")
        self.shape = tuple(shape[1:])
        self.generators = [torch.Generator().manual_seed(element_seed(seed, i, stream)) for i in indices]
        self.device, self.dtype = device, dtype

    def __call__(self):
        w = torch.stack([torch.randn(self.shape, generator=g) for g in self.generators])
        return w.to(device=self.device, dtype=self.dtype)
