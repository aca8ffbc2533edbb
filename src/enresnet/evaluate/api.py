"""One call: ``enresnet.evaluate_model(model, images, labels, ...)`` on plain tensors (paper Sec. 4, Table 2).

Images are float32 pixels in [0, 1] (or uint8 grey levels), labels class
indices. The call runs the clean pass and every attack with the paper's
protocol (EOT gradients over noise draws, ``repeats`` stochastic predictions
per image), the sanity suite, and returns an :class:`EvaluationResult` holding
every number, its 95% confidence interval and the sanity verdicts, printable
as the paper's table (:meth:`EvaluationResult.markdown`).

The headline (:attr:`EvaluationResult.robust_accuracy`) is ONE robust accuracy:
an image counts only if it is classified correctly in every draw, clean and
under every attack run — the worst case over attacks and draws, image by image
(:func:`enresnet.evaluate.accuracy.worst_case`). It is at most every per-attack
column, so it cannot overstate what the strongest attack run found. The
per-attack columns are the paper's protocol, shown beside it.

``enresnet evaluate`` (the CLI) calls this function for every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import ImageDataset
from ..device import native_bf16
from ..errors import ConfigError
from ..models import has_noise
from .accuracy import AccuracyStats
from .inputs import model_label
from .protocol import AttackSettings, default_budget, parse_attacks
from .runner import CLEAN, RunSettings, evaluate_attacks
from .sanity import Check, SanitySettings, SanitySuite
from .tables import Row, markdown

PAPER_ATTACKS = ("fgsm", "ifgsm20", "cw")
DEFAULT_SANITY_SIZE = 200
"""Images for the sanity suite: enough for every check to be conclusive on a noisy model (sanity module doc)."""


@dataclass
class EvaluationResult:
    """Every number of one model's evaluation; ``markdown()`` is the paper's table with the headline."""

    model: str
    dataset: str
    attacks: list[str]
    budget: AttackSettings
    run: RunSettings
    results: dict[str, AccuracyStats]
    """``"clean"`` and one entry per attack."""
    sanity: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self) -> Row:
        return Row(self.model, self.dataset, self.results, sanity=self.sanity)

    @property
    def robust_accuracy(self) -> AccuracyStats:
        """The headline: right in every draw, clean and under every attack (module doc)."""
        return self.row().headline

    @property
    def natural_accuracy(self) -> AccuracyStats:
        return self.results[CLEAN]

    def markdown(self) -> str:
        return markdown([self.row()], self.attacks, self.notes)

    def as_dict(self) -> dict[str, Any]:
        return {"eps": self.budget.eps, "alpha": self.budget.alpha, "eot": self.budget.eot,
                "repeats": self.run.repeats, "notes": self.notes, **self.row().as_dict()}

    def __str__(self) -> str:
        return self.markdown()


def _check(name: str, ok: bool, allowed: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"evaluate: {name} must be {allowed}, got {value!r}")


def _validate_inputs(images: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ConfigError("evaluate: images must be a (N, C, H, W) tensor of pixels in [0, 1]")
    if images.dtype not in (torch.float32, torch.uint8):
        raise ConfigError(f"evaluate: images must be float32 pixels in [0, 1] or uint8, got {images.dtype}")
    if images.dtype == torch.float32 and images.numel() and (images.min() < 0 or images.max() > 1):
        raise ConfigError("evaluate: images must be pixels in [0, 1]; normalisation belongs inside the model")
    if not isinstance(labels, torch.Tensor) or labels.shape != images.shape[:1] or labels.is_floating_point():
        raise ConfigError(f"evaluate: labels must be {images.shape[0]} class indices (an integer tensor (N,))")
    if len(labels) == 0:
        raise ConfigError("evaluate: no images given")


def evaluate_model(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attacks: str | list[str] | tuple[str, ...] = PAPER_ATTACKS,
    *,
    eps: float | None = None,
    alpha: float | None = None,
    eot: int = 5,
    eot_batch: int | None = None,
    repeats: int = 5,
    check_draws: int = 10,
    batch_size: int = 128,
    seed: int = 0,
    sanity_size: int = DEFAULT_SANITY_SIZE,
    surrogate: nn.Module | None = None,
    dataset: str = "",
    out_dir: str | Path | None = None,
    progress: bool = False,
    budget_note: str | None = None,
    bf16: bool | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` on ``(images, labels)`` under ``attacks`` (names as ``enresnet evaluate --attacks``).

    ``eps``/``alpha`` default to the paper's 8/255 and 2/255 (Fashion-MNIST,
    ``dataset="fashion_mnist"``: 0.1 and 0.01; a given eps without alpha scales
    alpha in proportion). ``eot``: noise draws averaged per attack gradient;
    ``repeats``: stochastic predictions per image (mean ± std and worst case);
    ``sanity_size``: the first images the sanity suite runs on (0 skips it);
    ``out_dir``: per-batch logs there make a rerun resume; ``budget_note`` says in
    the notes where eps and alpha came from (default: given, or the dataset's
    convention). ``bf16``: the attacks' gradients from bf16 autocast forward
    passes, every prediction (what is counted) in fp32; None (default) turns it
    on where bf16 is fast (:func:`enresnet.device.native_bf16`: CUDA, CPUs with
    AVX512-BF16/AMX), False keeps the paper's fp32. Runs on the device ``images`` are on.
    """
    names = parse_attacks(",".join(attacks) if not isinstance(attacks, str) else attacks)
    _validate_inputs(images, labels)
    for name, value in (("eot", eot), ("repeats", repeats), ("check_draws", check_draws),
                        ("batch_size", batch_size)):
        _check(name, isinstance(value, int) and value >= 1, "an integer >= 1", value)
    _check("eot_batch", eot_batch is None or (isinstance(eot_batch, int) and eot_batch >= 1),
           "None (all draws at once) or an integer >= 1", eot_batch)
    _check("sanity_size", isinstance(sanity_size, int) and sanity_size >= 0, "an integer >= 0", sanity_size)
    _check("seed", isinstance(seed, int) and 0 <= seed < 2**63, "an integer in [0, 2^63)", seed)
    eps, alpha, default_note = default_budget(dataset, eps, alpha)  # checks a given eps and alpha
    budget_note = budget_note or default_note

    labels = labels.to(device=images.device, dtype=torch.int64)
    num_classes = max(int(labels.max()) + 1, getattr(model, "spec", {}).get("num_classes", 0))
    data = ImageDataset(images, labels, num_classes, name=dataset)
    _check("bf16", bf16 in (None, True, False), "None (by device), True or False", bf16)
    fast = native_bf16(images.device) if bf16 is None else bf16
    budget = AttackSettings(eps=float(eps), alpha=float(alpha), eot=eot, eot_batch=eot_batch,
                            check_draws=check_draws, bf16=fast)
    run = RunSettings(batch_size=batch_size, repeats=repeats, seed=seed)
    results = evaluate_attacks(model, data, names, budget, run, Path(out_dir) if out_dir else None,
                               progress=progress)
    sanity: list[Check] = []
    if sanity_size > 0:
        subset = data.subset(torch.arange(min(sanity_size, len(data)), device=images.device))
        settings = SanitySettings(seed=seed, batch_size=batch_size, repeats=repeats)
        sanity = SanitySuite(model, subset, budget, settings, surrogate).run(progress=progress)
    notes = [
        f"{len(data)} {dataset or 'given'} images; {budget_note}.",
        f"Attack gradients of noisy models averaged over {eot} noise draws (EOT); each image predicted "
        f"{repeats} times: mean ± std over the draws (worst: right in all draws)." if has_noise(model) else
        "Deterministic model: one prediction per image, no EOT.",
        "Attack gradients from bf16 forward passes, every prediction in fp32." if fast
        else "Attacks and predictions in fp32.",
        f"Sanity checks on the first {min(sanity_size, len(data))} images." if sanity_size > 0
        else "Sanity checks skipped.",
    ]
    return EvaluationResult(model_label(model), dataset, names, budget, run, results, sanity, notes)
