"""The evaluation world beside the product: what the tests, benchmarks, demos and the shipped
reference nodes measure the editing methods against. Nothing in `sampling/`, `adapter/` or the
editing nodes imports it; the reference nodes (nodes/reference.py, nodes/scene_model.py) do.

Plain maths, no ComfyUI import:
- `oracles`: closed-form denoisers (a Gaussian mixture, the empirical distribution of a set of
  images, that set blurred), the exact posterior mean E[x0 | x];
- `scenes`: the reference scene set (a ball on sky and grass at every position of a grid) and rough
  stroke paintings of it; `scene_metrics`: measuring edits on it;
- `scene_world`: the richer scene world the scene model is trained on, with captions; `scene_parser`:
  reading a picture of it back into its parameters (the realism score).

Building ComfyUI models, so these import ComfyUI (`comfy.*`) when imported:
- `oracle_models`: the closed-form denoisers as real ComfyUI MODELs (BaseModel + ModelPatcher);
- `scene_model`: loading the scene model trained here (lab/models/*.safetensors) as ComfyUI's MODEL,
  CLIP and VAE (training it is lab/commands/train_scene_model.py's).

This __init__ imports nothing, so the plain-maths modules load without ComfyUI
(harness.comfy_host.import_reference).
"""
