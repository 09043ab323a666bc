import os
import sys

import pytest

# the test host (harness/), the user commands (commands/) and the benchmarks the tests run in part
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, d) for d in ("harness", "commands", "benchmarks")]
from comfy_host import import_pack  # noqa: E402

PACK = import_pack()  # the real ComfyUI is booted (CPU) before any test module imports comfy


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: longer than the default suite allows; run with -m slow")
