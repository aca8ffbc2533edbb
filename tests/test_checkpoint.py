"""Checkpoints: integrity over tensors and metadata, plain state-dict keys, old format, atomic writes."""

import hashlib
import json
import os

import pytest
import safetensors.torch
import torch

import enresnet
from enresnet.atomic import atomic_write_text, remove_stale_temporaries
from enresnet.checkpoint import load_model, read_checkpoint, read_metadata, save_checkpoint, save_model
from enresnet.errors import CheckpointError


def _edit_header(path, old: str, new: str, in_metadata: bool = True) -> None:
    """Replace ``old`` by ``new`` (same length) in the header of ``path`` (in its enresnet metadata: JSON-escaped)."""
    assert len(old) == len(new)
    escape = (lambda s: s.replace('"', '\\"')) if in_metadata else (lambda s: s)
    raw = path.read_bytes()
    assert raw.count(escape(old).encode()) == 1, old
    path.write_bytes(raw.replace(escape(old).encode(), escape(new).encode()))


def test_weights_checkpoint_loads_with_plain_load_state_dict(tmp_path):
    model = enresnet.create_model("en2_resnet8")
    path = save_model(tmp_path / "a", model)
    fresh = enresnet.create_model("en2_resnet8")
    fresh.load_state_dict(safetensors.torch.load_file(path))  # strict: every key, nothing extra
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


@pytest.mark.parametrize("old, new", [('"noise_coef": 0.1', '"noise_coef": 0.7'), ('"epoch": 3', '"epoch": 2')])
def test_one_byte_metadata_edit_is_refused(tmp_path, old, new):
    path = save_model(tmp_path / "a", enresnet.create_model("en1_resnet8"), epoch=3)
    _edit_header(path, old, new)
    for read in (load_model, read_metadata, read_checkpoint):
        with pytest.raises(CheckpointError, match="edited: its metadata does not match its SHA-256"):
            read(path)


def test_tensor_shape_edit_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "a", {"w": torch.arange(6.0).reshape(2, 3)}, {"epoch": 1})
    _edit_header(path, '"shape":[2,3]', '"shape":[3,2]', in_metadata=False)  # same bytes, another shape
    with pytest.raises(CheckpointError, match="tensor data does not match its SHA-256"):
        read_checkpoint(path)


def test_first_format_still_loads(tmp_path):
    model = enresnet.create_model("en2_resnet8")
    tensors = {f"model/{k}": v.clone() for k, v in model.state_dict().items()}
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].reshape(-1).view(torch.uint8).numpy().tobytes())
    meta = {"model": model.spec, "epoch": 1, "format": "enresnet-checkpoint-1", "sha256": digest.hexdigest()}
    path = tmp_path / "old.safetensors"
    safetensors.torch.save_file(tensors, path, metadata={"enresnet": json.dumps(meta)})
    loaded = load_model(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_non_finite_weights_are_refused(tmp_path):
    model = enresnet.create_model("en1_resnet8")
    with torch.no_grad():
        next(model.parameters())[0] = float("inf")
    path = save_model(tmp_path / "a", model)
    with pytest.raises(CheckpointError, match="non-finite values .* diverged"):
        load_model(path)


@pytest.mark.parametrize("meta, match", [
    ([1, 2], "not an enresnet checkpoint"),
    ({"format": "enresnet-checkpoint-2"}, "metadata does not match"),
])
def test_malformed_metadata_is_refused(tmp_path, meta, match):
    path = tmp_path / "m.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, path, metadata={"enresnet": json.dumps(meta)})
    with pytest.raises(CheckpointError, match=match):
        load_model(path)


@pytest.mark.parametrize("spec, match", [
    (None, "no model spec"),
    (["resnet8"], "no model spec"),
    ({"name": "nonsense_net"}, "cannot build"),
    ({"name": "resnet8", "colour": 3}, "cannot build"),
])
def test_unbuildable_model_spec_is_refused(tmp_path, spec, match):
    path = save_checkpoint(tmp_path / "m", {"w": torch.zeros(2)}, {"model": spec})
    with pytest.raises(CheckpointError, match=match):
        load_model(path)


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_model(tmp_path / "a", enresnet.create_model("en1_resnet8"))
        atomic_write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == 0o644


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / "sub").mkdir()
    stale = [tmp_path / ".last.safetensors.abcd1234.tmp", tmp_path / "sub" / ".metrics.jsonl.0123456789abcdef.tmp"]
    keep = [tmp_path / "notes.tmp", tmp_path / "last.safetensors"]
    for path in stale + keep:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
