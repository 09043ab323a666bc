"""The lab: what we measure the editing pack with, kept beside it and never inside what users install
(the registry archive leaves this folder out, and the pack at the repository root imports nothing of it).

- `reference/`: the evaluation world (closed-form denoisers, the reference scenes, the scene world and
  its parser, loading the scene models trained here); `models/`: their weights and training logs;
  `nodes/`: the lab's ComfyUI nodes (prefixed ids `SDEEditLab...`); `workflows/`: the CPU workflows
  on those models;
- `harness/`: the test host; `commands/`: `python -m lab.commands.<name>` (demo, runners, training,
  thumbnails); `benchmarks/`: scripts that print tables.

The folder is also a custom-node package of its own, which the test hosts and `make demo` install beside
the pack (as a user installs a second pack): ComfyUI calls `comfy_entrypoint` below. Importing `lab`
itself loads nothing else, so the tooling runs (`python -m lab.commands.demo`) before ComfyUI is booted.
"""


async def comfy_entrypoint():
    from .nodes import LabExtension  # ComfyUI is loaded by now

    return LabExtension()
