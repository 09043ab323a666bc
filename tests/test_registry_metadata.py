"""The Comfy Registry metadata in pyproject.toml: the core range it declares (`requires-comfyui`) is in the
form the registry's parser accepts, and the ComfyUI this suite runs on lies inside it (so each test host
proves its own end of the range). `comfy node validate` (comfy-cli) checks the whole file; see
docs/test_host.md."""
import os
import re
import tomllib

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lab.harness.find_comfyui import PACK_DIR

# comfy-cli's validate_version (comfy_cli/registry/config_parser.py): each comma-separated part is
# [operator]major.minor.patch; anything else is dropped with a warning and nothing is published.
REGISTRY_PART = re.compile(r"^(?:(==|>=|<=|!=|~=|>|<|<>|=)\s*)?(\d+\.\d+\.\d+(?:-[a-zA-Z0-9]+)?)?$")


def declared_range():
    with open(os.path.join(PACK_DIR, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["tool"]["comfy"]["requires-comfyui"]


def running_core_version():
    import comfyui_version  # ComfyUI's own module: conftest.py booted the ComfyUI under test (lab/harness/comfy_host.py)
    return comfyui_version.__version__


def test_requires_comfyui_is_in_the_registry_format():
    declared = declared_range()
    assert declared, "pyproject.toml [tool.comfy] requires-comfyui is empty"
    for part in declared.split(","):
        assert REGISTRY_PART.match(part.strip()), f"requires-comfyui part {part!r} is not [operator]X.Y.Z"


def test_the_core_under_test_is_inside_the_declared_range():
    version = running_core_version()
    assert Version(version) in SpecifierSet(declared_range()), \
        f"ComfyUI {version} runs this suite but pyproject.toml declares requires-comfyui {declared_range()!r}"
