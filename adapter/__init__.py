"""The one place where ComfyUI meets the plain-PyTorch `sampling` package: the SAMPLER object,
running it under ComfyUI's guider with its noise, schedules, masks, progress and interrupt, input
checks, and the closed-form reference models as real ComfyUI MODELs."""
