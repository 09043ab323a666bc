# The repository root is the import root (pytest.ini: pythonpath = .): the pack is imported as
# `sde_edit_pack`; the lab beside it is `lab` (its test host `lab.harness`, commands `lab.commands`,
# benchmarks `lab.benchmarks`, evaluation world `lab.reference`, nodes `lab.nodes`).
import os
import platform

# The same kernels on every x86-64 CPU: PyTorch and oneDNN pick their vector kernels by the CPU (AVX2,
# AVX-512), and the kernels round differently, so a tiny SD1.5 workflow sampled on an AVX-512 machine
# differs by 1e-4 to 2e-3 from one recorded on an AVX2 machine. The recorded outputs
# (tests/data/outputs_before, checked to 1e-5) are facts of one kernel set, so the suite, and the servers
# it starts (they inherit this environment), run at AVX2, which every machine here has. Set before torch
# is imported; a value already set is kept.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

from lab.harness.comfy_host import import_lab, import_pack  # noqa: E402

PACK = import_pack()  # the real ComfyUI is booted (CPU) before any test module imports comfy
LAB = import_lab()  # the lab's nodes, on that pack


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: longer than the default suite allows; run with -m slow")
