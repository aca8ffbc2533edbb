"""Checkpoints: safetensors weights with JSON metadata in the same file.

A checkpoint ``NAME.safetensors`` holds the model's tensors (and, for resumable
``last`` checkpoints, optimiser and RNG tensors under the ``train/`` prefix) and
in its header the JSON metadata: the model spec (so :func:`load_model` rebuilds
the model with no config), dataset, epoch, metrics, and a SHA-256 of the tensor
data so that a corrupted file is detected. One file written to a temporary name
and renamed: a checkpoint is either the old one or the new one, never half.
Loading never unpickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from .errors import CheckpointError
from .models import build_model

FORMAT = "enresnet-checkpoint-1"
SUFFIX = ".safetensors"


def checkpoint_path(path: str | Path) -> Path:
    """``run/best`` -> ``run/best.safetensors`` when only the latter exists."""
    path = Path(path)
    if path.suffix != SUFFIX and not path.is_file():
        return path.with_name(path.name + SUFFIX)
    return path


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Atomically write ``tensors`` (CPU copies) and ``meta`` to ``path``."""
    path = checkpoint_path(path)
    cpu = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    header = dict(meta, format=FORMAT, sha256=_digest(cpu))
    data = save_safetensors_bytes(cpu, metadata={"enresnet": json.dumps(header)})
    atomic_write_bytes(path, data)
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and verify a checkpoint: (tensors, metadata)."""
    path = checkpoint_path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass a RUN_DIR/best or RUN_DIR/last path")
    raw = path.read_bytes()
    try:
        tensors = load_safetensors_bytes(raw)
        header_len = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + header_len])
        meta = json.loads(header["__metadata__"]["enresnet"])
    except (SafetensorError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"checkpoint {path} is corrupted or truncated ({err}); use another checkpoint (e.g. RUN_DIR/best) "
            f"or retrain"
        ) from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an enresnet checkpoint (format {meta.get('format')!r})")
    if meta.get("sha256") != _digest(tensors):
        raise CheckpointError(f"checkpoint {path} is corrupted: its tensor data does not match its SHA-256")
    return tensors, meta


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {f"model/{k}": v for k, v in model.state_dict().items()}


def load_state_into(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load the ``model/`` tensors into ``model``; a mismatch names the architectures."""
    state = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape differs", wrong))
            if keys
        )
        name = getattr(model, "spec", {}).get("name", type(model).__name__)
        raise CheckpointError(
            f"checkpoint {source} is for another architecture than {name!r} ({detail}); "
            f"load it with enresnet.load_model(path), which rebuilds the architecture it was saved with"
        )
    model.load_state_dict(state)


def load_model(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the model stored in a checkpoint and load its weights (eval mode)."""
    tensors, meta = read_checkpoint(path)
    if "model" not in meta:
        raise CheckpointError(f"checkpoint {path} has no model spec in its metadata")
    model = build_model(meta["model"])
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
    if not hasattr(model, "spec"):
        raise CheckpointError("save_model needs a model built by create_model/build_model (it carries .spec)")
    return save_checkpoint(path, model_tensors(model), dict(meta, model=model.spec))
