"""The shared SDE sampler and the editing algorithms, in plain PyTorch (no ComfyUI import).

A noisy latent is x = a(σ)·x0 + s(σ)·ε (`noise_levels`); one reverse step with η in [0, 1] and the
forward noising step are in `steps`, the solvers the loops step with, one per order, in `steppers`; the
sampling loop with known-region re-injection is in `loop`; noise that a batch element gets the same
alone or in a batch is in `noise`; recording a forward chain and replaying it (Cycle-SDE) is in
`cycle`. What the methods are measured against (closed-form denoisers, the reference scenes, the scene
world) is the lab's, in ../lab/reference.
"""
