# The repository root is the import root (pytest.ini: pythonpath = .): the test host is `harness`, the user
# commands `commands`, the benchmarks the tests run in part `benchmarks`.
from harness.comfy_host import import_pack

PACK = import_pack()  # the real ComfyUI is booted (CPU) before any test module imports comfy


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: longer than the default suite allows; run with -m slow")
