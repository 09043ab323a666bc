"""The one place where ComfyUI meets the plain-PyTorch `sampling` package: the SAMPLER object,
running it under ComfyUI's guider with its noise, schedules, masks, progress and interrupt, and input
checks. (The closed-form reference models as ComfyUI MODELs are the evaluation world's: ../reference.)"""
