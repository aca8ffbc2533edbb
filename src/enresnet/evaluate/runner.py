"""The batched, resumable evaluation loop: one (model, attack) pair over a dataset.

Every finished batch is appended at once to a JSONL log (flushed and fsynced),
keyed by its batch index; a rerun reads the log, skips the finished batches and
computes the rest, so an interrupted evaluation of 10k images loses at most the
batch in flight. The log's file name carries a fingerprint of everything that
determines the numbers (model weights and noise switches, the attacking model,
attack and its hyperparameters, data, batch size, repeats, seed): a rerun with
other settings writes another log, never mixes results. Each batch runs under
its own seed, derived from (seed, batch index), so a resumed evaluation gives
exactly the numbers of an uninterrupted one, also for noisy models.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ..atomic import atomic_write_text, disk_full_as_error
from ..attacks import Attack
from ..data import ImageDataset, iterate_batches, num_batches
from ..errors import EnresnetError
from ..models import NoiseInjection
from .accuracy import AccuracyStats, correct_draws

CLEAN = "clean"

BatchCallback = Callable[[int, dict[str, Any]], None]


class EvaluationLogError(EnresnetError, RuntimeError):
    """A batch log that cannot be resumed from."""


@dataclass(frozen=True)
class RunSettings:
    """How an evaluation is batched and sampled."""

    batch_size: int = 128
    repeats: int = 1
    """Independent predictions of every image (noisy models); see :mod:`.accuracy`."""
    seed: int = 0


def model_digest(model: nn.Module) -> str:
    """SHA-256 of the weights, buffers and noise switches: what makes two models predict alike."""
    h = hashlib.sha256()
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    for module in model.modules():
        if isinstance(module, NoiseInjection):
            h.update(repr((module.enabled, module.noise_coef, module.std_mode)).encode())
    return h.hexdigest()


def data_digest(data: ImageDataset) -> str:
    h = hashlib.sha256()
    for tensor in (data.images, data.labels):
        h.update(tensor.to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def batch_seed(seed: int, index: int) -> int:
    return (seed * 1_000_003 + index) % (2**63)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run under ``torch.manual_seed(seed)``, restoring the caller's RNG state (CPU and ``device``)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class BatchLog:
    """Append-only JSONL: a header line ``{"config": ...}``, then one record per finished batch."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = json.loads(json.dumps(config))

    def load(self) -> dict[int, dict[str, Any]]:
        """Finished batches by index; a torn last line (killed mid-write) is dropped from the file."""
        if not self.path.is_file():
            return {}
        text = self.path.read_text()
        lines = text.splitlines()
        parsed = []
        for number, line in enumerate(lines, start=1):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                if number != len(lines):
                    raise EvaluationLogError(
                        f"{self.path}:{number} is not JSON; delete the file to recompute"
                    ) from None
        if not parsed:
            self.path.unlink()
            return {}
        if parsed[0] != {"config": self.config}:
            raise EvaluationLogError(f"{self.path} belongs to another evaluation (its header differs); delete it")
        if len(parsed) != len(lines) or not text.endswith("\n"):
            atomic_write_text(self.path, "".join(json.dumps(p, sort_keys=True) + "\n" for p in parsed))
        records: dict[int, dict[str, Any]] = {}
        for record in parsed[1:]:
            records.setdefault(record["batch"], record)
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Append ``record`` (and the header, first), flushed and fsynced; a full disk is a DiskFullError naming
        the folder (the log keeps its finished batches: a torn last line is dropped on the next load)."""
        new = not self.path.is_file()
        text = (json.dumps({"config": self.config}, sort_keys=True) + "\n" if new else "") \
            + json.dumps(record, sort_keys=True) + "\n"
        with disk_full_as_error(self.path.parent, len(text), self.path.name):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())


def run_config(name: str, model: nn.Module, attack: Attack | None, data: ImageDataset, settings: RunSettings) -> dict:
    """Everything that determines the numbers of one evaluation (JSON-able)."""
    return {
        "format": 2,  # records hold per-image counts
        "task": name,
        "model": model_digest(model),
        "attack": None if attack is None else attack.config(),
        "attack_model": None if attack is None or attack.model is model else model_digest(attack.model),
        "data": {"name": data.name, "n": len(data), "sha256": data_digest(data)},
        "batch_size": settings.batch_size,
        "repeats": settings.repeats,
        "seed": settings.seed,
    }


def log_path(out_dir: Path, config: dict) -> Path:
    fingerprint = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return Path(out_dir) / f"{config['task']}-{fingerprint}.jsonl"


def run_evaluation(
    name: str,
    model: nn.Module,
    attack: Attack | None,
    data: ImageDataset,
    settings: RunSettings,
    out_dir: Path | None = None,
    *,
    stochastic: bool | None = None,
    progress: bool = True,
    on_batch: BatchCallback | None = None,
) -> AccuracyStats:
    """Accuracy of ``model`` on ``attack``'s adversarial images of ``data`` (clean when ``attack`` is None).

    ``attack.model`` may differ from ``model`` (blind/transfer attacks). ``stochastic``:
    whether ``model``'s predictions are random (``settings.repeats`` draws per image),
    as measured by the caller; None measures it on each batch. With ``out_dir`` the
    batches are logged there and a rerun resumes; ``on_batch(index, record)`` is
    called after each newly computed batch.
    """
    config = run_config(name, model, attack, data, settings) | {"stochastic": stochastic}
    log = BatchLog(log_path(out_dir, config), config) if out_dir is not None else None
    done = log.load() if log is not None else {}
    total = num_batches(len(data), settings.batch_size)
    device = data.images.device
    bar = tqdm(total=total, initial=len(done), desc=name, unit="batch", disable=not progress)
    try:
        for index, (images, labels) in enumerate(iterate_batches(data, settings.batch_size)):
            if index in done:
                continue
            with seeded(batch_seed(settings.seed, index), device):
                inputs = images if attack is None else attack(images, labels)
                correct = correct_draws(model, inputs, labels, settings.repeats, stochastic)
            record = {
                "batch": index,
                "n": int(labels.shape[0]),
                "per_repeat": correct.sum(dim=1).tolist(),
                "all_correct": int(correct.all(dim=0).sum()),
                "per_image": correct.sum(dim=0).tolist(),
            }
            if log is not None:
                log.append(record)
            done[index] = record
            right = sum(sum(r["per_repeat"]) / len(r["per_repeat"]) for r in done.values())
            bar.set_postfix(accuracy=f"{100 * right / sum(r['n'] for r in done.values()):.2f}%", refresh=False)
            bar.update(1)
            if on_batch is not None:
                on_batch(index, record)
    finally:
        bar.close()
    records = [done[i] for i in range(total)]
    per_repeat = [sum(r["per_repeat"][k] for r in records) for k in range(settings.repeats)]
    per_image = torch.tensor([c for r in records for c in r["per_image"]], dtype=torch.int64)
    return AccuracyStats.from_counts(per_repeat, sum(r["all_correct"] for r in records), len(data), per_image)
