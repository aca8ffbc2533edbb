"""Checkpoints: integrity over tensors and metadata, plain state-dict keys, old format, atomic writes."""

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
import safetensors.torch
import torch

import enresnet
from enresnet.atomic import BOOT, HOST, atomic_write_text, remove_stale_temporaries, temporary_path
from enresnet.checkpoint import load_model, read_checkpoint, read_metadata, save_checkpoint, save_model
from enresnet.errors import CheckpointError, DiskFullError


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
    meta = {"model": model.spec.to_dict(), "epoch": 1, "format": "enresnet-checkpoint-1", "sha256": digest.hexdigest()}
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
    ({"name": "resnet8", "colour": 3}, "cannot build .*unknown keys 'colour'"),
    ({"name": "en2_resnet8", "members": 5}, "cannot build .*unknown keys 'members'"),  # was silently overridden
    ({"integrate": [{"name": "resnet8"}], "weights": [1.0], "colour": 3}, "unknown keys 'colour'; allowed: integrate"),
    ({"integrate": [["resnet8"]]}, "'integrate' must be a non-empty list of model specs"),
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


def _temporary(folder, name, pid, host=HOST, boot=BOOT):
    """The temporary file a writer ``pid`` of ``host`` in ``boot`` makes for ``folder/name``."""
    return folder / f".{name}.{pid}-{host}-{boot}-0123456789abcdef.tmp"


def test_stale_temporaries_are_those_of_gone_writers_in_the_folder_only(tmp_path):
    """Issue 20: removing stale temporaries deleted another process's temporary in a sub-folder."""
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has it
    other = "f" * 8 if HOST != "f" * 8 else "e" * 8
    (tmp_path / "eval").mkdir()
    stale = [tmp_path / ".last.safetensors.abcd1234.tmp",  # an older version's name: no writer named
             _temporary(tmp_path, "metrics.jsonl", gone),
             _temporary(tmp_path, "best.safetensors", os.getpid(), boot=other)]  # a writer of an earlier boot
    keep = [tmp_path / "notes.tmp", tmp_path / "last.safetensors",
            temporary_path(tmp_path / "config.toml"),  # a live writer (this process)
            _temporary(tmp_path, "run.json", gone, host=other),  # another host's writer may be alive
            tmp_path / "eval" / ".whitebox.json.0123456789abcdef.tmp", _temporary(tmp_path / "eval", "x", gone)]
    for path in stale + keep:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)


def _full_after(budget, monkeypatch):
    """``os.write`` on a disk with ``budget`` bytes free: a short write, then ENOSPC."""
    real, left = os.write, [budget]

    def write(fd, data):
        if left[0] == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real(fd, bytes(data[: left[0]]))
        left[0] -= n
        return n

    monkeypatch.setattr(os, "write", write)


def test_a_full_disk_keeps_the_previous_file(tmp_path, monkeypatch):
    model = enresnet.create_model("en1_resnet8")
    path = save_model(tmp_path / "run" / "best", model, epoch=1)
    before = path.read_bytes()
    _full_after(1000, monkeypatch)
    with pytest.raises(DiskFullError, match=rf"^{tmp_path / 'run'}: no space left on device: writing best.safetensors "
                                            rf"needs about {len(before) / 1e3:.1f} kB \(.* free\); free some space"):
        save_model(tmp_path / "run" / "best", model, epoch=2)
    assert path.read_bytes() == before and read_metadata(path)["epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.safetensors"]  # no temporary left


def test_the_folder_is_fsynced_after_the_rename_unless_it_refuses(tmp_path, monkeypatch):
    real, synced = os.fsync, []

    def fsync(fd):
        renamed = (tmp_path / "a.txt").is_file() and (tmp_path / "a.txt").read_text() == text
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), renamed))
        if synced[-1][0] and refuse:
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    for refuse in (False, True):
        synced.clear()
        text = f"refuse={refuse}"
        atomic_write_text(tmp_path / "a.txt", text)
        assert synced == [(False, False), (True, True)]  # the file before its rename, then the folder after it
        assert (tmp_path / "a.txt").read_text() == text


@pytest.mark.parametrize("name, content, kind", [
    ("config.json", json.dumps({"model": {"name": "resnet8"}}), "a JSON file"),
    ("metrics.jsonl", '{"epoch": 1}\n{"epoch": 2}\n', "JSON lines"),
    ("c.toml", '[model]\nname = "resnet8"\n', "a TOML file"),
    ("notes.txt", "trained on Monday\n", "a text file"),
    ("best.safetensors", "", "an empty file"),
    ("weights.bin", bytes(range(256)) * 4, "1024 bytes of binary data"),
])
def test_a_file_that_is_not_a_checkpoint_says_what_it_is(tmp_path, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    for read in (load_model, read_metadata, read_checkpoint):
        with pytest.raises(CheckpointError, match=f"^{path} is not a checkpoint: it is {kind}.*RUN_DIR/best"):
            read(path)


def test_a_torch_save_file_and_a_folder_are_named(tmp_path):
    torch.save(enresnet.create_model("resnet8").state_dict(), tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match=r"zip archive \(torch.save writes these: read it with torch.load"):
        load_model(tmp_path / "model.pt")
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(CheckpointError, match=f"^{run} is a folder, not a checkpoint; it holds no checkpoint"):
        load_model(run)
    save_model(run / "best", enresnet.create_model("resnet8"))
    with pytest.raises(CheckpointError, match=f"^{run} is a folder, not a checkpoint; pass a checkpoint in it, "
                                              f"e.g. {run / 'best'}$"):
        load_model(run)


def test_a_checkpoint_cut_in_its_header_is_still_read_as_truncated(tmp_path):
    path = save_model(tmp_path / "a", enresnet.create_model("resnet8"))
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model(tmp_path / "cut")


@pytest.mark.parametrize("name", ["resnet8", "en2_resnet8"])
def test_loading_into_a_model_of_other_sizes_names_in_channels_and_the_shapes(tmp_path, name):
    """A Fashion-MNIST checkpoint (1 channel) into a model built with the default 3 channels: the error names
    ``in_channels`` and the shapes, not torch's ``size mismatch for conv1.weight``."""
    path = save_model(tmp_path / "a", enresnet.create_model(name, in_channels=1))
    stem = "conv1.weight" if name == "resnet8" else "members.0.conv1.weight"
    with pytest.raises(CheckpointError, match=rf"in_channels = 1 in the checkpoint but 3 in the model \({stem}: "
                                              rf"\[16, 1, 3, 3\] vs \[16, 3, 3, 3\]\); create the model with "
                                              rf"in_channels=1 \(enresnet.create_model\('{name}', in_channels=1\)\)"):
        enresnet.load_weights(enresnet.create_model(name), path)
    with pytest.raises(CheckpointError, match=r"num_classes = 10 in the checkpoint but 5 in the model"):
        enresnet.load_weights(enresnet.create_model(name, in_channels=1, num_classes=5), path)
    assert enresnet.load_weights(enresnet.create_model(name, in_channels=1), path) is not None
