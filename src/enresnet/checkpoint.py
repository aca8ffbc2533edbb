"""Checkpoints: safetensors weights with JSON metadata in the same file.

A checkpoint ``NAME.safetensors`` holds the model's tensors under their state-dict
names, so that ``model.load_state_dict(safetensors.torch.load_file(path))`` works
for a weights checkpoint (``best``, :func:`save_model`); a resumable ``last``
checkpoint adds its training state under ``train/``, ``optim/`` and ``rng/``
(keys holding a ``/``, which no state-dict name does). Its header holds the JSON
metadata: the model spec (so :func:`load_model` rebuilds the model with no
config), dataset, epoch, metrics, and two SHA-256 digests: ``meta_sha256`` over
the metadata and ``sha256`` over the tensors (names, dtypes, shapes, bytes) and
the metadata, so that a corrupted or edited file is refused. Loading refuses
non-finite model tensors. One file written to a temporary name and renamed
(:mod:`enresnet.atomic`): a checkpoint is either the old one or the new one,
never half. Loading never unpickles.

Files of the first format (``enresnet-checkpoint-1``: model tensors under
``model/``, a digest over the tensors only) are still read.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from .atomic import atomic_write_bytes
from .checkpoint_file import check_checkpoint_file, checkpoint_path
from .errors import CheckpointError
from .models import NetworkSpec, build_model, spec_of

FORMAT = "enresnet-checkpoint-2"
OLD_FORMAT = "enresnet-checkpoint-1"
_DIGESTS = ("sha256", "meta_sha256")
_STEM = re.compile(r"^(members\.\d+\.)*conv1\.weight$")
"""The first convolution of a network (or of each member): its weight is (width, in_channels, 3, 3)."""
_HEAD = re.compile(r"^(members\.\d+\.)*fc\.(weight|bias)$")
"""The linear head of a network (or of each member): weight (num_classes, width), bias (num_classes,)."""


def _meta_digest(meta: dict[str, Any]) -> str:
    """SHA-256 of the metadata (less its digests) as canonical JSON."""
    body = {k: v for k, v in meta.items() if k not in _DIGESTS}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _digest(tensors: dict[str, torch.Tensor], meta_digest: str | None) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, and the metadata digest (None: format 1)."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        tensor = tensors[key]
        if meta_digest is not None:
            h.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        h.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy())
    if meta_digest is not None:
        h.update(meta_digest.encode())
    return h.hexdigest()


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's tensors among a checkpoint's (its training state excluded)."""
    return {k: v for k, v in tensors.items() if "/" not in k}


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Atomically write ``tensors`` (CPU copies) and ``meta`` (JSON-serialisable) to ``path``."""
    path = checkpoint_path(path)
    cpu = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    header = json.loads(json.dumps(dict(meta, format=FORMAT)))  # as it will read back
    header["meta_sha256"] = _meta_digest(header)
    header["sha256"] = _digest(cpu, header["meta_sha256"])
    atomic_write_bytes(path, save_safetensors_bytes(cpu, metadata={"enresnet": json.dumps(header)}))
    return path


def _corrupted(path: Path, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {path} is corrupted or truncated ({why}); use another checkpoint (e.g. RUN_DIR/best) or retrain"
    )


def _open(path: str | Path):
    path = check_checkpoint_file(path)  # a folder, JSON, TOML, ... is named as what it is
    try:
        return path, safe_open(path, framework="pt")
    except (SafetensorError, OSError, ValueError) as err:
        raise _corrupted(path, str(err)) from None


def _parse_meta(path: Path, header: dict[str, str] | None) -> dict[str, Any]:
    """The verified metadata of a checkpoint's header."""
    try:
        meta = json.loads((header or {})["enresnet"])
    except (KeyError, ValueError, TypeError) as err:
        raise _corrupted(path, f"no enresnet metadata: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") not in (FORMAT, OLD_FORMAT):
        shown = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{path} is not an enresnet checkpoint (format {shown!r})")
    if meta["format"] == FORMAT and meta.get("meta_sha256") != _meta_digest(meta):
        raise CheckpointError(
            f"checkpoint {path} is corrupted or was edited: its metadata does not match its SHA-256; "
            f"use another checkpoint or retrain"
        )
    return meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """A checkpoint's verified metadata, without reading its tensors."""
    path, handle = _open(path)
    with handle as f:
        return _parse_meta(path, f.metadata())


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and verify a checkpoint: (tensors, metadata); model tensors under their state-dict names."""
    path, handle = _open(path)
    try:
        with handle as f:
            meta = _parse_meta(path, f.metadata())
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise _corrupted(path, str(err)) from None
    new = meta["format"] == FORMAT
    if meta.get("sha256") != _digest(tensors, meta["meta_sha256"] if new else None):
        raise CheckpointError(
            f"checkpoint {path} is corrupted: its tensor data does not match its SHA-256; use another checkpoint "
            f"or retrain"
        )
    if not new:
        tensors = {(k[len("model/") :] if k.startswith("model/") else k): v for k, v in tensors.items()}
    return tensors, meta


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict, as a checkpoint stores it."""
    return dict(model.state_dict())


def load_state_into(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load a checkpoint's model tensors into ``model``; a mismatch names the architectures."""
    state = model_state(tensors)
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"checkpoint {source} holds non-finite values in {len(bad)} tensors (e.g. {bad[0]}): the run that "
            f"wrote it had diverged; use another checkpoint (e.g. an earlier RUN_DIR/best) or retrain"
        )
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    spec = spec_of(model)
    name = spec.name if isinstance(spec, NetworkSpec) else type(model).__name__
    sizes = _size_mismatch(own, state, wrong)
    if sizes and not missing and not unexpected:
        arguments = ", ".join(f"{size}={theirs}" for size, (theirs, *_) in sizes.items())
        shown = "; ".join(f"{size} = {theirs} in the checkpoint but {mine} in the model ({key}: {list(shape)} vs "
                          f"{list(model_shape)})" for size, (theirs, mine, key, shape, model_shape) in sizes.items())
        raise CheckpointError(
            f"checkpoint {source} does not fit the {name!r} model: {shown}; create the model with {arguments} "
            f"(enresnet.create_model({name!r}, {arguments})), or load it with enresnet.load_model(path), which "
            f"rebuilds the model it was saved with"
        )
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape differs", wrong))
            if keys
        )
        raise CheckpointError(
            f"checkpoint {source} is for another architecture than {name!r} ({detail}); "
            f"load it with enresnet.load_model(path), which rebuilds the architecture it was saved with"
        )
    model.load_state_dict(state)


def _size_mismatch(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], wrong: list[str]) -> dict:
    """{size: (checkpoint's, model's, key, checkpoint's shape, model's shape)} for the sizes (``in_channels``,
    ``num_classes``) in which a checkpoint differs from the model; empty when some other shape differs too
    (another architecture)."""
    found: dict[str, tuple] = {}
    for key in wrong:
        mine, theirs = tuple(own[key].shape), tuple(state[key].shape)
        if _STEM.match(key) and len(mine) == 4 and mine[0] == theirs[0] and mine[2:] == theirs[2:]:
            found.setdefault("in_channels", (theirs[1], mine[1], key, theirs, mine))
        elif _HEAD.match(key) and len(mine) == len(theirs) and mine[1:] == theirs[1:]:
            found.setdefault("num_classes", (theirs[0], mine[0], key, theirs, mine))
        else:
            return {}
    return found


def model_from_meta(meta: dict[str, Any], source: str) -> nn.Module:
    """The (untrained) model a checkpoint's metadata describes; a spec this version cannot build is an error."""
    spec = meta.get("model")
    if not isinstance(spec, dict):
        raise CheckpointError(f"checkpoint {source} has no model spec in its metadata; it cannot be loaded")
    try:
        return build_model(spec)
    except (ValueError, TypeError, KeyError) as err:
        raise CheckpointError(
            f"checkpoint {source} describes a model this version of enresnet cannot build ({err}); "
            f"use a checkpoint written by this version"
        ) from None


def load_model(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the model stored in a checkpoint and load its weights (eval mode)."""
    tensors, meta = read_checkpoint(path)
    model = model_from_meta(meta, str(path))
    load_state_into(model, tensors, str(path))
    model.checkpoint_meta = meta
    return model.to(device).eval()


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a checkpoint's weights into an existing ``model`` of the same architecture."""
    tensors, _ = read_checkpoint(path)
    load_state_into(model, tensors, str(checkpoint_path(path)))
    return model


def save_model(path: str | Path, model: nn.Module, **meta: Any) -> Path:
    """Write a weights-only checkpoint of ``model`` (which must carry ``.spec``)."""
    spec = spec_of(model)
    if spec is None:
        raise CheckpointError("save_model needs a model built by create_model/build_model (it carries .spec)")
    return save_checkpoint(path, model_tensors(model), dict(meta, model=spec.to_dict()))
