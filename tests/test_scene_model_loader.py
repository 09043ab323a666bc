"""The scene-model loader (nodes/scene_model.py) on real files written to a temporary models folder:
its menu lists regular *.safetensors files only (not a folder of that name); a file with NaN or
infinite weights, and every other bad file (missing, a folder, empty, truncated, not safetensors,
foreign, another format version or prediction, UNet or text-encoder weights that do not fit), is
refused before a model is returned, by an error that names the `weights` input and the file as the
menu shows it (relative to its models folder), never the server's path."""
import os

import pytest
import safetensors
import safetensors.torch
import torch

from sde_edit_pack.adapter.checks import InputError
from lab.nodes.scene_model import MODELS_DIR, load_weights, weight_files
from lab.reference import latent_scene_model, scene_model

SHIPPED = os.path.join(MODELS_DIR, scene_model.WEIGHTS_NAME)


@pytest.fixture(scope="module")
def shipped():
    """The shipped file's tensors and metadata: the base every bad file here is made from."""
    with safetensors.safe_open(SHIPPED, "pt") as f:
        meta = f.metadata()
    return safetensors.torch.load_file(SHIPPED), meta


def write(folder, name, sd, meta):
    safetensors.torch.save_file(sd, str(folder / name), metadata=meta)
    return name


def refused(folder, name, *words):
    with pytest.raises(InputError) as err:
        load_weights(name, str(folder))
    message = str(err.value)
    assert message.startswith("weights") and all(w in message for w in words), message
    assert str(folder) not in message and os.path.dirname(MODELS_DIR) not in message, message
    return message


def test_the_shipped_file_loads_from_another_models_folder(tmp_path, shipped):
    """The control for the cases below: the same tensors, written by this test, load."""
    sd, meta = shipped
    name = write(tmp_path, "copy.safetensors", sd, meta)
    model, clip, vae = load_weights(name, str(tmp_path))
    assert hasattr(model, "get_model_object") and hasattr(clip, "tokenize") and hasattr(vae, "decode")


def test_nan_or_infinite_weights_are_refused_by_name_with_their_count(tmp_path, shipped):
    sd, meta = shipped
    sd = dict(sd)
    unet_key = next(k for k in sorted(sd) if k.startswith(scene_model.UNET_PREFIX) and sd[k].numel() >= 3)
    clip_key = next(k for k in sorted(sd) if k.startswith(scene_model.CLIP_PREFIX) and sd[k].is_floating_point())
    sd[unet_key] = sd[unet_key].clone()
    sd[unet_key].view(-1)[:3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    sd[clip_key] = sd[clip_key].clone()
    sd[clip_key].view(-1)[0] = float("nan")
    total = sum(v.numel() for v in sd.values())
    name = write(tmp_path, "diverged.safetensors", sd, meta)
    message = refused(tmp_path, name, f"'{name}': 4 of {total} weights are NaN or infinite")
    assert "corrupted or badly trained" in message


def test_the_menu_lists_regular_files_only(tmp_path, shipped):
    (tmp_path / "a folder.safetensors").mkdir()
    (tmp_path / "notes.txt").write_text("not weights")
    sd, meta = shipped
    write(tmp_path, "b.safetensors", sd, meta)
    assert weight_files(str(tmp_path)) == ["b.safetensors"]
    refused(tmp_path, "a folder.safetensors", "'a folder.safetensors' is a folder")
    (tmp_path / "empty").mkdir()
    # the default (the latent model), which then says it is missing
    assert weight_files(str(tmp_path / "empty")) == [latent_scene_model.WEIGHTS_NAME]
    assert scene_model.WEIGHTS_NAME in weight_files() and latent_scene_model.WEIGHTS_NAME in weight_files()


def test_every_bad_file_is_refused_naming_it_and_not_the_servers_path(tmp_path, shipped):
    sd, meta = shipped
    data = open(SHIPPED, "rb").read()
    refused(tmp_path, "absent.safetensors", "'absent.safetensors' not found")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    refused(tmp_path, "empty.safetensors", "'empty.safetensors' cannot be read as safetensors")
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    refused(tmp_path, "cut.safetensors", "'cut.safetensors' cannot be read as safetensors")
    (tmp_path / "text.safetensors").write_bytes(b"this is not a weights file\n" * 10)
    refused(tmp_path, "text.safetensors", "'text.safetensors' cannot be read as safetensors")
    write(tmp_path, "foreign.safetensors", {"w": torch.zeros(2)}, None)
    refused(tmp_path, "foreign.safetensors", "'foreign.safetensors' is not an SDE-Edit scene model")
    write(tmp_path, "v3.safetensors", sd, {**meta, "version": "3"})
    refused(tmp_path, "v3.safetensors", "'v3.safetensors' is scene model format version '3'")
    write(tmp_path, "v2.safetensors", sd, {**meta, "version": "2"})  # the latent model's version: its UNet is another
    refused(tmp_path, "v2.safetensors", "'v2.safetensors': its UNet weights do not match")
    write(tmp_path, "x0.safetensors", sd, {**meta, "prediction": "x0"})
    refused(tmp_path, "x0.safetensors", "'x0.safetensors': its metadata's prediction is 'x0'")
    partial = dict(sd)
    partial.pop(next(k for k in sorted(sd) if k.startswith(scene_model.UNET_PREFIX)))
    write(tmp_path, "partial.safetensors", partial, meta)
    refused(tmp_path, "partial.safetensors", "'partial.safetensors': its UNet weights do not match")
    key = next(k for k in sorted(sd) if k.startswith(scene_model.UNET_PREFIX) and sd[k].ndim == 4)
    wide = {**sd, key: torch.zeros(sd[key].shape[0] + 1, *sd[key].shape[1:], dtype=sd[key].dtype)}
    write(tmp_path, "wide.safetensors", wide, meta)
    refused(tmp_path, "wide.safetensors", "'wide.safetensors': its UNet weights do not match", "of another shape")
    key = next(k for k in sorted(sd) if k.startswith(scene_model.CLIP_PREFIX) and k.endswith(".weight") and sd[k].ndim == 2)
    text = {**sd, key: torch.zeros(sd[key].shape[0] + 1, sd[key].shape[1])}
    write(tmp_path, "text_encoder.safetensors", text, meta)
    refused(tmp_path, "text_encoder.safetensors", "'text_encoder.safetensors': its text encoder weights do not match")
    no_text = {k: v for k, v in sd.items() if not k.startswith(scene_model.CLIP_PREFIX)}
    write(tmp_path, "no_text.safetensors", no_text, meta)
    refused(tmp_path, "no_text.safetensors", "'no_text.safetensors': text encoder weights missing")
    for bad in ("../README.md", "/etc/hostname", "a\0.safetensors", "", None):  # a name, not a path: it says so, and shows what was given
        refused(tmp_path, bad, "weights must be a file name in the lab's models/ folder", f"got {bad!r}")
