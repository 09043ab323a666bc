"""Where things are (stdlib only): the repository, whose root is the editing pack users install, and the
lab beside it in lab/ (the evaluation world, its models and workflows, the test host, commands, benchmarks)."""
import glob
import os

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(LAB_DIR)  # the pack: what a clone into custom_nodes/ or the registry archive gives
PRODUCT_WORKFLOWS = os.path.join(REPO_ROOT, "workflows")  # for users' own checkpoints (the template browser)
LAB_WORKFLOWS = os.path.join(LAB_DIR, "workflows")  # on the lab's models (reference, trained here), CPU
LAB_MODELS = os.path.join(LAB_DIR, "models")  # the weights of the scene models trained here


def lab_workflow(name: str) -> str:
    return os.path.join(LAB_WORKFLOWS, name)


def all_workflows() -> list:
    """Every shipped workflow file, the product's and the lab's, sorted by file name."""
    found = glob.glob(os.path.join(PRODUCT_WORKFLOWS, "*.json")) + glob.glob(os.path.join(LAB_WORKFLOWS, "*.json"))
    return sorted(found, key=os.path.basename)
